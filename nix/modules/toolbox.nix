# What users of the bot expect to find on its VM.
#
# Owns: the system packages a bot's tools reach for (version control,
# editors, Node.js 22, Python 3.12 with requests and httpx, a C toolchain,
# search tools). Baked into the image; nothing is installed at boot.
{
  config,
  lib,
  pkgs,
  ...
}:
{
  options.openclaw.toolbox.enable = lib.mkEnableOption "the everyday tools the bot's own agent and its user expect on the VM" // {
    default = true;
  };

  config = lib.mkIf (config.openclaw.enable && config.openclaw.toolbox.enable) {
    environment.systemPackages = with pkgs; [
      git
      jq
      curl
      wget
      htop
      tmux
      neovim
      nodejs_22
      (python312.withPackages (ps: [
        ps.pip
        ps.requests
        ps.httpx
      ]))
      gcc
      gnumake
      pkg-config
      openssl
      sqlite
      redis
      ripgrep
      fd
      tree
      unzip
      zip
    ];
  };
}
