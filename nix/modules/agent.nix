# The VM agent's systemd units.
#
# Owns: `clawfree-setup.service` (first boot: publish the VM's age recipient,
# turn instance metadata into configuration; ordered before the gateway),
# `clawfree-watch-secrets.service` (decrypts secrets pushed through metadata),
# `clawfree-health.service` (publishes the gateway's health and restarts it
# when it stops answering), `clawfree-set-secret.socket` with its per-connection
# `clawfree-set-secret@.service` (the local secrets the bot's own agent sets,
# stored by root), plus the root-only secrets folder; in GitHub mode also
# `clawfree-rollout.service` (switches to the system CI names in instance
# metadata, gates it on health, keeps it or rolls back) and its options, and
# with a cache bucket `clawfree-cache.service` (the bucket served to Nix on the
# loopback as the VM's read-only service account), and with a repository
# `clawfree-propose.socket` and its per-connection `clawfree-propose@.service`
# (the bot's own pull requests: root asks claw.free for a GitHub token with the
# VM's identity token, which the gateway's user may not fetch).
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.openclaw;
  clawLib = import ../lib { inherit lib; };
  agent = lib.getExe cfg.agent.package;

  # The flags of docs/CONTRACTS.md section 3, identical for every subcommand.
  commonFlags = [
    "--metadata-url"
    cfg.agent.metadataUrl
    "--state-dir"
    cfg.stateDir
    "--host-key"
    "/etc/ssh/ssh_host_ed25519_key"
    "--health-url"
    cfg.internal.gatewayHealthUrl
    "--restart-cmd"
    "${config.systemd.package}/bin/systemctl restart openclaw-gateway.service"
    "--health-interval-secs"
    (toString cfg.agent.healthIntervalSecs)
    # OpenClaw's configuration names the token where the unprivileged
    # gateway reads it: its systemd credential.
    "--gateway-credentials-dir"
    cfg.internal.gatewayCredentialsDirectory
  ];

  # Root only may write the secrets; the bot's own agent (the gateway's user,
  # through `clawfree secret set`) asks through this socket, one request per
  # connection, answered by `clawfree-agent serve-set-secret` as root.
  setSecretSocket = "/run/clawfree/set-secret.sock";
  setSecret = clawLib.mkCappedSocketService {
    description = "claw.free local secrets: store a secret the bot's own agent sets";
    listenStream = setSecretSocket;
    group = "openclaw";
    execStart = [
      agent
      "serve-set-secret"
    ]
    ++ commonFlags;
    caps = cfg.agent.caps;
    # A request during first boot waits for setup's configuration.
    after = [ "clawfree-setup.service" ];
    # It writes the secrets and restarts the gateway (systemctl, over a Unix
    # socket): no network at all.
    serviceConfig = clawLib.hardening // {
      ReadWritePaths = [ cfg.stateDir ];
      PrivateNetwork = true;
    };
  };

  gh = cfg.githubMode;

  # The bot proposes changes to its repository through root: only root may ask
  # the metadata server for the VM's identity token (metadata-guard.nix), and
  # the GitHub token it buys never reaches the gateway's user.
  proposeSocket = "/run/clawfree/propose.sock";
  propose = clawLib.mkCappedSocketService {
    description = "claw.free pull requests: propose a change to the bot's repository";
    listenStream = proposeSocket;
    group = "openclaw";
    # curl to claw.free and GitHub, a few files: a minute or two at most.
    runtimeMaxSec = 180;
    execStart = [
      agent
      "serve-propose"
      "--metadata-url"
      cfg.agent.metadataUrl
      "--github-repository"
      gh.repository
      "--worker-url"
      gh.workerUrl
      "--curl"
      (lib.getExe' pkgs.curl "curl")
    ];
    caps = cfg.agent.caps;
    after = [ "network-online.target" ];
    # Root (the metadata guard lets only root ask for the identity token),
    # with no state and nothing written: only the network.
    serviceConfig = clawLib.hardening;
  };
  # The local substituter in front of the owner's cache bucket, when there is one.
  cacheUrl = "http://127.0.0.1:${toString gh.cache.port}";
  withCache = gh.cache.bucket != null;
  systemd = config.systemd.package;
  # The rollout commands of docs/CONTRACTS.md (GitHub mode); `{path}` is a
  # store path and `{id}`, `{unit}` names the agent fills in.
  rolloutFlags = [
    "--system-fetch-cmd"
    gh.fetchCommand
    "--system-switch-cmd"
    # A transient unit of its own: the switch restarts units, never the
    # agent's process waiting for it.
    "${systemd}/bin/systemd-run --unit=clawfree-switch-{id} --wait --collect --quiet {path}/bin/switch-to-configuration test"
    "--system-boot-cmd"
    "${lib.getExe' config.nix.package "nix-env"} --profile /nix/var/nix/profiles/system --set {path} && {path}/bin/switch-to-configuration boot"
    "--unit-check-cmd"
    "${systemd}/bin/systemctl is-active --quiet {unit}"
    "--watched-units"
    (lib.concatStringsSep "," gh.watchedUnits)
    "--rollout-token-file"
    cfg.telegramTokenFile
    "--rollout-deadline-secs"
    (toString gh.healthDeadlineSecs)
    # Telegram is HTTPS and the agent carries no TLS.
    "--curl"
    (lib.getExe' pkgs.curl "curl")
  ]
  ++ lib.optionals withCache [
    # Asked first, so a missing system or a refused bucket is reported in words.
    "--system-cache-url"
    cacheUrl
  ];

  agentService =
    {
      subcommand,
      description,
      type ? "simple",
      after ? [ ],
      requires ? [ ],
      wants ? [ ],
      before ? [ ],
    }:
    clawLib.mkCappedService {
      inherit
        description
        type
        after
        requires
        wants
        before
        ;
      execStart = [
        agent
        subcommand
      ]
      ++ commonFlags;
      caps = cfg.agent.caps;
      environment = lib.filterAttrs (_: v: v != null) {
        # Declarative flakes may fix what the metadata would otherwise say.
        LLM_PROVIDER = cfg.provider;
        BOT_NAME = cfg.botName;
        # What the options render (port, skills, Setup model): the base the
        # agent writes OpenClaw's configuration over.
        CLAWFREE_BASE_CONFIG = "${cfg.internal.renderedConfig}";
      };
      # Root: it reads the SSH host key and writes root-only secrets, but it
      # may write nowhere else.
      serviceConfig = clawLib.hardening // {
        ReadWritePaths = [ cfg.stateDir ];
      };
    };
in
{
  options.openclaw = {
    botName = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      description = "The bot's display name; `null` takes the instance metadata `BOT_NAME`.";
    };

    agent = {
      package = lib.mkPackageOption pkgs "claw-free-agent" {
        extraDescription = "It holds `clawfree-agent`.";
      };
      metadataUrl = lib.mkOption {
        type = lib.types.str;
        default = "http://metadata.google.internal";
        example = "http://10.0.2.2:8099/_vm/local/us-central1-a/bot";
        description = "The GCE metadata server the agent reads and writes guest attributes through (the simulator's per-VM URL for local runs).";
      };
      healthIntervalSecs = lib.mkOption {
        type = lib.types.ints.positive;
        default = 60;
        description = "How often the health reporter probes the gateway and refreshes `openclaw/health`.";
      };
      caps = clawLib.mkCapsOptions {
        what = "each VM agent service";
        memoryHigh = "24M";
        memoryMax = "32M";
        oomScoreAdjust = -200;
      };
    };

    internal = {
      setSecretSocket = clawLib.mkReadOnlyOption lib.types.str
        "The socket of the agent's root `serve-set-secret` service, which `clawfree secret set` connects to.";
      proposeSocket = lib.mkOption {
        type = lib.types.nullOr lib.types.str;
        default = null;
        internal = true;
        description = "The socket of the agent's root `serve-propose` service, which `clawfree propose` connects to; `null` without a repository.";
      };
    };
  };

  options.openclaw.githubMode = {
    enable = lib.mkEnableOption ''
      GitHub mode's rollouts: `clawfree-rollout.service` follows instance
      metadata `openclaw-system` (set by the owner's CI), fetches that system
      without evaluating anything, activates it, checks its health and makes
      it the boot default, or re-activates the previous system and reports why
    '';
    watchedUnits = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ "openclaw-gateway.service" ];
      example = [
        "openclaw-gateway.service"
        "clawfree-provider.service"
      ];
      description = "The systemd units that must be active before a new system counts as healthy.";
    };
    fetchCommand = lib.mkOption {
      type = lib.types.str;
      default = "${lib.getExe' config.nix.package "nix-store"} --realise {path}";
      defaultText = lib.literalExpression ''"''${config.nix.package}/bin/nix-store --realise {path}"'';
      example = "nix copy --from https://cache.example.org {path}";
      description = ''
        How the system's closure reaches the VM; `{path}` is its store path.
        The default substitutes from `nix.settings.substituters` (which
        holds {option}`openclaw.binaryCache.url`) and never builds.
      '';
    };
    cache = {
      bucket = lib.mkOption {
        type = lib.types.nullOr (lib.types.strMatching "[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]");
        default = null;
        example = "claw-cache-my-project";
        description = ''
          The private Cloud Storage bucket holding the repository's binary
          cache (CI uploads to it; the VM's service account may only read).
          When set, `clawfree-cache.service` serves it to Nix on
          {option}`openclaw.githubMode.cache.port` and Nix substitutes from it.
        '';
      };
      publicKey = lib.mkOption {
        type = lib.types.nullOr (lib.types.strMatching "[A-Za-z0-9._-]+:[A-Za-z0-9+/]{43}=");
        default = null;
        example = "bot-cache-1:COu8rp8ZEaat2m1P52oDEI2sh7F0QtYHzAtomxKA0hQ=";
        description = "The public half of the repository's cache signing key: Nix accepts only paths it signed.";
      };
      port = lib.mkOption {
        type = lib.types.port;
        default = 8091;
        description = "The loopback port the cache is served on.";
      };
    };
    repository = lib.mkOption {
      type = lib.types.nullOr (lib.types.strMatching "[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+");
      default = null;
      example = "ada-lovelace/my-bot";
      description = ''
        The bot's own GitHub repository (`owner/name`, the `repository` of its
        `claw-free.json`). When set, the bot can propose changes to it as pull
        requests (`clawfree propose`), with a GitHub token claw.free mints for
        this VM only while the repository's `main` names it.
      '';
    };
    workerUrl = lib.mkOption {
      type = lib.types.strMatching "https?://[^/?#]+";
      default = "https://claw.free";
      example = "http://10.0.2.2:8787";
      description = ''
        The claw.free site that linked the repository: it mints the GitHub
        token, and is the audience of the VM's identity token.
      '';
    };
    healthDeadlineSecs = lib.mkOption {
      type = lib.types.ints.positive;
      default = 300;
      description = "How long a new system may take to pass the health gate before it is rolled back.";
    };
  };

  config = lib.mkMerge [
  (lib.mkIf cfg.enable {
    openclaw.internal = { inherit setSecretSocket; };

    systemd.sockets.clawfree-set-secret = setSecret.socket;
    systemd.services."clawfree-set-secret@" = setSecret.service;

    systemd.tmpfiles.rules = [
      "d ${cfg.stateDir} 0755 root root -"
      "d ${cfg.stateDir}/secrets 0700 root root -"
    ];

    systemd.services = {
      clawfree-setup = agentService {
        subcommand = "setup";
        description = "claw.free first boot: publish the VM's key, configure OpenClaw";
        type = "oneshot";
        # The age recipient is the SSH host key: wait until it exists and
        # until Google's guest agent has finished its own first-boot setup.
        after = [
          "network-online.target"
          "sshd-keygen.service"
          "google-guest-agent.service"
        ];
        wants = [ "network-online.target" ];
        before = [ "openclaw-gateway.service" ];
      };

      clawfree-watch-secrets = agentService {
        subcommand = "watch-secrets";
        description = "claw.free secret watcher: apply secrets pushed through instance metadata";
        after = [ "clawfree-setup.service" ];
        requires = [ "clawfree-setup.service" ];
      };

      clawfree-health = agentService {
        subcommand = "health";
        description = "claw.free health reporter: publish the gateway's health, restart it when it stops answering";
        after = [
          "clawfree-setup.service"
          "openclaw-gateway.service"
        ];
        requires = [ "clawfree-setup.service" ];
      };
    };
  })

  # GitHub mode's rollout unit, beside the others.
  (lib.mkIf (cfg.enable && gh.enable) {
    systemd.services = {
      clawfree-rollout =
        clawLib.mkCappedService {
          description = "claw.free rollouts: switch to the system CI names, check its health, keep it or roll back";
          execStart = [
            agent
            "rollouts"
          ]
          ++ commonFlags
          ++ rolloutFlags;
          # It runs `switch-to-configuration boot` in its own cgroup, as
          # clawfree-update does.
          caps = cfg.update.caps;
          after = [
            "clawfree-setup.service"
            "network-online.target"
          ]
          ++ lib.optional withCache "clawfree-cache.service";
          requires = [ "clawfree-setup.service" ];
          wants = [ "network-online.target" ] ++ lib.optional withCache "clawfree-cache.service";
          # No sandbox: activating systems and setting the boot entry is its job.
        }
        // {
          # The switch it runs must not restart it midway; a new agent takes
          # over at the next boot.
          restartIfChanged = false;
        };
    };
  })

  # The bot's pull requests, when the VM knows its repository.
  (lib.mkIf (cfg.enable && gh.enable && gh.repository != null) {
    openclaw.internal = { inherit proposeSocket; };
    systemd.sockets.clawfree-propose = propose.socket;
    systemd.services."clawfree-propose@" = propose.service;
  })

  # The substituter: no state, no privilege, nothing but the loopback port and
  # HTTPS to Cloud Storage with the token the metadata server gives the VM.
  (lib.mkIf (cfg.enable && gh.enable && withCache) {
    assertions = [
      {
        assertion = gh.cache.publicKey != null;
        message = "openclaw.githubMode.cache.bucket needs openclaw.githubMode.cache.publicKey: Nix trusts the cache only through it";
      }
    ];
    nix.settings = {
      substituters = [ cacheUrl ];
      trusted-public-keys = lib.optional (gh.cache.publicKey != null) gh.cache.publicKey;
    };
    systemd.services.clawfree-cache = clawLib.mkCappedService {
      description = "claw.free binary cache: the repository's bucket served to Nix on the loopback";
      execStart = [
        agent
        "serve-cache"
        "--metadata-url"
        cfg.agent.metadataUrl
        "--cache-bucket"
        gh.cache.bucket
        "--cache-listen"
        "127.0.0.1:${toString gh.cache.port}"
        "--curl"
        (lib.getExe' pkgs.curl "curl")
      ];
      caps = cfg.agent.caps;
      after = [ "network-online.target" ];
      wants = [ "network-online.target" ];
      serviceConfig = clawLib.hardening // {
        DynamicUser = true;
      };
    };
  })
  ];
}
