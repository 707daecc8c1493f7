# The small helpers every check over an evaluated configuration is written
# with: a named check `{ name, ok, detail }` whose detail says what was found,
# the usual comparisons, and the units a service refers to, against the units
# the configuration and systemd have.
#
# Owns: the shape of one check, and which units count as existing.
{ config, lib }:
let
  svc = config.systemd.services;
  check = name: ok: detail: { inherit name ok detail; };
  # Substring test without regular expressions (needles hold brackets).
  contains =
    needle: haystack:
    builtins.stringLength (builtins.replaceStrings [ needle ] [ "" ] haystack)
    != builtins.stringLength haystack;

  # Units NixOS and systemd always have, besides every service and socket
  # configured.
  builtinTargets = [
    # Shipped by nixpkgs through systemd.packages on GCE, absent from the
    # local image, where After= on it orders nothing.
    "google-guest-agent.service"
    "multi-user.target"
    "network-online.target"
    "network.target"
    "sockets.target"
  ];
  knownUnits =
    builtinTargets
    ++ map (n: "${n}.service") (builtins.attrNames svc)
    ++ map (n: "${n}.socket") (builtins.attrNames config.systemd.sockets);
  unknownReferences = refs: builtins.filter (u: !(lib.elem u knownUnits)) refs;
in
{
  inherit check contains;
  expectEq =
    name: actual: expected:
    check name (actual == expected) "expected ${builtins.toJSON expected}, got ${builtins.toJSON actual}";
  expectHas =
    name: list: item:
    check name (lib.elem item list) "expected ${builtins.toJSON item} in ${builtins.toJSON list}";
  expectContains =
    name: haystack: needle:
    check name (contains needle haystack) "expected ${builtins.toJSON needle} in ${builtins.toJSON haystack}";

  # The `serviceConfig` of the service `name`.
  sc = name: svc.${name}.serviceConfig;
  # Every unit the service `name` is ordered against or pulls in.
  references =
    name:
    let
      s = svc.${name};
    in
    s.after ++ s.before ++ s.requires ++ s.wants ++ s.wantedBy ++ s.partOf ++ s.bindsTo;
  expectKnownUnits =
    name: refs:
    check "${name}: ordered only against units that exist" (unknownReferences refs == [ ])
      "unknown: ${builtins.toJSON (unknownReferences refs)}";
}
