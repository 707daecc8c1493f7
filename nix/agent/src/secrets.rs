//! Secrets on the VM: the set the Worker put in instance metadata (ciphertext only),
//! decrypted with the host key and stored as root-only files (0600 in a 0700 folder),
//! each replaced atomically; and the local mode, where the bot's own agent sets a
//! secret without anything leaving the VM.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};

use claw_free_protocol::guest::SecretError;
use claw_free_protocol::metadata::{self as keys, SecretName, MAX_SECRET_CIPHERTEXT};

use crate::app::App;
use crate::fsutil::{self, PRIVATE_DIR, PRIVATE_FILE};
use crate::host_key::HostKey;
use crate::log;
use crate::metadata::Attributes;
use crate::openclaw_config;
use crate::paths::Paths;

/// The largest secret value set locally (a token or an API key is far smaller); the
/// same bound as the skill's `clawfree secret set`.
pub const MAX_SECRET_VALUE: usize = 16 * 1024;

/// A versioned set of encrypted secrets, as found in instance metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSet {
    pub version: u64,
    pub ciphertexts: BTreeMap<SecretName, String>,
}

/// What instance metadata asks of the watcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    /// No secret set, or the one already handled.
    Nothing,
    /// `openclaw-secret-version` is not a number: there is no version to report against.
    BadVersion,
    Set(SecretSet),
}

/// The secret set in `attributes`, unless its version is `handled`.
pub fn pending(attributes: &Attributes, handled: Option<u64>) -> Pending {
    let Some(raw_version) = attributes.get(keys::SECRET_VERSION) else {
        return Pending::Nothing;
    };
    let Ok(version) = raw_version.trim().parse::<u64>() else {
        return Pending::BadVersion;
    };
    if handled == Some(version) {
        return Pending::Nothing;
    }
    let ciphertexts = attributes
        .iter()
        .filter(|(key, _)| key.as_str() != keys::SECRET_VERSION)
        .filter_map(|(key, value)| Some((SecretName::from_metadata_key(key)?, value.clone())))
        .collect();
    Pending::Set(SecretSet {
        version,
        ciphertexts,
    })
}

/// Decrypts every secret of the set, or says why the set cannot be applied. Nothing is
/// written here, so a bad set leaves every working secret as it was.
pub fn decrypt_set(
    key: &HostKey,
    set: &SecretSet,
) -> Result<Vec<(SecretName, Vec<u8>)>, SecretError> {
    let fail = |reason: String| SecretError {
        version: set.version,
        reason,
    };
    if set.ciphertexts.is_empty() {
        return Err(fail("the secret set has no secret".to_string()));
    }
    set.ciphertexts
        .iter()
        .map(|(name, ciphertext)| {
            if ciphertext.len() > MAX_SECRET_CIPHERTEXT {
                return Err(fail(format!("{name}: the ciphertext is too large")));
            }
            key.decrypt(ciphertext.as_bytes())
                .map(|plain| (name.clone(), plain))
                .map_err(|failure| fail(format!("{name}: {}", failure.reason())))
        })
        .collect()
}

/// Stores one secret: the folder is made 0700, the file replaced atomically as 0600.
pub fn store(paths: &Paths, name: &SecretName, value: &[u8]) -> io::Result<()> {
    fsutil::ensure_dir(&paths.secrets_dir, PRIVATE_DIR)?;
    fsutil::write_atomic(&paths.secret(name), value, PRIVATE_FILE)
}

/// Makes OpenClaw's configuration read the Telegram token from the gateway's
/// credential (the copy of the secret file systemd hands the unprivileged gateway). A
/// VM whose setup has not written the configuration yet has nothing to update.
pub fn point_config_at_token(paths: &Paths) -> Result<(), String> {
    let existing = match fs::read(&paths.openclaw_config) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot read openclaw.json: {}", e.kind())),
    };
    match openclaw_config::with_telegram_token_file(&existing, &paths.gateway_token_file)? {
        Some(updated) => fsutil::write_atomic(&paths.openclaw_config, &updated, PRIVATE_FILE)
            .map_err(|e| format!("cannot write openclaw.json: {}", e.kind())),
        None => Ok(()),
    }
}

/// Stores decrypted secrets and updates the configuration for them.
pub fn install(paths: &Paths, secrets: &[(SecretName, Vec<u8>)]) -> Result<(), String> {
    for (name, value) in secrets {
        store(paths, name, value)
            .map_err(|e| format!("{name}: cannot store the secret: {}", e.kind()))?;
    }
    if secrets
        .iter()
        .any(|(name, _)| name.as_str() == keys::TELEGRAM_TOKEN)
    {
        point_config_at_token(paths)?;
    }
    Ok(())
}

/// Reads at most `limit + 1` bytes, so a caller can tell an oversized input from one
/// that fits without holding more of it.
pub fn read_bounded(input: impl Read, limit: usize) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    input
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the secret: {}", e.kind()))?;
    Ok(bytes)
}

/// A secret's value as sent: one trailing line break (from `echo` or a typed line) is
/// not part of it; an empty or oversized value is refused.
pub fn value_from_bytes(mut value: Vec<u8>) -> Result<Vec<u8>, String> {
    if value.ends_with(b"\n") {
        value.pop();
        if value.ends_with(b"\r") {
            value.pop();
        }
    }
    if value.len() > MAX_SECRET_VALUE {
        value.fill(0);
        return Err(format!(
            "the secret is longer than {MAX_SECRET_VALUE} bytes"
        ));
    }
    if value.is_empty() {
        return Err("the secret is empty (pipe its value into stdin)".to_string());
    }
    Ok(value)
}

/// A value read from stdin, checked by [`value_from_bytes`].
pub fn read_value(input: impl Read) -> Result<Vec<u8>, String> {
    // Room for the value and its line break ("\r\n").
    value_from_bytes(read_bounded(input, MAX_SECRET_VALUE + 2)?)
}

/// Local mode, shared by `set-secret` and `serve-set-secret`: stores the value,
/// updates the configuration, restarts the app. Nothing is sent anywhere.
pub fn apply_locally(
    paths: &Paths,
    app: &App,
    name: &SecretName,
    value: Vec<u8>,
) -> Result<(), String> {
    let mut secrets = [(name.clone(), value)];
    let installed = install(paths, &secrets);
    // The value stays in memory no longer than it takes to write it.
    secrets[0].1.fill(0);
    installed?;
    log::event("set-secret", &format!("stored secret {name} locally"));
    app.restart(&format!("secret {name} was set locally"))
}

/// `set-secret NAME` with the value on stdin.
pub fn set_locally(
    paths: &Paths,
    app: &App,
    name: &SecretName,
    input: impl Read,
) -> Result<(), String> {
    apply_locally(paths, app, name, read_value(input)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::attributes as attrs;

    #[test]
    fn pending_set_is_read_once_per_version() {
        let a = attrs(&[
            ("BOT_NAME", "Ada"),
            ("openclaw-secret-version", "3"),
            ("openclaw-secret-telegram-token", "CIPHER"),
            ("openclaw-secret-Bad_Name", "x"),
        ]);
        let Pending::Set(set) = pending(&a, Some(2)) else {
            panic!("expected a set")
        };
        assert_eq!(set.version, 3);
        assert_eq!(set.ciphertexts.len(), 1);
        assert_eq!(set.ciphertexts[&SecretName::telegram_token()], "CIPHER");
        assert_eq!(pending(&a, Some(3)), Pending::Nothing);
        assert_eq!(
            pending(&attrs(&[("BOT_NAME", "Ada")]), None),
            Pending::Nothing
        );
        assert_eq!(
            pending(&attrs(&[("openclaw-secret-version", "three")]), None),
            Pending::BadVersion
        );
    }

    #[test]
    fn values_from_stdin() {
        assert_eq!(read_value(&b"123:abc\n"[..]).unwrap(), b"123:abc");
        assert_eq!(read_value(&b"123:abc\r\n"[..]).unwrap(), b"123:abc");
        assert_eq!(read_value(&b"a\n\n"[..]).unwrap(), b"a\n");
        assert!(read_value(&b"\n"[..]).unwrap_err().contains("empty"));
        assert!(read_value(&vec![b'x'; MAX_SECRET_VALUE + 1][..])
            .unwrap_err()
            .contains("longer"));
        // The largest value fits, with or without its line break.
        let mut largest = vec![b'x'; MAX_SECRET_VALUE];
        assert_eq!(read_value(&largest[..]).unwrap().len(), MAX_SECRET_VALUE);
        largest.extend_from_slice(b"\r\n");
        assert_eq!(read_value(&largest[..]).unwrap().len(), MAX_SECRET_VALUE);
        assert!(read_value(&vec![b'x'; 10 * MAX_SECRET_VALUE][..]).is_err());
    }
}
