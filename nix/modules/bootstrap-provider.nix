# The claw.free Setup model and the `clawfree` management command.
#
# Owns: `claw-free-provider.service` (the OpenAI-compatible bootstrap provider
# on loopback that walks the user through connecting their LLM), the
# configuration file both programs read (/etc/claw-free/config.json: every
# command path, unit name and state path), the `clawfree` command the skill
# calls, and the polkit rule that lets the gateway's user manage claw.free's
# own units and nothing else.
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
  systemctl = "${config.systemd.package}/bin/systemctl";

  units = [
    "openclaw-gateway.service"
    "clawfree-setup.service"
    "clawfree-watch-secrets.service"
    "clawfree-health.service"
  ]
  ++ lib.optional cfg.bootstrapProvider.enable "claw-free-provider.service";

  # The keys of nix/provider/src/config.rs; it refuses any other.
  settings = lib.filterAttrs (_: v: v != null) {
    listen = "127.0.0.1:${toString cfg.bootstrapProvider.port}";
    state_dir = "${cfg.stateDir}/provider";
    inherit (cfg) provider;
    metadata_url = cfg.agent.metadataUrl;
    claude = cli "claude";
    codex = cli "codex";
    openclaw = lib.getExe cfg.package;
    # Logins made by claude, codex and openclaw must belong to the gateway.
    cli_user = "openclaw";
    agent = lib.getExe cfg.agent.package;
    openclaw_config = "${cfg.stateDir}/openclaw.json";
    restart_gateway = [
      systemctl
      "restart"
      "openclaw-gateway.service"
    ];
    services = units;
    gateway_service = "openclaw-gateway.service";
    provider_service = "claw-free-provider.service";
    health_url = "http://127.0.0.1:${toString cfg.gateway.port}/health";
    inherit systemctl;
    journalctl = "${config.systemd.package}/bin/journalctl";
    current_system = "/run/current-system";
    pushed_system = "/nix/var/nix/profiles/clawfree-pushed";
    system_profile = "/nix/var/nix/profiles/system";
    nix_env = "${config.nix.package}/bin/nix-env";
    disk_path = "/";
  };
  configFile = "/etc/claw-free/config.json";
in
{
  config = lib.mkMerge [
    (lib.mkIf cfg.enable {
      # `clawfree`, which the skill runs from the gateway.
      environment.systemPackages = [ provider ];
      environment.etc."claw-free/config.json".text = builtins.toJSON settings;

      # The bot's agent may restart claw.free's units (`clawfree restart`,
      # `clawfree switch-llm`), as user openclaw, and no other unit.
      security.polkit.enable = true;
      security.polkit.extraConfig = ''
        polkit.addRule(function(action, subject) {
          var units = ${builtins.toJSON units};
          if (action.id == "org.freedesktop.systemd1.manage-units" &&
              subject.user == "openclaw" &&
              units.indexOf(action.lookup("unit")) >= 0) {
            return polkit.Result.YES;
          }
        });
      '';
    })

    (lib.mkIf (cfg.enable && cfg.bootstrapProvider.enable) {
      systemd.services.claw-free-provider = clawLib.mkCappedService {
        description = "claw.free Setup: the bootstrap LLM provider";
        execStart = [
          (lib.getExe' provider "claw-free-provider")
          "--config"
          configFile
        ];
        inherit (cfg.bootstrapProvider.caps) memoryHigh memoryMax oomScoreAdjust;
        after = [ "network-online.target" ];
        wants = [ "network-online.target" ];
        before = [ "openclaw-gateway.service" ];
        environment = {
          # The logins it drives land where the gateway will find them.
          HOME = gatewayStateDir;
          OPENCLAW_STATE_DIR = gatewayStateDir;
          OPENCLAW_CONFIG_PATH = "${cfg.stateDir}/openclaw.json";
          CLAWFREE_BASE_CONFIG = "${cfg.internal.renderedConfig}";
        };
        # Root: it hands keys to the agent's root-only secrets and restarts
        # the gateway, but writes nowhere outside the state folder.
        serviceConfig = clawLib.hardening // {
          StateDirectory = lib.removePrefix "/var/lib/" "${cfg.stateDir}/provider";
          StateDirectoryMode = "0700";
          ReadWritePaths = [ cfg.stateDir ];
        };
        # A new configuration file means new command paths.
        restartTriggers = [ config.environment.etc."claw-free/config.json".text ];
      };
    })
  ];
}
