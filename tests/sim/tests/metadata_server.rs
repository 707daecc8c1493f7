//! Each VM's metadata server: the flavor header, listings, recursive JSON, ETags and
//! `wait_for_change`, and the admin controls agent tests use.

mod common;
use common::*;
use serde_json::json;
use std::time::{Duration, Instant};

const VM: &str = "claw-demo/us-central1-a/agent-vm";

fn with_vm() -> TestSim {
    let sim = sim();
    sim.admin(
        "vms",
        json!({ "project": "claw-demo", "zone": "us-central1-a", "instance": "agent-vm",
                "metadata": { "BOT_NAME": "My bot", "LLM_PROVIDER": "kimi" } }),
    );
    sim
}

#[test]
fn requires_the_flavor_header_and_answers_with_it() {
    let sim = with_vm();
    let bare = sim.anonymous(
        "GET",
        &format!("/_vm/{VM}/computeMetadata/v1/instance/attributes/BOT_NAME"),
    );
    assert_eq!(bare.status, 403);
    let ok = sim.metadata(VM, "instance/attributes/BOT_NAME");
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body, "My bot");
    assert_eq!(ok.flavor.as_deref(), Some("Google"));
    assert!(ok.etag.is_some());
    assert_eq!(sim.metadata(VM, "instance/attributes/NOPE").status, 404);
    assert_eq!(
        sim.metadata(VM, "instance/attributes/BOT_NAME?colour=blue")
            .status,
        400
    );
}

#[test]
fn lists_directories_and_renders_recursive_json() {
    let sim = with_vm();
    let listing = sim.metadata(VM, "instance/attributes/");
    let names: Vec<&str> = listing.body.lines().collect();
    assert!(
        names.contains(&"BOT_NAME") && names.contains(&"enable-guest-attributes"),
        "{names:?}"
    );
    let redirect = sim.metadata(VM, "instance/attributes");
    assert_eq!(redirect.status, 301);
    assert!(redirect
        .location
        .unwrap()
        .ends_with("/instance/attributes/"));

    let tree = sim.metadata(VM, "instance/?recursive=true").json();
    assert_eq!(tree["attributes"]["LLM_PROVIDER"], "kimi");
    assert_eq!(tree["name"], "agent-vm");
    assert!(
        tree["networkInterfaces"][0]["accessConfigs"][0]["externalIp"]
            .as_str()
            .unwrap()
            .starts_with("34.")
    );
    let attrs = sim
        .metadata(VM, "instance/attributes/?recursive=true&alt=json")
        .json();
    assert_eq!(attrs["enable-guest-attributes"], "TRUE");
    assert_eq!(
        sim.metadata(VM, "instance/attributes/BOT_NAME?alt=json")
            .json(),
        json!("My bot")
    );
    assert_eq!(sim.metadata(VM, "project/project-id").body, "claw-demo");
}

#[test]
fn wait_for_change_wakes_on_set_metadata_and_times_out_otherwise() {
    let sim = with_vm();
    let first = sim.metadata(VM, "instance/attributes/?recursive=true");
    let etag = first.etag.clone().unwrap();

    let started = Instant::now();
    let unchanged = sim.metadata(VM, &format!("instance/attributes/?recursive=true&wait_for_change=true&last_etag={etag}&timeout_sec=1"));
    assert_eq!(unchanged.status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "it waited for the timeout"
    );
    assert_eq!(unchanged.etag.as_deref(), Some(etag.as_str()));

    let url = sim.url.clone();
    let changer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        ureq::post(&format!("{url}/_admin/vms/metadata"))
            .send_json(
                json!({ "project": "claw-demo", "zone": "us-central1-a", "instance": "agent-vm",
                               "items": { "openclaw-secret-version": "1", "BOT_NAME": null } }),
            )
            .unwrap();
    });
    // Woken by the change, long before the poll's own timeout (an hour) would end it.
    let started = Instant::now();
    let changed = sim.metadata(VM, &format!("instance/attributes/?recursive=true&wait_for_change=true&last_etag={etag}&timeout_sec=3600"));
    changer.join().unwrap();
    assert!(started.elapsed() < Duration::from_secs(600));
    assert_ne!(changed.etag.as_deref(), Some(etag.as_str()));
    let attrs = changed.json();
    assert_eq!(attrs["openclaw-secret-version"], "1");
    assert!(attrs.get("BOT_NAME").is_none());

    // A stale last_etag answers at once, not at the end of the hour it may wait.
    let started = Instant::now();
    sim.metadata(
        VM,
        &format!("instance/attributes/?recursive=true&wait_for_change=true&last_etag={etag}&timeout_sec=3600"),
    );
    assert!(started.elapsed() < Duration::from_secs(600));
}

#[test]
fn set_metadata_through_compute_wakes_the_vm() {
    let (sim, token) = signed_in();
    let vm = sim.insert_vm(&token, "woken");
    let path = "claw-demo/us-central1-a/woken";
    let etag = sim
        .metadata(path, "instance/attributes/?recursive=true")
        .etag
        .unwrap();
    let fingerprint = vm["metadata"]["fingerprint"].as_str().unwrap().to_string();
    let mut items = vm["metadata"]["items"].as_array().unwrap().clone();
    items.push(json!({ "key": "openclaw-secret-version", "value": "7" }));
    let url = sim.url.clone();
    let setter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        ureq::post(&format!(
            "{url}/compute/v1/projects/claw-demo/zones/us-central1-a/instances/woken/setMetadata"
        ))
        .set("Authorization", &format!("Bearer {token}"))
        .send_json(json!({ "fingerprint": fingerprint, "items": items }))
        .unwrap();
    });
    let changed = sim.metadata(path, &format!("instance/attributes/?recursive=true&wait_for_change=true&last_etag={etag}&timeout_sec=10"));
    setter.join().unwrap();
    assert_eq!(changed.json()["openclaw-secret-version"], "7");
}

#[test]
fn the_metadata_server_can_be_taken_down_and_slowed() {
    let sim = with_vm();
    sim.admin("metadata-server", json!({ "down": true }));
    assert_eq!(sim.metadata(VM, "instance/attributes/BOT_NAME").status, 503);
    sim.admin("metadata-server", json!({ "down": false, "delayMs": 300 }));
    let started = Instant::now();
    assert_eq!(sim.metadata(VM, "instance/attributes/BOT_NAME").status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[test]
fn admin_vms_shows_metadata_guest_attributes_and_the_root_with_a_host_key() {
    let sim = with_vm();
    let put = sim
        .request(
            "PUT",
            &format!("/_vm/{VM}/computeMetadata/v1/instance/guest-attributes/openclaw/setup"),
        )
        .set("Metadata-Flavor", "Google")
        .send_string("configuring")
        .unwrap();
    assert_eq!(put.status(), 200);
    let vms = sim.admin_get("vms");
    let vm = &vms["vms"][0];
    assert_eq!(vm["status"], "RUNNING");
    assert_eq!(vm["metadata"]["BOT_NAME"], "My bot");
    assert_eq!(vm["guestAttributes"]["openclaw/setup"], "configuring");
    assert_eq!(vm["agentRunning"], false);
    let root = std::path::PathBuf::from(vm["root"].as_str().unwrap());
    let key = std::fs::read_to_string(root.join("etc/ssh/ssh_host_ed25519_key")).unwrap();
    assert!(key.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
    let public = std::fs::read_to_string(root.join("etc/ssh/ssh_host_ed25519_key.pub")).unwrap();
    assert!(public.starts_with("ssh-ed25519 AAAA"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(root.join("etc/ssh/ssh_host_ed25519_key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    sim.admin(
        "vms/stop",
        json!({ "project": "claw-demo", "zone": "us-central1-a", "instance": "agent-vm" }),
    );
    let status = sim.wait_for(5, || {
        let vms = sim.admin_get("vms");
        let s = vms["vms"][0]["status"].as_str().unwrap().to_string();
        (s == "TERMINATED").then_some(s)
    });
    assert_eq!(status, "TERMINATED");
}

/// The host key is a real OpenSSH ed25519 key: `age` (the Debian package) encrypts to
/// the published recipient and decrypts with the private key, as agenix would.
#[test]
fn the_host_key_works_with_age() {
    let sim = with_vm();
    let root = sim.first_vm_root();
    let public =
        std::fs::read_to_string(format!("{root}/etc/ssh/ssh_host_ed25519_key.pub")).unwrap();
    let recipient: String = public
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let ciphertext = age_encrypt(&recipient, b"123:telegram-token");
    let identity = format!("{root}/etc/ssh/ssh_host_ed25519_key");
    let plaintext = claw_free_testkit::age_cli(
        ["--decrypt", "--identity", &identity],
        ciphertext.as_bytes(),
    );
    assert_eq!(plaintext, b"123:telegram-token");
}
