# Evaluates a bot configuration against the stand-in lib and pkgs.
#
# Owns: which modules make up a configuration under test (the declared NixOS
# options, our modules, a host, extra modules such as a broken fixture), and
# turning its systemd services and sockets into unit files as NixOS would
# write them.
{
  host ? ../hosts/bot-vm.nix,
  extraModules ? [ ],
}:
let
  lib = import ./stub/lib.nix;
  pkgs = import ./stub/pkgs.nix {
    inherit lib;
    overlays = [ (import ../overlay.nix) ];
  };

  evaluated = lib.evalModules {
    modules = [
      ./stub/nixos-options.nix
      ./stub/agenix.nix
      ../modules
      host
    ]
    ++ extraModules;
    specialArgs = {
      inherit pkgs;
      modulesPath = ./stub/nixos-modules;
    };
  };

  inherit (evaluated) config;

  render = value: if builtins.isBool value then (if value then "true" else "false") else toString value;
  keyLines =
    attrs:
    lib.concatMapStringsSep "" (
      name:
      let
        value = attrs.${name};
      in
      lib.concatMapStringsSep "" (v: "${name}=${render v}\n") (
        if builtins.isList value then value else [ value ]
      )
    ) (builtins.attrNames attrs);
  listKey = name: list: lib.optionalString (list != [ ]) "${name}=${lib.concatStringsSep " " list}\n";

  # The same sections and keys nixos/lib/systemd-lib.nix writes.
  unitText =
    _name: service:
    let
      pathDirs = lib.concatStringsSep ":" (
        builtins.concatMap (p: [
          "${p}/bin"
          "${p}/sbin"
        ]) service.path
      );
      environment =
        lib.filterAttrs (_: v: v != null) service.environment
        // lib.optionalAttrs (service.path != [ ]) { PATH = pathDirs; };
    in
    ''
      [Unit]
      Description=${service.description}
      ${listKey "After" service.after}${listKey "Before" service.before}${listKey "Requires" service.requires}${listKey "Wants" service.wants}${listKey "PartOf" service.partOf}${listKey "BindsTo" service.bindsTo}${
        lib.optionalString (service.startLimitBurst != null) "StartLimitBurst=${toString service.startLimitBurst}\n"
      }${
        lib.optionalString (
          service.startLimitIntervalSec != null
        ) "StartLimitIntervalSec=${toString service.startLimitIntervalSec}\n"
      }${keyLines service.unitConfig}
      [Service]
      ${lib.concatMapStringsSep "" (n: "Environment=\"${n}=${toString environment.${n}}\"\n") (
        builtins.attrNames environment
      )}${keyLines service.serviceConfig}
      [Install]
      ${listKey "WantedBy" service.wantedBy}'';

  socketText = _name: socket: ''
    [Unit]
    Description=${socket.description}
    ${listKey "After" socket.after}${listKey "Before" socket.before}${listKey "Requires" socket.requires}${listKey "Wants" socket.wants}${keyLines socket.unitConfig}
    [Socket]
    ${lib.concatMapStringsSep "" (l: "ListenStream=${l}\n") socket.listenStreams}${keyLines socket.socketConfig}
    [Install]
    ${listKey "WantedBy" socket.wantedBy}'';

  # Unit files by file name, as NixOS names them (a service "x@" is the
  # template x@.service).
  unitFiles =
    suffix: render: units:
    lib."mapAttrs'" (name: unit: lib.nameValuePair "${name}.${suffix}" (render name unit)) (
      lib.filterAttrs (_: u: u.enable) units
    );
in
{
  inherit config lib pkgs;
  inherit (evaluated) options undeclared;
  units =
    unitFiles "service" unitText config.systemd.services // unitFiles "socket" socketText config.systemd.sockets;
}
