# Stand-in for nixos/modules/virtualisation/google-compute-config.nix of the
# pinned release: only the settings that meet ours (its root-login policy,
# OS Login, and the guest agent unit our first-boot service waits for).
{ pkgs, ... }:
{
  services.openssh.enable = true;
  services.openssh.settings.PermitRootLogin = "prohibit-password";
  services.openssh.settings.PasswordAuthentication = false;
  security.googleOsLogin.enable = true;
  networking.hostName = "";
  systemd.services.google-guest-agent = {
    description = "Google Compute Engine Guest Agent";
    wantedBy = [ "multi-user.target" ];
    serviceConfig.ExecStart = "${pkgs.google-guest-agent}/bin/google_guest_agent";
  };
}
