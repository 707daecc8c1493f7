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
        in
        lib.evalModules {
          modules = [
            ./nixos-options.nix
            ./agenix.nix
          ]
          ++ modules;
          specialArgs = {
            pkgs = import ./pkgs.nix { inherit lib; };
            modulesPath = ./nixos-modules;
          };
        };
    };
  };
}
