//! The real OpenClaw gateway (the pinned release) against the simulator's Telegram:
//! every Bot API method it calls must be one the simulator serves.
//!
//! The test runs in a network namespace of its own with only loopback (it re-executes
//! itself under `unshare -rn`), so the gateway's attempts to reach anything else
//! (model catalogs, Telegram's real addresses) fail here instead of leaving the machine.

mod common;
use common::*;
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};

const BOT: &str = "7000000001:AAFirstTokenFirstTokenFirstTokenFirst";
const INSIDE: &str = "CLAW_FREE_TEST_IN_NETNS";

/// Runs `test` of this file again inside a fresh network namespace; true when the
/// caller is already inside and should run the body itself.
fn inside_own_network(test: &str) -> bool {
    if std::env::var_os(INSIDE).is_some() {
        return true;
    }
    // Installed out here, where the npm registry is reachable: inside, npm would wait
    // for a network that is not there.
    claw_free_testkit::openclaw::openclaw_bin();
    let status = Command::new("unshare")
        .args([
            "-rn",
            "sh",
            "-c",
            "ip link set lo up && exec \"$@\"",
            "netns",
        ])
        .arg(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(INSIDE, "1")
        .status()
        .expect("run unshare -rn (a network namespace with only loopback)");
    assert!(
        status.success(),
        "{test} failed inside its network namespace"
    );
    false
}

struct Gateway {
    child: Child,
    home: TempDir,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        // The gateway drains for minutes on SIGTERM; this one is thrown away.
        let pid = self.child.id().to_string();
        let _ = Command::new("pkill").args(["-KILL", "-P", &pid]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_gateway(sim: &TestSim, config: Value) -> Gateway {
    let home = TempDir(temp_dir());
    let token = home.0.join("telegram-token");
    std::fs::write(&token, format!("{BOT}\n")).unwrap();
    let mut config = config;
    config["channels"]["telegram"]["tokenFile"] = json!(token);
    config["channels"]["telegram"]["apiRoot"] = json!(sim.url);
    let path = home.0.join("openclaw.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    let log = std::fs::File::create(home.0.join("gateway.log")).unwrap();
    let child = Command::new(claw_free_testkit::openclaw::openclaw_bin())
        .args(["gateway", "--port", "28789"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", &home.0)
        .env("TMPDIR", &home.0)
        .env("OPENCLAW_STATE_DIR", home.0.join("state"))
        .env("OPENCLAW_CONFIG_PATH", &path)
        .env("OPENCLAW_NO_AUTO_UPDATE", "1")
        .env("OPENCLAW_OFFLINE", "1")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start the gateway");
    Gateway { child, home }
}

/// The agent's first configuration, as `openclaw.json` on a VM without an owner.
fn agent_config() -> Value {
    json!({
        "gateway": { "mode": "local", "port": 28789, "bind": "loopback" },
        "agents": { "entries": { "main": { "identity": { "name": "Sim Bot" } } } },
        "channels": { "telegram": { "enabled": true, "dmPolicy": "pairing" } },
    })
}

#[test]
fn the_real_gateway_polls_the_simulated_telegram_using_only_methods_it_serves() {
    if !inside_own_network(
        "the_real_gateway_polls_the_simulated_telegram_using_only_methods_it_serves",
    ) {
        return;
    }
    let sim = sim();
    sim.admin(
        "telegram/bots",
        json!({ "token": BOT, "username": "sim_claw_bot", "updates": [] }),
    );
    let gateway = start_gateway(&sim, agent_config());
    // Long polling proves the channel came up past its start-up calls.
    sim.wait_for(180, || {
        (sim.counter("telegram.getUpdates") >= 2).then_some(())
    });
    let unknown = sim.admin_get("telegram/unknown-methods");
    let log = std::fs::read_to_string(gateway.home.0.join("gateway.log")).unwrap_or_default();
    assert_eq!(
        unknown,
        json!([]),
        "methods the simulator does not serve; gateway log:\n{log}"
    );
}

/// The Setup model's key, as the VM agent makes it at first boot and gives it to
/// OpenClaw as that provider's `apiKey`; the provider answers nothing else.
const SETUP_KEY: &str = "real-gateway-test-setup-key-0123456789abcdef";

/// The claw.free Setup model (nix/provider) on a loopback port, as on the VM.
struct SetupModel {
    child: Child,
    url: String,
    _dir: TempDir,
}

impl Drop for SetupModel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_setup_model(openclaw_config: &std::path::Path) -> SetupModel {
    use std::io::BufRead;
    let dir = TempDir(temp_dir());
    let key_file = dir.0.join("setup-provider.key");
    std::fs::write(&key_file, SETUP_KEY).unwrap();
    let mut child = Command::new(claw_free_testkit::workspace_binary(
        "claw-free-provider",
        "claw-free-provider",
    ))
    .args(["--listen", "127.0.0.1:0", "--provider", "openai"])
    .arg("--state-dir")
    .arg(dir.0.join("state"))
    .arg("--openclaw-config")
    .arg(openclaw_config)
    .arg("--api-key-file")
    .arg(&key_file)
    .arg("--openclaw")
    .arg(claw_free_testkit::openclaw::openclaw_bin())
    .args(["--restart-gateway", "/bin/true"])
    .stdout(Stdio::piped())
    .spawn()
    .expect("start claw-free-provider");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("the provider said {line:?}"))
        .to_string();
    SetupModel {
        child,
        url,
        _dir: dir,
    }
}

const OWNER: u64 = 4242;
const STRANGER: u64 = 9999;

#[test]
fn the_owner_gets_the_setup_model_s_answer_and_a_stranger_gets_none() {
    if !inside_own_network("the_owner_gets_the_setup_model_s_answer_and_a_stranger_gets_none") {
        return;
    }
    let sim = sim();
    sim.admin(
        "telegram/bots",
        json!({ "token": BOT, "username": "sim_claw_bot", "updates": [] }),
    );
    let scratch = TempDir(temp_dir());
    let provider_config = scratch.0.join("openclaw.json");
    let setup = start_setup_model(&provider_config);
    let mut config = agent_config();
    config["models"] = json!({ "mode": "merge", "providers": { "claw-free": {
        "baseUrl": format!("{}/v1", setup.url), "apiKey": SETUP_KEY,
        "api": "openai-completions",
        "models": [{ "id": "setup", "name": "claw.free Setup", "reasoning": false,
            "input": ["text"], "cost": { "input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0 },
            "contextWindow": 32768, "maxTokens": 4096 }] } } });
    config["agents"]["defaults"] = json!({ "model": { "primary": "claw-free/setup" } });
    config["channels"]["telegram"]["dmPolicy"] = json!("allowlist");
    config["channels"]["telegram"]["allowFrom"] = json!([OWNER.to_string()]);
    std::fs::write(&provider_config, serde_json::to_vec(&config).unwrap()).unwrap();
    let gateway = start_gateway(&sim, config);
    sim.wait_for(180, || {
        (sim.counter("telegram.getUpdates") >= 2).then_some(())
    });

    let say = |from: u64, text: &str| {
        sim.admin(
            "telegram/messages",
            json!({ "token": BOT, "fromId": from, "firstName": "Ada", "text": text }),
        );
    };
    say(STRANGER, "hello, whose bot is this?");
    say(OWNER, "hi");
    let log = || std::fs::read_to_string(gateway.home.0.join("gateway.log")).unwrap_or_default();
    let replies = sim.wait_for(240, || {
        let sent = sim.admin("telegram/sent", json!({ "token": BOT })).json();
        let to_owner = sent
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["chatId"] == OWNER);
        to_owner.then_some(sent)
    });
    let texts: Vec<&str> = replies
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["chatId"] == OWNER)
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert!(
        texts
            .iter()
            .any(|t| t.to_lowercase().contains("openai") || t.to_lowercase().contains("key")),
        "the reply is not the setup conversation: {texts:?}\n{}",
        log()
    );
    assert!(
        replies
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["chatId"] != STRANGER),
        "a stranger got an answer: {replies}"
    );
    assert_eq!(
        sim.admin_get("telegram/unknown-methods"),
        json!([]),
        "{}",
        log()
    );
}
