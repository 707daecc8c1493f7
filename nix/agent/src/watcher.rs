//! The secret watcher: long-polls instance metadata and applies each secret set once
//! per `openclaw-secret-version`, then restarts the app and publishes the version. It
//! also applies a later owner id ([`crate::owner`]), the one other setting that may
//! change after first boot.

use std::fs;
use std::thread;
use std::time::Duration;

use claw_free_protocol::guest::{self, SecretError, SetupState};
use claw_free_protocol::metadata::SecretName;

use crate::context::Context;
use crate::fsutil::{self, PRIVATE_FILE};
use crate::host_key::HostKey;
use crate::log;
use crate::metadata::Persistence;
use crate::owner;
use crate::secrets::{self, Pending, SecretSet};
use crate::setup::publish_state;

/// What the watcher logs when it has read a metadata change that needs nothing done.
const UP_TO_DATE: &str = "instance metadata read: nothing new to apply";

/// How long to pause between plain reads when the server gives no ETag to wait on.
const POLL_WITHOUT_ETAG: Duration = Duration::from_secs(5);

/// Runs forever; returns only when the host key cannot be used.
pub fn run(ctx: &Context) -> Result<(), String> {
    ctx.wait_for_setup("watch-secrets");
    let key = HostKey::load(&ctx.paths.host_key, &ctx.paths.host_key_pub)?;
    let mut handled = applied_version(ctx);
    if let Some(version) = handled {
        // Guest attributes may have been lost (a new host); the Worker waits for this one.
        let _ = ctx.metadata.publish(
            guest::SECRET_VERSION,
            &version.to_string(),
            Persistence::Attempts(5),
        );
    }
    log::event("watch-secrets", "watching instance metadata for secrets");
    let (mut attributes, mut etag) = ctx.metadata.attributes();
    // The metadata version last handled: a long poll that times out answers the same
    // one, which is not news.
    let mut seen: Option<Option<String>> = None;
    loop {
        let news = seen.as_ref() != Some(&etag);
        owner::follow(ctx, &attributes);
        match secrets::pending(&attributes, handled) {
            Pending::Set(set) => {
                handled = Some(set.version);
                apply(ctx, &key, &set);
            }
            Pending::BadVersion => log::event(
                "watch-secrets",
                "openclaw-secret-version is not a number; ignored",
            ),
            // Said once per metadata version, so an operator (and a test) can tell a
            // change that was read and needed nothing from one not read yet.
            Pending::Nothing if news => log::event(
                "watch-secrets",
                &match handled {
                    Some(version) => {
                        format!("{UP_TO_DATE} (secret set version {version} is applied)")
                    }
                    None => format!("{UP_TO_DATE} (no secret set yet)"),
                },
            ),
            Pending::Nothing => {}
        }
        seen = Some(etag.clone());
        (attributes, etag) = match etag {
            Some(tag) => ctx.metadata.wait_for_change(&tag),
            None => {
                thread::sleep(POLL_WITHOUT_ETAG);
                ctx.metadata.attributes()
            }
        };
    }
}

/// Applies one secret set. A set that cannot be decrypted is reported as
/// `openclaw/secret-error` and changes nothing on disk.
fn apply(ctx: &Context, key: &HostKey, set: &SecretSet) {
    let names: Vec<&str> = set.ciphertexts.keys().map(SecretName::as_str).collect();
    log::event(
        "watch-secrets",
        &format!(
            "secret set version {} arrived ({})",
            set.version,
            names.join(", ")
        ),
    );
    let token = SecretName::telegram_token();
    let first_token = set.ciphertexts.contains_key(&token) && !ctx.paths.secret(&token).is_file();
    if first_token {
        let _ = publish_state(ctx, &SetupState::Configuring);
    }
    let outcome = secrets::decrypt_set(key, set).and_then(|plain| {
        if first_token {
            // Before the token lands: the app may answer healthy right after, and the
            // health reporter's `ready` must come after this, never before.
            let _ = publish_state(ctx, &SetupState::Starting);
        }
        secrets::install(&ctx.paths, &plain).map_err(|reason| SecretError {
            version: set.version,
            reason,
        })
    });
    match outcome {
        Ok(()) => {
            if let Err(e) = record_applied(ctx, set.version) {
                log::event("watch-secrets", &e);
            }
            let _ = ctx
                .app
                .restart(&format!("secret set version {} applied", set.version));
            let _ = ctx.metadata.publish(
                guest::SECRET_VERSION,
                &set.version.to_string(),
                Persistence::UntilAnswered,
            );
            log::event(
                "watch-secrets",
                &format!("secret set version {} applied", set.version),
            );
        }
        Err(error) => {
            log::event(
                "watch-secrets",
                &format!(
                    "secret set version {} not applied: {}",
                    error.version, error.reason
                ),
            );
            let _ = ctx.metadata.publish(
                guest::SECRET_ERROR,
                &error.to_string(),
                Persistence::UntilAnswered,
            );
            if first_token && !ctx.paths.secret(&token).is_file() {
                let _ = publish_state(ctx, &SetupState::WaitingSecret);
            }
        }
    }
}

fn applied_version(ctx: &Context) -> Option<u64> {
    fs::read_to_string(&ctx.paths.applied_secret_version)
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn record_applied(ctx: &Context, version: u64) -> Result<(), String> {
    fsutil::write_atomic(
        &ctx.paths.applied_secret_version,
        format!("{version}\n").as_bytes(),
        PRIVATE_FILE,
    )
    .map_err(|e| format!("cannot record the applied secret version: {}", e.kind()))
}
