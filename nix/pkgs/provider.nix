# The bootstrap provider `claw-free-provider` and the skill command
# `clawfree` (both binaries of crate claw-free-provider).
{ callPackage }:
callPackage ./workspace-crate.nix { } {
  pname = "claw-free-provider";
  mainProgram = "claw-free-provider";
  description = "claw.free Setup model (OpenAI-compatible bootstrap provider) and the clawfree management command";
}
