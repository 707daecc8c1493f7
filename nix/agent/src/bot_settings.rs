//! What setup configures the bot with, resolved in one place: the declared
//! configuration of a NixOS flake ([`Declared`]) beats instance metadata, which the
//! Worker writes. Metadata is only read for what the flake leaves open, so a bad
//! metadata value the flake overrides cannot fail setup.

use std::fmt;

use claw_free_protocol::metadata::{self as keys, TelegramUserId};
use claw_free_protocol::provider::Provider;

use crate::declared::Declared;
use crate::metadata::Attributes;

/// The longest bot name accepted (the Worker allows far less).
const MAX_BOT_NAME: usize = 100;

/// The bot's display name: trimmed, not empty, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotName(String);

impl BotName {
    pub fn parse(name: &str) -> Result<Self, String> {
        let name = name.trim();
        if name.is_empty() {
            return Err(format!("{} is empty", keys::BOT_NAME));
        }
        if name.chars().count() > MAX_BOT_NAME || name.chars().any(char::is_control) {
            return Err(format!(
                "{} is too long or has control characters",
                keys::BOT_NAME
            ));
        }
        Ok(Self(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who may message the bot on Telegram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TelegramAccess {
    /// Only the owner: OpenClaw's `dmPolicy: "allowlist"` with `allowFrom: [owner]`.
    Owner(TelegramUserId),
    /// No owner known: strangers get a pairing code that must be approved on the VM.
    Pairing,
    /// The flake's base configuration says it; the agent writes nothing of its own.
    Declared,
}

impl fmt::Display for TelegramAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Owner(id) => write!(f, "only its owner ({id})"),
            Self::Pairing => f.write_str("pairing (no owner id given)"),
            Self::Declared => f.write_str("as the declared configuration says"),
        }
    }
}

/// Everything setup needs to write the first configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotSettings {
    pub provider: Provider,
    pub bot_name: BotName,
    pub access: TelegramAccess,
}

impl BotSettings {
    pub fn resolve(declared: &Declared, attributes: &Attributes) -> Result<Self, String> {
        let provider = match declared.provider {
            Some(provider) => provider,
            None => attributes
                .get(keys::LLM_PROVIDER)
                .ok_or("instance metadata has no LLM_PROVIDER")
                .and_then(|p| {
                    Provider::parse(p.trim())
                        .map_err(|_| "LLM_PROVIDER is not kimi, claude or openai")
                })?,
        };
        let bot_name = match &declared.bot_name {
            Some(name) => name.clone(),
            None => {
                let name = attributes
                    .get(keys::BOT_NAME)
                    .ok_or("instance metadata has no BOT_NAME")?;
                BotName::parse(name)?
            }
        };
        Ok(Self {
            provider,
            bot_name,
            access: telegram_access(declared, attributes)?,
        })
    }
}

/// Who may message the bot: the declared configuration's say, else the owner in
/// metadata, else pairing. A malformed owner id is an error, never a wider policy.
pub fn telegram_access(
    declared: &Declared,
    attributes: &Attributes,
) -> Result<TelegramAccess, String> {
    if declared.fixes_telegram_access() {
        return Ok(TelegramAccess::Declared);
    }
    match attributes.get(keys::TELEGRAM_OWNER_ID) {
        None => Ok(TelegramAccess::Pairing),
        Some(value) => TelegramUserId::parse(value)
            .map(TelegramAccess::Owner)
            .map_err(|e| format!("{} is not valid: {e}", keys::TELEGRAM_OWNER_ID)),
    }
}

#[cfg(test)]
mod tests {
    use crate::metadata::attributes as attrs;
    use serde_json::json;

    use super::*;

    #[test]
    fn metadata_alone() {
        let ok = BotSettings::resolve(
            &Declared::default(),
            &attrs(&[
                ("LLM_PROVIDER", "claude"),
                ("BOT_NAME", " Ada "),
                ("TELEGRAM_OWNER_ID", "424242"),
            ]),
        )
        .unwrap();
        assert_eq!(ok.provider, Provider::Claude);
        assert_eq!(ok.bot_name.as_str(), "Ada");
        assert_eq!(
            ok.access,
            TelegramAccess::Owner(TelegramUserId::parse("424242").unwrap())
        );
        for (pairs, expected) in [
            (vec![("BOT_NAME", "Ada")], "no LLM_PROVIDER"),
            (
                vec![("LLM_PROVIDER", "gpt"), ("BOT_NAME", "Ada")],
                "not kimi",
            ),
            (vec![("LLM_PROVIDER", "kimi")], "no BOT_NAME"),
            (vec![("LLM_PROVIDER", "kimi"), ("BOT_NAME", "  ")], "empty"),
            (
                vec![("LLM_PROVIDER", "kimi"), ("BOT_NAME", "a\u{7}b")],
                "control",
            ),
            (
                vec![
                    ("LLM_PROVIDER", "kimi"),
                    ("BOT_NAME", "Ada"),
                    ("TELEGRAM_OWNER_ID", "@ada"),
                ],
                "TELEGRAM_OWNER_ID is not valid",
            ),
        ] {
            let err = BotSettings::resolve(&Declared::default(), &attrs(&pairs)).unwrap_err();
            assert!(err.contains(expected), "{err}");
        }
    }

    #[test]
    fn no_owner_means_pairing() {
        let settings = BotSettings::resolve(
            &Declared::default(),
            &attrs(&[("LLM_PROVIDER", "kimi"), ("BOT_NAME", "Ada")]),
        )
        .unwrap();
        assert_eq!(settings.access, TelegramAccess::Pairing);
    }

    #[test]
    fn the_declared_configuration_beats_metadata() {
        let declared = Declared {
            provider: Some(Provider::Openai),
            bot_name: Some(BotName::parse("Flake bot").unwrap()),
            base_config: json!({"channels": {"telegram": {"dmPolicy": "disabled"}}})
                .as_object()
                .cloned(),
        };
        // Even bad metadata it overrides cannot fail setup.
        let settings = BotSettings::resolve(
            &declared,
            &attrs(&[
                ("LLM_PROVIDER", "gpt"),
                ("TELEGRAM_OWNER_ID", "not-a-number"),
            ]),
        )
        .unwrap();
        assert_eq!(settings.provider, Provider::Openai);
        assert_eq!(settings.bot_name.as_str(), "Flake bot");
        assert_eq!(settings.access, TelegramAccess::Declared);
    }
}
