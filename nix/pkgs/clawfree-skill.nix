# The claw.free management skill for OpenClaw: nix/skill/ (its SKILL.md and
# any files beside it) installed as share/openclaw/skills/clawfree. The
# commands it documents are the `clawfree` binary of the provider package.
{ runCommand }:
let
  skillDir = ../skill;
in
runCommand "clawfree-skill" { } ''
  mkdir -p "$out/share/openclaw/skills"
  cp -r ${skillDir} "$out/share/openclaw/skills/clawfree"
  test -f "$out/share/openclaw/skills/clawfree/SKILL.md"
''
