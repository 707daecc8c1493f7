# Pure helpers shared by the claw.free NixOS modules and packages.
#
# Owns: the one way a claw.free service is capped and restarted
# (`mkCappedService`, and `mkCappedSocketService` for a root service an
# unprivileged group reaches through a socket), how an argument vector
# becomes a systemd `ExecStart=` line, the kind of option through which one
# module hands a value it owns to the others, and the text of the wrapper that
# makes an interactive CLI the OOM killer's first choice. Takes nothing but
# `lib`, so the offline checks can evaluate it against their stand-in.
{ lib }:
let
  # systemd splits ExecStart= on whitespace, honours double quotes and expands
  # `%` specifiers and `$VAR`: quote every argument and escape those.
  quoteExecArg =
    arg:
    let
      escaped = lib.replaceStrings [ "\\" "\"" "%" "$" ] [ "\\\\" "\\\"" "%%" "$$" ] (toString arg);
    in
    "\"${escaped}\"";
in
rec {
  /**
    The options of a capped service's three memory knobs (`memoryHigh`,
    `memoryMax`, `oomScoreAdjust`), with the given defaults; `what` names
    the service in their descriptions. Their values are mkCappedService's
    `caps`.
  */
  mkCapsOptions =
    {
      what,
      memoryHigh,
      memoryMax,
      oomScoreAdjust,
    }:
    {
      memoryHigh = lib.mkOption {
        type = lib.types.str;
        default = memoryHigh;
        description = "systemd `MemoryHigh=` of ${what}: above it the kernel throttles the service and reclaims its memory.";
      };
      memoryMax = lib.mkOption {
        type = lib.types.str;
        default = memoryMax;
        description = "systemd `MemoryMax=` of ${what}: the hard ceiling, enforced by the cgroup OOM killer.";
      };
      oomScoreAdjust = lib.mkOption {
        type = lib.types.ints.between (-1000) 1000;
        default = oomScoreAdjust;
        description = "systemd `OOMScoreAdjust=` of ${what}: the lower, the later the kernel OOM killer picks it.";
      };
    };

  /**
    An option through which the module that owns a value (a path, a URL, a
    rendered file) hands it to the others: internal, and read-only, so the
    owner's is its one definition.
  */
  mkReadOnlyOption =
    type: description:
    lib.mkOption {
      inherit type description;
      readOnly = true;
      internal = true;
    };

  /**
    One systemd `ExecStart=` value from an argument list, every argument
    quoted, so a path or flag with a space or `%` in it survives.
  */
  execArgs = args: lib.concatMapStringsSep " " quoteExecArg args;

  /**
    The systemd service every claw.free program runs as: memory-capped
    (`MemoryHigh` throttles and reclaims, `MemoryMax` is the hard ceiling
    the kernel enforces with the cgroup OOM killer), with its OOM score,
    restarted on failure after `restartSec` seconds, and stopped for good
    after `startLimitBurst` failed starts within `startLimitIntervalSec`, so a
    crash loop cannot eat the quarter vCPU.

    Arguments:
    - description, execStart (a list of arguments)
    - caps: `{ memoryHigh, memoryMax, oomScoreAdjust }`, the values of the
      options mkCapsOptions declares (sizes such as "350M"; -1000..1000,
      lower survives longer)
    - type (default "simple"); remainAfterExit (default: type is "oneshot")
    - after, requires, wants, before, wantedBy: unit names
    - environment: attrset of variables; path: packages on its PATH
    - restartTriggers: values whose change restarts it on a switch
    - restart (default "on-failure"), restartSec (default 5)
    - startLimitBurst (default 5), startLimitIntervalSec (default 300)
    - serviceConfig, unitConfig: extra keys merged last
  */
  mkCappedService =
    {
      description,
      execStart,
      caps,
      type ? "simple",
      remainAfterExit ? type == "oneshot",
      after ? [ ],
      requires ? [ ],
      wants ? [ ],
      before ? [ ],
      wantedBy ? [ "multi-user.target" ],
      environment ? { },
      path ? [ ],
      restartTriggers ? [ ],
      restart ? "on-failure",
      restartSec ? 5,
      startLimitBurst ? 5,
      startLimitIntervalSec ? 300,
      serviceConfig ? { },
      unitConfig ? { },
    }:
    {
      inherit
        description
        after
        requires
        wants
        before
        wantedBy
        environment
        path
        restartTriggers
        startLimitBurst
        startLimitIntervalSec
        unitConfig
        ;
      serviceConfig = {
        Type = type;
        ExecStart = execArgs execStart;
        MemoryAccounting = true;
        MemoryHigh = caps.memoryHigh;
        MemoryMax = caps.memoryMax;
        OOMScoreAdjust = caps.oomScoreAdjust;
        Restart = restart;
        RestartSec = restartSec;
      }
      // lib.optionalAttrs remainAfterExit { RemainAfterExit = true; }
      // serviceConfig;
    };

  /**
    mkCappedService's socket counterpart: a root program an unprivileged
    group reaches through a Unix socket, one run per connection. Returns
    `{ socket, service }`, to be set as `systemd.sockets.<name>` and
    `systemd.services."<name>@"` (the template `Accept=yes` starts).

    The socket is owned by root and read- and writable by `group` only
    (0660), and takes at most `maxConnections` at once. Each run is capped
    like every other service, gets the connection as its stdin and stdout
    (its stderr goes to the journal, not to the caller), is never restarted
    (its connection is gone), is stopped after `runtimeMaxSec` so a caller
    that never finishes its request cannot hold a slot, and is forgotten
    once it ends, even when it failed.

    Arguments: listenStream (the socket's path), group, maxConnections
    (default 2), runtimeMaxSec (default 60), and those of mkCappedService
    except type, restart and wantedBy.
  */
  mkCappedSocketService =
    {
      description,
      listenStream,
      group,
      maxConnections ? 2,
      runtimeMaxSec ? 60,
      serviceConfig ? { },
      unitConfig ? { },
      ...
    }@args:
    {
      socket = {
        description = "${description} (socket)";
        wantedBy = [ "sockets.target" ];
        listenStreams = [ listenStream ];
        socketConfig = {
          Accept = true;
          SocketUser = "root";
          SocketGroup = group;
          SocketMode = "0660";
          MaxConnections = maxConnections;
          RemoveOnStop = true;
        };
      };
      service = mkCappedService (
        builtins.removeAttrs args [
          "listenStream"
          "group"
          "maxConnections"
          "runtimeMaxSec"
        ]
        // {
          restart = "no";
          wantedBy = [ ];
          unitConfig = {
            CollectMode = "inactive-or-failed";
          }
          // unitConfig;
          serviceConfig = {
            StandardInput = "socket";
            StandardOutput = "socket";
            StandardError = "journal";
            RuntimeMaxSec = runtimeMaxSec;
          }
          // serviceConfig;
        }
      );
    };

  /**
    Sandboxing shared by the claw.free services: they need the network
    and their state folder, nothing else of the system.
  */
  hardening = {
    NoNewPrivileges = true;
    PrivateTmp = true;
    ProtectHome = true;
    ProtectSystem = "strict";
    ProtectKernelTunables = true;
    ProtectKernelModules = true;
    ProtectControlGroups = true;
    RestrictSUIDSGID = true;
    LockPersonality = true;
  };

  /**
    The body of the shell script (its shebang comes from
    `writeShellScriptBin`) that runs `exe` with the highest OOM score (1000), so that
    when memory runs out the kernel kills an interactive CLI before the
    gateway, the provider or the agent. Raising one's own score needs no
    privilege, and children inherit it.
  */
  oomFirstScript =
    { choom, exe }:
    ''
      # Interactive CLIs are the first thing the OOM killer may take.
      exec ${choom} -n 1000 -- ${exe} "$@"
    '';
}
