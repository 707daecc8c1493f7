# Wraps a CLI so it runs with OOM score 1000: the kernel's first victim.
#
# Owns: turning a package into a one-command package `name` whose script
# (text from ../lib, so the checks can shellcheck it) execs the real program
# under `choom`.
{
  lib,
  writeShellScriptBin,
  util-linux,
}:
{
  name,
  package,
}:
let
  clawLib = import ../lib { inherit lib; };
  exe =
    if package ? meta.mainProgram then lib.getExe package else lib.getExe' package name;
in
# writeShellScriptBin also sets meta.mainProgram to `name`.
writeShellScriptBin name (
  clawLib.oomFirstScript {
    choom = lib.getExe' util-linux "choom";
    inherit exe;
  }
)
