# What every claw.free bot VM is, whatever it boots on: nixosModules.default
# switched on, with the nixpkgs policy it needs.
{ lib, ... }:
{
  openclaw.enable = true;
  nixpkgs.config = import ../nixpkgs-policy.nix { inherit lib; };
  system.stateVersion = "26.05";
}
