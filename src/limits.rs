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

use crate::error::ApiError;
use crate::store::{self, Key, RATE_WINDOW};

/// What is being limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    SignInPerIp,
    TelegramPerIp,
    DeployPerSession,
    DeployPerIp,
    BotActionPerSession,
}

impl Scope {
    fn name(self) -> &'static str {
        match self {
            Self::SignInPerIp => "signin-ip",
            Self::TelegramPerIp => "telegram-ip",
            Self::DeployPerSession => "deploy-session",
            Self::DeployPerIp => "deploy-ip",
            Self::BotActionPerSession => "bot-session",
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

/// One limit a request must pass: at most `limit` uses of `scope` by `subject` (a
/// session digest, or a client address) per window.
#[derive(Debug, Clone, Copy)]
pub struct Limit<'a> {
    pub scope: Scope,
    pub subject: &'a str,
    pub limit: u32,
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

/// Counts one more use of `scope` by `subject`; refuses with 429 once `limit` uses
/// were counted in the current window.
pub async fn take(
    platform: &impl store::Store,
    scope: Scope,
    subject: &str,
    limit: u32,
) -> Result<(), ApiError> {
    take_all(
        platform,
        &[Limit {
            scope,
            subject,
            limit,
        }],
    )
    .await
}

/// Checks every limit first and refuses with the first one exhausted, writing
/// nothing; only a request that passes them all is counted, once in each.
pub async fn take_all(platform: &impl store::Store, limits: &[Limit<'_>]) -> Result<(), ApiError> {
    let now = platform.now_secs();
    let window = now - now % RATE_WINDOW;
    let mut counted = Vec::with_capacity(limits.len());
    for limit in limits {
        let subject = if limit.scope.per_address() {
            network_of(limit.subject)
        } else {
            limit.subject.to_string()
        };
        let key = Key::Rate {
            scope: limit.scope.name(),
            subject: crate::crypto::sha256_hex(&subject)[..32].to_string(),
            window,
        };
        let used: u32 = store::load(platform, &key).await?.unwrap_or(0);
        if used >= limit.limit {
            return Err(ApiError::RateLimited {
                retry_after: (window + RATE_WINDOW - now).max(1),
                message: limit.scope.message().to_string(),
            });
        }
        counted.push((key, used + 1));
    }
    for (key, used) in counted {
        store::save(platform, &key, &used, RATE_WINDOW).await?;
    }
    Ok(())
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
    fn a_refused_request_writes_no_counter() {
        let p = TestPlatform::new();
        let both = |ip: &'static str| {
            [
                Limit {
                    scope: Scope::DeployPerSession,
                    subject: "session-a",
                    limit: 5,
                },
                Limit {
                    scope: Scope::DeployPerIp,
                    subject: ip,
                    limit: 1,
                },
            ]
        };
        run(take_all(&p, &both("203.0.113.9"))).unwrap();
        assert_eq!(p.kv_writes.get(), 2);
        // The address is spent: the session's counter must not move either.
        assert_eq!(
            run(take_all(&p, &both("203.0.113.9")))
                .unwrap_err()
                .status(),
            429
        );
        assert_eq!(p.kv_writes.get(), 2, "nothing written for a refusal");
        for _ in 0..3 {
            assert!(run(take_all(&p, &both("203.0.113.9"))).is_err());
        }
        // Four refusals later the session still has its four uses left.
        for ip in [
            "198.51.100.1",
            "198.51.100.2",
            "198.51.100.3",
            "198.51.100.4",
        ] {
            run(take_all(&p, &both(ip))).unwrap();
        }
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
