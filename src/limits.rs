//! Rate limits on what a stranger can trigger: fixed one-hour windows counted in KV.
//!
//! KV is eventually consistent and has no atomic increment, so two requests at once
//! may both read the same count: the limits are approximate by design, which is
//! enough to stop abuse (they bound Google calls and VM creations, not money).
//!
//! A counter is itself a KV write, and the free plan allows 1,000 a day: only
//! actions that cost something (a Google or Telegram call, a stored record) are
//! counted, and a request refused by any of its limits writes no counter at all.
//! Addresses are counted by network: an IPv6 client by its /64, which one host
//! usually holds whole.

use crate::app::App;
use crate::error::ApiError;
use crate::ports::Platform;
use crate::store::{self, Key, RATE_WINDOW};

/// What is being limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    SignInPerIp,
    TelegramPerIp,
    DeployPerSession,
    DeployPerIp,
    BotActionPerSession,
    /// GitHub tokens a VM asks for, by its instance id.
    VmTokenPerInstance,
}

impl Scope {
    fn name(self) -> &'static str {
        match self {
            Self::SignInPerIp => "signin-ip",
            Self::TelegramPerIp => "telegram-ip",
            Self::DeployPerSession => "deploy-session",
            Self::DeployPerIp => "deploy-ip",
            Self::BotActionPerSession => "bot-session",
            Self::VmTokenPerInstance => "vm-github-token",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Self::SignInPerIp => "Too many sign-in attempts from your network. Please wait and try again.",
            Self::TelegramPerIp => "Too many Telegram look-ups from your network. Please wait and try again.",
            Self::DeployPerSession | Self::DeployPerIp => {
                "You have started several deploys in the last hour. Please wait before starting another."
            }
            Self::BotActionPerSession => "Too many bot actions in the last hour. Please wait and try again.",
            Self::VmTokenPerInstance => "This VM asked for too many GitHub tokens in the last hour. Please wait and try again.",
        }
    }
}

impl Scope {
    fn per_address(self) -> bool {
        matches!(
            self,
            Self::SignInPerIp | Self::TelegramPerIp | Self::DeployPerIp
        )
    }
}

/// What an address is counted as: an IPv6 address by its /64 (a host is usually
/// given a whole /64, so counting single addresses would count nothing), an IPv4
/// address (or an IPv4-mapped IPv6 one) by itself.
pub fn network_of(address: &str) -> String {
    match address.trim().parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Ok(std::net::IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => address.trim().to_string(),
    }
}

/// Counts one more use of `scope` by `subject` (a session digest, or a client
/// address); refuses with 429, writing nothing, once `limit` uses were counted in the
/// current window.
pub async fn take(
    platform: &impl store::Store,
    scope: Scope,
    subject: &str,
    limit: u32,
) -> Result<(), ApiError> {
    let now = platform.now_secs();
    let window = now - now % RATE_WINDOW;
    let subject = if scope.per_address() {
        network_of(subject)
    } else {
        subject.to_string()
    };
    let key = Key::Rate {
        scope: scope.name(),
        subject: hashed(&subject),
        window,
    };
    let used: u32 = store::load(platform, &key).await?.unwrap_or(0);
    if used >= limit {
        return Err(refusal(scope, window, now));
    }
    store::save(platform, &key, &(used + 1), RATE_WINDOW).await?;
    Ok(())
}

fn refusal(scope: Scope, window: u64, now: u64) -> ApiError {
    ApiError::RateLimited {
        retry_after: (window + RATE_WINDOW - now).max(1),
        message: scope.message().to_string(),
    }
}

/// A deploy's two limits, kept in one record per network and window: the network's
/// total and, inside it, each session's own count. A start then writes one counter,
/// not two (KV's free plan allows 1,000 writes a day).
///
/// A session is counted within the network it deploys from. Keeping one session
/// across networks gains a stranger nothing: from each network they could sign in
/// anew, and every network still starts at most `per_network` deploys per window.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct DeployCounts {
    total: u32,
    /// By the session's hashed subject; at most `per_network` entries, since a
    /// refused start adds none.
    sessions: std::collections::BTreeMap<String, u32>,
}

/// Counts one more action on bots (a token rotation, a restart, a deletion, a roll
/// back, a new project) by the session whose limit subject is `subject`, against the
/// configured limit per session.
pub async fn take_bot_action<P: Platform>(app: &App<'_, P>, subject: &str) -> Result<(), ApiError> {
    take(
        app.platform,
        Scope::BotActionPerSession,
        subject,
        app.config.limits.bot_actions_per_session,
    )
    .await
}

/// Counts one more deploy by `session` (its limit subject) from `address`; refuses
/// with 429, writing nothing, once the session has `per_session` deploys from this
/// network in the window, or the network `per_network`.
pub async fn take_deploy(
    platform: &impl store::Store,
    session: &str,
    address: &str,
    per_session: u32,
    per_network: u32,
) -> Result<(), ApiError> {
    let now = platform.now_secs();
    let window = now - now % RATE_WINDOW;
    let key = Key::Rate {
        scope: "deploy",
        subject: hashed(&network_of(address)),
        window,
    };
    let mut counts: DeployCounts = store::load(platform, &key).await?.unwrap_or_default();
    let session = hashed(session);
    let by_session = counts.sessions.get(&session).copied().unwrap_or(0);
    let refused = if by_session >= per_session {
        Some(Scope::DeployPerSession)
    } else if counts.total >= per_network {
        Some(Scope::DeployPerIp)
    } else {
        None
    };
    if let Some(scope) = refused {
        return Err(refusal(scope, window, now));
    }
    counts.total += 1;
    counts.sessions.insert(session, by_session + 1);
    store::save(platform, &key, &counts, RATE_WINDOW).await?;
    Ok(())
}

/// What a counter's key holds of its subject: enough of a digest to tell subjects
/// apart, and no address or session in the clear.
fn hashed(subject: &str) -> String {
    crate::crypto::sha256_hex(subject)[..32].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{run, TestPlatform};

    #[test]
    fn refuses_past_the_limit_until_the_window_turns() {
        let p = TestPlatform::new();
        for _ in 0..3 {
            run(take(&p, Scope::DeployPerIp, "203.0.113.9", 3)).unwrap();
        }
        let err = run(take(&p, Scope::DeployPerIp, "203.0.113.9", 3)).unwrap_err();
        let ApiError::RateLimited { retry_after, .. } = err else {
            panic!("{err:?}")
        };
        assert!(retry_after > 0 && retry_after <= RATE_WINDOW);
        // Another subject and another scope have their own counters.
        run(take(&p, Scope::DeployPerIp, "198.51.100.1", 3)).unwrap();
        run(take(&p, Scope::SignInPerIp, "203.0.113.9", 3)).unwrap();
        p.advance_secs(retry_after);
        run(take(&p, Scope::DeployPerIp, "203.0.113.9", 3)).unwrap();
        assert!(
            !p.kv_dump().contains("203.0.113.9"),
            "addresses are stored hashed"
        );
    }

    #[test]
    fn a_deploy_counts_its_session_and_its_network_in_one_write() {
        let p = TestPlatform::new();
        let deploy = |session: &str, ip: &str| run(take_deploy(&p, session, ip, 2, 3));
        deploy("session-a", "203.0.113.9").unwrap();
        assert_eq!(p.kv_writes.get(), 1, "one counter for both limits");
        deploy("session-a", "203.0.113.9").unwrap();
        // The session has spent its two: refused, and nothing written.
        let err = deploy("session-a", "203.0.113.9").unwrap_err();
        assert_eq!(err.status(), 429);
        assert_eq!(p.kv_writes.get(), 2, "nothing written for a refusal");
        // Another session on the network takes the network's last one, then the
        // network is spent for every session, even a new one.
        deploy("session-b", "203.0.113.9").unwrap();
        let err = deploy("session-c", "203.0.113.9").unwrap_err();
        assert_eq!(err.status(), 429);
        assert_eq!(p.kv_writes.get(), 3);
        // Another network has its own counts; a new window starts afresh.
        deploy("session-c", "198.51.100.1").unwrap();
        let ApiError::RateLimited { retry_after, .. } = err else {
            panic!("{err:?}")
        };
        p.advance_secs(retry_after);
        deploy("session-a", "203.0.113.9").unwrap();
        let dump = p.kv_dump();
        assert!(
            !dump.contains("203.0.113.9") && !dump.contains("session-a"),
            "addresses and sessions are stored hashed: {dump}"
        );
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        assert_eq!(
            network_of("2001:db8:1:2:aaaa::1"),
            network_of("2001:db8:1:2:ffff:1:2:3")
        );
        assert_ne!(network_of("2001:db8:1:2::1"), network_of("2001:db8:1:3::1"));
        assert_eq!(network_of("::ffff:203.0.113.9"), "203.0.113.9");
        assert_eq!(network_of("203.0.113.9"), "203.0.113.9");
        let p = TestPlatform::new();
        run(take(&p, Scope::DeployPerIp, "2001:db8:1:2::1", 1)).unwrap();
        let other_host_same_64 = run(take(&p, Scope::DeployPerIp, "2001:db8:1:2::99", 1));
        assert_eq!(other_host_same_64.unwrap_err().status(), 429);
        run(take(&p, Scope::DeployPerIp, "2001:db8:1:3::1", 1)).unwrap();
    }
}
