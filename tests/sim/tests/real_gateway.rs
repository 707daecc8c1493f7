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
