# The owner's repository in GitHub mode, as claw.free creates it: claw.free's
# base module, agenix for the secrets, the bot's settings in ./bot.nix, and
# from ./claw-free.json (written when the repository is linked) the cache the
# VM fetches from and this repository's name (the bot proposes changes to it). .github/workflows/deploy.yml builds
# `nixosConfigurations.bot.config.system.build.toplevel` on every push to
# main and ships it to the VM.
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
    let
      link = builtins.fromJSON (builtins.readFile ./claw-free.json);
    in
    {
      nixosConfigurations.bot = nixpkgs.lib.nixosSystem {
        modules = [
          claw-free.nixosModules.default
          claw-free.nixosModules.gce
          agenix.nixosModules.default
          ./bot.nix
          {
            nixpkgs.hostPlatform = "x86_64-linux";
            openclaw.githubMode = {
              enable = true;
              # The bot may propose changes to this repository as pull requests.
              inherit (link) repository;
              cache = {
                inherit (link) bucket;
                publicKey = link.cachePublicKey;
              };
            };
          }
        ];
      };
    };
}
