# The rules every bot configuration must hold, on the stand-in evaluation
# (report.nix, offline) and on the real one (the flake's `rules` check over
# `nixosConfigurations`): each service's caps, restart policy and start
# limit, the sum of the hard caps, the V8 heap, the OOM order, and the unit
# ordering, against units that exist.
#
# Owns: those rules, as a list of checks (the helpers they are written with
# are expect.nix's).
{ config, lib }:
let
  svc = config.systemd.services;
  inherit (import ./expect.nix { inherit config lib; })
    check
    expectEq
    expectHas
    expectContains
    sc
    references
    expectKnownUnits
    ;

  # Sizes like "400M" in MiB, to add caps up.
  mib =
    size:
    let
      m = builtins.match "([0-9]+)([KMG])" size;
      n = lib.toIntBase10 (builtins.elemAt m 0);
      unit = builtins.elemAt m 1;
    in
    if unit == "G" then n * 1024 else if unit == "M" then n else n / 1024;

  ours = [
    "openclaw-gateway"
    "clawfree-provider"
    "clawfree-setup"
    "clawfree-watch-secrets"
    "clawfree-health"
  ];
  caps = {
    openclaw-gateway = [
      "350M"
      "400M"
      (-500)
    ];
    clawfree-provider = [
      "150M"
      "200M"
      (-300)
    ];
    clawfree-setup = [
      "24M"
      "32M"
      (-200)
    ];
    clawfree-watch-secrets = [
      "24M"
      "32M"
      (-200)
    ];
    clawfree-health = [
      "24M"
      "32M"
      (-200)
    ];
  };

  serviceChecks = builtins.concatMap (
    name:
    let
      want = caps.${name};
    in
    [
      (expectEq "${name}: MemoryHigh" (sc name).MemoryHigh (builtins.elemAt want 0))
      (expectEq "${name}: MemoryMax" (sc name).MemoryMax (builtins.elemAt want 1))
      (expectEq "${name}: OOMScoreAdjust" (sc name).OOMScoreAdjust (builtins.elemAt want 2))
      (expectEq "${name}: Restart" (sc name).Restart "on-failure")
      (expectEq "${name}: RestartSec" (sc name).RestartSec 5)
      (check "${name}: a start limit" (
        svc.${name}.startLimitBurst != null && svc.${name}.startLimitIntervalSec != null
      ) "startLimitBurst/startLimitIntervalSec unset")
      (expectKnownUnits name (references name))
      (expectEq "${name}: started at boot" svc.${name}.wantedBy [ "multi-user.target" ])
    ]
  ) ours;
in
serviceChecks
++ [
  # Memory: the hard caps leave room for the kernel, sshd, journald and
  # Google's guest agent on a 1024 MiB VM.
  (check "hard caps of all services leave at least 256 MiB of 1024" (
    builtins.foldl' (sum: n: sum + mib (sc n).MemoryMax) 0 ours <= 768
  ) "sum of MemoryMax: ${toString (builtins.foldl' (sum: n: sum + mib (sc n).MemoryMax) 0 ours)} MiB")
  (expectContains "gateway: 256 MB V8 heap" svc.openclaw-gateway.environment.NODE_OPTIONS
    "--max-old-space-size=256"
  )
  # OOM order: CLIs first, then agent, provider, and the gateway last.
  (check "OOM order: CLIs > agent > provider > gateway" (
    (sc "clawfree-health").OOMScoreAdjust > (sc "clawfree-provider").OOMScoreAdjust
    && (sc "clawfree-provider").OOMScoreAdjust > (sc "openclaw-gateway").OOMScoreAdjust
  ) "scores: ${builtins.toJSON (map (n: (sc n).OOMScoreAdjust) ours)}")

  # Ordering through real units.
  (expectHas "setup runs before the gateway" svc.clawfree-setup.before "openclaw-gateway.service")
  (expectHas "the gateway requires setup" svc.openclaw-gateway.requires "clawfree-setup.service")
  (expectHas "the gateway starts after setup" svc.openclaw-gateway.after "clawfree-setup.service")
  (expectHas "setup waits for the SSH host key" svc.clawfree-setup.after "sshd-keygen.service")
  (expectHas "the watcher requires setup" svc.clawfree-watch-secrets.requires "clawfree-setup.service")
  (expectHas "the health reporter requires setup" svc.clawfree-health.requires "clawfree-setup.service")
]
