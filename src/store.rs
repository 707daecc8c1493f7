//! KV records: every key claw.free writes, typed, with its TTL, and JSON values.
//!
//! One namespace (binding `KV`). Keys that would otherwise carry a secret (a session
//! cookie) hold its SHA-256 instead, so a listing of the namespace gives nothing away.
//! Nothing here holds a plaintext token.

use crate::ports::{Clock, KvStore, PortError, Random};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// How long a session lives (Google's access token lives as long).
pub const SESSION_TTL: u64 = 3600;
/// How long a deploy record lives; polling works for that long.
pub const DEPLOY_TTL: u64 = 3600;
/// How long a sign-in may take between the redirect and the callback (its cookie's
/// lifetime: a pending sign-in is never stored here).
pub const SIGNIN_TTL: u64 = 600;
/// Rate-limit windows.
pub const RATE_WINDOW: u64 = 3600;

/// A KV key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// `session:<sha256(cookie secret)>`.
    Session(String),
    /// `deploy:<deployment id>`.
    Deploy(String),
    /// `github-link:<project>/<zone>/<vm>`: a bot's link to its GitHub repository.
    GitHubLink(String),
    /// `rate:<scope>:<subject>:<window start>`: a fixed-window counter.
    Rate {
        scope: &'static str,
        subject: String,
        window: u64,
    },
}

impl Key {
    pub fn render(&self) -> String {
        match self {
            Self::Session(digest) => format!("session:{digest}"),
            Self::Deploy(id) => format!("deploy:{id}"),
            Self::GitHubLink(bot) => format!("github-link:{bot}"),
            Self::Rate {
                scope,
                subject,
                window,
            } => format!("rate:{scope}:{subject}:{window}"),
        }
    }
}

/// What the store needs: KV, and a clock and randomness to wait before trying again.
pub trait Store: KvStore + Clock + Random {}
impl<T: KvStore + Clock + Random> Store for T {}

/// How many times one KV operation is tried when KV answers 429.
pub const KV_ATTEMPTS: u32 = 4;
/// The first wait after a 429; each later one doubles (full jitter below it).
pub const KV_BACKOFF_MS: u64 = 100;

/// Runs `op` until it succeeds, fails otherwise than by KV's 429, or has been tried
/// [`KV_ATTEMPTS`] times, waiting a random time under an exponentially growing cap
/// between tries (full jitter), so that two requests that collided do not collide again.
async fn retrying<S: Store, T, F, Fut>(store: &S, mut op: F) -> Result<T, PortError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, PortError>>,
{
    let mut attempt = 1;
    loop {
        match op().await {
            Err(e) if e.is_rate_limited() && attempt < KV_ATTEMPTS => {
                let cap = KV_BACKOFF_MS << (attempt - 1);
                let mut bytes = [0u8; 2];
                store.fill(&mut bytes)?;
                let wait = 1 + u64::from(u16::from_le_bytes(bytes)) % cap;
                store.sleep_ms(wait).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Reads a record. A value that no longer parses (an older format) reads as absent:
/// every record is short-lived and can be recreated.
pub async fn load<T: DeserializeOwned>(
    store: &impl Store,
    key: &Key,
) -> Result<Option<T>, PortError> {
    let key = key.render();
    Ok(retrying(store, || store.get(&key))
        .await?
        .and_then(|raw| serde_json::from_str(&raw).ok()))
}

pub async fn save<T: Serialize>(
    store: &impl Store,
    key: &Key,
    value: &T,
    ttl_secs: u64,
) -> Result<(), PortError> {
    let raw = serde_json::to_string(value).map_err(|e| PortError(e.to_string()))?;
    let key = key.render();
    retrying(store, || store.put(&key, &raw, ttl_secs.max(60))).await
}

pub async fn remove(store: &impl Store, key: &Key) -> Result<(), PortError> {
    let key = key.render();
    retrying(store, || store.delete(&key)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{run, TestPlatform};

    #[test]
    fn a_write_that_kv_refuses_with_429_is_tried_again_after_a_jittered_wait() {
        let p = TestPlatform::new();
        p.kv_refusals.set(2);
        let before = p.now_ms.get();
        run(save(&p, &Key::Deploy("a".into()), &"v", 3600)).unwrap();
        assert_eq!(p.kv_writes.get(), 1, "stored once, after two refusals");
        assert_eq!(
            run(load::<String>(&p, &Key::Deploy("a".into()))).unwrap(),
            Some("v".into())
        );
        let waited = p.now_ms.get() - before;
        assert!(
            (2..=KV_BACKOFF_MS * 3).contains(&waited),
            "waited {waited} ms between tries"
        );
    }

    #[test]
    fn kv_that_keeps_refusing_fails_after_the_last_attempt_and_other_errors_at_once() {
        let p = TestPlatform::new();
        p.kv_refusals.set(KV_ATTEMPTS);
        let err = run(save(&p, &Key::Deploy("a".into()), &"v", 3600)).unwrap_err();
        assert!(err.is_rate_limited());
        assert_eq!(p.kv_refusals.get(), 0, "tried {KV_ATTEMPTS} times");
        p.kv_refusals.set(1);
        assert_eq!(
            run(load::<String>(&p, &Key::Deploy("a".into()))).unwrap(),
            None,
            "a read is tried again too"
        );
        let tries = std::cell::Cell::new(0);
        let err = run(retrying(&p, || {
            tries.set(tries.get() + 1);
            async { Err::<(), _>(PortError("kv put: network lost".into())) }
        }))
        .unwrap_err();
        assert!(!err.is_rate_limited());
        assert_eq!(tries.get(), 1, "other failures are not tried again");
    }
}
