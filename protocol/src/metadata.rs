//! Instance metadata keys: what the Worker sets on the VM and the agent reads.
//!
//! Metadata is readable by anyone with project access, so it only ever carries
//! ciphertext: secrets are age-encrypted to the VM's own host key ([`crate::guest::RECIPIENT`]).

use std::fmt;

/// The LLM provider the user picked, a [`crate::provider::Provider`].
pub const LLM_PROVIDER: &str = "LLM_PROVIDER";
/// The bot's display name, as the user typed it (already validated by the Worker).
pub const BOT_NAME: &str = "BOT_NAME";
/// Turns on guest attributes, the VM's only way to talk back.
pub const ENABLE_GUEST_ATTRIBUTES: &str = "enable-guest-attributes";
/// SSH access through Google identities, not keys in metadata.
pub const ENABLE_OSLOGIN: &str = "enable-oslogin";
/// The Telegram user id of the bot's owner: the only person the bot answers. Not a
/// secret (Telegram shows it to every bot the person writes to).
pub const TELEGRAM_OWNER_ID: &str = "TELEGRAM_OWNER_ID";
/// The prefix of every encrypted secret: `openclaw-secret-<name>`.
pub const SECRET_PREFIX: &str = "openclaw-secret-";
/// The version of the secret set in metadata; the agent applies a set once per version.
pub const SECRET_VERSION: &str = "openclaw-secret-version";

/// The VM's age recipient as claw.free first saw it (`ssh-ed25519 AAAA...`), written
/// by the Worker with the first secret. The VM cannot change instance metadata (it
/// has no service account), but any process on it can write guest attributes: so
/// secrets go only to this key, and a different `recipient` guest attribute is
/// refused until the owner re-keys from the page.
pub const PINNED_RECIPIENT: &str = "openclaw-recipient";

/// The longest armored ciphertext the Worker writes (GCE allows 256 KB per value).
pub const MAX_SECRET_CIPHERTEXT: usize = 16 * 1024;

/// The name of a secret: `[a-z][a-z0-9-]{0,31}`, so it is safe as a file name and in
/// a metadata key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretName(String);

/// The secret that carries the bot's Telegram token.
pub const TELEGRAM_TOKEN: &str = "telegram-token";

impl SecretName {
    pub fn parse(name: &str) -> Result<Self, String> {
        let ok = (1..=32).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if ok {
            Ok(Self(name.to_string()))
        } else {
            Err(format!(
                "secret names are 1 to 32 lowercase letters, digits or '-', starting with a letter; got {:?}",
                name.chars().take(40).collect::<String>()
            ))
        }
    }

    pub fn telegram_token() -> Self {
        Self(TELEGRAM_TOKEN.to_string())
    }

    /// The secret named by a metadata key, if the key is a secret's.
    pub fn from_metadata_key(key: &str) -> Option<Self> {
        Self::parse(key.strip_prefix(SECRET_PREFIX)?).ok()
    }

    /// The metadata key that carries this secret's ciphertext.
    pub fn metadata_key(&self) -> String {
        format!("{SECRET_PREFIX}{}", self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Telegram user id: a positive whole number (Telegram's are below 2^52).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct TelegramUserId(u64);

impl TelegramUserId {
    pub fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim();
        let id = (1..=16)
            .contains(&value.len())
            .then(|| value.parse::<u64>().ok())
            .flatten()
            .filter(|id| *id > 0 && *id < (1 << 52));
        id.map(Self)
            .ok_or_else(|| "a Telegram user id is a whole number, such as 123456789".to_string())
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TelegramUserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telegram_user_ids() {
        assert_eq!(TelegramUserId::parse(" 424242 ").unwrap().get(), 424242);
        for bad in ["", "0", "-5", "12a", "1.5", "99999999999999999", "４２"] {
            assert!(TelegramUserId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn secret_names() {
        let name = SecretName::parse("telegram-token").unwrap();
        assert_eq!(name.metadata_key(), "openclaw-secret-telegram-token");
        assert_eq!(
            SecretName::from_metadata_key("openclaw-secret-telegram-token"),
            Some(name)
        );
        assert_eq!(
            SecretName::from_metadata_key("openclaw-secret-version").map(|n| n.0),
            Some("version".into())
        );
        for bad in ["", "../x", "Token", "9lives", "a b", &"a".repeat(33)] {
            assert!(SecretName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
