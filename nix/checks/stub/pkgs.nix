# A stand-in for the pinned nixpkgs package set: fake derivations with the
# names, main programs and builder arguments our modules and packages use.
#
# Owns: nothing that builds. Every package is an attribute set with a fake
# store path, so evaluation can render units and scripts; the builders keep
# their arguments (a script's text, buildRustPackage's inputs) for the checks.
{
  lib,
  overlays ? [ ],
}:
let
  fakeDrv =
    name: extra:
    {
      type = "derivation";
      inherit name;
      pname = extra.pname or name;
      outPath = "/nix/store/${builtins.substring 0 32 (builtins.hashString "sha256" name)}-${name}";
      meta = extra.meta or { };
    }
    // removeAttrs extra [ "meta" ];

  cli = pname: mainProgram: fakeDrv pname { meta.mainProgram = mainProgram; };

  # What `import nixpkgs { overlays; }` returns: each overlay sees the final
  # set and the one before it.
  pkgs = builtins.foldl' (prev: overlay: prev // overlay pkgs prev) base overlays;

  base = {
    inherit lib;

    callPackage =
      fn: overrides:
      let
        f = if builtins.isFunction fn then fn else import fn;
      in
      f (builtins.intersectAttrs (builtins.functionArgs f) pkgs // overrides);

    writeText =
      name: text:
      fakeDrv name {
        inherit text;
      };
    writeShellScript =
      name: text:
      fakeDrv name {
        inherit text;
        scriptPath = "";
      };
    writeShellScriptBin =
      name: text:
      fakeDrv name {
        inherit text;
        scriptPath = "/bin/${name}";
        meta.mainProgram = name;
      };
    # pkgs.formats.json: any JSON value as the option type, a store file as
    # the output (the stand-in keeps its text, compact where nixpkgs' is
    # pretty-printed: the same JSON either way).
    formats.json = _: {
      type = lib.types.attrsOf lib.types.anything;
      generate =
        name: value:
        fakeDrv name {
          text = builtins.toJSON value;
        };
    };
    runCommand =
      name: _env: buildScript:
      fakeDrv name {
        inherit buildScript;
      };
    rustPlatform.buildRustPackage =
      args:
      fakeDrv "${args.pname}-${args.version}" {
        inherit (args) pname meta;
        rustArgs = args;
      };

    # The NixOS test driver: each node is evaluated like a system (with the
    # few options the driver adds), the test script kept as text. Nothing runs.
    testers.runNixOSTest =
      {
        name,
        nodes,
        testScript,
      }:
      let
        driverOptions = {
          options.virtualisation.memorySize = lib.mkOption { type = lib.types.int; };
          options.networking.firewall.allowedTCPPorts = lib.mkOption {
            type = lib.types.listOf lib.types.port;
            default = [ ];
          };
        };
        evalNode =
          node:
          lib.evalModules {
            modules = [
              ./nixos-options.nix
              ./agenix.nix
              driverOptions
              node
            ];
            specialArgs = {
              inherit pkgs;
              modulesPath = ./nixos-modules;
            };
          };
      in
      fakeDrv "vm-test-run-${name}" {
        inherit testScript;
        nodes = builtins.mapAttrs (_: evalNode) nodes;
      };

    # The release the tests pin, as the real image must ship it. A flake input cannot
    # read outside its own folder, so this is a copy: nix/checks/run fails when it
    # differs from nix/openclaw-release.json.
    openclaw = fakeDrv "openclaw" {
      meta.mainProgram = "openclaw";
      version = "2026.9.6";
    };
    claude-code = cli "claude-code" "claude";
    codex = cli "codex" "codex";
    gemini-cli = cli "gemini-cli" "gemini";
    aider-chat = cli "aider-chat" "aider";
    gh = cli "gh" "gh";
    util-linux = cli "util-linux" "mount";
    systemd = cli "systemd" "systemctl";
    coreutils = cli "coreutils" "coreutils";
    git = cli "git" "git";
    jq = cli "jq" "jq";
    curl = cli "curl" "curl";
    wget = cli "wget" "wget";
    htop = cli "htop" "htop";
    tmux = cli "tmux" "tmux";
    neovim = cli "neovim" "nvim";
    nodejs_22 = cli "nodejs" "node";
    python312 = cli "python3" "python3" // {
      withPackages =
        select:
        fakeDrv "python3-env" {
          packages = select {
            pip = cli "pip" "pip";
            requests = fakeDrv "requests" { };
            httpx = fakeDrv "httpx" { };
          };
        };
    };
    gcc = cli "gcc" "gcc";
    gnumake = cli "gnumake" "make";
    pkg-config = cli "pkg-config" "pkg-config";
    openssl = cli "openssl" "openssl";
    sqlite = cli "sqlite" "sqlite3";
    redis = cli "redis" "redis-server";
    ripgrep = cli "ripgrep" "rg";
    fd = cli "fd" "fd";
    tree = cli "tree" "tree";
    unzip = cli "unzip" "unzip";
    zip = cli "zip" "zip";
    openssh = cli "openssh" "sshd";
    nix = cli "nix" "nix";
    google-guest-agent = cli "google-guest-agent" "google_guest_agent";
  };
in
pkgs
