# Stands in for the nixpkgs input when nix/checks/run evaluates the real
# flake.nix offline: `lib` with a `nixosSystem` built on the stand-in module
# system, and `legacyPackages` from the stand-in package set. Nothing here
# can build; it proves the flake's wiring (its outputs, modules and hosts).
{
  outputs = _: {
    lib = (import ./lib.nix) // {
      nixosSystem =
        { modules }:
        let
          lib = import ./lib.nix;
          system = lib.evalModules {
            modules = [
              ./nixos-options.nix
              ./agenix.nix
            ]
            ++ modules;
            specialArgs = {
              # As NixOS does: the package set the configuration's own
              # `nixpkgs.overlays` make.
              pkgs = import ./pkgs.nix {
                inherit lib;
                inherit (system.config.nixpkgs) overlays;
              };
              modulesPath = ./nixos-modules;
            };
          };
        in
        system;
    };
  };
}
