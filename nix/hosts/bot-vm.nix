# The bot VM on Google Compute Engine: the configuration CI builds, uploads
# as the `nixos-openclaw` image family, and pushes to running VMs.
{ modulesPath, ... }:
{
  imports = [
    ./bot-base.nix
    # Also imported by the google-compute image variant; importing it here
    # makes this system's toplevel the one a running VM switches to.
    (modulesPath + "/virtualisation/google-compute-config.nix")
  ];
}
