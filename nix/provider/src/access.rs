//! Who may call the Setup model. It runs as root and can reset the conversation or
//! take a user's API key, so loopback alone is not enough: every local user can
//! reach loopback. Two checks, on every request but `GET /health`:
//!
//! - the key: `Authorization: Bearer <key>`, where the key is the content of
//!   `api_key_file` (root-only, made by the VM agent at first boot), which the agent
//!   also writes into OpenClaw's configuration as this provider's `apiKey`. OpenClaw's
//!   configuration reaches the gateway only as its own systemd credential, so the
//!   gateway's user is the only other one that can read the key;
//! - the host: `Host` must name loopback on our port (`127.0.0.1`, `localhost` or
//!   `[::1]`), so that a web page the bot opens in a browser on the VM cannot reach
//!   us through a DNS name rebound to 127.0.0.1.

use std::path::Path;

use crate::config::Config;

/// Why a request was refused: HTTP status and OpenAI-style code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 421: the `Host` header names something else than loopback on our port.
    WrongHost,
    /// 401: no key, or not ours.
    BadKey,
    /// 503: the key file does not exist yet (first boot has not made it).
    NoKeyYet,
}

impl Refusal {
    pub fn status(self) -> u16 {
        match self {
            Self::WrongHost => 421,
            Self::BadKey => 401,
            Self::NoKeyYet => 503,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::WrongHost => "wrong_host",
            Self::BadKey => "invalid_api_key",
            Self::NoKeyYet => "not_ready",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Self::WrongHost => "the Setup model answers only requests addressed to 127.0.0.1, localhost or [::1] on its own port",
            Self::BadKey => "missing or incorrect API key for the Setup model",
            Self::NoKeyYet => "the Setup model has no API key yet; the VM agent makes it at first boot",
        }
    }
}

/// The key in `path`, if the file exists and holds one.
pub fn read_key(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let key = text.trim();
    (!key.is_empty()).then(|| key.to_string())
}

/// Whether `host` (a `Host` header) names loopback on `port`.
pub fn is_loopback_host(host: &str, port: u16) -> bool {
    let port = port.to_string();
    let name = match host.rsplit_once(':') {
        Some((name, p)) if p == port => name,
        _ => return false,
    };
    matches!(name, "127.0.0.1" | "localhost" | "[::1]")
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks one request. `public` requests (`GET /health`) need only the right host.
pub fn check(
    host: Option<&str>,
    authorization: Option<&str>,
    port: u16,
    key: Option<&str>,
    public: bool,
) -> Result<(), Refusal> {
    if !host.is_some_and(|h| is_loopback_host(h.trim(), port)) {
        return Err(Refusal::WrongHost);
    }
    if public {
        return Ok(());
    }
    let key = key.ok_or(Refusal::NoKeyYet)?;
    let given = authorization
        .and_then(|a| a.trim().strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(Refusal::BadKey)?;
    if constant_time_eq(given.as_bytes(), key.as_bytes()) {
        Ok(())
    } else {
        Err(Refusal::BadKey)
    }
}

/// The key as a client on the VM can read it: the key file (root), else this
/// provider's `apiKey` in the OpenClaw configuration the caller can read (the
/// gateway's credential, `$OPENCLAW_CONFIG_PATH`, for the tools the bot runs).
pub fn client_key(config: &Config) -> Option<String> {
    read_key(&config.api_key_file).or_else(|| {
        let path = std::env::var_os("OPENCLAW_CONFIG_PATH")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| config.openclaw_config.clone());
        let text = std::fs::read_to_string(path).ok()?;
        let value: serde_json::Value = serde_json::from_str(&text).ok()?;
        value["models"]["providers"][crate::openclaw::SETUP_PROVIDER_ID]["apiKey"]
            .as_str()
            .map(str::to_string)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_names_on_our_port() {
        for host in ["127.0.0.1:3456", "localhost:3456", "[::1]:3456"] {
            assert!(is_loopback_host(host, 3456), "{host}");
        }
        for host in [
            "127.0.0.1",
            "127.0.0.1:80",
            "evil.test:3456",
            "localhost.evil.test:3456",
            "127.0.0.2:3456",
            "",
        ] {
            assert!(!is_loopback_host(host, 3456), "{host}");
        }
    }

    #[test]
    fn the_key_is_required_except_for_health() {
        let ok = |auth| check(Some("127.0.0.1:3456"), auth, 3456, Some("k3y"), false);
        assert_eq!(ok(Some("Bearer k3y")), Ok(()));
        assert_eq!(ok(Some("Bearer nope")), Err(Refusal::BadKey));
        assert_eq!(ok(Some("k3y")), Err(Refusal::BadKey));
        assert_eq!(ok(None), Err(Refusal::BadKey));
        assert_eq!(
            check(Some("127.0.0.1:3456"), None, 3456, None, false),
            Err(Refusal::NoKeyYet)
        );
        assert_eq!(
            check(Some("127.0.0.1:3456"), None, 3456, None, true),
            Ok(())
        );
        assert_eq!(
            check(
                Some("rebound.evil.test:3456"),
                Some("Bearer k3y"),
                3456,
                Some("k3y"),
                true
            ),
            Err(Refusal::WrongHost)
        );
    }
}
