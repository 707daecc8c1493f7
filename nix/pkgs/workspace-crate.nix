# Builds one crate of the claw.free Cargo workspace (the repository root).
#
# Owns: the shared buildRustPackage settings. Which files the builds see is
# `workspace-source.nix`'s (derived from the workspace's members). Callers
# name the crate and its program.
{
  lib,
  rustPlatform,
}:
{
  pname,
  mainProgram,
  description,
}:
let
  workspace = import ./workspace-source.nix { inherit lib; };
  inherit (workspace) root;
in
rustPlatform.buildRustPackage {
  inherit pname;
  version = "0.1.0";

  inherit (workspace) src;

  cargoLock.lockFile = root + "/Cargo.lock";
  cargoBuildFlags = [
    "--package"
    pname
  ];
  # The crates' tests start the Google simulator and other workspace
  # binaries; CI runs them with cargo. The package build only compiles.
  doCheck = false;

  meta = {
    inherit description mainProgram;
    license = lib.licenses.mit;
    platforms = lib.platforms.linux;
  };
}
