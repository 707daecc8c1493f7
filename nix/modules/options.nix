# The `openclaw.*` options every other claw.free module reads.
#
# Owns: the user-facing interface of `nixosModules.default` (what a user's
# flake sets: provider, Telegram token file, skills, secrets, packages) and
# the per-service memory caps. No `config` here: the modules beside this one
# implement what these options describe.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) mkOption mkEnableOption types;
  cfg = config.openclaw;

  # Every capped service exposes the same three knobs; the defaults differ.
  capsOptions =
    {
      what,
      memoryHigh,
      memoryMax,
      oomScoreAdjust,
    }:
    {
      memoryHigh = mkOption {
        type = types.str;
        default = memoryHigh;
        description = "systemd `MemoryHigh=` of ${what}: above it the kernel throttles the service and reclaims its memory.";
      };
      memoryMax = mkOption {
        type = types.str;
        default = memoryMax;
        description = "systemd `MemoryMax=` of ${what}: the hard ceiling, enforced by the cgroup OOM killer.";
      };
      oomScoreAdjust = mkOption {
        type = types.ints.between (-1000) 1000;
        default = oomScoreAdjust;
        description = "systemd `OOMScoreAdjust=` of ${what}: the lower, the later the kernel OOM killer picks it.";
      };
    };
in
{
  options.openclaw = {
    enable = mkEnableOption "OpenClaw, run natively under systemd with claw.free's bootstrap provider, VM agent and memory tuning";

    package = mkOption {
      type = types.package;
      default = pkgs.openclaw;
      defaultText = lib.literalExpression "pkgs.openclaw";
      description = ''
        The OpenClaw gateway. The default is nixpkgs' own `openclaw`, pinned
        with nixpkgs by the flake lock. The `openclaw-gateway` package of the
        nix-openclaw flake can be set here instead.
      '';
    };

    provider = mkOption {
      type = types.nullOr (
        types.enum [
          "kimi"
          "claude"
          "openai"
        ]
      );
      default = null;
      example = "claude";
      description = ''
        The LLM provider the bot starts with. `null` (the image's setting)
        leaves the choice to the instance metadata `LLM_PROVIDER`, which the
        VM agent reads at first boot.
      '';
    };

    botName = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = "The bot's display name; `null` takes the instance metadata `BOT_NAME`.";
    };

    stateDir = mkOption {
      type = types.path;
      default = "/var/lib/openclaw";
      description = "Where OpenClaw, the VM agent and the secrets keep their state.";
    };

    telegramTokenFile = mkOption {
      type = types.path;
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

    telegramOwnerId = mkOption {
      # Telegram's user ids are positive and below 2^52.
      type = types.nullOr (types.ints.between 1 4503599627370495);
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

    providerKeyFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      example = lib.literalExpression "config.age.secrets.anthropic-api-key.path";
      description = ''
        Root-only file holding the API key of {option}`openclaw.provider`,
        passed to the gateway as a systemd credential. `null` leaves the
        credential to the bootstrap provider's conversation.
      '';
    };

    skills = mkOption {
      type = types.listOf (types.either types.path types.package);
      default = [ ];
      example = lib.literalExpression "[ ./skills/weather inputs.my-skills.packages.x86_64-linux.notes ]";
      description = ''
        Extra OpenClaw skills: folders (or packages of one folder) holding a
        `SKILL.md`. The claw.free management skill is always installed.
      '';
    };

    settings = mkOption {
      type = types.attrsOf types.anything;
      default = { };
      example = {
        agents.defaults.thinkingDefault = "low";
      };
      description = ''
        Extra OpenClaw configuration, merged over the configuration these
        options render (see {option}`openclaw.mutableConfig`).
      '';
    };

    mutableConfig = mkOption {
      type = types.bool;
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
      port = mkOption {
        type = types.port;
        default = 18789;
        description = "Loopback port of the OpenClaw gateway and of its `/health` endpoint.";
      };
      heapMiB = mkOption {
        type = types.ints.between 64 1024;
        default = 256;
        description = "V8 old-space limit of the gateway's Node.js (`--max-old-space-size`).";
      };
      caps = capsOptions {
        what = "the OpenClaw gateway";
        memoryHigh = "350M";
        memoryMax = "400M";
        oomScoreAdjust = -500;
      };
    };

    bootstrapProvider = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "Whether to run the claw.free Setup model, the bootstrap provider that connects the user's real LLM from Telegram.";
      };
      package = mkOption {
        type = types.package;
        default = pkgs.callPackage ../pkgs/provider.nix { };
        defaultText = lib.literalExpression "the workspace crate claw-free-provider";
        description = "The package holding `claw-free-provider` and the `clawfree` skill command.";
      };
      port = mkOption {
        type = types.port;
        default = 3456;
        description = "Loopback port of the bootstrap provider's OpenAI-compatible API.";
      };
      caps = capsOptions {
        what = "the bootstrap provider";
        memoryHigh = "150M";
        memoryMax = "200M";
        oomScoreAdjust = -300;
      };
    };

    agent = {
      package = mkOption {
        type = types.package;
        default = pkgs.callPackage ../pkgs/agent.nix { };
        defaultText = lib.literalExpression "the workspace crate claw-free-agent";
        description = "The package holding `clawfree-agent`.";
      };
      metadataUrl = mkOption {
        type = types.str;
        default = "http://metadata.google.internal";
        example = "http://10.0.2.2:8099/_vm/local/us-central1-a/bot";
        description = "The GCE metadata server the agent reads and writes guest attributes through (the simulator's per-VM URL for local runs).";
      };
      healthIntervalSecs = mkOption {
        type = types.ints.positive;
        default = 60;
        description = "How often the health reporter probes the gateway and refreshes `openclaw/health`.";
      };
      caps = capsOptions {
        what = "each VM agent service";
        memoryHigh = "24M";
        memoryMax = "32M";
        oomScoreAdjust = -200;
      };
    };

    update.caps = capsOptions {
      what = "`clawfree-update.service` (switches to a pushed system when the bot asks; runs only then)";
      memoryHigh = "192M";
      memoryMax = "256M";
      # An update cut short leaves a half-switched system: taken after the
      # agent and the provider, before the gateway.
      oomScoreAdjust = -400;
    };

    aiClis = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "Whether to bake the AI command-line tools into the system, each wrapped to be the OOM killer's first choice.";
      };
      packages = mkOption {
        type = types.attrsOf types.package;
        default = {
          claude = pkgs.claude-code;
          codex = pkgs.codex;
          gemini = pkgs.gemini-cli;
          aider = pkgs.aider-chat;
          gh = pkgs.gh;
        };
        defaultText = lib.literalExpression "{ claude = pkgs.claude-code; codex = pkgs.codex; gemini = pkgs.gemini-cli; aider = pkgs.aider-chat; gh = pkgs.gh; }";
        description = "The CLIs, by the command name they are installed under.";
      };
    };

    internal = {
      scripts = mkOption {
        type = types.attrsOf types.package;
        default = { };
        internal = true;
        description = "Every shell script the claw.free modules write, by name, for the shellcheck check.";
      };
      renderedSettings = mkOption {
        type = types.attrsOf types.anything;
        readOnly = true;
        internal = true;
        description = "The OpenClaw configuration rendered from these options.";
      };
      renderedConfig = mkOption {
        type = types.package;
        readOnly = true;
        internal = true;
        description = "{option}`openclaw.internal.renderedSettings` as a JSON file in the store.";
      };
      gatewayCredentialsDirectory = mkOption {
        type = types.str;
        readOnly = true;
        internal = true;
        description = "Where systemd puts the gateway's credentials (`$CREDENTIALS_DIRECTORY`); OpenClaw's `channels.telegram.tokenFile` points into it.";
      };
      setSecretSocket = mkOption {
        type = types.str;
        readOnly = true;
        internal = true;
        description = "The socket of the agent's root `serve-set-secret` service, which `clawfree secret set` connects to.";
      };
    };

    binaryCache = {
      url = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "https://claw-free.cachix.org";
        description = "The binary cache CI pushes system closures to; the VM substitutes from it and never builds.";
      };
      publicKey = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "The signing key of {option}`openclaw.binaryCache.url`.";
      };
    };
  };
}
