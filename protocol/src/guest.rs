//! The `openclaw/` guest attributes: how the VM talks back.
//!
//! The Worker cannot reach the VM, so the agent writes its state into GCE guest
//! attributes and the Worker reads all of them with one
//! `instances.getGuestAttributes?queryPath=openclaw/` call.

use std::fmt;

/// The guest-attribute namespace every key below lives in.
pub const NAMESPACE: &str = "openclaw";
/// The `queryPath` that returns every attribute of [`NAMESPACE`] in one call.
pub const QUERY_PATH: &str = "openclaw/";

/// The VM's age recipient: its SSH host public key, `ssh-ed25519 AAAA...`.
pub const RECIPIENT: &str = "recipient";
/// The first-boot progress, a [`SetupState`].
pub const SETUP: &str = "setup";
/// The app's health, a [`Health`], refreshed about every minute.
pub const HEALTH: &str = "health";
/// The version of the last secret set the agent applied.
pub const SECRET_VERSION: &str = "secret-version";
/// Why the last secret set could not be applied, a [`SecretError`].
pub const SECRET_ERROR: &str = "secret-error";

/// The longest free-text reason the agent publishes; longer ones are cut.
pub const MAX_REASON_LEN: usize = 200;

/// Where the VM is in its first boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupState {
    /// Configured, waiting for its first Telegram token.
    WaitingSecret,
    /// Applying configuration or a secret.
    Configuring,
    /// The app was started; waiting for its first healthy answer.
    Starting,
    /// The app answered healthy at least once.
    Ready,
    /// Setup stopped; the reason is for a person to read.
    Failed(String),
}

impl SetupState {
    /// Parses the attribute value; `None` for a value this version does not know.
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        Some(match value {
            "waiting-secret" => Self::WaitingSecret,
            "configuring" => Self::Configuring,
            "starting" => Self::Starting,
            "ready" => Self::Ready,
            other => Self::Failed(clean_reason(other.strip_prefix("failed:")?)),
        })
    }
}

impl fmt::Display for SetupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WaitingSecret => f.write_str("waiting-secret"),
            Self::Configuring => f.write_str("configuring"),
            Self::Starting => f.write_str("starting"),
            Self::Ready => f.write_str("ready"),
            Self::Failed(reason) => write!(f, "failed:{}", clean_reason(reason)),
        }
    }
}

/// The app's last health probe, with the unix time it was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Ok { at: u64 },
    Failing { at: u64, reason: String },
}

impl Health {
    /// Parses `ok <unix>` or `failing <unix> <reason>`.
    pub fn parse(value: &str) -> Option<Self> {
        let mut parts = value.trim().splitn(3, ' ');
        let kind = parts.next()?;
        let at = parts.next()?.parse().ok()?;
        match kind {
            "ok" => Some(Self::Ok { at }),
            "failing" => Some(Self::Failing {
                at,
                reason: clean_reason(parts.next().unwrap_or("")),
            }),
            _ => None,
        }
    }

    /// When the probe was taken.
    pub fn at(&self) -> u64 {
        match self {
            Self::Ok { at } | Self::Failing { at, .. } => *at,
        }
    }

    /// How a person should read this health at `now`: a report older than
    /// `stale_after` seconds says nothing about the app any more.
    pub fn light(&self, now: u64, stale_after: u64) -> HealthLight {
        match self {
            _ if now.saturating_sub(self.at()) > stale_after => HealthLight::Red,
            Self::Ok { .. } => HealthLight::Green,
            Self::Failing { .. } => HealthLight::Red,
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ok { at } => write!(f, "ok {at}"),
            Self::Failing { at, reason } => write!(f, "failing {at} {}", clean_reason(reason)),
        }
    }
}

/// The status dot of a bot in the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthLight {
    /// Healthy and fresh.
    Green,
    /// Failing, or healthy too long ago.
    Red,
    /// Nothing known (not reporting yet, VM stopped).
    Grey,
}

/// A secret set the agent could not apply: `<version> <reason>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretError {
    pub version: u64,
    pub reason: String,
}

impl SecretError {
    pub fn parse(value: &str) -> Option<Self> {
        let (version, reason) = value.trim().split_once(' ')?;
        Some(Self {
            version: version.parse().ok()?,
            reason: clean_reason(reason),
        })
    }
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.version, clean_reason(&self.reason))
    }
}

/// Reasons are shown to people and travel in one-line values: keep them printable,
/// on one line and short.
pub fn clean_reason(reason: &str) -> String {
    let one_line: String = reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let trimmed = one_line.trim();
    match trimmed.char_indices().nth(MAX_REASON_LEN) {
        Some((cut, _)) => trimmed[..cut].to_string(),
        None => trimmed.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_states_round_trip() {
        crate::assert_round_trips(
            [
                SetupState::WaitingSecret,
                SetupState::Configuring,
                SetupState::Starting,
                SetupState::Ready,
                SetupState::Failed("disk full".into()),
            ],
            SetupState::parse,
        );
        assert_eq!(SetupState::parse("booting"), None);
    }

    #[test]
    fn failed_reason_is_one_short_line() {
        let state = SetupState::Failed(format!("a\nb{}", "x".repeat(500)));
        let text = state.to_string();
        assert!(!text.contains('\n'));
        assert_eq!(text.len(), "failed:".len() + MAX_REASON_LEN);
    }

    #[test]
    fn health_round_trips_and_goes_stale() {
        let ok = Health::parse("ok 1000").unwrap();
        assert_eq!(ok, Health::Ok { at: 1000 });
        assert_eq!(ok.light(1100, 300), HealthLight::Green);
        assert_eq!(ok.light(1400, 300), HealthLight::Red);
        let failing = Health::parse("failing 1000 connection refused").unwrap();
        assert_eq!(failing.to_string(), "failing 1000 connection refused");
        assert_eq!(failing.light(1000, 300), HealthLight::Red);
        assert_eq!(Health::parse("ok soon"), None);
        assert_eq!(Health::parse("great 1000"), None);
    }

    #[test]
    fn secret_error_round_trips() {
        crate::assert_round_trips(
            [SecretError {
                version: 7,
                reason: "not encrypted to this VM".into(),
            }],
            SecretError::parse,
        );
        assert_eq!(SecretError::parse("x y"), None);
    }
}
