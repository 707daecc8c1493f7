//! GitHub mode's rollouts: the real `clawfree-agent` in a temporary root, following the
//! simulator's instance metadata `openclaw-system`. The fetch, `switch-to-configuration`
//! and unit checks are stand-in shell scripts written here (nothing here can run a real
//! NixOS activation); the gateway's health endpoint is the stand-in app and Telegram
//! `getMe` is the simulator's. Each test waits for the agent's guest-attribute writes.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use claw_free_protocol::rollout::{RolloutReport, RolloutState};
use serde_json::json;
use support::*;

/// A deadline, not an expectation: every wait ends at the event it waits for.
const WAIT: Duration = Duration::from_secs(90);
const TOKEN: &str = "7000000001:AAFirstTokenFirstTokenFirstTokenFirst";
const UNKNOWN_TOKEN: &str = "7000000009:AAUnknownTokenUnknownTokenUnknownTok";
/// The watched unit the stand-in systems start and stop.
const GATEWAY: &str = GATEWAY_UNIT;

/// How a stand-in system's `switch-to-configuration` behaves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Good,
    /// `test` fails after starting to activate (the system is half switched).
    SwitchFails,
    /// `test` succeeds but leaves the gateway stopped.
    StopsGateway,
    /// `boot` fails.
    BootFails,
}

/// A NixOS system the test can ship: generation `n` of the owner's repository.
#[derive(Clone, Copy)]
struct Gen(u8, Behaviour);

impl Gen {
    fn name(self) -> String {
        format!("gen-{}", self.0)
    }

    fn path(self) -> String {
        format!(
            "/nix/store/{}-{}",
            self.0.to_string().repeat(32),
            self.name()
        )
    }

    fn rev(self) -> String {
        self.0.to_string().repeat(7)
    }

    fn request(self, rollback: bool) -> String {
        let mut value = json!({"path": self.path(), "rev": self.rev()});
        if rollback {
            value["rollback"] = json!(true);
        }
        value.to_string()
    }
}

struct Vm {
    sim: Sim,
    root: Root,
    app: FakeApp,
    vm: String,
    args: Vec<String>,
    agent: Option<Agent>,
}

impl Vm {
    /// A VM running generation `running` (from its image, revision unknown); its agent
    /// is started by [`Vm::start_agent`] or [`Vm::start_as_units`], in GitHub mode.
    fn boot(test: &str, running: Gen, deadline_secs: u64) -> Self {
        let sim = Sim::start();
        let root = Root::new();
        let app = FakeApp::start(Health::Status(200));
        sim.admin(
            "/_admin/telegram/bots",
            json!({"token": TOKEN, "username": "rollout_test_bot"}),
        );
        let secrets = root.state().join("secrets");
        fs::create_dir_all(&secrets).unwrap();
        fs::set_permissions(&secrets, fs::Permissions::from_mode(0o700)).unwrap();
        fs::write(root.secret("telegram-token"), TOKEN).unwrap();
        fs::create_dir_all(root.path().join("units")).unwrap();
        fs::create_dir_all(root.path().join("run")).unwrap();
        let vm = Self {
            vm: instance_name(test),
            args: Vec::new(),
            agent: None,
            sim,
            root,
            app,
        };
        vm.install(running);
        std::os::unix::fs::symlink(running.path(), vm.at("run/current-system")).unwrap();
        vm.run_switch(running, "test");
        vm.run_switch(running, "boot");
        fs::remove_file(vm.at("switch.log")).unwrap();
        let r = vm.root.path().display().to_string();
        let mut args = vm.root.agent_args(&vm.sim, &vm.vm, &vm.app.url);
        args.extend(vm.root.rollout_args(
            &vm.sim,
            &format!("cp -R '{r}/cache/'$(basename {{path}}) '{r}/nix/store/'"),
            deadline_secs,
        ));
        let vm = Self { args, ..vm };
        vm.sim.create_vm(&vm.vm, bot_metadata());
        vm
    }

    /// A VM booted on generation 1 whose agent has rolled out `good` successfully:
    /// the last good system that a failed or interrupted rollout returns to.
    fn after_a_good_rollout(test: &str, good: Gen, deadline_secs: u64) -> Self {
        let mut vm = Self::boot(test, Gen(1, Behaviour::Good), deadline_secs);
        vm.start_agent();
        vm.publish_to_cache(good);
        assert_eq!(outcome(&vm.ship(good, false)), RolloutState::Done);
        vm
    }

    fn at(&self, relative: &str) -> PathBuf {
        self.root.path().join(relative)
    }

    fn start_agent(&mut self) {
        self.agent = Some(Agent::spawn(&self.root, "run", &self.args));
    }

    /// As the image runs it: setup to its end, then `rollouts` alone as its own unit.
    fn start_as_units(&mut self) {
        assert!(self.agent.is_none());
        assert!(Agent::run_to_end(Agent::command(&self.root, "setup", &self.args)).success());
        self.agent = Some(Agent::spawn(&self.root, "rollouts", &self.args));
    }

    /// Writes `generation` into the binary cache the fetch command copies from.
    fn publish_to_cache(&self, generation: Gen) {
        self.write_system(&self.at("cache"), generation);
    }

    /// Puts `generation` on the VM, as an earlier rollout would have.
    fn install(&self, generation: Gen) {
        self.write_system(&self.at("nix/store"), generation);
    }

    fn write_system(&self, dir: &std::path::Path, Gen(n, behaviour): Gen) {
        let generation = Gen(n, behaviour);
        let bin = dir
            .join(generation.path().trim_start_matches("/nix/store/"))
            .join("bin");
        fs::create_dir_all(&bin).unwrap();
        let r = self.root.path().display();
        let name = generation.name();
        let on_test = match behaviour {
            Behaviour::SwitchFails => "exit 1".to_string(),
            Behaviour::StopsGateway => format!("rm -f '{r}/units/{GATEWAY}'"),
            Behaviour::Good | Behaviour::BootFails => format!("touch '{r}/units/{GATEWAY}'"),
        };
        let on_boot = match behaviour {
            Behaviour::BootFails => "exit 1".to_string(),
            _ => format!("echo {name} > '{r}/boot-default'"),
        };
        // A test may ask the next `boot` to SIGKILL the agent, as a power cut would.
        let script = format!(
            "#!/bin/sh\n\
             echo \"{name} $1\" >> '{r}/switch.log'\n\
             case \"$1\" in\n\
             test) echo {name} > '{r}/active'; {on_test} ;;\n\
             boot) if [ -e '{r}/kill-at-boot' ]; then kill -KILL \"$(cat '{r}/kill-at-boot')\"; rm '{r}/kill-at-boot'; exit 1; fi; {on_boot} ;;\n\
             esac\n"
        );
        let file = bin.join("switch-to-configuration");
        fs::write(&file, script).unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn run_switch(&self, generation: Gen, action: &str) {
        let file = self
            .at(generation.path().trim_start_matches('/'))
            .join("bin/switch-to-configuration");
        assert!(std::process::Command::new(file)
            .arg(action)
            .status()
            .unwrap()
            .success());
    }

    fn active(&self) -> String {
        fs::read_to_string(self.at("active")).unwrap().trim().into()
    }

    fn boot_default(&self) -> String {
        fs::read_to_string(self.at("boot-default"))
            .unwrap()
            .trim()
            .into()
    }

    fn on_vm(&self, generation: Gen) -> bool {
        self.at(generation.path().trim_start_matches('/')).is_dir()
    }

    /// Sets `openclaw-system` and returns every `openclaw/rollout` value written for it,
    /// up to the final one.
    fn ship(&self, generation: Gen, rollback: bool) -> Vec<String> {
        let mark = self.sim.last_guest_write(&self.vm);
        self.sim.set_metadata(
            &self.vm,
            json!({"openclaw-system": generation.request(rollback)}),
        );
        self.rollout_after(mark)
    }

    /// Publishes `generation`, ships it, and returns why it was rolled back.
    fn roll_back_reason(&self, generation: Gen) -> String {
        self.publish_to_cache(generation);
        rolled_back_because(&self.ship(generation, false))
    }

    /// The `openclaw/rollout` values written after write `mark`, once one is final.
    fn rollout_after(&self, mark: u64) -> Vec<String> {
        wait_for("a final openclaw/rollout", WAIT, || {
            let written = self.sim.guest_written_after(&self.vm, "rollout", mark);
            written
                .iter()
                .any(|v| RolloutReport::parse(v).is_some_and(|r| r.state.is_final()))
                .then_some(written)
        })
    }

    fn system(&self) -> Option<String> {
        self.sim.guest(&self.vm, "system")
    }

    fn previous_system(&self) -> String {
        self.sim
            .guest(&self.vm, "previous-system")
            .expect("a published previous system")
    }
}

fn states(generation: Gen, states: &[&str]) -> Vec<String> {
    states
        .iter()
        .map(|s| format!("{} {s}", generation.rev()))
        .collect()
}

/// The one final report of a rollout, parsed.
fn outcome(written: &[String]) -> RolloutState {
    RolloutReport::parse(written.last().unwrap()).unwrap().state
}

fn rolled_back_because(written: &[String]) -> String {
    match outcome(written) {
        RolloutState::RolledBack(reason) => reason,
        other => panic!("expected a roll back, got {other} ({written:?})"),
    }
}

#[test]
fn a_healthy_rollout_becomes_the_boot_default_and_can_be_rolled_back() {
    let a = Gen(1, Behaviour::Good);
    let b = Gen(2, Behaviour::Good);
    let c = Gen(3, Behaviour::Good);
    let mut vm = Vm::boot("rollout-healthy", a, 30);
    vm.start_agent();
    assert_eq!(vm.active(), "gen-1");

    vm.publish_to_cache(b);
    let written = vm.ship(b, false);
    assert_eq!(
        written,
        states(b, &["fetching", "switching", "checking", "done"])
    );
    assert!(vm.on_vm(b), "the closure was fetched onto the VM");
    assert_eq!(vm.active(), "gen-2");
    assert_eq!(vm.boot_default(), "gen-2");
    assert_eq!(vm.system().as_deref(), Some(b.rev().as_str()));

    // The image's own system has no revision: nothing to offer as a roll back yet.
    assert_eq!(vm.sim.guest(&vm.vm, "previous-system"), None);

    vm.publish_to_cache(c);
    assert_eq!(outcome(&vm.ship(c, false)), RolloutState::Done);
    assert_eq!(vm.boot_default(), "gen-3");
    assert_eq!(vm.previous_system(), b.request(false));

    // "Roll back" to what the VM offers: already on it, so not fetched again.
    fs::remove_dir_all(vm.at("cache")).unwrap();
    let written = vm.ship(b, true);
    assert_eq!(written, states(b, &["switching", "checking", "done"]));
    assert_eq!(vm.active(), "gen-2");
    assert_eq!(vm.boot_default(), "gen-2");
    assert_eq!(vm.system().as_deref(), Some(b.rev().as_str()));
    assert_eq!(vm.previous_system(), c.request(false));

    // A generation collected from the VM cannot be rolled back to: refused, nothing changes.
    fs::remove_dir_all(vm.at(c.path().trim_start_matches('/'))).unwrap();
    let written = vm.ship(c, true);
    assert_eq!(written.len(), 1, "{written:?}");
    match outcome(&written) {
        RolloutState::Refused(reason) => assert!(reason.contains("not on this VM"), "{reason}"),
        other => panic!("expected a refusal, got {other}"),
    }
    assert!(!vm.on_vm(c));
    assert_eq!(vm.active(), "gen-2");
    assert_eq!(vm.boot_default(), "gen-2");
    assert_eq!(vm.system().as_deref(), Some(b.rev().as_str()));
}

#[test]
fn a_failure_at_each_step_returns_to_the_last_good_system() {
    let good = Gen(2, Behaviour::Good);
    let vm = Vm::after_a_good_rollout("rollout-failures", good, 3);
    let last_good = || {
        assert_eq!(vm.active(), "gen-2");
        assert_eq!(vm.boot_default(), "gen-2");
        assert_eq!(vm.system().as_deref(), Some(good.rev().as_str()));
    };
    // Publishes and ships `generation`, which fails: returns why it was rolled back,
    // once the last good system is back.
    let rolls_back = |generation| {
        let reason = vm.roll_back_reason(generation);
        last_good();
        reason
    };

    // Fetch: the path is not in the cache.
    let missing = Gen(3, Behaviour::Good);
    let written = vm.ship(missing, false);
    assert_eq!(written.len(), 2, "{written:?}");
    assert!(rolled_back_because(&written).starts_with("fetching the system failed (exit status"));
    assert!(!vm.on_vm(missing));
    last_good();

    // Switch: activation fails halfway; the last good system is activated again.
    let reason = rolls_back(Gen(4, Behaviour::SwitchFails));
    assert!(
        reason.starts_with("activating the system failed (exit status 1)"),
        "{reason}"
    );

    // Health: the new system leaves the gateway stopped.
    let reason = rolls_back(Gen(5, Behaviour::StopsGateway));
    assert!(
        reason.starts_with("not healthy within 3s")
            && reason.contains("openclaw-gateway.service is not active"),
        "{reason}"
    );
    assert!(
        vm.at("units").join(GATEWAY).exists(),
        "the old system restarted it"
    );

    // Health: the gateway answers unhealthy.
    vm.app.set(Health::Status(503));
    let reason = rolls_back(Gen(6, Behaviour::Good));
    vm.app.set(Health::Status(200));
    assert!(
        reason.contains("the gateway's health check answered HTTP 503"),
        "{reason}"
    );

    // Health: Telegram refuses the token the new system runs with.
    fs::write(vm.root.secret("telegram-token"), UNKNOWN_TOKEN).unwrap();
    let reason = rolls_back(Gen(7, Behaviour::Good));
    fs::write(vm.root.secret("telegram-token"), TOKEN).unwrap();
    assert!(
        reason.contains("Telegram getMe refused the bot's token (HTTP 401: Unauthorized)"),
        "{reason}"
    );

    // Boot entry: healthy, but it cannot be made the boot default.
    let reason = rolls_back(Gen(8, Behaviour::BootFails));
    assert!(
        reason.starts_with("making the system the boot default failed (exit status 1)"),
        "{reason}"
    );

    // The log says what happened and carries no token.
    let log = vm.root.log_text();
    assert!(
        log.contains("rolled back: activating the system failed"),
        "{log}"
    );
    assert!(!log.contains(TOKEN) && !log.contains(UNKNOWN_TOKEN));
}

#[test]
fn an_agent_killed_midway_reverts_or_finishes_on_restart() {
    let good = Gen(2, Behaviour::Good);
    let mut vm = Vm::after_a_good_rollout("rollout-killed", good, 60);

    // Killed during the health gate (the gateway is not healthy yet): on restart the
    // agent reverts to the last good system instead of waiting on.
    let pending = Gen(3, Behaviour::Good);
    vm.publish_to_cache(pending);
    vm.app.set(Health::Status(503));
    let mark = vm.sim.last_guest_write(&vm.vm);
    vm.sim
        .set_metadata(&vm.vm, json!({"openclaw-system": pending.request(false)}));
    wait_for("the health gate", WAIT, || {
        vm.sim
            .guest_written_after(&vm.vm, "rollout", mark)
            .contains(&format!("{} checking", pending.rev()))
            .then_some(())
    });
    assert_eq!(vm.active(), "gen-3");
    drop(vm.agent.take()); // SIGKILL
    vm.app.set(Health::Status(200));
    let mark = vm.sim.last_guest_write(&vm.vm);
    vm.start_agent();
    let written = vm.rollout_after(mark);
    let reason = rolled_back_because(&written);
    assert!(
        reason.contains("the agent stopped while checking the system's health"),
        "{reason}"
    );
    assert_eq!(vm.active(), "gen-2");
    assert_eq!(vm.boot_default(), "gen-2");
    assert_eq!(vm.system().as_deref(), Some(good.rev().as_str()));

    // Killed while making a healthy system the boot default: on restart it finishes.
    let next = Gen(4, Behaviour::Good);
    vm.publish_to_cache(next);
    let pid = vm.agent.as_ref().unwrap().pid();
    fs::write(vm.at("kill-at-boot"), pid.to_string()).unwrap();
    let mark = vm.sim.last_guest_write(&vm.vm);
    vm.sim
        .set_metadata(&vm.vm, json!({"openclaw-system": next.request(false)}));
    wait_for("the agent killed at boot", WAIT, || {
        (!vm.agent.as_mut().unwrap().still_running()).then_some(())
    });
    assert_eq!(vm.boot_default(), "gen-2", "not yet the boot default");
    let before_restart = vm.sim.last_guest_write(&vm.vm);
    assert!(!vm
        .sim
        .guest_written_after(&vm.vm, "rollout", mark)
        .iter()
        .any(|v| RolloutReport::parse(v).unwrap().state.is_final()));
    vm.start_agent();
    assert_eq!(
        vm.rollout_after(before_restart).last().unwrap(),
        &format!("{} done", next.rev())
    );
    assert_eq!(vm.active(), "gen-4");
    assert_eq!(vm.boot_default(), "gen-4");
    assert_eq!(vm.system().as_deref(), Some(next.rev().as_str()));

    // The reverted system is not retried by the restarted agent: the next request is
    // handled, and nothing was written for gen-3 in between.
    let later = Gen(5, Behaviour::Good);
    vm.publish_to_cache(later);
    let mark = vm.sim.last_guest_write(&vm.vm);
    assert_eq!(outcome(&vm.ship(later, false)), RolloutState::Done);
    assert!(!vm
        .sim
        .guest_written_after(&vm.vm, "rollout", mark)
        .iter()
        .any(|v| v.starts_with(&pending.rev())));

    // A restart publishes the last outcome again (it may have been lost with the agent).
    drop(vm.agent.take());
    let mark = vm.sim.last_guest_write(&vm.vm);
    vm.start_agent();
    assert_eq!(vm.rollout_after(mark), [format!("{} done", later.rev())]);
}

#[test]
fn malformed_requests_are_refused_and_change_nothing() {
    let a = Gen(1, Behaviour::Good);
    let mut vm = Vm::boot("rollout-malformed", a, 30);
    vm.start_as_units();
    for (value, says) in [
        (
            json!({"path": "/nix/store/11111111111111111111111111111111-x/../../../etc", "rev": "abcdef0"}).to_string(),
            "abcdef0 refused:a system path is",
        ),
        ("not json".to_string(), "- refused:openclaw-system must be JSON"),
    ] {
        let mark = vm.sim.last_guest_write(&vm.vm);
        vm.sim.set_metadata(&vm.vm, json!({"openclaw-system": value}));
        let written = vm.rollout_after(mark);
        assert_eq!(written.len(), 1);
        assert!(written[0].starts_with(says), "{written:?}");
    }
    assert_eq!(vm.active(), "gen-1");
    assert!(!vm.at("switch.log").exists(), "nothing was switched");

    // The same unit then rolls out a good system.
    let b = Gen(2, Behaviour::Good);
    vm.publish_to_cache(b);
    assert_eq!(outcome(&vm.ship(b, false)), RolloutState::Done);
    assert_eq!(vm.boot_default(), "gen-2");
}
