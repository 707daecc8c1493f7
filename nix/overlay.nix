# overlays.default: claw.free's own packages in nixpkgs' package set, so the
# modules name them with `lib.mkPackageOption` like any nixpkgs package and a
# user's flake can override them the same way.
#
# Owns: the attribute names of the workspace's crates (`claw-free-agent`,
# `claw-free-provider`) and of the management skill (`clawfree-skill`).
final: _prev: {
  claw-free-agent = final.callPackage ./pkgs/agent.nix { };
  claw-free-provider = final.callPackage ./pkgs/provider.nix { };
  clawfree-skill = final.callPackage ./pkgs/clawfree-skill.nix { };
}
