//! A simulated VM's app restart is `systemctl restart openclaw-gateway` on the image:
//! the old gateway gets SIGTERM and has finished before the new one starts. A gateway
//! killed outright can leave OpenClaw's state database leased, and the next one then
//! refuses to start.

mod common;
use claw_free_sim::gateway::AppPrograms;
use claw_free_testkit::wait_for;
use common::*;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A simulator whose VM `bot` runs `gateway` as its `openclaw` and has the agent's
/// configuration written: what a restart needs.
struct Vm {
    sim: TestSim,
    _programs: TempDir,
    /// The VM's root folder.
    root: PathBuf,
}

impl Vm {
    fn running(gateway: &str) -> Vm {
        let programs = TempDir(temp_dir());
        let app = AppPrograms {
            openclaw: script(&programs.0, "openclaw", gateway),
            setup_model: script(&programs.0, "clawfree-provider", SETUP_MODEL),
        };
        let sim = sim_with(|o| o.app = Some(app));
        let root = sim.dir.join("vms/claw-demo/us-central1-a/bot");
        let state = root.join("var/lib/openclaw");
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(state.join("openclaw.json"), "{}").unwrap();
        Vm {
            sim,
            _programs: programs,
            root,
        }
    }

    /// `systemctl restart openclaw-gateway`, through the agent's restart command.
    fn restart(&self) {
        let reply = self.sim.post(
            "/_vm/claw-demo/us-central1-a/bot/app/restart",
            "",
            json!({}),
        );
        assert_eq!(reply.status, 200, "restart: {}", reply.body);
    }

    /// What the gateway stand-ins wrote down, a line a step.
    fn lifecycle(&self) -> Vec<String> {
        std::fs::read_to_string(self.root.join("var/lib/openclaw/gateway/lifecycle"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }
}

/// Stands in for `openclaw`: on SIGTERM it takes a moment to finish its work, as the
/// gateway does, and each step is written down in `$HOME/lifecycle`.
const GATEWAY: &str = r#"#!/bin/sh
trap 'sleep 1; echo "finished $$" >> "$HOME/lifecycle"; exit 0' TERM
echo "started $$" >> "$HOME/lifecycle"
while :; do sleep 0.1; done
"#;

/// Stands in for `clawfree-provider`: it says where it listens, then waits.
const SETUP_MODEL: &str = "#!/bin/sh\necho 'listening on http://127.0.0.1:9'\nexec sleep 600\n";

#[test]
fn a_restart_lets_the_old_gateway_finish_before_the_new_one_starts() {
    let vm = Vm::running(GATEWAY);
    vm.restart();
    let first = wait_for("the first gateway", Duration::from_secs(20), || {
        vm.lifecycle().first().cloned()
    });
    vm.restart();
    let after = vm.lifecycle();
    let pid = first.strip_prefix("started ").expect("a start line");
    assert_eq!(
        after.get(1).map(String::as_str),
        Some(format!("finished {pid}").as_str()),
        "the old gateway was not let finish before the restart answered: {after:?}"
    );
    let second = wait_for("the new gateway", Duration::from_secs(20), || {
        vm.lifecycle().get(2).cloned()
    });
    assert!(
        second.starts_with("started ") && second != first,
        "no new gateway after the old one finished: {:?}",
        vm.lifecycle()
    );
}

/// Stands in for an `openclaw` that refuses its first start, as OpenClaw does while
/// another process holds its state database's maintenance lease (exit status 78).
const GATEWAY_REFUSING_ONCE: &str = r#"#!/bin/sh
if [ ! -e "$HOME/refused" ]; then
  touch "$HOME/refused"
  echo "maintenance lease is held; refusing to report the gateway ready"
  exit 78
fi
echo "started $$" >> "$HOME/lifecycle"
while :; do sleep 0.1; done
"#;

#[test]
fn a_gateway_that_fails_to_start_is_started_again_as_its_unit_restarts_on_failure() {
    let vm = Vm::running(GATEWAY_REFUSING_ONCE);
    vm.restart();

    wait_for("the gateway started again", Duration::from_secs(30), || {
        vm.lifecycle().first().cloned()
    });
    let log = std::fs::read_to_string(vm.root.join("openclaw-gateway.log")).unwrap();
    assert!(
        log.contains("refusing to report the gateway ready"),
        "the failed start's reason is not in the log: {log:?}"
    );
}
