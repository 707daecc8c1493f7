# A 1 GB, quarter-vCPU VM tuned for one bot.
#
# Owns: compressed swap in RAM (zram) and no disk swap, the VM and TCP
# sysctls, transparent hugepages off, a volatile size-capped journal, /tmp in
# RAM, and everything a headless bot does not need switched off (docs, X,
# sound, udisks2, extra locales, fonts). Every value is `mkDefault`, so a
# user's flake can still change one without `mkForce`.
{
  config,
  lib,
  ...
}:
let
  inherit (lib) mkDefault;
in
{
  options.openclaw.memoryTuning.enable = lib.mkOption {
    type = lib.types.bool;
    default = config.openclaw.enable;
    defaultText = lib.literalExpression "config.openclaw.enable";
    description = "Whether to apply the memory tuning for a 1 GB e2-micro.";
  };

  config = lib.mkIf config.openclaw.memoryTuning.enable {
    # Compressed swap in RAM, preferred to any other swap; never a disk.
    zramSwap = {
      enable = true;
      algorithm = mkDefault "zstd";
      memoryPercent = mkDefault 50;
      priority = mkDefault 100;
    };
    swapDevices = lib.mkForce [ ];

    boot.kernel.sysctl = {
      # zram is cheaper than dropping file cache: swap early (range 0-200).
      "vm.swappiness" = mkDefault 150;
      # Node.js reserves far more than it touches.
      "vm.overcommit_memory" = mkDefault 1;
      "vm.min_free_kbytes" = mkDefault 8192;
      "vm.vfs_cache_pressure" = mkDefault 200;
      "net.core.somaxconn" = mkDefault 1024;
      "net.ipv4.tcp_fastopen" = mkDefault 3;
      "net.ipv4.tcp_keepalive_time" = mkDefault 300;
      "net.ipv4.tcp_keepalive_intvl" = mkDefault 30;
      "net.ipv4.tcp_keepalive_probes" = mkDefault 5;
    };
    # Huge pages double the resident size of a small heap.
    boot.kernelParams = [ "transparent_hugepage=never" ];

    # In 26.05 these are still the flat options (26.11 moves them to
    # services.journald.settings.Journal).
    services.journald.storage = mkDefault "volatile";
    services.journald.extraConfig = ''
      RuntimeMaxUse=32M
      RuntimeMaxFileSize=8M
      MaxRetentionSec=2day
    '';

    boot.tmp.useTmpfs = true;
    boot.tmp.tmpfsSize = mkDefault "100M";

    services.resolved.enable = true;
    services.resolved.settings.Resolve.DNSSEC = mkDefault "false";

    documentation.enable = mkDefault false;
    documentation.man.enable = mkDefault false;
    documentation.info.enable = mkDefault false;
    documentation.doc.enable = mkDefault false;
    documentation.nixos.enable = mkDefault false;
    services.udisks2.enable = mkDefault false;
    services.xserver.enable = mkDefault false;
    services.pulseaudio.enable = mkDefault false;
    services.pipewire.enable = mkDefault false;

    i18n.defaultLocale = mkDefault "en_US.UTF-8";
    i18n.supportedLocales = mkDefault [ "en_US.UTF-8/UTF-8" ];

    fonts.fontconfig.enable = mkDefault false;
    fonts.enableDefaultPackages = mkDefault false;
  };
}
