//! The bot routes through the App, against the fake Google.

use crate::http::Method;
use crate::testing::fake_google::FakeVm;
use crate::testing::TestApp;
use crate::testing::VM_RECIPIENT;
use serde_json::{json, Value};

const TELEGRAM: &str = "123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0";
const BOT: &str = "/api/bots/claw-demo/us-central1-a/my-bot-010203";

fn add(h: &TestApp, key: &str, vm: FakeVm) {
    h.google.borrow_mut().vms.insert(key.into(), vm);
}

fn healthy_bot(h: &TestApp) -> FakeVm {
    let mut vm = FakeVm::bot("RUNNING");
    let now = h.p.now_ms.get() / 1000;
    vm.guest.insert("setup".into(), "ready".into());
    vm.guest.insert("health".into(), format!("ok {}", now - 30));
    vm.guest
        .insert("recipient".into(), VM_RECIPIENT.trim().into());
    vm.guest
        .insert("secret-version".into(), "1763990000000".into());
    vm
}

#[test]
fn the_list_spans_projects_and_survives_a_failing_one() {
    let mut h = TestApp::new();
    h.cookie = h.sign_in(
        "sub-alice",
        &["claw-demo", "claw-other", "claw-broken", "claw-fresh"],
        3600,
    );
    add(&h, "claw-demo/us-central1-a/my-bot-010203", healthy_bot(&h));
    let mut foreign = FakeVm::bot("RUNNING");
    foreign.labels.clear();
    add(&h, "claw-demo/us-central1-a/web-server", foreign);
    add(
        &h,
        "claw-other/us-east1-b/old-bot-aaaaaa",
        FakeVm::bot("TERMINATED"),
    );
    h.google
        .borrow_mut()
        .broken_projects
        .insert("claw-broken".into());
    h.google.borrow_mut().disabled.insert("claw-fresh".into());

    let (status, body) = h.call(Method::Get, "/api/deploy/existing", None);
    assert_eq!(status, 200, "{body}");
    let vms = body["vms"].as_array().unwrap();
    let names: Vec<&str> = vms.iter().map(|v| v["vmName"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["my-bot-010203", "old-bot-aaaaaa"],
        "only claw.free bots"
    );
    assert_eq!(vms[0]["health"], "green");
    assert_eq!(vms[0]["projectId"], "claw-demo");
    assert_eq!(vms[0]["machineType"], "e2-micro");
    assert_eq!(vms[1]["health"], "grey");
    assert_eq!(vms[1]["status"], "TERMINATED");
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["projectId"], "claw-broken");
    assert!(errors[0]["error"].as_str().unwrap().contains("not allowed"));
    // One list per project, one guest-attribute read for the one running bot.
    let log = h.p.call_log();
    assert_eq!(
        log.iter()
            .filter(|l| l.contains("aggregated/instances"))
            .count(),
        4
    );
    assert_eq!(
        log.iter()
            .filter(|l| l.contains("getGuestAttributes"))
            .count(),
        1
    );
}

#[test]
fn deleting_needs_a_stopped_bot_in_ones_own_project() {
    let h = TestApp::new();
    add(&h, "claw-demo/us-central1-a/my-bot-010203", healthy_bot(&h));
    let (status, body) = h.call(Method::Delete, BOT, None);
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("stopped"));
    assert!(h
        .google
        .borrow()
        .vms
        .contains_key("claw-demo/us-central1-a/my-bot-010203"));

    h.google
        .borrow_mut()
        .vms
        .get_mut("claw-demo/us-central1-a/my-bot-010203")
        .unwrap()
        .status = "TERMINATED".into();
    let (status, body) = h.call(Method::Delete, BOT, None);
    assert_eq!((status, &body), (200, &json!({"ok": true})));
    assert!(!h
        .google
        .borrow()
        .vms
        .contains_key("claw-demo/us-central1-a/my-bot-010203"));

    // Someone's other VM, stopped or not, is never deleted.
    let mut foreign = FakeVm::bot("STOPPED");
    foreign.labels.clear();
    add(&h, "claw-demo/us-central1-a/web-server", foreign);
    assert_eq!(
        h.status(
            Method::Delete,
            "/api/bots/claw-demo/us-central1-a/web-server"
        ),
        404
    );
    assert!(h
        .google
        .borrow()
        .vms
        .contains_key("claw-demo/us-central1-a/web-server"));
    // Nor anything outside the session's projects, nor a bad path.
    for (path, status) in [
        ("/api/bots/someone-else/us-central1-a/my-bot-010203", 404),
        ("/api/bots/claw-demo/europe-west1-b/my-bot-010203", 400),
        ("/api/bots/claw-demo/us-central1-a/Bad_Name", 400),
    ] {
        assert_eq!(h.status(Method::Delete, path), status, "{path}");
    }
    let no_origin = h.from_origin(Method::Delete, BOT, None);
    assert_eq!(no_origin.status, 403);
}

#[test]
fn rotation_writes_ciphertext_and_is_confirmed_by_the_secret_version() {
    let h = TestApp::new();
    add(&h, "claw-demo/us-central1-a/my-bot-010203", healthy_bot(&h));
    // Someone else changed the metadata at the same moment: retried with a fresh read.
    h.google
        .borrow_mut()
        .faults
        .push(("setMetadata".into(), 412, "conditionNotMet".into()));
    let (status, body) = h.call(
        Method::Post,
        &format!("{BOT}/secret"),
        Some(json!({"telegramToken": TELEGRAM})),
    );
    assert_eq!(status, 200, "{body}");
    let version = body["secretVersion"].as_u64().unwrap();
    let metadata = h.vm("claw-demo/us-central1-a/my-bot-010203").metadata;
    let value = |k: &str| {
        metadata
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert!(
        value("openclaw-secret-telegram-token").starts_with("-----BEGIN AGE ENCRYPTED FILE-----")
    );
    assert!(!format!("{metadata:?}").contains("AAHfiqksKZ8WmR2zSjiQ7"));
    assert_eq!(value("openclaw-secret-version"), version.to_string());
    assert!(!h.p.kv_dump().contains("AAHfiqksKZ8WmR2zSjiQ7"));

    let (_, bot) = h.call(Method::Get, BOT, None);
    assert_ne!(bot["secretVersion"], version, "not applied yet");
    h.set_guest(
        "claw-demo/us-central1-a/my-bot-010203",
        &[("secret-version", &version.to_string())],
    );
    let (status, bot) = h.call(Method::Get, BOT, None);
    assert_eq!(status, 200);
    assert_eq!(bot["secretVersion"], version);

    let (status, body) = h.call(
        Method::Post,
        &format!("{BOT}/secret"),
        Some(json!({"telegramToken": "123:short"})),
    );
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("telegramToken"));
}

#[test]
fn logs_and_limits_on_bot_actions() {
    let mut h = TestApp::new();
    h.config.limits.bot_actions_per_session = 2;
    add(&h, "claw-demo/us-central1-a/my-bot-010203", healthy_bot(&h));
    let (status, logs) = h.call(Method::Get, &format!("{BOT}/logs"), None);
    assert_eq!(status, 200);
    assert!(logs["output"].as_str().unwrap().contains("NixOS booting"));
    assert!(logs["consoleUrl"]
        .as_str()
        .unwrap()
        .contains("instances/my-bot-010203/console"));
    assert_eq!(h.status(Method::Get, &format!("{BOT}/logs")), 200);
    let response = h.send(h.request(Method::Get, &format!("{BOT}/logs"), Some(&h.cookie), None));
    assert_eq!(response.status, 429);
    assert!(response.header("retry-after").is_some());
    // Reading a bot (the page polls it while confirming a rotation) is not limited.
    for _ in 0..5 {
        assert_eq!(h.call(Method::Get, BOT, None).0, 200);
    }
}

#[test]
fn an_expired_google_token_is_a_sign_in_again() {
    let h = TestApp::new();
    h.google.borrow_mut().token_expired = true;
    let (status, body): (u16, Value) = h.call(Method::Get, "/api/deploy/existing", None);
    assert_eq!(status, 401);
    assert!(body["error"].as_str().unwrap().contains("Sign in again"));
}

#[test]
fn a_changed_vm_key_stops_rotation_until_the_owner_rekeys() {
    let h = TestApp::new();
    let vm = "claw-demo/us-central1-a/my-bot-010203";
    add(&h, vm, healthy_bot(&h));
    let rotate = || {
        h.call(
            Method::Post,
            &format!("{BOT}/secret"),
            Some(json!({"telegramToken": TELEGRAM})),
        )
    };
    assert_eq!(rotate().0, 200, "the first delivery pins the VM's key");
    let pinned = h
        .vm(vm)
        .metadata
        .iter()
        .find(|(k, _)| k == "openclaw-recipient")
        .map(|(_, v)| v.clone())
        .expect("pinned");
    // Something on the VM publishes its own key.
    let intruder =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO+yDhWyLYWHxnXKOAA+D9jUeZ7aXiBhSEnsoj3XLr/b";
    h.set_guest(vm, &[("recipient", intruder)]);
    let (status, body) = rotate();
    assert_eq!(status, 409, "{body}");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("different encryption key"));
    let (_, bot) = h.call(Method::Get, BOT, None);
    assert_eq!(bot["keyChanged"], true);
    // The owner confirms the new key from the page.
    let (status, body) = h.call(Method::Post, &format!("{BOT}/rekey"), Some(json!({})));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["recipient"], intruder);
    let (_, bot) = h.call(Method::Get, BOT, None);
    assert_eq!(bot["keyChanged"], false);
    assert_eq!(rotate().0, 200);
    assert_ne!(
        h.vm(vm)
            .metadata
            .iter()
            .find(|(k, _)| k == "openclaw-recipient")
            .map(|(_, v)| v.clone()),
        Some(pinned)
    );
}
