# The VM agent's systemd units.
#
# Owns: `clawfree-setup.service` (first boot: publish the VM's age recipient,
# turn instance metadata into configuration; ordered before the gateway),
# `clawfree-watch-secrets.service` (decrypts secrets pushed through metadata),
# `clawfree-health.service` (publishes the gateway's health and restarts it
# when it stops answering), `clawfree-set-secret.socket` with its per-connection
# `clawfree-set-secret@.service` (the local secrets the bot's own agent sets,
# stored by root), plus the root-only secrets folder.
{
  config,
  lib,
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
    "http://127.0.0.1:${toString cfg.gateway.port}/health"
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
    inherit (cfg.agent.caps) memoryHigh memoryMax oomScoreAdjust;
    # A request during first boot waits for setup's configuration.
    after = [ "clawfree-setup.service" ];
    # It writes the secrets and restarts the gateway (systemctl, over a Unix
    # socket): no network at all.
    serviceConfig = clawLib.hardening // {
      ReadWritePaths = [ cfg.stateDir ];
      PrivateNetwork = true;
    };
  };

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
      inherit (cfg.agent.caps) memoryHigh memoryMax oomScoreAdjust;
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
  config = lib.mkIf cfg.enable {
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
  };
}
