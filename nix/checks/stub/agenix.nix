# Stand-in for agenix's NixOS module (github:ryantm/agenix): `age.secrets.<name>`
# with its `file` and the decrypted `path` it offers under /run/agenix.
{ lib, ... }:
{
  options.age = {
    identityPaths = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ "/etc/ssh/ssh_host_ed25519_key" ];
    };
    secrets = lib.mkOption {
      type = lib.types.attrsOf (
        lib.types.submodule (
          { name }:
          {
          file = lib.mkOption { type = lib.types.path; };
          path = lib.mkOption {
            type = lib.types.str;
            default = "/run/agenix/${name}";
          };
          owner = lib.mkOption {
            type = lib.types.str;
            default = "root";
          };
          mode = lib.mkOption {
            type = lib.types.str;
            default = "0400";
          };
          }
        )
      );
      default = { };
    };
  };
}
