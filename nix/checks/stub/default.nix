# `import nixpkgs { system; config; }` in flake.nix, when the stand-in
# replaces the nixpkgs input: the stand-in package set (system and config
# change nothing in it).
{
  overlays ? [ ],
  ...
}:
import ./pkgs.nix {
  lib = import ./lib.nix;
  inherit overlays;
}
