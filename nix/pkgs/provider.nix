# The bootstrap provider `clawfree-provider` and the skill command
# `clawfree` (both binaries of crate claw-free-provider).
{ callPackage }:
callPackage ./workspace-crate.nix { } {
  pname = "claw-free-provider";
  mainProgram = "clawfree-provider";
  description = "claw.free Setup model (OpenAI-compatible bootstrap provider) and the clawfree management command";
}
