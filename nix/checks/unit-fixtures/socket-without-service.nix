# expect-unit: clawfree-set-secret.socket not loaded
# A socket whose per-connection service is missing; systemd-analyze verify
# must report it (nix/checks/run, step 5).
{ lib, ... }:
{
  systemd.services."clawfree-set-secret@".enable = lib.mkForce false;
}
