# What a booted guest needs from the modules, for the first-boot test under
# real systemd (tests/firstboot): the units, tmpfiles rules, users and /etc
# files exactly as the stand-in evaluation renders them for the local QEMU
# host, the files the units execute or read from the store, and the store
# paths of the programs the test puts in place (the real agent and provider,
# the gateway, the guest's own systemctl and ssh-keygen), and the memory
# tuning (zram, sysctls, kernel parameters) the harness applies by hand,
# since Debian's systemd has no NixOS zram-generator configuration.
#
# Owns: nothing of its own; it only selects from evaluate.nix.
{
  host ? ../hosts/local-qemu.nix,
  # Test-only settings of one run (the real gateway's Telegram API root).
  extraModules ? [ ],
}:
let
  image = import ./evaluate.nix { inherit host extraModules; };
  inherit (image) config lib pkgs;
  cfg = config.openclaw;

  textFile = executable: drv: {
    name = "${drv}${drv.scriptPath or ""}";
    value = {
      inherit (drv) text;
      inherit executable;
    };
  };
in
{
  inherit (image) units;
  wantedBy = lib.mapAttrs (_: s: s.wantedBy) (
    lib.filterAttrs (_: s: s.enable) config.systemd.services
  );
  socketsWantedBy = lib.mapAttrs (_: s: s.wantedBy) config.systemd.sockets;
  tmpfiles = config.systemd.tmpfiles.rules;
  # sysusers.d lines for the users and groups the modules declare.
  sysusers =
    map (name: "g ${name} -") (builtins.attrNames config.users.groups)
    ++ map (
      name:
      let
        user = config.users.users.${name};
      in
      "u ${name} -:${user.group} \"${user.description}\" ${user.home} /usr/sbin/nologin"
    ) (builtins.attrNames config.users.users);
  # A file given as `source` is a stand-in store file that keeps its text.
  etc = lib.mapAttrs (_: file: if file.text != null then file.text else file.source.text) config.environment.etc;
  # Store files the units run or read: scripts and the rendered configuration.
  storeFiles = builtins.listToAttrs (
    [ (textFile false cfg.internal.renderedConfig) ]
    ++ map (textFile true) (builtins.attrValues cfg.internal.scripts)
  );
  packages = {
    agent = "${cfg.agent.package}";
    provider = "${cfg.bootstrapProvider.package}";
    gateway = "${cfg.package}";
    systemd = "${config.systemd.package}";
    openssh = "${pkgs.openssh}";
  };
  memory = {
    zram = {
      inherit (config.zramSwap)
        enable
        algorithm
        memoryPercent
        priority
        ;
    };
    sysctl = lib.mapAttrs (_: toString) config.boot.kernel.sysctl;
    inherit (config.boot) kernelParams;
  };
  inherit (cfg.agent) metadataUrl;
  gatewayPort = cfg.gateway.port;
}
