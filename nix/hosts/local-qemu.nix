# The bot VM for a local QEMU run, with the claw.free simulator's metadata
# server standing in for GCE's (see nix/README.md). For local tests only: it
# logs root in on the console and has no OS Login.
{ lib, modulesPath, ... }:
{
  imports = [
    ./bot-base.nix
    (modulesPath + "/profiles/qemu-guest.nix")
  ];

  networking.hostName = "bot-local";
  # QEMU's user network reaches the host at 10.0.2.2; the simulator serves
  # each VM's metadata under /_vm/{project}/{zone}/{instance}.
  openclaw.agent.metadataUrl = "http://10.0.2.2:8099/_vm/local-project/us-central1-a/bot-local";
  security.googleOsLogin.enable = lib.mkForce false;
  services.getty.autologinUser = "root";

  # The qemu image variant (disk-image.nix) overrides these; they only let
  # this system evaluate on its own.
  fileSystems."/" = {
    device = "/dev/disk/by-label/nixos";
    fsType = "ext4";
  };
  boot.loader.grub.devices = lib.mkOverride 1100 [ "/dev/vda" ];
}
