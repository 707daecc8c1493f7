# nixosModules.default: OpenClaw and claw.free's services on a small VM.
#
# Owns only the list of modules; each one says what it owns.
{
  imports = [
    ./options.nix
    ./gateway.nix
    ./bootstrap-provider.nix
    ./agent.nix
    ./ai-clis.nix
    ./toolbox.nix
    ./memory-tuning.nix
    ./host-access.nix
    ./metadata-guard.nix
  ];
}
