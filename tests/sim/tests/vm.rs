//! Simulated VMs booting: the built-in stand-in reaching `ready` once a secret
//! arrives, the app health rule, and a real agent process per VM (started with its
//! flags, logging to the serial port, killed when the VM stops).

mod common;
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

fn guest(sim: &TestSim, token: &str, vm: &str) -> Option<Value> {
    let r = sim.instance_get(token, vm, "/getGuestAttributes?queryPath=openclaw/");
    (r.status == 200).then(|| {
        let mut map = serde_json::Map::new();
        for item in r.json()["queryValue"]["items"].as_array().unwrap() {
            map.insert(
                item["key"].as_str().unwrap().to_string(),
                item["value"].clone(),
            );
        }
        Value::Object(map)
    })
}

fn deliver_secret(sim: &TestSim, token: &str, vm: &str, version: &str) {
    let current = sim.instance_get(token, vm, "").json();
    let mut items: Vec<Value> = current["metadata"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| !i["key"].as_str().unwrap().starts_with("openclaw-secret-"))
        .cloned()
        .collect();
    items.push(json!({ "key": "openclaw-secret-telegram-token", "value": "-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n" }));
    items.push(json!({ "key": "openclaw-secret-version", "value": version }));
    let r = sim.post(
        &format!("{ZONE}/instances/{vm}/setMetadata"),
        token,
        json!({ "fingerprint": current["metadata"]["fingerprint"], "items": items }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn the_stand_in_publishes_its_key_waits_for_a_secret_then_gets_ready() {
    let (sim, token) = signed_in();
    sim.insert_vm(&token, "standin-vm");
    let attrs = sim.wait_for(5, || {
        guest(&sim, &token, "standin-vm").filter(|a| a["setup"] == "waiting-secret")
    });
    let recipient = attrs["recipient"].as_str().unwrap();
    assert!(
        recipient.starts_with("ssh-ed25519 AAAA") && recipient.split(' ').count() == 2,
        "{recipient}"
    );
    let root = sim.first_vm_root();
    let public =
        std::fs::read_to_string(format!("{root}/etc/ssh/ssh_host_ed25519_key.pub")).unwrap();
    assert!(public.starts_with(recipient));
    let health = sim.anonymous("GET", "/_vm/claw-demo/us-central1-a/standin-vm/app/health");
    assert_eq!(health.status, 503, "no token yet");

    deliver_secret(&sim, &token, "standin-vm", "1");
    let ready = sim.wait_for(8, || {
        guest(&sim, &token, "standin-vm").filter(|a| a["setup"] == "ready")
    });
    assert_eq!(ready["secret-version"], "1");
    let health =
        claw_free_protocol::guest::Health::parse(ready["health"].as_str().unwrap()).unwrap();
    assert!(matches!(
        health,
        claw_free_protocol::guest::Health::Ok { .. }
    ));
    assert_eq!(
        sim.anonymous("GET", "/_vm/claw-demo/us-central1-a/standin-vm/app/health")
            .status,
        200
    );

    deliver_secret(&sim, &token, "standin-vm", "2");
    sim.wait_for(8, || {
        guest(&sim, &token, "standin-vm").filter(|a| a["secret-version"] == "2")
    });
}

#[test]
fn a_never_healthy_app_keeps_the_stand_in_starting() {
    let (sim, token) = signed_in();
    sim.insert_vm(&token, "sick-vm");
    sim.admin("vm-faults", json!({ "project": "claw-demo", "zone": "us-central1-a", "instance": "sick-vm", "neverHealthy": true }));
    sim.wait_for(5, || {
        guest(&sim, &token, "sick-vm").filter(|a| a["setup"] == "waiting-secret")
    });
    deliver_secret(&sim, &token, "sick-vm", "1");
    let attrs = sim.wait_for(8, || {
        guest(&sim, &token, "sick-vm").filter(|a| a.get("health").is_some())
    });
    assert!(attrs["health"].as_str().unwrap().starts_with("failing "));
    assert_eq!(attrs["setup"], "starting");
}

#[test]
fn a_vm_without_guest_attributes_enabled_cannot_publish() {
    let sim = sim_with(|o| o.config.agent_boot_delay_ms = 10);
    let token = sim.token();
    let mut body = vm_body("quiet-vm");
    body["metadata"]["items"] = json!([{ "key": "BOT_NAME", "value": "x" }]);
    assert_eq!(
        sim.post(&format!("{ZONE}/instances"), &token, body).status,
        200
    );
    sim.wait_for(5, || {
        let out = sim.instance_get(&token, "quiet-vm", "/serialPort").json();
        out["contents"]
            .as_str()
            .unwrap()
            .contains("enable-guest-attributes")
            .then_some(())
    });
    assert_eq!(
        sim.instance_get(
            &token,
            "quiet-vm",
            "/getGuestAttributes?queryPath=openclaw/"
        )
        .status,
        404
    );
}

/// A stand-in "agent": prints its flags to stderr, then sleeps until killed.
fn fake_agent(dir: &std::path::Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("fake-agent.sh");
    std::fs::write(
        &path,
        "#!/bin/sh\necho \"agent args: $*\" >&2\necho $$ > \"$5/agent.pid\"\nexec sleep 60\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 && !zombie(pid) }
}

#[test]
fn with_an_agent_each_vm_runs_it_until_the_vm_stops() {
    let dir = TempDir(temp_dir());
    let agent = fake_agent(&dir.0);
    let sim = sim_with(|o| o.agent = Some(agent));
    let token = sim.token();
    sim.insert_vm(&token, "real-agent-vm");
    let serial = sim.wait_for(5, || {
        let out = sim
            .instance_get(&token, "real-agent-vm", "/serialPort")
            .json();
        let text = out["contents"].as_str().unwrap().to_string();
        text.contains("agent args:").then_some(text)
    });
    let line = serial.lines().find(|l| l.contains("agent args:")).unwrap();
    let base = format!("{}/_vm/claw-demo/us-central1-a/real-agent-vm", sim.url);
    assert!(
        line.contains(&format!("run --metadata-url {base} --root ")),
        "{line}"
    );
    assert!(
        line.contains(&format!(
            "--health-url {base}/app/health --restart-cmd true --health-interval-secs 2"
        )),
        "{line}"
    );
    let vms = sim.admin_get("vms");
    assert_eq!(vms["vms"][0]["agentRunning"], true);
    let root = vms["vms"][0]["root"].as_str().unwrap().to_string();
    let pid: i32 = sim.wait_for(5, || {
        std::fs::read_to_string(format!("{root}/agent.pid"))
            .ok()
            .and_then(|p| p.trim().parse().ok())
    });
    assert!(alive(pid));

    sim.post(
        &format!("{ZONE}/instances/real-agent-vm/stop"),
        &token,
        json!({}),
    );
    sim.wait_for(5, || (!alive(pid)).then_some(()));
    let terminated =
        || sim.instance_get(&token, "real-agent-vm", "").json()["status"] == "TERMINATED";
    sim.wait_for(5, || terminated().then_some(()));
    assert_eq!(sim.admin_get("vms")["vms"][0]["agentRunning"], false);

    // Started again, the VM runs a new agent with the same disk; the simulator's exit kills it.
    std::fs::remove_file(format!("{root}/agent.pid")).unwrap();
    sim.post(
        &format!("{ZONE}/instances/real-agent-vm/start"),
        &token,
        json!({}),
    );
    let second: i32 = sim.wait_for(5, || {
        std::fs::read_to_string(format!("{root}/agent.pid"))
            .ok()
            .and_then(|p| p.trim().parse().ok())
    });
    assert_ne!(second, pid);
    assert!(alive(second));
    drop(sim);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while alive(second) {
        assert!(
            std::time::Instant::now() < deadline,
            "no agent outlives the simulator"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.split(' ').nth(2) == Some("Z"))
        .unwrap_or(true)
}
