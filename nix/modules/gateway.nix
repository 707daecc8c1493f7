# The OpenClaw gateway as a capped systemd service.
#
# Owns: the `openclaw` system user, the OpenClaw configuration rendered from
# the options, the gateway's start script (which turns systemd credentials
# into what OpenClaw reads), where those credentials are (OpenClaw's
# Telegram `tokenFile` names the token's) and `openclaw-gateway.service`.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.openclaw;
  # The OpenClaw release the tests run (scripts/install-openclaw reads the same file).
  release = builtins.fromJSON (builtins.readFile ../openclaw-release.json);
  clawLib = import ../lib { inherit lib; };

  gatewayStateDir = "${cfg.stateDir}/gateway";
  # systemd copies each `LoadCredential=` file here (readable by the unit's
  # user only) before the gateway starts: the root-only token and
  # configuration reach the unprivileged gateway this way.
  credentialsDir = "/run/credentials/openclaw-gateway.service";
  tokenCredential = "telegram-token";
  # Written (root-only: it holds the token) by the VM agent and the bootstrap
  # provider; the gateway gets a read-only copy as a credential at each start.
  mutableConfigPath = "${cfg.stateDir}/openclaw.json";

  # OpenClaw reads each provider's key from its own variable.
  providerKeyVariable = {
    claude = "ANTHROPIC_API_KEY";
    openai = "OPENAI_API_KEY";
    kimi = "NVIDIA_API_KEY";
  };

  # Interpolation copies a skill folder of the user's flake into the store.
  skillDirs = [ "${pkgs.callPackage ../pkgs/clawfree-skill.nix { }}/share/openclaw/skills" ] ++ map (skill: "${skill}") cfg.skills;

  renderedSettings = lib.recursiveUpdate (
    {
      gateway = {
        mode = "local";
        bind = "loopback";
        inherit (cfg.gateway) port;
      };
      # The token as the gateway reads it, not the secret file it comes from
      # (OpenClaw prefers a configured token over TELEGRAM_BOT_TOKEN).
      channels.telegram = {
        enabled = true;
        tokenFile = "${credentialsDir}/${tokenCredential}";
      }
      # Only the owner may write; the VM agent keeps a declared policy as it is.
      // lib.optionalAttrs (cfg.telegramOwnerId != null) {
        dmPolicy = "allowlist";
        allowFrom = [ (toString cfg.telegramOwnerId) ];
      };
      skills.load.extraDirs = skillDirs;
    }
    // lib.optionalAttrs cfg.bootstrapProvider.enable {
      models.providers.claw-free = {
        baseUrl = "http://127.0.0.1:${toString cfg.bootstrapProvider.port}/v1";
        api = "openai-completions";
        models = [
          {
            id = "setup";
            name = "claw.free Setup";
          }
        ];
      };
      agents.defaults.model.primary = "claw-free/setup";
    }
  ) cfg.settings;

  renderedConfig = pkgs.writeText "openclaw.json" (builtins.toJSON renderedSettings);

  startScript = pkgs.writeShellScript "openclaw-gateway-start" (
    ''
      set -euo pipefail
      : "''${CREDENTIALS_DIRECTORY:?started without systemd credentials}"
      # OpenClaw reads its token from the credential (channels.telegram.tokenFile);
      # it is not put in the environment, which every tool the bot runs inherits.
      if [[ ! -r "$CREDENTIALS_DIRECTORY/${tokenCredential}" ]]; then
        echo "openclaw-gateway: no readable Telegram token credential in $CREDENTIALS_DIRECTORY" >&2
        exit 1
      fi
    ''
    + lib.optionalString cfg.mutableConfig ''
      export OPENCLAW_CONFIG_PATH="$CREDENTIALS_DIRECTORY/openclaw.json"
    ''
    # (A key without a provider is refused by the assertion below.)
    + lib.optionalString (cfg.providerKeyFile != null && cfg.provider != null) ''
      ${providerKeyVariable.${cfg.provider}}="$(< "$CREDENTIALS_DIRECTORY/provider-key")"
      export ${providerKeyVariable.${cfg.provider}}
    ''
    + ''
      exec ${lib.getExe cfg.package} gateway --port ${toString cfg.gateway.port}
    ''
  );
in
{
  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.providerKeyFile == null || cfg.provider != null;
        message = "openclaw.providerKeyFile needs openclaw.provider: which provider is the key for?";
      }
      {
        # systemd's StateDirectory= only creates folders below /var/lib.
        assertion = lib.hasPrefix "/var/lib/" cfg.stateDir;
        message = "openclaw.stateDir must be below /var/lib/, got ${cfg.stateDir}";
      }
    ];

    # The configuration the agent writes is validated against the pinned release only.
    # Another release is said loudly, not refused: the pinned nixpkgs may ship an
    # older OpenClaw than the tests run, and an image that does not build helps nobody.
    warnings = lib.optional ((cfg.package.version or null) != release.openclaw)
      "openclaw.package is OpenClaw ${cfg.package.version or "of no known version"}, but claw.free is tested with ${release.openclaw} (nix/openclaw-release.json)";

    openclaw.internal = {
      inherit renderedSettings renderedConfig;
      gatewayCredentialsDirectory = credentialsDir;
      scripts.gateway-start = startScript;
    };

    users.users.openclaw = {
      isSystemUser = true;
      group = "openclaw";
      home = gatewayStateDir;
      description = "OpenClaw gateway";
    };
    users.groups.openclaw = { };

    systemd.services.openclaw-gateway = clawLib.mkCappedService {
      description = "OpenClaw gateway";
      execStart = [ startScript ];
      inherit (cfg.gateway.caps) memoryHigh memoryMax oomScoreAdjust;
      # The skill it runs (`clawfree secret set`) reaches the agent through
      # the set-secret socket.
      after = [
        "network-online.target"
        "clawfree-setup.service"
        "clawfree-set-secret.socket"
      ]
      ++ lib.optional cfg.bootstrapProvider.enable "claw-free-provider.service";
      wants = [
        "network-online.target"
        "clawfree-set-secret.socket"
      ]
      ++ lib.optional cfg.bootstrapProvider.enable "claw-free-provider.service";
      requires = [ "clawfree-setup.service" ];
      environment = {
        NODE_OPTIONS = "--max-old-space-size=${toString cfg.gateway.heapMiB}";
        OPENCLAW_NIX_MODE = "1";
        OPENCLAW_STATE_DIR = gatewayStateDir;
        HOME = gatewayStateDir;
      }
      // lib.optionalAttrs (!cfg.mutableConfig) { OPENCLAW_CONFIG_PATH = "${renderedConfig}"; };
      # Without its token (and, in the image, the configuration the agent
      # writes) OpenClaw cannot start: skip, not fail, until they exist; the
      # agent then restarts this unit.
      unitConfig.ConditionPathExists = [
        cfg.telegramTokenFile
      ]
      ++ lib.optional cfg.mutableConfig mutableConfigPath;
      serviceConfig = clawLib.hardening // {
        User = "openclaw";
        Group = "openclaw";
        StateDirectory = lib.removePrefix "/var/lib/" gatewayStateDir;
        StateDirectoryMode = "0700";
        WorkingDirectory = gatewayStateDir;
        LoadCredential = [
          "${tokenCredential}:${cfg.telegramTokenFile}"
        ]
        ++ lib.optional cfg.mutableConfig "openclaw.json:${mutableConfigPath}"
        ++ lib.optional (cfg.providerKeyFile != null) "provider-key:${cfg.providerKeyFile}";
      };
      # The bot's own agent runs the tools a user expects on the VM.
      path = [ "/run/current-system/sw" ];
    };
  };
}
