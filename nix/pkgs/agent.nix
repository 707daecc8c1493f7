# The VM agent, `clawfree-agent` (crate claw-free-agent).
{ callPackage }:
callPackage ./workspace-crate.nix { } {
  pname = "claw-free-agent";
  mainProgram = "clawfree-agent";
  description = "claw.free VM agent: first boot, readiness, health and secrets through GCE metadata";
}
