//! The Worker's four windows on the outside world, as small traits: a key-value store,
//! an HTTP client, a clock and randomness. The wasm edge implements them with Workers KV,
//! `fetch`, `Date.now` and Web Crypto; [`crate::testing`] implements them in memory so
//! every flow runs natively in unit tests.

pub use crate::github::app_jwt::Rs256;
use crate::http::{OutboundRequest, OutboundResponse};

/// A failure of the platform itself (KV or the network), not of the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortError(pub String);

/// How a refusal by KV for too many writes to one key (its HTTP 429) is marked.
const RATE_LIMITED: &str = "kv 429 too many requests";

impl PortError {
    /// KV refused for now: one key takes about one write a second.
    pub fn rate_limited(context: &str) -> Self {
        Self(format!("{RATE_LIMITED}: {context}"))
    }

    /// Whether trying again a moment later may succeed.
    pub fn is_rate_limited(&self) -> bool {
        self.0.starts_with(RATE_LIMITED)
    }
}

impl std::fmt::Display for PortError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Workers KV: eventually consistent, no atomic increment, TTLs of at least 60 s, and
/// about one write a second per key (beyond that it answers 429:
/// [`PortError::is_rate_limited`]; [`crate::store`] tries again).
#[allow(async_fn_in_trait)]
pub trait KvStore {
    async fn get(&self, key: &str) -> Result<Option<String>, PortError>;
    async fn put(&self, key: &str, value: &str, ttl_secs: u64) -> Result<(), PortError>;
    async fn delete(&self, key: &str) -> Result<(), PortError>;
}

/// Outbound HTTP (Google and Telegram).
#[allow(async_fn_in_trait)]
pub trait HttpClient {
    async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, PortError>;
}

/// Wall-clock time, and waiting (for a bounded poll of a Google operation).
#[allow(async_fn_in_trait)]
pub trait Clock {
    fn now_ms(&self) -> u64;
    fn now_secs(&self) -> u64 {
        self.now_ms() / 1000
    }
    async fn sleep_ms(&self, ms: u64);
}

/// Cryptographically secure randomness.
pub trait Random {
    fn fill(&self, buf: &mut [u8]) -> Result<(), PortError>;
}

/// Everything a request handler may touch besides its request: with RS256 (signing the
/// GitHub App's JWT, verifying Google's identity tokens) through Web Crypto on Workers.
pub trait Platform: KvStore + HttpClient + Clock + Random + Rs256 {}
impl<T: KvStore + HttpClient + Clock + Random + Rs256> Platform for T {}
