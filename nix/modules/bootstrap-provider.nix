# The claw.free Setup model as a capped systemd service.
#
# Owns: `claw-free-provider.service`, the OpenAI-compatible bootstrap
# provider on loopback that walks the user through connecting their LLM, and
# the `clawfree` management command the skill calls.
{
  config,
  lib,
  ...
}:
let
  cfg = config.openclaw;
  clawLib = import ../lib { inherit lib; };
  provider = cfg.bootstrapProvider.package;
  gatewayStateDir = "${cfg.stateDir}/gateway";
  cli = name: lib.getExe' cfg.aiClis.wrapped.${name} name;
in
{
  config = lib.mkIf (cfg.enable && cfg.bootstrapProvider.enable) {
    environment.systemPackages = [ provider ];

    systemd.services.claw-free-provider = clawLib.mkCappedService {
      description = "claw.free Setup: the bootstrap LLM provider";
      # Every external command comes from here, never from PATH.
      execStart = [
        (lib.getExe' provider "claw-free-provider")
        "--listen"
        "127.0.0.1:${toString cfg.bootstrapProvider.port}"
        "--state-dir"
        "${cfg.stateDir}/provider"
        "--secrets-dir"
        "${cfg.stateDir}/secrets"
        "--openclaw"
        (lib.getExe cfg.package)
        "--claude"
        (cli "claude")
        "--codex"
        (cli "codex")
        "--restart-cmd"
        "${config.systemd.package}/bin/systemctl restart openclaw-gateway.service"
      ];
      inherit (cfg.bootstrapProvider.caps) memoryHigh memoryMax oomScoreAdjust;
      after = [ "network-online.target" ];
      wants = [ "network-online.target" ];
      before = [ "openclaw-gateway.service" ];
      environment = {
        # The logins it drives land where the gateway will find them.
        HOME = gatewayStateDir;
        OPENCLAW_STATE_DIR = gatewayStateDir;
        OPENCLAW_CONFIG_PATH = "${gatewayStateDir}/openclaw.json";
        CLAWFREE_BASE_CONFIG = "${cfg.internal.renderedConfig}";
      };
      serviceConfig = clawLib.hardening // {
        StateDirectory = lib.removePrefix "/var/lib/" "${cfg.stateDir}/provider";
        StateDirectoryMode = "0700";
        ReadWritePaths = [ cfg.stateDir ];
      };
    };
  };
}
