//! The real `clawfree-agent` against the simulator's metadata server: whom the bot
//! answers (`TELEGRAM_OWNER_ID`, at first boot and later), and a declarative NixOS
//! configuration (`LLM_PROVIDER`, `BOT_NAME`, `CLAWFREE_BASE_CONFIG` in the
//! environment) winning over instance metadata.

mod support;

use std::fs;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use support::*;

/// A deadline, not an expectation: every wait ends at the event it waits for.
const WAIT: Duration = Duration::from_secs(90);

fn json_file(path: &std::path::Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

fn telegram(root: &Root) -> Value {
    json_file(&root.state().join("openclaw.json"))["channels"]["telegram"].clone()
}

/// A new VM with `metadata` (over the default bot's), and `setup` run on it once.
fn set_up(test: &str, metadata: Value, env: &[(&str, &str)]) -> (Sim, Root, String, Option<i32>) {
    let sim = Sim::start();
    let root = Root::new();
    let vm = instance_name(test);
    let mut all = bot_metadata();
    for (key, value) in metadata.as_object().unwrap() {
        all[key] = value.clone();
    }
    sim.create_vm(&vm, all);
    let mut command = Agent::command(
        &root,
        "setup",
        &root.agent_args(&sim, &vm, "http://127.0.0.1:9/"),
    );
    command.envs(env.iter().copied());
    let code = Agent::run_to_end(command).code();
    (sim, root, vm, code)
}

#[test]
fn an_owner_in_metadata_is_the_only_one_the_bot_answers() {
    let (sim, root, vm, code) = set_up("owner", json!({"TELEGRAM_OWNER_ID": " 424242 "}), &[]);
    assert_eq!(code, Some(0), "{}", root.log_text());
    let telegram = telegram(&root);
    assert_eq!(telegram["dmPolicy"], "allowlist");
    assert_eq!(telegram["allowFrom"], json!(["424242"]));
    assert_eq!(telegram["enabled"], true);
    assert_eq!(sim.guest(&vm, "setup").as_deref(), Some("waiting-secret"));
}

#[test]
fn without_an_owner_strangers_must_pair() {
    let (_sim, root, _vm, code) = set_up("no-owner", json!({}), &[]);
    assert_eq!(code, Some(0), "{}", root.log_text());
    let telegram = telegram(&root);
    assert_eq!(telegram["dmPolicy"], "pairing");
    assert!(telegram.get("allowFrom").is_none(), "{telegram}");
}

#[test]
fn a_malformed_owner_fails_setup_and_opens_nothing() {
    for bad in ["@ada", "0", "-7", "12 34", "99999999999999999"] {
        let (sim, root, vm, code) = set_up("bad-owner", json!({"TELEGRAM_OWNER_ID": bad}), &[]);
        assert_eq!(code, Some(1), "{bad:?}");
        let setup = sim.guest(&vm, "setup").unwrap();
        assert!(
            setup.starts_with("failed:") && setup.contains("TELEGRAM_OWNER_ID"),
            "{bad:?}: {setup}"
        );
        assert!(!root.state().join("openclaw.json").exists(), "{bad:?}");
        assert!(!root.state().join(".setup-complete").exists(), "{bad:?}");
    }
}

#[test]
fn an_owner_added_later_narrows_the_running_bot() {
    let bot = BotVm::new("owner-later");
    let (sim, root, vm) = (&bot.sim, &bot.root, &bot.vm);
    let _agent = bot.run_agent(&[]);
    wait_for("setup to finish", WAIT, || {
        (sim.guest(vm, "setup").as_deref() == Some("waiting-secret")).then_some(())
    });
    assert_eq!(telegram(root)["dmPolicy"], "pairing");
    let restarts = root.restarts();
    // The watcher says once per metadata version it has read that it needed no
    // secret; each change below waits for its own, so none is folded into another.
    let read_versions = |versions: usize| {
        wait_for(
            &format!("the watcher to read {versions} versions"),
            WAIT,
            || (root.log_count("nothing new to apply") >= versions).then_some(()),
        )
    };
    read_versions(1);

    // A malformed value changes nothing and is logged.
    sim.set_metadata(vm, json!({"TELEGRAM_OWNER_ID": "ada"}));
    wait_for("the bad owner id to be logged", WAIT, || {
        root.log_text()
            .contains("TELEGRAM_OWNER_ID is not valid")
            .then_some(())
    });
    assert_eq!(telegram(root)["dmPolicy"], "pairing");
    assert_eq!(root.restarts(), restarts);

    sim.set_metadata(vm, json!({"TELEGRAM_OWNER_ID": "5151"}));
    wait_for("the owner to be applied", WAIT, || {
        (telegram(root)["allowFrom"] == json!(["5151"])).then_some(())
    });
    let telegram_now = telegram(root);
    assert_eq!(telegram_now["dmPolicy"], "allowlist");
    assert_eq!(
        telegram_now["tokenFile"],
        root.gateway_token_file().display().to_string()
    );
    wait_for("the app to restart", WAIT, || {
        (root.restarts() == restarts + 1).then_some(())
    });

    // The first version, the malformed owner, the owner.
    read_versions(3);

    // Removing the key keeps the last owner: the bot is never widened silently.
    sim.set_metadata(vm, json!({"TELEGRAM_OWNER_ID": null, "unrelated": "x"}));
    read_versions(4);
    assert_eq!(telegram(root)["allowFrom"], json!(["5151"]));
    assert_eq!(root.restarts(), restarts + 1);
}

#[test]
fn a_declarative_configuration_beats_instance_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("openclaw.json");
    fs::write(
        &base,
        json!({
            "gateway": {"port": 20000},
            "channels": {"telegram": {"dmPolicy": "allowlist", "allowFrom": ["777"]}},
            "skills": {"load": {"extraDirs": ["/nix/store/abc-skills"]}},
        })
        .to_string(),
    )
    .unwrap();
    let (sim, root, vm, code) = set_up(
        "declared",
        // Metadata the flake overrides, even a bad value, cannot fail setup.
        json!({"LLM_PROVIDER": "gpt-9", "TELEGRAM_OWNER_ID": "not-an-id"}),
        &[
            ("LLM_PROVIDER", "openai"),
            ("BOT_NAME", "Flake Bot"),
            ("CLAWFREE_BASE_CONFIG", base.to_str().unwrap()),
        ],
    );
    assert_eq!(code, Some(0), "{}", root.log_text());
    assert_eq!(sim.guest(&vm, "setup").as_deref(), Some("waiting-secret"));
    let config = json_file(&root.state().join("openclaw.json"));
    assert_eq!(config["gateway"]["port"], 20000);
    assert_eq!(config["gateway"]["mode"], "local");
    assert_eq!(
        config["skills"]["load"]["extraDirs"][0],
        "/nix/store/abc-skills"
    );
    assert_eq!(config["channels"]["telegram"]["allowFrom"], json!(["777"]));
    assert_eq!(
        config["agents"]["entries"]["main"]["identity"]["name"],
        "Flake Bot"
    );
    assert_eq!(
        config["agents"]["defaults"]["model"]["primary"],
        "claw-free/setup"
    );
    let claw_free = json_file(&root.state().join("claw-free.json"));
    assert_eq!(claw_free["provider"], "openai");
    assert_eq!(claw_free["botName"], "Flake Bot");
}

#[test]
fn a_bad_declaration_is_a_command_line_error() {
    let sim = Sim::start();
    let root = Root::new();
    let vm = instance_name("bad-declared");
    sim.create_vm(&vm, bot_metadata());
    for (name, value) in [
        ("LLM_PROVIDER", "gpt-9"),
        ("CLAWFREE_BASE_CONFIG", "/nonexistent/openclaw.json"),
    ] {
        let mut command: Command = Agent::command(
            &root,
            "setup",
            &root.agent_args(&sim, &vm, "http://127.0.0.1:9/"),
        );
        command.env(name, value);
        assert_eq!(Agent::run_to_end(command).code(), Some(2), "{name}");
        assert!(root.log_text().contains(name), "{}", root.log_text());
    }
    assert!(!root.state().join("openclaw.json").exists());
}
