# Stands in for the agenix input (github:ryantm/agenix) when nix/checks/run
# evaluates the owner's template flake offline. The stand-in nixosSystem
# (../flake.nix) already declares agenix's options, so the module is empty.
{
  outputs = _: {
    nixosModules.default = { };
  };
}
