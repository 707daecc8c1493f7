# The AI command-line tools baked into the system.
#
# Owns: wrapping each CLI so it runs with the highest OOM score (the kernel
# kills an interactive CLI before any service), and installing the wrappers.
# Nothing is installed at boot: every CLI is a pinned Nix derivation.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.openclaw;
  oomFirst = pkgs.callPackage ../pkgs/oom-first.nix { };
in
{
  options.openclaw = {
    aiClis = {
      enable = lib.mkEnableOption "the AI command-line tools baked into the system, each wrapped to be the OOM killer's first choice" // {
        default = true;
      };
      packages = lib.mkOption {
        type = lib.types.attrsOf lib.types.package;
        default = {
          claude = pkgs.claude-code;
          codex = pkgs.codex;
          gemini = pkgs.gemini-cli;
          aider = pkgs.aider-chat;
          gh = pkgs.gh;
        };
        defaultText = lib.literalExpression "{ claude = pkgs.claude-code; codex = pkgs.codex; gemini = pkgs.gemini-cli; aider = pkgs.aider-chat; gh = pkgs.gh; }";
        description = "The CLIs, by the command name they are installed under.";
      };
    };
  };

  options.openclaw.aiClis.wrapped = lib.mkOption {
    type = lib.types.attrsOf lib.types.package;
    readOnly = true;
    description = "The CLIs of {option}`openclaw.aiClis.packages`, each wrapped to be the OOM killer's first choice.";
  };

  config = lib.mkMerge [
    {
      openclaw.aiClis.wrapped = lib.mapAttrs (
        name: package: oomFirst { inherit name package; }
      ) cfg.aiClis.packages;
    }
    (lib.mkIf cfg.enable {
      assertions = [
        {
          assertion = !cfg.bootstrapProvider.enable || (cfg.aiClis.packages ? claude && cfg.aiClis.packages ? codex);
          message = "the bootstrap provider drives `claude` and `codex`: keep both in openclaw.aiClis.packages";
        }
      ];
      environment.systemPackages = lib.mkIf cfg.aiClis.enable (lib.attrValues cfg.aiClis.wrapped);
      openclaw.internal.scripts = lib.mapAttrs' (
        name: drv: lib.nameValuePair "oom-first-${name}" drv
      ) cfg.aiClis.wrapped;
    })
  ];
}
