# What the image must be, as named checks over evaluated configurations.
#
# Owns: the assertions on the bot image (memory caps, OOM order, the
# memory-tuning sysctls, zram, journald, tmpfs, SSH, Nix, unit ordering, option
# defaults and types, the Rust packages) and on the example bot (examples/bot-with-key).
# `nix/checks/run` evaluates this file and fails on any check that fails.
# `extraModules` lets the negative self-tests add a broken fixture.
{
  extraModules ? [ ],
}:
let
  image = import ./evaluate.nix { inherit extraModules; };
  user = import ./evaluate.nix {
    host = ../examples/bot-with-key/bot.nix;
    inherit extraModules;
  };
  # The example bot with its owner declared.
  owned = import ./evaluate.nix {
    host = ../examples/bot-with-key/bot.nix;
    extraModules = extraModules ++ [ { openclaw.telegramOwnerId = 424242; } ];
  };
  # The bot image in GitHub mode.
  github = import ./evaluate.nix {
    extraModules = extraModules ++ [ { openclaw.githubMode.enable = true; } ];
  };
  # GitHub mode with the repository's cache bucket, and the repository the bot
  # proposes changes to.
  cacheKey = "bot-cache-1:COu8rp8ZEaat2m1P52oDEI2sh7F0QtYHzAtomxKA0hQ=";
  githubCache = import ./evaluate.nix {
    extraModules = extraModules ++ [
      {
        openclaw.githubMode = {
          enable = true;
          repository = "ada-lovelace/my-bot";
          cache = {
            bucket = "claw-cache-demo";
            publicKey = cacheKey;
          };
        };
      }
    ];
  };
  # The gateway on another port than its default: whatever probes it follows.
  movedGateway = import ./evaluate.nix {
    extraModules = extraModules ++ [ { openclaw.gateway.port = 18800; } ];
  };
  # The bucket without the key Nix would check it with.
  githubCacheUnsigned = import ./evaluate.nix {
    extraModules = extraModules ++ [
      {
        openclaw.githubMode = {
          enable = true;
          cache.bucket = "claw-cache-demo";
        };
      }
    ];
  };
  inherit (image) config lib;
  svc = config.systemd.services;
  inherit (import ./expect.nix { inherit config lib; })
    check
    contains
    expectEq
    expectHas
    expectContains
    sc
    references
    expectKnownUnits
    ;
  sockets = config.systemd.sockets;



  # The local secrets socket and its per-connection service.
  setSecretSocket = sockets.clawfree-set-secret;
  setSecret = svc."clawfree-set-secret@";
  setSecretConfig = setSecret.serviceConfig;
  update = svc.clawfree-update;
  gatewayTokenFile = "/run/credentials/openclaw-gateway.service/telegram-token";
  # "name:path" entries of a LoadCredential= list, by name.
  credentialNames = entries: map (e: builtins.head (builtins.split ":" e)) entries;

  providerSettings = builtins.fromJSON config.environment.etc."clawfree/config.json".source.text;
  # The fields of `pub struct Config` in the provider's source: its file
  # refuses unknown keys, so ours must be among them.
  providerConfigKeys =
    let
      source = builtins.readFile ../provider/src/config.rs;
      afterStruct = builtins.elemAt (builtins.split "pub struct Config \\{" source) 2;
      body = builtins.head (builtins.split "\n}" afterStruct);
      lines = builtins.filter builtins.isString (builtins.split "\n" body);
      fields = map (builtins.match " *pub ([a-z_]+):.*") lines;
    in
    map builtins.head (builtins.filter (m: m != null) fields);

  failedAssertions = c: map (a: a.message) (builtins.filter (a: !a.assertion) c.assertions);
  clis = config.openclaw.aiClis.wrapped;
  userGateway = user.config.systemd.services.openclaw-gateway;
  guard =
    config.networking.nftables.tables.clawfree-metadata or {
      family = "none";
      content = "";
    };
  agentUnits = [
    "clawfree-setup"
    "clawfree-watch-secrets"
    "clawfree-health"
  ];

  # GitHub mode's rollout unit, in the image with the mode on.
  # ExecStart's arguments, each quoted: `"a" "b" ...`.
  execArgs =
    exec: builtins.filter builtins.isString (builtins.split "\" \"" (builtins.substring 1 (builtins.stringLength exec - 2) exec));
  # The value after `flag` in `args`, or "".
  flagValue =
    args: flag:
    let
      hits = builtins.filter (i: builtins.elemAt args i == flag) (builtins.genList (i: i) (builtins.length args));
      i = if hits == [ ] then -1 else builtins.head hits;
    in
    if i < 0 || i + 1 >= builtins.length args then "" else builtins.elemAt args (i + 1);

  # The substituter in front of the cache bucket.
  cacheChecks =
    let
      gc = githubCache.config;
      cache = gc.systemd.services.clawfree-cache or { serviceConfig.ExecStart = "\"\""; };
      args = execArgs cache.serviceConfig.ExecStart;
      rolloutArgs = execArgs gc.systemd.services.clawfree-rollout.serviceConfig.ExecStart;
      cliSource = builtins.readFile ../agent/src/cli.rs;
      flags = map builtins.head (builtins.filter (m: m != null) (map (builtins.match "--([a-z-]+)") (args ++ rolloutArgs)));
      unknown = builtins.filter (f: !(contains "\"${f}\" =>" cliSource)) flags;
    in
    [
      (check "cache: no substituter without a bucket" (!(github.config.systemd.services ? clawfree-cache)) "clawfree-cache is configured")
      (check "cache: the agent serves the bucket" (lib.elem "serve-cache" args) (builtins.toJSON args))
      (expectEq "cache: the bucket it serves" (flagValue args "--cache-bucket") "claw-cache-demo")
      (expectEq "cache: on the loopback only" (flagValue args "--cache-listen") "127.0.0.1:8091")
      (expectEq "cache: runs unprivileged" (cache.serviceConfig.DynamicUser or false) true)
      (expectHas "cache: Nix substitutes from it" gc.nix.settings.substituters "http://127.0.0.1:8091")
      (expectHas "cache: Nix trusts the repository's key" gc.nix.settings.trusted-public-keys cacheKey)
      (expectEq "cache: the rollout asks it before fetching" (flagValue rolloutArgs "--system-cache-url") "http://127.0.0.1:8091")
      (check "cache: the rollout starts after it" (lib.elem "clawfree-cache.service" gc.systemd.services.clawfree-rollout.after) "")
      (check "cache: every flag is the agent's" (unknown == [ ]) "unknown: ${builtins.toJSON unknown}")
      (check "cache: a bucket without its public key is refused" (
        lib.any (m: contains "githubMode.cache.publicKey" m) (failedAssertions githubCacheUnsigned.config)
      ) "no failed assertion")
      (expectEq "every NixOS assertion holds (GitHub mode with a cache)" (failedAssertions gc) [ ])
    ];

  # The bot's pull requests: the skill's socket to the agent's root service.
  proposeChecks =
    let
      gc = githubCache.config;
      socket = gc.systemd.sockets.clawfree-propose or { listenStreams = [ ]; socketConfig = { }; };
      service = gc.systemd.services."clawfree-propose@" or { serviceConfig.ExecStart = "\"\""; };
      args = execArgs service.serviceConfig.ExecStart;
      settings = builtins.fromJSON gc.environment.etc."clawfree/config.json".source.text;
      cliSource = builtins.readFile ../agent/src/cli.rs;
      flags = map builtins.head (builtins.filter (m: m != null) (map (builtins.match "--([a-z-]+)") args));
      unknown = builtins.filter (f: !(contains "\"${f}\" =>" cliSource)) flags;
    in
    [
      (check "propose: no socket without a repository" (!(github.config.systemd.sockets ? clawfree-propose)) "clawfree-propose is configured")
      (expectEq "propose: the socket the skill connects to" socket.listenStreams [ "/run/clawfree/propose.sock" ])
      (expectEq "propose: only the gateway's group may connect" [ (socket.socketConfig.SocketGroup or "") (socket.socketConfig.SocketMode or "") ] [ "openclaw" "0660" ])
      (check "propose: the agent serves one proposal per connection" (lib.elem "serve-propose" args) (builtins.toJSON args))
      (expectEq "propose: for the repository claw-free.json names" (flagValue args "--github-repository") "ada-lovelace/my-bot")
      (expectEq "propose: with the claw.free site as the token's audience" (flagValue args "--worker-url") "https://claw.free")
      (expectEq "propose: runs as root (only root reaches the metadata server)" (service.serviceConfig.User or "root") "root")
      (expectEq "propose: the clawfree command knows the socket" (settings.propose_socket or null) "/run/clawfree/propose.sock")
      (check "propose: the image without a repository gives the command no socket" (!(providerSettings ? propose_socket)) "propose_socket is set")
      (check "propose: every flag is the agent's" (unknown == [ ]) "unknown: ${builtins.toJSON unknown}")
    ];

  rolloutChecks =
    let
      rollout = github.config.systemd.services.clawfree-rollout;
      args = execArgs rollout.serviceConfig.ExecStart;
      indexOf =
        arg:
        builtins.head (
          (builtins.filter (i: builtins.elemAt args i == arg) (builtins.genList (i: i) (builtins.length args)))
          ++ [ (-1) ]
        );
      valueOf = flagValue args;
      # Every flag the unit passes must be one the agent's command line parses.
      flags = map builtins.head (builtins.filter (m: m != null) (map (builtins.match "--([a-z-]+)") args));
      cliSource = builtins.readFile ../agent/src/cli.rs;
      unknown = builtins.filter (f: !(contains "\"${f}\" =>" cliSource)) flags;
    in
    [
      (check "rollout: runs the agent's rollouts" (indexOf "rollouts" == 1) (builtins.toJSON args))
      (expectContains "rollout: switches with test in a transient unit" (valueOf "--system-switch-cmd")
        "systemd-run --unit=clawfree-switch-{id} --wait --collect --quiet {path}/bin/switch-to-configuration test"
      )
      (expectContains "rollout: boot default set with the system profile" (valueOf "--system-boot-cmd")
        "--profile /nix/var/nix/profiles/system --set {path} && {path}/bin/switch-to-configuration boot"
      )
      (expectContains "rollout: fetches by substituting, never building" (valueOf "--system-fetch-cmd") "/bin/nix-store --realise {path}")
      (expectEq "rollout: watches the gateway" (valueOf "--watched-units") "openclaw-gateway.service")
      (expectEq "rollout: checks the token the gateway runs with" (valueOf "--rollout-token-file")
        github.config.openclaw.telegramTokenFile
      )
      (expectEq "rollout: not restarted by the switch it runs" rollout.restartIfChanged false)
      (expectEq "rollout: capped like the update switch" [
        rollout.serviceConfig.MemoryMax
        rollout.serviceConfig.OOMScoreAdjust
      ] [ config.openclaw.update.caps.memoryMax config.openclaw.update.caps.oomScoreAdjust ])
      (check "rollout: every flag is the agent's" (
        unknown == [ ] && lib.elem "system-switch-cmd" flags
      ) "unknown: ${builtins.toJSON unknown} of ${builtins.toJSON flags}")
    ];
in
{
  units = image.units;
  userUnits = user.units;
  scripts =
    lib.mapAttrs (_: drv: drv.text) config.openclaw.internal.scripts
    // lib.mapAttrs' (n: drv: lib.nameValuePair "user-${n}" drv.text) user.config.openclaw.internal.scripts;

  checks = [
    (expectEq "no definition of an undeclared option (image)" image.undeclared [ ])
    (expectEq "no definition of an undeclared option (example bot)" user.undeclared [ ])
    (expectEq "every NixOS assertion holds (image)" (failedAssertions config) [ ])
    (expectEq "no NixOS warning (image): OpenClaw is the tested release" config.warnings [ ])
    (expectEq "every NixOS assertion holds (example bot)" (failedAssertions user.config) [ ])
  ]
  ++ import ./image-rules.nix { inherit config lib; }
  ++ rolloutChecks
  ++ cacheChecks
  ++ proposeChecks
  ++ [
    (expectEq "the five AI CLIs are wrapped" (builtins.attrNames clis) [
      "aider"
      "claude"
      "codex"
      "gemini"
      "gh"
    ])
    (check "every AI CLI runs at OOM score 1000" (builtins.all (
      drv: contains "choom -n 1000 -- " drv.text
    ) (builtins.attrValues clis)) "a wrapper without choom -n 1000")
    (check "the AI CLIs are installed" (builtins.all (
      drv: lib.elem drv config.environment.systemPackages
    ) (builtins.attrValues clis)) "a wrapped CLI is missing from environment.systemPackages")

    (expectEq "setup is a oneshot that stays active" [
      (sc "clawfree-setup").Type
      (sc "clawfree-setup").RemainAfterExit
    ] [ "oneshot" true ])
    (expectContains "the health reporter restarts the gateway" (sc "clawfree-health").ExecStart
      "systemctl restart openclaw-gateway.service"
    )
    (
      let
        moved = movedGateway.config;
        healthArgs = execArgs moved.systemd.services.clawfree-health.serviceConfig.ExecStart;
      in
      expectEq "the agent and the clawfree command probe the gateway's health on its port" {
        agent = flagValue healthArgs "--health-url";
        provider = (builtins.fromJSON moved.environment.etc."clawfree/config.json".source.text).health_url or null;
      } {
        agent = "http://127.0.0.1:18800/health";
        provider = "http://127.0.0.1:18800/health";
      }
    )
    (expectEq "the provider listens on 127.0.0.1:3456 only" providerSettings.listen "127.0.0.1:3456")
    (expectContains "the provider reads the configuration file" (sc "clawfree-provider").ExecStart
      "\"--config\" \"/etc/clawfree/config.json\""
    )
    (expectEq "the gateway waits for its token and the agent's configuration"
      svc.openclaw-gateway.unitConfig.ConditionPathExists
      [
        "/var/lib/openclaw/secrets/telegram-token"
        "/var/lib/openclaw/openclaw.json"
      ]
    )
    (expectEq "the gateway reads token and configuration as credentials" (sc "openclaw-gateway").LoadCredential
      [
        "telegram-token:/var/lib/openclaw/secrets/telegram-token"
        "openclaw.json:/var/lib/openclaw/openclaw.json"
      ]
    )
    (expectContains "the gateway reads the configuration's copy"
      config.openclaw.internal.scripts.gateway-start.text
      "export OPENCLAW_CONFIG_PATH=\"$CREDENTIALS_DIRECTORY/openclaw.json\""
    )
    (check "the provider's configuration has only keys nix/provider/src/config.rs knows" (
      builtins.all (k: lib.elem k providerConfigKeys) (builtins.attrNames providerSettings)
      && providerConfigKeys != [ ]
    ) "unknown: ${builtins.toJSON (builtins.filter (k: !(lib.elem k providerConfigKeys)) (builtins.attrNames providerSettings))}")
    (expectEq "the provider and the clawfree command name our units" providerSettings.services [
      "openclaw-gateway.service"
      "clawfree-setup.service"
      "clawfree-watch-secrets.service"
      "clawfree-health.service"
      "clawfree-update.service"
      "clawfree-provider.service"
    ])
    (expectEq "the provider edits the configuration the agent writes" providerSettings.openclaw_config
      "/var/lib/openclaw/openclaw.json"
    )
    (check "polkit lets user openclaw manage exactly claw.free's units" (
      config.security.polkit.enable
      && contains "subject.user == \"openclaw\"" config.security.polkit.extraConfig
      && contains (builtins.toJSON providerSettings.services) config.security.polkit.extraConfig
    ) config.security.polkit.extraConfig)
    (expectEq "the gateway runs unprivileged" (sc "openclaw-gateway").User "openclaw")
    (check "polkit lets user openclaw start the update, not the set-secret service" (
      contains "\"clawfree-update.service\"" config.security.polkit.extraConfig
      && !(contains "clawfree-set-secret" config.security.polkit.extraConfig)
    ) config.security.polkit.extraConfig)

    # `clawfree switch-llm`, run by the gateway's user, restarts the provider
    # and asks it (root) to edit OpenClaw's root-only configuration.
    (check "polkit lets user openclaw restart the provider and the gateway (switch-llm)" (
      contains "\"clawfree-provider.service\"" config.security.polkit.extraConfig
      && contains "\"openclaw-gateway.service\"" config.security.polkit.extraConfig
    ) config.security.polkit.extraConfig)
    (expectEq "switch-llm: the provider is root and may write OpenClaw's configuration" {
      user = (sc "clawfree-provider").User or "root";
      writes = lib.elem config.openclaw.stateDir (sc "clawfree-provider").ReadWritePaths;
      openclaw_config = providerSettings.openclaw_config or null;
      provider_service = providerSettings.provider_service or null;
      gateway_service = providerSettings.gateway_service or null;
    } {
      user = "root";
      writes = true;
      openclaw_config = "${config.openclaw.stateDir}/openclaw.json";
      provider_service = "clawfree-provider.service";
      gateway_service = "openclaw-gateway.service";
    })

    # The Setup conversation's logins (claude, codex, openclaw) and its edits of
    # OpenClaw's configuration land where the gateway reads them.
    (
      let
        gateway = sc "openclaw-gateway";
        gatewayHome = "/var/lib/${gateway.StateDirectory}";
        configCredential = builtins.filter (lib.hasPrefix "openclaw.json:") gateway.LoadCredential;
        gatewayConfig = lib.removePrefix "openclaw.json:" (builtins.head (configCredential ++ [ "" ]));
      in
      expectEq "the provider works in the gateway's state folder and on the configuration it loads" {
        inherit (svc.clawfree-provider.environment) HOME OPENCLAW_STATE_DIR OPENCLAW_CONFIG_PATH;
        openclaw_config = providerSettings.openclaw_config or null;
      } {
        HOME = gatewayHome;
        OPENCLAW_STATE_DIR = gatewayHome;
        OPENCLAW_CONFIG_PATH = gatewayConfig;
        openclaw_config = gatewayConfig;
      }
    )

    # The Telegram token: root-only on disk, read by the unprivileged gateway
    # through its systemd credential, which is where OpenClaw's configuration
    # (the agent's and the rendered one) points.
    (expectEq "the rendered configuration reads the token from the gateway's credential"
      config.openclaw.internal.renderedSettings.channels.telegram.tokenFile
      gatewayTokenFile
    )
    (expectContains "the agent points OpenClaw's configuration at the gateway's credential"
      (sc "clawfree-setup").ExecStart
      "\"--gateway-credentials-dir\" \"/run/credentials/openclaw-gateway.service\""
    )
    (check "the gateway's tokenFile is one of its credentials" (
      lib.elem (builtins.baseNameOf gatewayTokenFile) (credentialNames (sc "openclaw-gateway").LoadCredential)
    ) "LoadCredential = ${builtins.toJSON (sc "openclaw-gateway").LoadCredential}")
    (check "the token is not put in the gateway's environment" (
      !(contains "TELEGRAM_BOT_TOKEN" config.openclaw.internal.scripts.gateway-start.text)
      && !(svc.openclaw-gateway.environment ? TELEGRAM_BOT_TOKEN)
    ) config.openclaw.internal.scripts.gateway-start.text)

    # `clawfree secret set`, run by the gateway's user, reaches root through a
    # socket only that user's group may open.
    (expectEq "the set-secret socket: root's, group openclaw only, one service per connection" {
      inherit (setSecretSocket) listenStreams wantedBy;
      inherit (setSecretSocket.socketConfig)
        Accept
        SocketUser
        SocketGroup
        SocketMode
        ;
    } {
      listenStreams = [ "/run/clawfree/set-secret.sock" ];
      wantedBy = [ "sockets.target" ];
      Accept = true;
      SocketUser = "root";
      SocketGroup = "openclaw";
      SocketMode = "0660";
    })
    (check "the set-secret socket takes a few connections at a time" (
      setSecretSocket.socketConfig.MaxConnections >= 1 && setSecretSocket.socketConfig.MaxConnections <= 4
    ) "MaxConnections = ${toString setSecretSocket.socketConfig.MaxConnections}")
    (expectEq "the clawfree command connects to the set-secret socket" (providerSettings.agent_socket or null)
      (builtins.head setSecretSocket.listenStreams)
    )
    (expectEq "set-secret: the connection is stdin and stdout, the log goes to the journal" [
      setSecretConfig.StandardInput
      setSecretConfig.StandardOutput
      setSecretConfig.StandardError
    ] [ "socket" "socket" "journal" ])
    (expectContains "set-secret runs the agent's serve-set-secret" setSecretConfig.ExecStart
      "/bin/clawfree-agent\" \"serve-set-secret\""
    )
    (expectEq "set-secret: root, capped like the agent, never restarted, time-limited" {
      user = setSecretConfig.User or "root";
      inherit (setSecretConfig)
        MemoryHigh
        MemoryMax
        OOMScoreAdjust
        Restart
        RuntimeMaxSec
        ;
      inherit (setSecret) wantedBy;
    } {
      user = "root";
      MemoryHigh = "24M";
      MemoryMax = "32M";
      OOMScoreAdjust = -200;
      Restart = "no";
      RuntimeMaxSec = 60;
      wantedBy = [ ];
    })
    (expectEq "set-secret writes only the state folder and has no network" [
      setSecretConfig.ProtectSystem
      setSecretConfig.ReadWritePaths
      setSecretConfig.PrivateNetwork
    ] [ "strict" [ "/var/lib/openclaw" ] true ])
    (expectHas "set-secret waits for first-boot setup" setSecret.after "clawfree-setup.service")
    (expectHas "the gateway (which runs the skill) starts after the set-secret socket" svc.openclaw-gateway.after
      "clawfree-set-secret.socket"
    )
    (expectHas "the gateway wants the set-secret socket" svc.openclaw-gateway.wants "clawfree-set-secret.socket")
    (expectKnownUnits "clawfree-set-secret@" (references "clawfree-set-secret@"))
    (expectKnownUnits "clawfree-set-secret.socket" (
      setSecretSocket.after ++ setSecretSocket.before ++ setSecretSocket.wantedBy
    ))

    # `clawfree update`, run by the gateway's user, starts a root unit.
    (expectEq "the clawfree command updates through clawfree-update.service" (providerSettings.update_service or null)
      "clawfree-update.service"
    )
    (expectContains "clawfree-update switches in place" (sc "clawfree-update").ExecStart
      "/bin/clawfree\" \"--config\" \"/etc/clawfree/config.json\" \"update\" \"--in-place\""
    )
    (expectEq "clawfree-update: a root oneshot that runs anew at each start, on demand only" {
      user = (sc "clawfree-update").User or "root";
      inherit (sc "clawfree-update") Type Restart;
      remainAfterExit = (sc "clawfree-update").RemainAfterExit or false;
      inherit (update) wantedBy restartIfChanged;
    } {
      user = "root";
      Type = "oneshot";
      Restart = "no";
      remainAfterExit = false;
      wantedBy = [ ];
      restartIfChanged = false;
    })
    (expectEq "clawfree-update: caps" [
      (sc "clawfree-update").MemoryHigh
      (sc "clawfree-update").MemoryMax
      (sc "clawfree-update").OOMScoreAdjust
    ] [ "192M" "256M" (-400) ])
    (check "OOM order: an update is taken before the gateway" (
      (sc "clawfree-update").OOMScoreAdjust > (sc "openclaw-gateway").OOMScoreAdjust
    ) "update ${toString (sc "clawfree-update").OOMScoreAdjust}, gateway ${toString (sc "openclaw-gateway").OOMScoreAdjust}")
    (expectKnownUnits "clawfree-update" (references "clawfree-update"))

    # The memory tuning.
    (expectEq "zram: zstd, 50 %, priority 100" {
      inherit (config.zramSwap)
        enable
        algorithm
        memoryPercent
        priority
        ;
    } {
      enable = true;
      algorithm = "zstd";
      memoryPercent = 50;
      priority = 100;
    })
    (expectEq "no disk swap" config.swapDevices [ ])
    (expectEq "sysctls" config.boot.kernel.sysctl {
      "vm.swappiness" = 150;
      "vm.overcommit_memory" = 1;
      "vm.min_free_kbytes" = 8192;
      "vm.vfs_cache_pressure" = 200;
      "net.core.somaxconn" = 1024;
      "net.ipv4.tcp_fastopen" = 3;
      "net.ipv4.tcp_keepalive_time" = 300;
      "net.ipv4.tcp_keepalive_intvl" = 30;
      "net.ipv4.tcp_keepalive_probes" = 5;
    })
    (expectHas "transparent hugepages off" config.boot.kernelParams "transparent_hugepage=never")
    (expectEq "journald volatile" config.services.journald.storage "volatile")
    (expectContains "journald size cap" config.services.journald.extraConfig "RuntimeMaxUse=32M")
    (expectContains "journald age cap" config.services.journald.extraConfig "MaxRetentionSec=2day")
    (expectEq "/tmp on a 100 MB tmpfs" [ config.boot.tmp.useTmpfs config.boot.tmp.tmpfsSize ] [ true "100M" ])
    (expectEq "resolved without DNSSEC" [
      config.services.resolved.enable
      config.services.resolved.settings.Resolve.DNSSEC
    ] [ true "false" ])
    (expectEq "documentation, udisks2, X and sound off" [
      config.documentation.enable
      config.documentation.man.enable
      config.documentation.nixos.enable
      config.services.udisks2.enable
      config.services.xserver.enable
      config.services.pulseaudio.enable
      config.services.pipewire.enable
    ] [ false false false false false false false ])
    (expectEq "only the en_US locale" config.i18n.supportedLocales [ "en_US.UTF-8/UTF-8" ])
    (expectEq "no fonts" [ config.fonts.fontconfig.enable config.fonts.enableDefaultPackages ] [ false false ])
    (expectEq "Nix: flakes, optimised store, nothing kept" {
      inherit (config.nix.settings)
        experimental-features
        auto-optimise-store
        keep-outputs
        keep-derivations
        ;
    } {
      experimental-features = [
        "nix-command"
        "flakes"
      ];
      auto-optimise-store = true;
      keep-outputs = false;
      keep-derivations = false;
    })
    (expectEq "Nix: daily GC of generations older than 3 days" {
      inherit (config.nix.gc) automatic dates options;
    } {
      automatic = true;
      dates = "daily";
      options = "--delete-older-than 3d";
    })
    (expectEq "Nix daemon at idle CPU and IO priority" [
      config.nix.daemonCPUSchedPolicy
      config.nix.daemonIOSchedClass
    ] [ "idle" "idle" ])
    (expectEq "SSH: keys only, no root, OS Login" [
      config.services.openssh.settings.PasswordAuthentication
      config.services.openssh.settings.KbdInteractiveAuthentication
      config.services.openssh.settings.PermitRootLogin
      config.security.googleOsLogin.enable
    ] [ false false "no" true ])
    (expectEq "updates are pushed, never built on the VM" config.system.autoUpgrade.enable false)

    (expectEq "the provider checks callers against the key the agent makes in its state folder"
      (builtins.fromJSON config.environment.etc."clawfree/config.json".source.text).api_key_file or null
      "${config.openclaw.stateDir}/setup-provider.key"
    )

    # Only root and the daemons OS Login needs reach the metadata server.
    (check "metadata guard: nftables refuses the metadata server's HTTP to every other user" (
      config.networking.nftables.enable
      && guard.family == "inet"
      && contains "type filter hook output" guard.content
      && contains "ip daddr 169.254.169.254 tcp dport { 80, 443 } meta skuid != { root, nscd, nobody } counter reject" guard.content
      && contains "ip6 daddr fd20:ce::254 tcp dport { 80, 443 } meta skuid != { root, nscd, nobody } counter reject" guard.content
    ) guard.content)
    (check "metadata guard: DNS on the same address stays open" (
      !(contains "dport 53" guard.content) && !(contains "169.254.169.254 meta" guard.content)
    ) guard.content)
    (check "metadata guard: the gateway's user is refused" (
      !(lib.elem (sc "openclaw-gateway").User config.openclaw.metadataGuard.allowedUsers)
    ) (builtins.toJSON config.openclaw.metadataGuard.allowedUsers))
    (check "metadata guard: the agent's units and the provider (it reads LLM_PROVIDER) run as an allowed user" (
      builtins.all (
        unit: lib.elem ((sc unit).User or "root") config.openclaw.metadataGuard.allowedUsers
      ) (agentUnits ++ [ "clawfree-provider" ])
    ) (builtins.toJSON (map (unit: (sc unit).User or "root") (agentUnits ++ [ "clawfree-provider" ]))))
    (expectContains "metadata guard: the build's ruleset check sees only uid 0"
      config.networking.nftables.preCheckRuleset
      "s/skuid != { root, nscd, nobody }/skuid != { 0 }/"
    )

    # Option defaults and types.
    (
      let
        # What one module hands the others (proposeSocket is set only in GitHub
        # mode with a repository; scripts is written by every module).
        handed = removeAttrs image.options.openclaw.internal [
          "proposeSocket"
          "scripts"
        ];
        settable = builtins.attrNames (lib.filterAttrs (_: o: !(o.readOnly or false) || !(o.internal or false)) handed);
      in
      check "the values one module hands the others are internal and read-only" (
        handed != { } && settable == [ ]
      ) "internal options a user may set: ${builtins.toJSON settable}"
    )
    (expectEq "default gateway port" config.openclaw.gateway.port 18789)
    (expectEq "default provider comes from metadata" config.openclaw.provider null)
    (expectEq "default token file is where the agent writes it" config.openclaw.telegramTokenFile
      "/var/lib/openclaw/secrets/telegram-token"
    )
    (expectEq "provider is one of kimi, claude, openai"
      image.options.openclaw.provider.type.name
      "null or one of [\"kimi\",\"claude\",\"openai\"]"
    )
    (expectEq "default owner comes from metadata" config.openclaw.telegramOwnerId null)
    (expectEq "owner id: a Telegram user id or null"
      image.options.openclaw.telegramOwnerId.type.name
      "null or int between 1 and 4503599627370495"
    )
    (check "image: the rendered configuration leaves the owner to metadata" (
      !(config.openclaw.internal.renderedSettings.channels.telegram ? dmPolicy)
      && !(config.openclaw.internal.renderedSettings.channels.telegram ? allowFrom)
    ) (builtins.toJSON config.openclaw.internal.renderedSettings.channels.telegram))
    (expectEq "a declared owner is the only one the bot answers" {
      inherit (owned.config.openclaw.internal.renderedSettings.channels.telegram) dmPolicy allowFrom tokenFile;
    } {
      dmPolicy = "allowlist";
      allowFrom = [ "424242" ];
      tokenFile = gatewayTokenFile;
    })
    (expectEq "the agent's units get the rendered configuration to write over theirs" (map (
      unit: svc.${unit}.environment.CLAWFREE_BASE_CONFIG or null
    ) agentUnits) (map (_: "${config.openclaw.internal.renderedConfig}") agentUnits))
    (expectEq "metadata URL defaults to GCE's" config.openclaw.agent.metadataUrl "http://metadata.google.internal")

    # Packages built from the workspace.
    (expectEq "agent: crate, program, lock file" {
      inherit (config.openclaw.agent.package.rustArgs) pname cargoBuildFlags;
      program = config.openclaw.agent.package.meta.mainProgram;
      lock = builtins.pathExists config.openclaw.agent.package.rustArgs.cargoLock.lockFile;
    } {
      pname = "claw-free-agent";
      cargoBuildFlags = [
        "--package"
        "claw-free-agent"
      ];
      program = "clawfree-agent";
      lock = true;
    })
    (expectEq "provider: crate, program" {
      inherit (config.openclaw.bootstrapProvider.package.rustArgs) pname;
      program = config.openclaw.bootstrapProvider.package.meta.mainProgram;
    } {
      pname = "claw-free-provider";
      program = "clawfree-provider";
    })

    # GitHub mode's rollouts.
    (check "GitHub mode is off unless asked" (!(svc ? clawfree-rollout)) "clawfree-rollout is configured")
    # The example bot (agenix, its own provider key).
    (expectEq "example bot: token from agenix" userGateway.serviceConfig.LoadCredential [
      "telegram-token:/run/agenix/telegram-token"
      "provider-key:/run/agenix/anthropic-api-key"
    ])
    (expectEq "example bot: its read-only configuration reads the token's credential"
      user.config.openclaw.internal.renderedSettings.channels.telegram.tokenFile
      gatewayTokenFile
    )
    (expectContains "example bot: the Anthropic key reaches OpenClaw"
      user.config.openclaw.internal.scripts.gateway-start.text
      "export ANTHROPIC_API_KEY"
    )
    (check "example bot: read-only rendered configuration" (
      lib.hasPrefix "/nix/store/" userGateway.environment.OPENCLAW_CONFIG_PATH
      && !(userGateway.serviceConfig ? ExecStartPre && userGateway.serviceConfig.ExecStartPre != [ ])
    ) "OPENCLAW_CONFIG_PATH=${userGateway.environment.OPENCLAW_CONFIG_PATH}")
    (check "example bot: no bootstrap provider" (
      !(user.config.systemd.services ? clawfree-provider)
      && !(lib.elem "clawfree-provider.service" userGateway.after)
    ) "the provider is still configured")
    (expectEq "example bot: provider fixed for the agent" (user.config.systemd.services.clawfree-setup.environment.LLM_PROVIDER or null) "claude")
    (expectEq "example bot: its owner reaches the agent through the rendered configuration"
      (owned.config.systemd.services.clawfree-setup.environment.CLAWFREE_BASE_CONFIG or null)
      "${owned.config.openclaw.internal.renderedConfig}"
    )
    (
      let
        dirs = user.config.openclaw.internal.renderedSettings.skills.load.extraDirs;
      in
      check "example bot: its skill is copied to the store and loaded" (
        builtins.all (lib.hasPrefix "/nix/store/") dirs && builtins.any (d: contains "-weather" d) dirs
      ) "skills.load.extraDirs = ${builtins.toJSON dirs}"
    )
  ];
}
