# A user's own flake for their bot (GitHub mode): claw.free's module, agenix
# for the secrets, and the bot's settings in ./bot.nix. CI builds
# `nixosConfigurations.bot.config.system.build.toplevel` and pushes it to
# the VM (nix/README.md, "Pushing a new system to a VM").
{
  inputs = {
    claw-free.url = "git+https://github.com/claw-free/claw.free?dir=nix";
    nixpkgs.follows = "claw-free/nixpkgs";
    agenix.url = "github:ryantm/agenix";
    agenix.inputs.nixpkgs.follows = "nixpkgs";
  };

  outputs =
    {
      nixpkgs,
      claw-free,
      agenix,
      ...
    }:
    {
      nixosConfigurations.bot = nixpkgs.lib.nixosSystem {
        modules = [
          claw-free.nixosModules.default
          claw-free.nixosModules.gce
          agenix.nixosModules.default
          ./bot.nix
          { nixpkgs.hostPlatform = "x86_64-linux"; }
        ];
      };
    };
}
