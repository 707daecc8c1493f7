# The claw.free Setup model and the `clawfree` management command.
#
# Owns: `clawfree-provider.service` (the OpenAI-compatible bootstrap provider
# on loopback that walks the user through connecting their LLM), the
# configuration file both programs read (/etc/clawfree/config.json: every
# command path, unit name and state path), the `clawfree` command the skill
# calls, `clawfree-update.service` (the root unit that switches the system
# when the bot asks), and the polkit rule that lets the gateway's user manage
# claw.free's own units and nothing else.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  jsonFormat = pkgs.formats.json { };
  cfg = config.openclaw;
  clawLib = import ../lib { inherit lib; };
  provider = cfg.bootstrapProvider.package;
  cli = name: lib.getExe' cfg.aiClis.wrapped.${name} name;
  systemctl = "${config.systemd.package}/bin/systemctl";

  # What `clawfree status` lists and the gateway's user may start, stop and
  # restart (polkit, below): updating included, the set-secret socket not.
  units = [
    "openclaw-gateway.service"
    "clawfree-setup.service"
    "clawfree-watch-secrets.service"
    "clawfree-health.service"
    "clawfree-update.service"
  ]
  ++ lib.optional cfg.bootstrapProvider.enable "clawfree-provider.service";

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
    # `clawfree secret set` runs as the gateway's user: root stores the secret.
    agent_socket = cfg.internal.setSecretSocket;
    # `clawfree propose` (GitHub mode with a repository): root opens the pull request.
    propose_socket = cfg.internal.proposeSocket;
    openclaw_config = cfg.internal.mutableConfigPath;
    # The key every caller must present; the agent (state folder cfg.stateDir)
    # makes it at first boot and gives it to OpenClaw in its configuration.
    api_key_file = "${cfg.stateDir}/setup-provider.key";
    restart_gateway = [
      systemctl
      "restart"
      "openclaw-gateway.service"
    ];
    services = units;
    gateway_service = "openclaw-gateway.service";
    provider_service = "clawfree-provider.service";
    health_url = cfg.internal.gatewayHealthUrl;
    inherit systemctl;
    journalctl = "${config.systemd.package}/bin/journalctl";
    current_system = "/run/current-system";
    pushed_system = "/nix/var/nix/profiles/clawfree-pushed";
    system_profile = "/nix/var/nix/profiles/system";
    nix_env = "${config.nix.package}/bin/nix-env";
    # `clawfree update` runs as the gateway's user: root switches.
    update_service = "clawfree-update.service";
    disk_path = "/";
  };
  configFile = "/etc/clawfree/config.json";
in
{
  options.openclaw = {
    bootstrapProvider = {
      enable = lib.mkEnableOption "the claw.free Setup model, the bootstrap provider that connects the user's real LLM from Telegram" // {
        default = true;
      };
      package = lib.mkPackageOption pkgs "claw-free-provider" {
        extraDescription = "It holds `clawfree-provider` and the `clawfree` skill command.";
      };
      port = lib.mkOption {
        type = lib.types.port;
        default = 3456;
        description = "Loopback port of the bootstrap provider's OpenAI-compatible API.";
      };
      caps = clawLib.mkCapsOptions {
        what = "the bootstrap provider";
        memoryHigh = "150M";
        memoryMax = "200M";
        oomScoreAdjust = -300;
      };
    };

    update.caps = clawLib.mkCapsOptions {
      what = "`clawfree-update.service` (switches to a pushed system when the bot asks; runs only then)";
      memoryHigh = "192M";
      memoryMax = "256M";
      # An update cut short leaves a half-switched system: taken after the
      # agent and the provider, before the gateway.
      oomScoreAdjust = -400;
    };
  };

  config = lib.mkMerge [
    (lib.mkIf cfg.enable {
      # `clawfree`, which the skill runs from the gateway.
      environment.systemPackages = [ provider ];
      environment.etc."clawfree/config.json".source = jsonFormat.generate "clawfree-config.json" settings;

      # The switch `clawfree update` asks for, as root.
      systemd.services.clawfree-update =
        clawLib.mkCappedService {
          description = "claw.free update: switch to the newest CI-built system pushed to this VM";
          execStart = [
            (lib.getExe' provider "clawfree")
            "--config"
            configFile
            "update"
            "--in-place"
          ];
          caps = cfg.update.caps;
          type = "oneshot";
          # Each start switches anew; a failed switch is reported, not retried.
          remainAfterExit = false;
          restart = "no";
          # Started by `clawfree update`, never at boot.
          wantedBy = [ ];
        }
        // {
          # The switch it runs must not stop the unit running it.
          restartIfChanged = false;
        };

      # The bot's agent may start, stop and restart claw.free's units
      # (`clawfree restart`, `clawfree switch-llm`, `clawfree update`), as
      # user openclaw, and no other unit.
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
      systemd.services.clawfree-provider = clawLib.mkCappedService {
        description = "claw.free Setup: the bootstrap LLM provider";
        execStart = [
          (lib.getExe' provider "clawfree-provider")
          "--config"
          configFile
        ];
        caps = cfg.bootstrapProvider.caps;
        after = [ "network-online.target" ];
        wants = [ "network-online.target" ];
        before = [ "openclaw-gateway.service" ];
        environment = {
          # The logins it drives land where the gateway will find them.
          HOME = cfg.internal.gatewayStateDirectory;
          OPENCLAW_STATE_DIR = cfg.internal.gatewayStateDirectory;
          OPENCLAW_CONFIG_PATH = cfg.internal.mutableConfigPath;
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
        restartTriggers = [ config.environment.etc."clawfree/config.json".text ];
      };
    })
  ];
}
