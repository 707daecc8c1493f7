//! Delivery, pinning and re-keying against an in-memory Google.

use super::*;
use crate::config::tests::development_config;
use crate::http::Method;
use crate::testing::{is, reply, run, TestPlatform, VM_RECIPIENT};
use crate::types::{ProjectId, VmName, Zone};
use serde_json::{json, Value};
use std::cell::Cell;
use std::rc::Rc;

const TOKEN: &str = "123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0";

fn target() -> InstanceRef {
    InstanceRef {
        project: ProjectId::parse("claw-demo").unwrap(),
        zone: Zone::parse("us-central1-a").unwrap(),
        name: VmName::parse("my-bot-010203").unwrap(),
    }
}

fn vm(fingerprint: &str, status: &str, managed: bool) -> Value {
    let labels = if managed {
        json!({"claw-free": "bot", "claw-free-bot": "my-bot"})
    } else {
        json!({"team": "web"})
    };
    json!({
        "name": "my-bot-010203", "status": status, "labels": labels,
        "metadata": {"fingerprint": fingerprint, "items": [
            {"key": "BOT_NAME", "value": "My Bot"},
            {"key": "openclaw-secret-version", "value": "5"}
        ]}
    })
}

fn decrypt(armored: &str) -> String {
    String::from_utf8(crate::testing::decrypt_on_vm(armored)).unwrap()
}

/// An intruder's key: valid ssh-ed25519, not the VM's host key.
const INTRUDER: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO+yDhWyLYWHxnXKOAA+D9jUeZ7aXiBhSEnsoj3XLr/b mallory";

/// The bot VM a test meets: a running bot of claw.free's that publishes the VM's key
/// and has none pinned, unless a test says otherwise. Its metadata follows what is
/// written, as GCE's does.
struct FakeVm {
    /// How many times its fingerprint moves under the writer.
    conflicts: u32,
    status: &'static str,
    /// Whether it carries claw.free's labels.
    managed: bool,
    /// The key it publishes in its guest attributes.
    published: Option<&'static str>,
    /// The key pinned in its metadata.
    pinned: Option<&'static str>,
}

impl Default for FakeVm {
    fn default() -> Self {
        Self {
            conflicts: 0,
            status: "RUNNING",
            managed: true,
            published: Some(VM_RECIPIENT.trim()),
            pinned: None,
        }
    }
}

/// The platform of the default [`FakeVm`] with `change` made to it.
fn fake_vm(change: impl FnOnce(&mut FakeVm)) -> TestPlatform {
    let mut vm = FakeVm::default();
    change(&mut vm);
    vm.platform()
}

impl FakeVm {
    fn platform(self) -> TestPlatform {
        let Self {
            conflicts,
            status,
            managed,
            published,
            pinned,
        } = self;
        let p = TestPlatform::new();
        let left = Rc::new(Cell::new(conflicts));
        let generation = Rc::new(Cell::new(0u32));
        let written: Rc<std::cell::RefCell<Option<Value>>> = Rc::default();
        p.respond(move |req| {
            if is(req, Method::Get, "getGuestAttributes") {
                let mut items =
                    vec![json!({"namespace": "openclaw", "key": "setup", "value": "waiting-secret"})];
                if let Some(key) = published {
                    items.push(json!({"namespace": "openclaw", "key": "recipient", "value": key}));
                }
                reply(200, json!({"queryPath": "openclaw/", "queryValue": {"items": items}}))
            } else if is(req, Method::Post, "/setMetadata") {
                let body: Value = serde_json::from_slice(req.body.as_deref().unwrap()).unwrap();
                let current = format!("fp-{}", generation.get());
                if left.get() > 0 || body["fingerprint"] != current.as_str() {
                    left.set(left.get().saturating_sub(1));
                    generation.set(generation.get() + 1);
                    return reply(412, json!({"error": {"code": 412, "message": "Supplied fingerprint does not match current metadata fingerprint.", "errors": [{"reason": "conditionNotMet", "message": "x"}]}}));
                }
                generation.set(generation.get() + 1);
                *written.borrow_mut() = Some(body["items"].clone());
                reply(200, json!({"name": "operation-set", "status": "RUNNING"}))
            } else if is(req, Method::Get, "/instances/my-bot-010203") {
                let mut body = vm(&format!("fp-{}", generation.get()), status, managed);
                if let Some(items) = written.borrow().clone() {
                    body["metadata"]["items"] = items;
                } else if let Some(key) = pinned {
                    body["metadata"]["items"]
                        .as_array_mut()
                        .unwrap()
                        .push(json!({"key": "openclaw-recipient", "value": key}));
                }
                reply(200, body)
            } else {
                reply(404, json!({"error": {"code": 404, "message": "no"}}))
            }
        });
        p
    }
}

fn deliver_token(p: &TestPlatform) -> Result<u64, ApiError> {
    let config = development_config();
    let app = App::new(p, &config);
    run(deliver(
        &app,
        &AccessToken::new("ya29.test".into()),
        &target(),
        &SecretName::telegram_token(),
        TOKEN,
    ))
}

fn written_metadata(p: &TestPlatform) -> Vec<Value> {
    p.calls
        .borrow()
        .iter()
        .filter(|c| c.url.ends_with("/setMetadata"))
        .map(|c| serde_json::from_slice(c.body.as_deref().unwrap()).unwrap())
        .collect()
}

#[test]
fn writes_only_ciphertext_that_the_vm_key_opens() {
    let p = FakeVm::default().platform();
    let version = deliver_token(&p).unwrap();
    assert_eq!(version, p.now_ms.get());
    let written = written_metadata(&p);
    assert_eq!(written.len(), 1);
    let body = &written[0];
    assert_eq!(body["fingerprint"], "fp-0");
    let armored = item(body, "openclaw-secret-telegram-token").unwrap();
    assert!(armored.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
    assert_eq!(decrypt(&armored), TOKEN);
    assert_eq!(
        item(body, "openclaw-secret-version"),
        Some(version.to_string())
    );
    assert_eq!(
        item(body, "BOT_NAME").as_deref(),
        Some("My Bot"),
        "other items are kept"
    );
    for call in p.calls.borrow().iter() {
        let text = format!(
            "{} {}",
            call.url,
            String::from_utf8_lossy(call.body.as_deref().unwrap_or_default())
        );
        assert!(
            !text.contains("AAHfiqksKZ8WmR2zSjiQ7"),
            "plaintext left the request: {text}"
        );
    }
    assert_eq!(p.kv_writes.get(), 0, "nothing is stored");
}

#[test]
fn retries_on_a_moved_fingerprint_with_a_fresh_read() {
    let p = fake_vm(|vm| vm.conflicts = 2);
    deliver_token(&p).unwrap();
    let log = p.call_log();
    let gets = log
        .iter()
        .filter(|l| l.starts_with("GET") && l.ends_with("/my-bot-010203"))
        .count();
    let sets = written_metadata(&p);
    assert_eq!(sets.len(), 3);
    assert_eq!(gets, 3, "each retry reads the metadata again: {log:#?}");
    assert_eq!(sets[2]["fingerprint"], "fp-2");

    let p = fake_vm(|vm| vm.conflicts = 3);
    let err = deliver_token(&p).unwrap_err();
    assert_eq!(err.status(), 409);
    assert_eq!(written_metadata(&p).len(), MAX_ATTEMPTS);
}

#[test]
fn refuses_before_the_key_exists_and_for_other_vms() {
    let p = fake_vm(|vm| vm.published = None);
    let err = deliver_token(&p).unwrap_err();
    assert_eq!(err.status(), 409);
    assert!(err.message().contains("encryption key"));
    assert!(written_metadata(&p).is_empty());

    let p = fake_vm(|vm| vm.status = "TERMINATED");
    assert_eq!(deliver_token(&p).unwrap_err().status(), 409);

    let p = fake_vm(|vm| vm.managed = false);
    assert_eq!(deliver_token(&p).unwrap_err().status(), 404);
    assert!(written_metadata(&p).is_empty());
}

#[test]
fn versions_only_grow() {
    let metadata = Metadata {
        fingerprint: "f".into(),
        items: vec![MetadataItem {
            key: metadata::SECRET_VERSION.into(),
            value: "9000".into(),
        }],
    };
    assert_eq!(next_version(&metadata, 5000), 9001);
    assert_eq!(next_version(&metadata, 10_000), 10_000);
    assert_eq!(next_version(&Metadata::default(), 7), 7);
}

fn item(body: &Value, key: &str) -> Option<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["key"] == key)
        .map(|i| i["value"].as_str().unwrap().to_string())
}

#[test]
fn the_first_delivery_pins_the_key_and_later_ones_use_only_it() {
    let p = FakeVm::default().platform();
    deliver_token(&p).unwrap();
    let first = &written_metadata(&p)[0];
    let pinned = item(first, "openclaw-recipient").expect("pinned with the first secret");
    assert_eq!(
        VmRecipient::parse(&pinned),
        VmRecipient::parse(VM_RECIPIENT),
        "the published key is pinned"
    );
    // The same VM, later: the pin is there, and still matches.
    deliver_token(&p).unwrap();
    let second = &written_metadata(&p)[1];
    assert_eq!(item(second, "openclaw-recipient"), Some(pinned));
    assert_eq!(
        decrypt(&item(second, "openclaw-secret-telegram-token").unwrap()),
        TOKEN
    );
    assert_eq!(
        p.call_log()
            .iter()
            .filter(|c| c.contains("setMetadata"))
            .count(),
        2,
        "pinning costs no extra call"
    );
}

#[test]
fn a_vm_that_publishes_another_key_gets_nothing() {
    let p = fake_vm(|vm| {
        vm.published = Some(INTRUDER);
        vm.pinned = Some(VM_RECIPIENT.trim());
    });
    let err = deliver_token(&p).unwrap_err();
    assert_eq!(err.status(), 409);
    assert_eq!(err.message(), Distrust::Changed.message());
    assert!(
        written_metadata(&p).is_empty(),
        "nothing encrypted to the intruder"
    );
    // Published nothing (guest attributes lost at a restart): the pinned key serves.
    let p = fake_vm(|vm| {
        vm.published = None;
        vm.pinned = Some(VM_RECIPIENT.trim());
    });
    deliver_token(&p).unwrap();
    let written = &written_metadata(&p)[0];
    assert_eq!(
        decrypt(&item(written, "openclaw-secret-telegram-token").unwrap()),
        TOKEN
    );
}

#[test]
fn only_ssh_ed25519_keys_are_accepted() {
    assert!(VmRecipient::parse(VM_RECIPIENT).is_some());
    assert_eq!(
        VmRecipient::parse(INTRUDER).unwrap().as_str(),
        INTRUDER.trim_end_matches(" mallory"),
        "the comment is dropped"
    );
    for bad in [
        "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ",
        "ssh-ed25519",
        "ssh-ed25519 not-base64!",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5",
        "",
    ] {
        assert_eq!(VmRecipient::parse(bad), None, "{bad}");
    }
    let p = fake_vm(|vm| {
        vm.published = Some("age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p")
    });
    assert_eq!(deliver_token(&p).unwrap_err().status(), 409);
    assert!(written_metadata(&p).is_empty());
}

#[test]
fn rekey_trusts_the_key_published_now() {
    let p = fake_vm(|vm| {
        vm.conflicts = 1;
        vm.published = Some(INTRUDER);
        vm.pinned = Some(VM_RECIPIENT.trim());
    });
    let config = development_config();
    let app = App::new(&p, &config);
    let trusted = run(rekey(
        &app,
        &AccessToken::new("ya29.test".into()),
        &target(),
    ))
    .unwrap();
    assert_eq!(Some(trusted), VmRecipient::parse(INTRUDER));
    let written = written_metadata(&p);
    let last = written.last().unwrap();
    assert_eq!(
        item(last, "openclaw-recipient").as_deref(),
        Some(INTRUDER.trim_end_matches(" mallory"))
    );
    assert_eq!(
        item(last, "BOT_NAME").as_deref(),
        Some("My Bot"),
        "other items kept"
    );
    // Now a delivery goes to the new key.
    deliver_token(&p).unwrap();
}
