# What the bot's nixpkgs must allow, in one place for the flake's package
# set and for the NixOS configurations: Claude Code is unfree, and nixpkgs
# flags OpenClaw (an agent that acts on untrusted input) as insecure by
# design. Nothing else is let through.
{ lib }:
{
  allowUnfreePredicate = pkg: lib.elem (lib.getName pkg) [ "claude-code" ];
  allowInsecurePredicate = pkg: lib.getName pkg == "openclaw";
}
