# The OpenClaw gateway as a capped systemd service.
#
# Owns: the `openclaw` system user, the OpenClaw configuration rendered from
# the options, the gateway's start script (which turns systemd credentials
# into what OpenClaw reads), where those credentials are (OpenClaw's
# Telegram `tokenFile` names the token's), its state folder, where the
# configuration the VM agent writes is, the URL of its `/health` endpoint and
# `openclaw-gateway.service`.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  jsonFormat = pkgs.formats.json { };
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
  # What the VM agent's health reporter and `clawfree status` probe.
  healthUrl = "http://127.0.0.1:${toString cfg.gateway.port}/health";

  # Each provider's facts, as the Rust crates know them (protocol/src/provider.rs
  # owns the table; a test there keeps this file equal to it).
  providers = builtins.fromJSON (builtins.readFile ../providers.json);
  providerIds = map (facts: facts.id) providers;
  # OpenClaw reads each provider's key from its own variable.
  providerKeyVariable = builtins.listToAttrs (
    map (facts: lib.nameValuePair facts.id facts.key_variable) providers
  );

  # Interpolation copies a skill folder of the user's flake into the store.
  skillDirs = [ "${pkgs.clawfree-skill}/share/openclaw/skills" ] ++ map (skill: "${skill}") cfg.skills;

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

  renderedConfig = jsonFormat.generate "openclaw.json" renderedSettings;

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
  options.openclaw = {
    package = lib.mkPackageOption pkgs "openclaw" {
      extraDescription = ''
        The default is nixpkgs' own, pinned with nixpkgs by the flake lock;
        the `openclaw-gateway` package of the nix-openclaw flake can be set
        here instead.
      '';
    };

    provider = lib.mkOption {
      type = lib.types.nullOr (lib.types.enum providerIds);
      default = null;
      example = "claude";
      description = ''
        The LLM provider the bot starts with. `null` (the image's setting)
        leaves the choice to the instance metadata `LLM_PROVIDER`, which the
        VM agent reads at first boot.
      '';
    };

    telegramTokenFile = lib.mkOption {
      type = lib.types.path;
      default = "${cfg.stateDir}/secrets/telegram-token";
      defaultText = lib.literalExpression ''"''${config.openclaw.stateDir}/secrets/telegram-token"'';
      example = lib.literalExpression "config.age.secrets.telegram-token.path";
      description = ''
        Root-only file holding the Telegram bot token. The default is where
        the VM agent writes the token it decrypts from instance metadata; a
        flake using agenix points it at `config.age.secrets.<name>.path`.
        The gateway is started only once this file exists, and reads it
        through a systemd credential, never from its own privileges.
      '';
    };

    telegramOwnerId = lib.mkOption {
      # Telegram's user ids are positive and below 2^52.
      type = lib.types.nullOr (lib.types.ints.between 1 4503599627370495);
      default = null;
      example = 123456789;
      description = ''
        The Telegram user id of the bot's owner, the only person it answers
        (OpenClaw's `dmPolicy = "allowlist"` with this id in `allowFrom`).
        `null` (the image's setting) leaves it to the instance metadata
        `TELEGRAM_OWNER_ID`, and without that strangers get a pairing code
        that must be approved on the VM. Set here, it wins over metadata.
      '';
    };

    providerKeyFile = lib.mkOption {
      type = lib.types.nullOr lib.types.path;
      default = null;
      example = lib.literalExpression "config.age.secrets.anthropic-api-key.path";
      description = ''
        Root-only file holding the API key of {option}`openclaw.provider`,
        passed to the gateway as a systemd credential. `null` leaves the
        credential to the bootstrap provider's conversation.
      '';
    };

    skills = lib.mkOption {
      type = lib.types.listOf (lib.types.either lib.types.path lib.types.package);
      default = [ ];
      example = lib.literalExpression "[ ./skills/weather inputs.my-skills.packages.x86_64-linux.notes ]";
      description = ''
        Extra OpenClaw skills: folders (or packages of one folder) holding a
        `SKILL.md`. The claw.free management skill is always installed.
      '';
    };

    settings = lib.mkOption {
      inherit (jsonFormat) type;
      default = { };
      example = {
        agents.defaults.thinkingDefault = "low";
      };
      description = ''
        Extra OpenClaw configuration, merged over the configuration these
        options render (see {option}`openclaw.mutableConfig`).
      '';
    };

    mutableConfig = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = ''
        Whether OpenClaw's configuration is the root-only file in the state
        folder that the VM agent writes over the rendered one and the
        bootstrap provider updates (the image's mode; the gateway reads a
        copy passed as a systemd credential), or the read-only file rendered
        from these options (a declarative flake).
      '';
    };

    gateway = {
      port = lib.mkOption {
        type = lib.types.port;
        default = 18789;
        description = "Loopback port of the OpenClaw gateway and of its `/health` endpoint.";
      };
      heapMiB = lib.mkOption {
        type = lib.types.ints.between 64 1024;
        default = 256;
        description = "V8 old-space limit of the gateway's Node.js (`--max-old-space-size`).";
      };
      caps = clawLib.mkCapsOptions {
        what = "the OpenClaw gateway";
        memoryHigh = "350M";
        memoryMax = "400M";
        oomScoreAdjust = -500;
      };
    };

    internal = {
      renderedSettings = clawLib.mkReadOnlyOption (lib.types.attrsOf lib.types.anything)
        "The OpenClaw configuration rendered from these options.";
      renderedConfig = clawLib.mkReadOnlyOption lib.types.package
        "{option}`openclaw.internal.renderedSettings` as a JSON file in the store.";
      gatewayCredentialsDirectory = clawLib.mkReadOnlyOption lib.types.str
        "Where systemd puts the gateway's credentials (`$CREDENTIALS_DIRECTORY`); OpenClaw's `channels.telegram.tokenFile` points into it.";
      gatewayStateDirectory = clawLib.mkReadOnlyOption lib.types.str
        "The gateway's own state folder, its `HOME` and `OPENCLAW_STATE_DIR`: where OpenClaw and the AI CLIs keep their logins.";
      mutableConfigPath = clawLib.mkReadOnlyOption lib.types.str
        "The root-only OpenClaw configuration the VM agent writes and the bootstrap provider edits; with {option}`openclaw.mutableConfig` the gateway reads a copy of it as a credential.";
      gatewayHealthUrl = clawLib.mkReadOnlyOption lib.types.str
        "The gateway's `/health` endpoint on {option}`openclaw.gateway.port`, which the VM agent and the bootstrap provider probe.";
    };
  };

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
      gatewayStateDirectory = gatewayStateDir;
      inherit mutableConfigPath;
      gatewayHealthUrl = healthUrl;
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
      caps = cfg.gateway.caps;
      # The skill it runs (`clawfree secret set`) reaches the agent through
      # the set-secret socket.
      after = [
        "network-online.target"
        "clawfree-setup.service"
        "clawfree-set-secret.socket"
      ]
      ++ lib.optional cfg.bootstrapProvider.enable "clawfree-provider.service";
      wants = [
        "network-online.target"
        "clawfree-set-secret.socket"
      ]
      ++ lib.optional cfg.bootstrapProvider.enable "clawfree-provider.service";
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
