# nixosModules.default: OpenClaw and claw.free's services on a small VM.
#
# Owns the list of modules and the few options every one of them reads
# (whether claw.free is on, where its state lives, the scripts it writes);
# each module declares its own options next to the config that implements
# them.
{ lib, ... }:
let
  inherit (lib) mkOption mkEnableOption types;
in
{
  imports = [
    ./gateway.nix
    ./bootstrap-provider.nix
    ./agent.nix
    ./ai-clis.nix
    ./toolbox.nix
    ./memory-tuning.nix
    ./host-access.nix
    ./metadata-guard.nix
  ];

  options.openclaw = {
    enable = mkEnableOption "OpenClaw, run natively under systemd with claw.free's bootstrap provider, VM agent and memory tuning";

    stateDir = mkOption {
      type = types.path;
      default = "/var/lib/openclaw";
      description = "Where OpenClaw, the VM agent and the secrets keep their state.";
    };

    internal = {
      scripts = mkOption {
        type = types.attrsOf types.package;
        default = { };
        internal = true;
        description = "Every shell script the claw.free modules write, by name, for the shellcheck check.";
      };
    };
  };
}
