//! KV records: every key claw.free writes, typed, with its TTL, and JSON values.
//!
//! One namespace (binding `KV`). Keys that would otherwise carry a secret (a session
//! cookie, an idempotency key) hold its SHA-256 instead, so a listing
//! of the namespace gives nothing away. Nothing here holds a plaintext token.

use crate::ports::{KvStore, PortError};
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
/// How long a retried click returns the same deployment.
pub const IDEMPOTENCY_TTL: u64 = 3600;

/// A KV key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// `session:<sha256(cookie secret)>`.
    Session(String),
    /// `deploy:<deployment id>`.
    Deploy(String),
    /// `idem:<owner sub>:<sha256(key)>` → a deployment id.
    Idempotency { owner: String, digest: String },
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
            Self::Idempotency { owner, digest } => format!("idem:{owner}:{digest}"),
            Self::Rate {
                scope,
                subject,
                window,
            } => format!("rate:{scope}:{subject}:{window}"),
        }
    }
}

/// Reads a record. A value that no longer parses (an older format) reads as absent:
/// every record is short-lived and can be recreated.
pub async fn load<T: DeserializeOwned>(
    kv: &impl KvStore,
    key: &Key,
) -> Result<Option<T>, PortError> {
    Ok(kv
        .get(&key.render())
        .await?
        .and_then(|raw| serde_json::from_str(&raw).ok()))
}

pub async fn save<T: Serialize>(
    kv: &impl KvStore,
    key: &Key,
    value: &T,
    ttl_secs: u64,
) -> Result<(), PortError> {
    let raw = serde_json::to_string(value).map_err(|e| PortError(e.to_string()))?;
    kv.put(&key.render(), &raw, ttl_secs.max(60)).await
}

pub async fn remove(kv: &impl KvStore, key: &Key) -> Result<(), PortError> {
    kv.delete(&key.render()).await
}
