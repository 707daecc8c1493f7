# The files of the repository the Rust builds see, derived from the Cargo
# workspace itself.
#
# Owns: the rule that turns `Cargo.toml`'s `workspace.members` into a Nix
# source set (the workspace manifests, each member's folder; for the root
# package, its sources), so a new member reaches the builds without anyone
# listing it here. `nix/checks/run` loads the workspace with
# `cargo metadata --offline` from exactly these files.
{ lib }:
let
  root = ../..;
  members = (builtins.fromTOML (builtins.readFile (root + "/Cargo.toml"))).workspace.members;
  # The root package (".") is the repository itself: only its sources, never
  # target/, node_modules/ or the other folders beside them.
  memberFiles =
    member:
    if lib.hasInfix "*" member then
      throw "workspace member ${member}: globs are not supported; list the folder"
    else if member == "." then
      [ (root + "/src") ]
    else
      [ (root + "/${member}") ];
in
rec {
  inherit root members;
  # Cargo resolves the whole workspace, so every member's manifest and
  # sources must be present even when only one crate is built.
  fileset = lib.fileset.unions (
    [
      (root + "/Cargo.toml")
      (root + "/Cargo.lock")
    ]
    ++ builtins.concatMap memberFiles members
  );
  src = lib.fileset.toSource { inherit root fileset; };
}
