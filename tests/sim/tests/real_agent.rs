//! The simulator running the real VM agent (`nix/agent`, binary `clawfree-agent`) for a
//! simulated VM: first boot, an age-encrypted Telegram token through setMetadata, the
//! secret file on the VM's disk, `ready`, and the agent gone when the VM stops.

mod common;
use common::*;
use serde_json::{json, Value};
use std::path::PathBuf;

const TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

/// The real VM agent, built on demand beside this test.
fn agent_binary() -> PathBuf {
    claw_free_testkit::workspace_binary("claw-free-agent", "clawfree-agent")
}

fn guest(sim: &TestSim, token: &str) -> Value {
    let r = sim.instance_get(
        token,
        "agent-bot",
        "/getGuestAttributes?queryPath=openclaw/",
    );
    let mut map = serde_json::Map::new();
    if r.status == 200 {
        for item in r.json()["queryValue"]["items"].as_array().unwrap() {
            map.insert(
                item["key"].as_str().unwrap().to_string(),
                item["value"].clone(),
            );
        }
    }
    Value::Object(map)
}

#[test]
fn the_real_agent_takes_a_vm_from_first_boot_to_ready() {
    let agent = agent_binary();
    let sim = sim_with(|o| o.agent = Some(agent));
    let token = sim.token();
    let vm = sim.insert_vm(&token, "agent-bot");

    let attrs = sim.wait_for(15, || {
        Some(guest(&sim, &token)).filter(|a| a["setup"] == "waiting-secret")
    });
    let recipient = attrs["recipient"].as_str().unwrap();
    assert!(recipient.starts_with("ssh-ed25519 "));

    let mut items = vm["metadata"]["items"].as_array().unwrap().clone();
    items.push(
        json!({ "key": "openclaw-secret-telegram-token", "value": age_encrypt(recipient, TOKEN.as_bytes()) }),
    );
    items.push(json!({ "key": "openclaw-secret-version", "value": "1" }));
    let fingerprint =
        sim.instance_get(&token, "agent-bot", "").json()["metadata"]["fingerprint"].clone();
    let r = sim.post(
        &format!("{ZONE}/instances/agent-bot/setMetadata"),
        &token,
        json!({ "fingerprint": fingerprint, "items": items }),
    );
    assert_eq!(r.status, 200, "{}", r.body);

    let ready = sim.wait_for(20, || {
        Some(guest(&sim, &token)).filter(|a| a["setup"] == "ready")
    });
    assert_eq!(ready["secret-version"], "1");
    assert!(ready["health"].as_str().unwrap().starts_with("ok "));

    let vms = sim.admin_get("vms");
    let root = PathBuf::from(vms["vms"][0]["root"].as_str().unwrap());
    let secret = root.join("var/lib/openclaw/secrets/telegram-token");
    assert_eq!(std::fs::read_to_string(&secret).unwrap().trim(), TOKEN);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let serial = sim.instance_get(&token, "agent-bot", "/serialPort").json();
    let console = serial["contents"].as_str().unwrap();
    assert!(
        console.contains("clawfree-agent["),
        "the agent logs to the serial port"
    );
    assert!(
        !console.contains(TOKEN),
        "the token never reaches the console"
    );
    assert!(
        !vms.to_string().contains(TOKEN),
        "metadata holds only ciphertext"
    );

    sim.post(
        &format!("{ZONE}/instances/agent-bot/stop"),
        &token,
        json!({}),
    );
    sim.wait_for(10, || {
        (sim.admin_get("vms")["vms"][0]["agentRunning"] == false).then_some(())
    });
}
