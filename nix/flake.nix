{
  description = "claw.free: a memory-tuned NixOS image that runs OpenClaw natively on a 1 GB GCE e2-micro";

  # NixOS 26.05 is the supported stable release (25.11 reached its end of
  # life on 2026-06-30; 26.11 is not out yet). The -small channel is the same
  # release branch, advanced as soon as the server-side tests pass, which is
  # what a headless VM needs. flake.lock pins one revision of it.
  inputs.nixpkgs.url = "https://channels.nixos.org/nixos-26.05-small/nixexprs.tar.zst";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      system = "x86_64-linux";
      pkgs = import nixpkgs {
        inherit system;
        config = import ./nixpkgs-policy.nix { inherit lib; };
        overlays = [ self.overlays.default ];
      };

      bot =
        host:
        lib.nixosSystem {
          modules = [
            self.nixosModules.default
            host
            { nixpkgs.hostPlatform = system; }
          ];
        };
      botVm = self.nixosConfigurations.bot-vm.config;

      testTools = pkgs.callPackage ./pkgs/test-tools.nix { };

      # Every script the modules write, for shellcheck on the real builds.
      scriptFiles = lib.mapAttrsToList (
        _: drv: if drv ? meta.mainProgram then lib.getExe drv else "${drv}"
      ) botVm.openclaw.internal.scripts;
    in
    {
      # claw.free's own packages, for the modules' `mkPackageOption`s.
      overlays.default = import ./overlay.nix;

      # What a user's flake imports: the options and services with the
      # overlay they name packages from (default) and, for a GCE VM, the GCE
      # profile with the bot's nixpkgs policy (gce).
      nixosModules = {
        default = {
          imports = [ ./modules ];
          nixpkgs.overlays = [ self.overlays.default ];
        };
        gce = ./hosts/bot-vm.nix;
      };

      nixosConfigurations = {
        bot-vm = bot ./hosts/bot-vm.nix;
        bot-local = bot ./hosts/local-qemu.nix;
      };

      packages.${system} = {
        # nixpkgs' own image builder (nixos/modules/image/images.nix).
        gce-image = botVm.system.build.images.google-compute;
        qemu-image = self.nixosConfigurations.bot-local.config.system.build.images.qemu;
        # The closure CI pushes to running VMs.
        bot-vm-system = botVm.system.build.toplevel;

        claw-free-agent = botVm.openclaw.agent.package;
        claw-free-provider = botVm.openclaw.bootstrapProvider.package;
        inherit (pkgs) clawfree-skill;
        openclaw-gateway = botVm.openclaw.package;
        default = self.packages.${system}.gce-image;
      }
      # ai-cli-claude, ai-cli-codex, ai-cli-gemini, ai-cli-aider, ai-cli-gh
      // lib.mapAttrs' (name: lib.nameValuePair "ai-cli-${name}") botVm.openclaw.aiClis.wrapped;

      checks.${system} = {
        inherit (self.packages.${system})
          bot-vm-system
          claw-free-agent
          claw-free-provider
          ;

        # The first boot of the image, two VMs: the simulator as Google's
        # metadata server, and the bot (nix/tests/first-boot.nix).
        first-boot = import ./tests/first-boot.nix {
          inherit pkgs testTools;
          # The test's nodes share its package set (read-only, so no
          # module may add overlays): the modules without the overlay, which
          # that set already carries.
          botModules = [
            ./modules
            ./hosts/bot-base.nix
          ];
        };

        # report.nix's rules on the real configurations: memory caps, OOM
        # order and unit ordering against real nixpkgs, and both images
        # evaluated (their derivations, not built).
        rules =
          let
            failed = builtins.concatMap (
              name:
              map (c: "${name}: ${c.name}: ${c.detail}") (
                builtins.filter (c: !c.ok) (
                  import ./checks/image-rules.nix {
                    inherit lib;
                    inherit (self.nixosConfigurations.${name}) config;
                  }
                )
              )
            ) (builtins.attrNames self.nixosConfigurations);
          in
          pkgs.runCommand "claw-free-image-rules"
            {
              images = [
                self.packages.${system}.gce-image.drvPath
                self.packages.${system}.qemu-image.drvPath
              ];
            }
            (
              if failed == [ ] then
                ''touch "$out"''
              else
                throw "image rules failed:\n${lib.concatStringsSep "\n" failed}"
            );

        # The same offline checks the repository's test command runs.
        offline =
          pkgs.runCommand "claw-free-nix-offline-checks"
            {
              nativeBuildInputs = with pkgs; [
                nix
                deadnix
                shellcheck
                systemd
                jq
                (python3.withPackages (ps: [ ps.pyyaml ]))
                cargo
                findutils
                gnused
                gnugrep
              ];
              src = lib.fileset.toSource {
                root = ../.;
                # The Cargo workspace too: the checks load it from the
                # crates' source set.
                fileset = lib.fileset.unions [
                  ./.
                  (import ./pkgs/workspace-source.nix { inherit lib; }).fileset
                  ../.github/workflows
                ];
              };
            }
            ''
              cp -r "$src" repo
              chmod -R u+w repo
              HOME="$TMPDIR" bash repo/nix/checks/run
              touch "$out"
            '';

        scripts-shellcheck =
          pkgs.runCommand "claw-free-scripts-shellcheck" { nativeBuildInputs = [ pkgs.shellcheck ]; }
            ''
              shellcheck ${lib.escapeShellArgs scriptFiles} ${./scripts/push-closure}
              touch "$out"
            '';
      };
    };
}
