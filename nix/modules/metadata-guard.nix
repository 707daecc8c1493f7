# Who on the VM may talk to the GCE metadata server.
#
# Owns: an nftables table that refuses connections to the metadata server's
# HTTP ports (169.254.169.254 and fd20:ce::254, ports 80 and 443) from every
# user not listed in `openclaw.metadataGuard.allowedUsers`.
#
# Why: any process that reaches the metadata server can write guest
# attributes, and claw.free reads `openclaw/setup`, `health` and
# `secret-version` from there to tell the owner their bot is ready and healthy.
# The bot runs tools on behalf of whoever talks to it, as the gateway's user:
# without this rule such a tool could fake readiness or health, or publish its
# own encryption key (the Worker pins the first key it saw, so that alone
# gets no token, but it would block rotations). Writes cannot be told apart
# from reads below HTTP, so the rule is by user for the whole server, which is
# also what the gateway needs: nothing. The VM has no service account, so
# there is no token to fetch, and OpenClaw and the bot's tools need no
# instance data. DNS (port 53 on the same address) stays open to everyone.
{
  config,
  lib,
  ...
}:
let
  inherit (lib) mkOption types;
  cfg = config.openclaw.metadataGuard;
  users = lib.concatStringsSep ", " cfg.allowedUsers;
  # The gateway module owns which user the gateway runs as.
  gatewayUser = config.systemd.services.openclaw-gateway.serviceConfig.User;
  guarded = "tcp dport { 80, 443 } meta skuid != { ${users} } counter reject";
in
{
  options.openclaw.metadataGuard = {
    enable = mkOption {
      type = types.bool;
      default = config.openclaw.enable;
      defaultText = lib.literalExpression "config.openclaw.enable";
      description = ''
        Whether only the users in {option}`openclaw.metadataGuard.allowedUsers`
        may reach the GCE metadata server, so that neither the gateway nor the
        tools the bot runs can write guest attributes (readiness, health, the
        VM's encryption key).
      '';
    };

    allowedUsers = mkOption {
      # Names as nftables resolves them when it loads the rules; each must exist.
      type = types.nonEmptyListOf (types.strMatching "[a-z_][a-z0-9_-]*");
      default = [
        "root"
        "nscd"
        "nobody"
      ];
      description = ''
        The users that may reach the metadata server. `root` runs claw.free's
        agent (first boot, health, secrets) and Google's guest services;
        `nscd` answers every process's user look-ups, which OS Login's NSS
        module resolves through the metadata server; `nobody` runs sshd's OS
        Login `AuthorizedKeysCommand`. The gateway's user must never be here.
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    networking.nftables.enable = true;
    networking.nftables.tables.clawfree-metadata = {
      family = "inet";
      content = ''
        chain output {
          type filter hook output priority filter; policy accept;
          ip daddr 169.254.169.254 ${guarded}
          ip6 daddr fd20:ce::254 ${guarded}
        }
      '';
    };
    # The build's ruleset check runs in a sandbox without these users.
    networking.nftables.preCheckRuleset = ''
      sed -i 's/skuid != { ${users} }/skuid != { 0 }/' ruleset.conf
    '';

    assertions = [
      {
        assertion = !(lib.elem gatewayUser cfg.allowedUsers);
        message = "openclaw.metadataGuard.allowedUsers must not hold the gateway's user: the bot's tools could then write guest attributes";
      }
    ];
  };
}
