# What the NixOS VM test runs besides the image: the Google simulator
# (`claw-free-sim`, which serves the bot's metadata server) and the Worker's
# own encryption as a command (`firstboot-encrypt`).
{ callPackage }:
{
  sim = callPackage ./workspace-crate.nix { } {
    pname = "claw-free-sim";
    mainProgram = "claw-free-sim";
    description = "claw.free's local simulator of the Google APIs and the GCE metadata server";
  };
  firstboot = callPackage ./workspace-crate.nix { } {
    pname = "claw-free-firstboot";
    mainProgram = "firstboot-encrypt";
    description = "claw.free first-boot test tools: the Worker's encryption of a secret, a stand-in gateway";
  };
}
