# The NixOS options our modules set, declared with the names and types they
# have in the pinned release (nixos-26.05), and the few units NixOS itself
# defines that ours are ordered against.
#
# Owns: the answer to "does this option exist?" for the offline checks. An
# option missing here makes evaluation fail with "does not exist", exactly as
# NixOS would; adding one needs its source file in the pinned nixpkgs, named
# in the comment above it (see nix/README.md, "Options checked").
{ lib, pkgs, ... }:
let
  inherit (lib) mkOption types;
  opt = type: default: mkOption { inherit type default; };
  enable = opt types.bool false;
  unitValue = types.oneOf [
    types.bool
    types.int
    types.str
    types.path
    (types.listOf (
      types.oneOf [
        types.bool
        types.int
        types.str
      ]
    ))
  ];
  # A list-valued unit key concatenates; anything else must agree.
  unitOption = unitValue // {
    merge =
      loc: defs:
      if builtins.any (d: builtins.isList d.value) defs then
        builtins.concatMap (d: if builtins.isList d.value then d.value else [ d.value ]) defs
      else
        types.str.merge loc defs;
  };
  units = opt (types.listOf types.str) [ ];
  # What services and sockets share (commonUnitOptions), as far as our units use it.
  commonUnitOptions = {
    enable = opt types.bool true;
    description = opt types.str "";
    after = units;
    before = units;
    requires = units;
    wants = units;
    wantedBy = units;
    unitConfig = opt (types.attrsOf unitOption) { };
  };
in
{
  options = {
    # nixos/modules/misc/assertions.nix
    assertions = opt (types.listOf types.attrs) [ ];
    warnings = opt (types.listOf types.str) [ ];

    # nixos/modules/system/boot/systemd.nix (services, sockets), with their
    # submodules from nixos/lib/systemd-unit-options.nix (serviceOptions,
    # stage2ServiceOptions.restartIfChanged, socketOptions.listenStreams and
    # socketConfig, commonUnitOptions)
    systemd.package = opt types.package pkgs.systemd;
    systemd.services = opt (types.attrsOf (
      types.submodule (
        commonUnitOptions
        // {
          partOf = units;
          bindsTo = units;
          environment = opt (types.attrsOf (types.nullOr (types.oneOf [ types.str types.path types.package ]))) { };
          path = opt (types.listOf (types.either types.package types.str)) [ ];
          serviceConfig = opt (types.attrsOf unitOption) { };
          startLimitBurst = opt (types.nullOr types.int) null;
          startLimitIntervalSec = opt (types.nullOr types.int) null;
          restartTriggers = opt (types.listOf types.unspecified) [ ];
          restartIfChanged = opt types.bool true;
        }
      )
    )) { };
    systemd.sockets = opt (types.attrsOf (
      types.submodule (
        commonUnitOptions
        // {
          listenStreams = opt (types.listOf types.str) [ ];
          socketConfig = opt (types.attrsOf unitOption) { };
        }
      )
    )) { };
    # nixos/modules/system/boot/systemd/tmpfiles.nix
    systemd.tmpfiles.rules = opt (types.listOf types.str) [ ];

    # nixos/modules/config/users-groups.nix
    users.users = opt (types.attrsOf (
      types.submodule {
        isSystemUser = enable;
        isNormalUser = enable;
        group = opt types.str "";
        home = opt types.path "/var/empty";
        description = opt types.str "";
      }
    )) { };
    users.groups = opt (types.attrsOf (types.submodule { gid = opt (types.nullOr types.int) null; })) { };

    # nixos/modules/config/system-path.nix
    environment.systemPackages = opt (types.listOf types.package) [ ];
    # nixos/modules/system/etc/etc.nix
    environment.etc = opt (types.attrsOf (
      types.submodule {
        text = opt (types.nullOr types.lines) null;
        source = opt (types.nullOr types.path) null;
        mode = opt types.str "symlink";
      }
    )) { };
    # nixos/modules/security/polkit.nix
    security.polkit = {
      enable = enable;
      extraConfig = opt types.lines "";
    };

    # nixos/modules/config/zram.nix
    zramSwap = {
      enable = enable;
      algorithm = opt (types.either (types.enum [ "lzo" "lz4" "zstd" ]) types.str) "zstd";
      memoryPercent = opt types.ints.positive 50;
      priority = opt types.int 5;
    };
    # nixos/modules/config/swap.nix
    swapDevices = opt (types.listOf types.attrs) [ ];

    # nixos/modules/config/sysctl.nix
    boot.kernel.sysctl = opt (types.attrsOf (types.nullOr (types.oneOf [ types.bool types.str types.int ]))) { };
    # nixos/modules/system/boot/kernel.nix
    boot.kernelParams = opt (types.listOf types.str) [ ];
    # nixos/modules/system/boot/tmp.nix
    boot.tmp = {
      useTmpfs = enable;
      tmpfsSize = opt (types.oneOf [ types.str types.int ]) "50%";
    };
    # nixos/modules/system/boot/loader/grub/grub.nix
    boot.loader.grub.devices = opt (types.listOf types.str) [ ];
    # nixos/modules/tasks/filesystems.nix
    fileSystems = opt (types.attrsOf (
      types.submodule {
        device = opt (types.nullOr types.str) null;
        fsType = opt types.str "auto";
        autoResize = enable;
      }
    )) { };

    # nixos/modules/system/boot/systemd/journald.nix (26.05: flat options;
    # services.journald.settings arrives in 26.11)
    services.journald = {
      storage = opt (types.enum [ "persistent" "volatile" "auto" "none" ]) "persistent";
      extraConfig = opt types.lines "";
    };
    # nixos/modules/system/boot/resolved.nix (settings since 25.11)
    services.resolved = {
      enable = enable;
      settings = opt (types.attrsOf (types.attrsOf unitOption)) { };
    };

    # nixos/modules/misc/documentation.nix
    documentation = {
      enable = opt types.bool true;
      man.enable = opt types.bool true;
      info.enable = opt types.bool true;
      doc.enable = opt types.bool true;
      nixos.enable = opt types.bool true;
    };
    # nixos/modules/services/hardware/udisks2.nix
    services.udisks2.enable = enable;
    # nixos/modules/services/x11/xserver.nix
    services.xserver.enable = enable;
    # nixos/modules/config/pulseaudio.nix (hardware.pulseaudio before 25.05)
    services.pulseaudio.enable = enable;
    # nixos/modules/services/desktops/pipewire/pipewire.nix
    services.pipewire.enable = enable;
    # nixos/modules/config/i18n.nix
    i18n = {
      defaultLocale = opt types.str "en_US.UTF-8";
      supportedLocales = opt (types.listOf types.str) [ "all" ];
    };
    # nixos/modules/config/fonts/fontconfig.nix, nixos/modules/config/fonts/packages.nix
    fonts.fontconfig.enable = opt types.bool true;
    fonts.enableDefaultPackages = enable;

    # nixos/modules/services/networking/ssh/sshd.nix
    services.openssh = {
      enable = enable;
      settings = opt (types.submodule {
        PasswordAuthentication = opt (types.nullOr types.bool) true;
        KbdInteractiveAuthentication = opt types.bool true;
        PermitRootLogin = opt (types.enum [
          "yes"
          "without-password"
          "prohibit-password"
          "forced-commands-only"
          "no"
        ]) "prohibit-password";
      }) { };
    };
    # nixos/modules/security/google_oslogin.nix
    security.googleOsLogin.enable = enable;

    # nixos/modules/config/nix.nix, nixos/modules/services/system/nix-daemon.nix,
    # nixos/modules/services/misc/nix-gc.nix
    nix = {
      package = opt types.package pkgs.nix;
      settings = opt (types.submodule {
        experimental-features = opt (types.listOf types.str) [ ];
        auto-optimise-store = enable;
        keep-outputs = enable;
        keep-derivations = opt types.bool true;
        substituters = opt (types.listOf types.str) [ "https://cache.nixos.org/" ];
        trusted-public-keys = opt (types.listOf types.str) [ ];
      }) { };
      gc = {
        automatic = enable;
        dates = opt (types.either types.str (types.listOf types.str)) "03:15";
        options = opt types.str "";
      };
      daemonCPUSchedPolicy = opt (types.enum [ "other" "batch" "idle" ]) "other";
      daemonIOSchedClass = opt (types.enum [ "best-effort" "idle" ]) "best-effort";
    };
    # nixos/modules/tasks/auto-upgrade.nix
    system.autoUpgrade.enable = enable;
    # nixos/modules/misc/version.nix
    system.stateVersion = opt types.str "26.05";
    # nixos/modules/misc/nixpkgs.nix
    nixpkgs.config = opt types.attrs { };
    nixpkgs.overlays = opt (types.listOf types.unspecified) [ ];
    nixpkgs.hostPlatform = opt (types.either types.str types.attrs) "x86_64-linux";
    # nixos/modules/tasks/network-interfaces.nix
    networking.hostName = opt types.str "nixos";
    # nixos/modules/services/networking/nftables.nix
    networking.nftables = {
      enable = enable;
      preCheckRuleset = opt types.lines "";
      tables = opt (types.attrsOf (
        types.submodule {
          enable = opt types.bool true;
          family = mkOption {
            type = types.enum [ "ip" "ip6" "inet" "arp" "bridge" "netdev" ];
          };
          content = mkOption { type = types.lines; };
        }
      )) { };
    };
    # nixos/modules/services/ttys/getty.nix
    services.getty.autologinUser = opt (types.nullOr types.str) null;
  };

  # Units NixOS itself defines that ours refer to.
  config.systemd.services = {
    # nixos/modules/services/networking/ssh/sshd.nix: host keys are made here.
    sshd-keygen = {
      description = "SSH Host Keys Generation";
      serviceConfig.Type = "oneshot";
      serviceConfig.ExecStart = "${pkgs.openssh}/bin/ssh-keygen -A";
    };
  };
}
