//! Delivering a secret to a VM, encrypted to the VM's own key, inside the one request
//! that received it: the VM's age recipient comes from its `openclaw/recipient` guest
//! attribute, the armored ciphertext goes into the instance metadata
//! (`openclaw-secret-<name>` and `openclaw-secret-version`) with the metadata
//! fingerprint. Nothing is stored: the plaintext lives only in this request.

use crate::app::App;
use crate::crypto;
use crate::error::ApiError;
use crate::google::compute::{
    self, GuestAttributes, Instance, InstanceRef, Metadata, MetadataItem,
};
use crate::google::{AccessToken, GoogleFailure};
use crate::ports::Platform;
use claw_free_protocol::labels;
use claw_free_protocol::metadata::{self, SecretName, MAX_SECRET_CIPHERTEXT};

/// How many times a metadata write is tried when the fingerprint moved under it.
pub const MAX_ATTEMPTS: usize = 3;

/// Encrypts `plaintext` to the VM and writes it into the VM's metadata as secret
/// `name`. Returns the new secret version (unix milliseconds, always above the
/// previous one), which the VM publishes as `openclaw/secret-version` once applied.
///
/// 404 when the VM is not a claw.free bot, 409 while it is not running or has not
/// published its key yet.
pub async fn deliver<P: Platform>(
    app: &App<'_, P>,
    token: &AccessToken,
    instance: &InstanceRef,
    name: &SecretName,
    plaintext: &str,
) -> Result<u64, ApiError> {
    let attributes = compute::guest_attributes(app.platform, app.config, token, instance)
        .await
        .map_err(|failure| failure.into_api_error(app.config, Some(instance.project.as_str())))?;
    deliver_to(app, token, instance, &attributes, name, plaintext).await
}

/// [`deliver`] to the key in `attributes`, guest attributes the caller has just read
/// (a status poll has them already, so it spends no call on them again).
pub async fn deliver_to<P: Platform>(
    app: &App<'_, P>,
    token: &AccessToken,
    instance: &InstanceRef,
    attributes: &GuestAttributes,
    name: &SecretName,
    plaintext: &str,
) -> Result<u64, ApiError> {
    let google = |failure: GoogleFailure| {
        failure.into_api_error(app.config, Some(instance.project.as_str()))
    };
    let recipient = attributes.recipient().ok_or_else(|| {
        ApiError::Conflict(
            "The VM has not published its encryption key yet. It does so a minute or two after it starts; try again then.".into(),
        )
    })?;
    let mut vm = bot_instance(app, token, instance).await?;
    if !vm.is_running() {
        return Err(ApiError::Conflict(
            "The VM is not running. Start it, wait a minute for it to boot, then send the token again.".into(),
        ));
    }
    let armored = crypto::age_encrypt(app.platform, recipient, plaintext.as_bytes()).map_err(|_| {
        ApiError::Conflict(
            "The VM published an encryption key claw.free cannot use. Its serial output may say why.".into(),
        )
    })?;
    if armored.len() > MAX_SECRET_CIPHERTEXT {
        return Err(ApiError::bad_request("That secret is too long."));
    }
    let mut attempt = 1;
    loop {
        let version = next_version(&vm.metadata, app.platform.now_ms());
        let updated = with_secret(&vm.metadata, name, &armored, version);
        match compute::set_metadata(app.platform, app.config, token, instance, &updated).await {
            Ok(_) => return Ok(version),
            Err(GoogleFailure::FingerprintMismatch) if attempt < MAX_ATTEMPTS => {
                attempt += 1;
                vm = bot_instance(app, token, instance).await?;
            }
            Err(failure) => return Err(google(failure)),
        }
    }
}

/// The instance, if it is a claw.free bot; a user's other VMs are never touched.
pub async fn bot_instance<P: Platform>(
    app: &App<'_, P>,
    token: &AccessToken,
    instance: &InstanceRef,
) -> Result<Instance, ApiError> {
    let not_a_bot = || {
        ApiError::NotFound(
            "There is no claw.free bot with that name in this project and zone.".into(),
        )
    };
    match compute::get(app.platform, app.config, token, instance).await {
        Ok(vm) if is_bot(&vm) => Ok(vm),
        Ok(_) | Err(GoogleFailure::NotFound(_)) => Err(not_a_bot()),
        Err(failure) => Err(failure.into_api_error(app.config, Some(instance.project.as_str()))),
    }
}

/// Whether a VM carries the label claw.free puts on every bot.
pub fn is_bot(vm: &Instance) -> bool {
    vm.labels.get(labels::MANAGED).map(String::as_str) == Some(labels::MANAGED_VALUE)
}

/// A version above both the clock and the version already in metadata, so the agent
/// always sees a newer one even if clocks disagree.
fn next_version(current: &Metadata, now_ms: u64) -> u64 {
    let previous = current
        .items
        .iter()
        .find(|item| item.key == metadata::SECRET_VERSION)
        .and_then(|item| item.value.trim().parse::<u64>().ok())
        .unwrap_or(0);
    now_ms.max(previous + 1)
}

/// The metadata with the secret's ciphertext and the version set, every other item
/// kept, and the fingerprint Google checks.
fn with_secret(current: &Metadata, name: &SecretName, armored: &str, version: u64) -> Metadata {
    let key = name.metadata_key();
    let mut items: Vec<MetadataItem> = current
        .items
        .iter()
        .filter(|item| item.key != key && item.key != metadata::SECRET_VERSION)
        .cloned()
        .collect();
    items.push(MetadataItem {
        key,
        value: armored.to_string(),
    });
    items.push(MetadataItem {
        key: metadata::SECRET_VERSION.to_string(),
        value: version.to_string(),
    });
    Metadata {
        fingerprint: current.fingerprint.clone(),
        items,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::development_config;
    use crate::http::Method;
    use crate::testing::{is, reply, run, TestPlatform, VM_RECIPIENT};
    use crate::types::{ProjectId, VmName, Zone};
    use serde_json::{json, Value};
    use std::cell::Cell;
    use std::io::Read;
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

    fn attributes(with_recipient: bool) -> Value {
        let mut items =
            vec![json!({"namespace": "openclaw", "key": "setup", "value": "waiting-secret"})];
        if with_recipient {
            items.push(
                json!({"namespace": "openclaw", "key": "recipient", "value": VM_RECIPIENT.trim()}),
            );
        }
        json!({"queryPath": "openclaw/", "queryValue": {"items": items}})
    }

    fn decrypt(armored: &str) -> String {
        let key = include_str!("../tests/fixtures/vm_host_ed25519_key");
        let identity = age::ssh::Identity::from_buffer(key.as_bytes(), None).unwrap();
        let reader = age::armor::ArmoredReader::new(armored.as_bytes());
        let decryptor = age::Decryptor::new(reader).unwrap();
        let mut out = String::new();
        decryptor
            .decrypt(std::iter::once(&identity as &dyn age::Identity))
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        out
    }

    /// A VM whose fingerprint moves `conflicts` times under the writer.
    fn platform(
        conflicts: u32,
        status: &'static str,
        managed: bool,
        recipient: bool,
    ) -> TestPlatform {
        let p = TestPlatform::new();
        let left = Rc::new(Cell::new(conflicts));
        let generation = Rc::new(Cell::new(0u32));
        p.respond(move |req| {
            if is(req, Method::Get, "getGuestAttributes") {
                reply(200, attributes(recipient))
            } else if is(req, Method::Post, "/setMetadata") {
                let body: Value = serde_json::from_slice(req.body.as_deref().unwrap()).unwrap();
                let current = format!("fp-{}", generation.get());
                if left.get() > 0 || body["fingerprint"] != current.as_str() {
                    left.set(left.get().saturating_sub(1));
                    generation.set(generation.get() + 1);
                    return reply(412, json!({"error": {"code": 412, "message": "Supplied fingerprint does not match current metadata fingerprint.", "errors": [{"reason": "conditionNotMet", "message": "x"}]}}));
                }
                reply(200, json!({"name": "operation-set", "status": "RUNNING"}))
            } else if is(req, Method::Get, "/instances/my-bot-010203") {
                reply(200, vm(&format!("fp-{}", generation.get()), status, managed))
            } else {
                reply(404, json!({"error": {"code": 404, "message": "no"}}))
            }
        });
        p
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
        let p = platform(0, "RUNNING", true, true);
        let version = deliver_token(&p).unwrap();
        assert_eq!(version, p.now_ms.get());
        let written = written_metadata(&p);
        assert_eq!(written.len(), 1);
        let body = &written[0];
        assert_eq!(body["fingerprint"], "fp-0");
        let item = |key: &str| {
            body["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["key"] == key)
                .map(|i| i["value"].as_str().unwrap().to_string())
        };
        let armored = item("openclaw-secret-telegram-token").unwrap();
        assert!(armored.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
        assert_eq!(decrypt(&armored), TOKEN);
        assert_eq!(item("openclaw-secret-version"), Some(version.to_string()));
        assert_eq!(
            item("BOT_NAME").as_deref(),
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
        let p = platform(2, "RUNNING", true, true);
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

        let p = platform(3, "RUNNING", true, true);
        let err = deliver_token(&p).unwrap_err();
        assert_eq!(err.status(), 409);
        assert_eq!(written_metadata(&p).len(), MAX_ATTEMPTS);
    }

    #[test]
    fn refuses_before_the_key_exists_and_for_other_vms() {
        let p = platform(0, "RUNNING", true, false);
        let err = deliver_token(&p).unwrap_err();
        assert_eq!(err.status(), 409);
        assert!(err.message().contains("encryption key"));
        assert!(written_metadata(&p).is_empty());

        let p = platform(0, "TERMINATED", true, true);
        assert_eq!(deliver_token(&p).unwrap_err().status(), 409);

        let p = platform(0, "RUNNING", false, true);
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
}
