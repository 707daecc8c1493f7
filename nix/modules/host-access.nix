# How the VM is reached and updated.
#
# Owns: SSH (keys only, no root, Google OS Login), the Nix daemon (flakes,
# store optimisation, nothing kept for builds, daily garbage collection,
# idle CPU and IO priority) and the update policy: the VM never builds; CI
# pushes signed closures and the VM may substitute from CI's binary cache.
{
  config,
  lib,
  ...
}:
let
  cfg = config.openclaw;
in
{
  options.openclaw = {
    binaryCache = {
      url = lib.mkOption {
        type = lib.types.nullOr lib.types.str;
        default = null;
        example = "https://claw-free.cachix.org";
        description = "The binary cache CI pushes system closures to; the VM substitutes from it and never builds.";
      };
      publicKey = lib.mkOption {
        type = lib.types.nullOr lib.types.str;
        default = null;
        description = "The signing key of {option}`openclaw.binaryCache.url`.";
      };
    };
  };

  config = lib.mkIf cfg.enable {
    services.openssh = {
      enable = true;
      settings = {
        PasswordAuthentication = false;
        KbdInteractiveAuthentication = false;
        # The GCE profile allows root with a key; the bot VM allows no root.
        PermitRootLogin = lib.mkForce "no";
      };
    };
    # Needs the instance metadata enable-oslogin=TRUE, which the Worker sets.
    security.googleOsLogin.enable = true;

    nix = {
      settings = {
        experimental-features = [
          "nix-command"
          "flakes"
        ];
        auto-optimise-store = true;
        keep-outputs = false;
        keep-derivations = false;
        substituters = lib.optional (cfg.binaryCache.url != null) cfg.binaryCache.url;
        trusted-public-keys = lib.optional (cfg.binaryCache.publicKey != null) cfg.binaryCache.publicKey;
      };
      gc = {
        automatic = true;
        dates = "daily";
        options = "--delete-older-than 3d";
      };
      daemonCPUSchedPolicy = "idle";
      daemonIOSchedClass = "idle";
    };

    # Updates arrive as CI-built closures (nix copy + switch-to-configuration);
    # an upgrade that evaluates and builds on a 1 GB VM would not finish.
    system.autoUpgrade.enable = false;

    assertions = [
      {
        assertion = (cfg.binaryCache.url == null) == (cfg.binaryCache.publicKey == null);
        message = "openclaw.binaryCache.url and openclaw.binaryCache.publicKey go together";
      }
    ];
  };
}
