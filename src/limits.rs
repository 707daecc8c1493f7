//! Rate limits on what a stranger can trigger: fixed one-hour windows counted in KV.
//!
//! KV is eventually consistent and has no atomic increment, so two requests at once
//! may both read the same count: the limits are approximate by design, which is
//! enough to stop abuse (they bound Google calls and VM creations, not money).

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

/// Counts one more use of `scope` by `subject`; refuses with 429 once `limit` uses
/// were counted in the current window.
pub async fn take(
    platform: &impl store::Store,
    scope: Scope,
    subject: &str,
    limit: u32,
) -> Result<(), ApiError> {
    let now = platform.now_secs();
    let window = now - now % RATE_WINDOW;
    let key = Key::Rate {
        scope: scope.name(),
        subject: crate::crypto::sha256_hex(subject)[..32].to_string(),
        window,
    };
    let used: u32 = store::load(platform, &key).await?.unwrap_or(0);
    if used >= limit {
        return Err(ApiError::RateLimited {
            retry_after: (window + RATE_WINDOW - now).max(1),
            message: scope.message().to_string(),
        });
    }
    store::save(platform, &key, &(used + 1), RATE_WINDOW).await?;
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
}
