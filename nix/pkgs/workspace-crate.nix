# Builds one crate of the claw.free Cargo workspace (the repository root).
#
# Owns: which files of the repository the Rust builds see (the workspace
# manifests and the members' sources, never target/ or node_modules/) and the
# shared buildRustPackage settings. Callers name the crate and its program.
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
  root = ../..;
in
rustPlatform.buildRustPackage {
  inherit pname;
  version = "0.1.0";

  # Cargo resolves the whole workspace, so every member's manifest and
  # sources must be present even when only one crate is built.
  src = lib.fileset.toSource {
    inherit root;
    fileset = lib.fileset.unions [
      (root + "/Cargo.toml")
      (root + "/Cargo.lock")
      (root + "/src")
      (root + "/protocol")
      (root + "/tests/sim")
      (root + "/tests/integration")
      (root + "/nix/agent")
      (root + "/nix/provider")
    ];
  };

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
