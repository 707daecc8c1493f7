//! The client for the GCE metadata server: instance attributes (read once, or
//! long-polled with `wait_for_change` and an ETag), guest attributes (written), and the
//! VM's Google identity token.
//!
//! The metadata server restarts and stalls now and then (host maintenance, live
//! migration), so transient failures are retried with a capped exponential back-off
//! instead of being reported as errors.

use std::collections::BTreeMap;
use std::thread;
use std::time::Duration;

use claw_free_protocol::guest;

use crate::log;

/// The first pause after a failed request; doubled after each further failure.
const BACKOFF_FIRST: Duration = Duration::from_millis(250);
/// The longest pause between two attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How long the metadata server may hold a `wait_for_change` request open.
pub const WAIT_TIMEOUT_SECS: u64 = 60;
/// Instance metadata is at most 512 KB on GCE; anything larger is not the metadata server.
const MAX_BODY: u64 = 1024 * 1024;

/// Instance attributes: key to value (non-string values are dropped).
pub type Attributes = BTreeMap<String, String>;

/// Attributes from `(key, value)` pairs, as the tests write them.
#[cfg(test)]
pub fn attributes(pairs: &[(&str, &str)]) -> Attributes {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataError {
    /// The server did not answer usefully (connection refused, timeout, 5xx).
    Unavailable(String),
    /// The server answered with a refusal that retrying will not fix.
    Refused(u16),
    /// The answer could not be understood.
    Invalid(String),
}

impl std::fmt::Display for MetadataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unavailable(why) => write!(f, "metadata server unavailable: {why}"),
            Self::Refused(status) => {
                write!(f, "metadata server refused the request (HTTP {status})")
            }
            Self::Invalid(why) => write!(f, "metadata server sent an invalid answer: {why}"),
        }
    }
}

/// How long to keep trying when the server is unavailable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// Until it answers: for steps nothing else can proceed without.
    UntilAnswered,
    /// A few attempts: for reports that are refreshed anyway.
    Attempts(u32),
}

/// One answer: status, ETag and body.
struct Answer {
    status: u16,
    etag: Option<String>,
    body: String,
}

#[derive(Clone)]
pub struct MetadataClient {
    base: String,
    http: ureq::Agent,
    timeout: Duration,
}

impl MetadataClient {
    /// `base_url` is the server's root (`http://metadata.google.internal`).
    pub fn new(base_url: &str, timeout: Duration) -> Self {
        let config = ureq::Agent::config_builder()
            // Statuses are answers to interpret here, not transport errors.
            .http_status_as_error(false)
            // The metadata server is link-local: never through a proxy from the environment.
            .proxy(None)
            .max_idle_connections(2)
            .build();
        Self {
            base: format!("{}/computeMetadata/v1", base_url.trim_end_matches('/')),
            http: ureq::Agent::new_with_config(config),
            timeout,
        }
    }

    /// Every instance attribute, and the ETag to wait for changes from.
    pub fn attributes(&self) -> (Attributes, Option<String>) {
        self.read_attributes("instance/attributes/?recursive=true", self.timeout)
    }

    /// The instance attributes once they differ from `etag` (or after the server's
    /// wait timeout, with the same values).
    pub fn wait_for_change(&self, etag: &str) -> (Attributes, Option<String>) {
        let path = format!(
            "instance/attributes/?recursive=true&wait_for_change=true&timeout_sec={WAIT_TIMEOUT_SECS}&last_etag={}",
            query_escape(etag)
        );
        self.read_attributes(&path, Duration::from_secs(WAIT_TIMEOUT_SECS) + self.timeout)
    }

    fn read_attributes(&self, path: &str, timeout: Duration) -> (Attributes, Option<String>) {
        let mut backoff = Backoff::default();
        loop {
            let result = self
                .send(path, None, timeout)
                .and_then(|answer| match answer.status {
                    200 => Ok((parse_attributes(&answer.body)?, answer.etag)),
                    status => Err(classify(status)),
                });
            match result {
                Ok(answer) => {
                    backoff.recovered("read instance attributes");
                    return answer;
                }
                // Nothing else can be read, so every failure is waited out; a refusal
                // (guest environment misconfigured) is logged like the rest.
                Err(err) => backoff.wait("read instance attributes", &err),
            }
        }
    }

    /// The VM's Google instance identity token for `audience`, with the VM's own claims
    /// (`format=full`): what proves to claw.free which VM is asking. A few attempts.
    pub fn identity_token(&self, audience: &str) -> Result<String, MetadataError> {
        let path = format!(
            "instance/service-accounts/default/identity?audience={}&format=full",
            query_escape(audience)
        );
        let mut backoff = Backoff::default();
        loop {
            let result =
                self.send(&path, None, self.timeout)
                    .and_then(|answer| match answer.status {
                        200 => Ok(answer.body.trim().to_string()),
                        status => Err(classify(status)),
                    });
            match result {
                Err(err @ MetadataError::Unavailable(_)) if backoff.failures < 3 => {
                    backoff.wait("read the identity token", &err)
                }
                other => return other,
            }
        }
    }

    /// Writes guest attribute `openclaw/<key>`.
    pub fn publish(
        &self,
        key: &str,
        value: &str,
        persistence: Persistence,
    ) -> Result<(), MetadataError> {
        let path = format!("instance/guest-attributes/{}/{key}", guest::NAMESPACE);
        let what = format!("publish {}/{key}", guest::NAMESPACE);
        let mut backoff = Backoff::default();
        loop {
            let result =
                self.send(&path, Some(value), self.timeout)
                    .and_then(|answer| match answer.status {
                        200..=299 => Ok(()),
                        status => Err(classify(status)),
                    });
            match result {
                Ok(()) => {
                    backoff.recovered(&what);
                    return Ok(());
                }
                Err(err @ MetadataError::Unavailable(_)) => {
                    if let Persistence::Attempts(n) = persistence {
                        if backoff.failures + 1 >= n {
                            log::event("metadata", &format!("{what} gave up: {err}"));
                            return Err(err);
                        }
                    }
                    backoff.wait(&what, &err);
                }
                Err(err) => {
                    log::event("metadata", &format!("{what} failed: {err}"));
                    return Err(err);
                }
            }
        }
    }

    /// One request: a GET, or a PUT of `put_body`.
    fn send(
        &self,
        path: &str,
        put_body: Option<&str>,
        timeout: Duration,
    ) -> Result<Answer, MetadataError> {
        let url = format!("{}/{path}", self.base);
        let result = match put_body {
            None => self
                .http
                .get(&url)
                .header("Metadata-Flavor", "Google")
                .config()
                .timeout_global(Some(timeout))
                .build()
                .call(),
            Some(body) => self
                .http
                .put(&url)
                .header("Metadata-Flavor", "Google")
                .config()
                .timeout_global(Some(timeout))
                .build()
                .send(body),
        };
        let mut response = result.map_err(|e| MetadataError::Unavailable(transport_reason(&e)))?;
        let status = response.status().as_u16();
        let etag = response
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_string()
            .map_err(|e| MetadataError::Unavailable(transport_reason(&e)))?;
        Ok(Answer { status, etag, body })
    }
}

/// A short reason for a transport failure, without the URL's query or any body.
pub fn transport_reason(error: &ureq::Error) -> String {
    match error {
        ureq::Error::Timeout(_) => "timed out".to_string(),
        ureq::Error::Io(e) => e.kind().to_string(),
        ureq::Error::ConnectionFailed => "connection failed".to_string(),
        ureq::Error::HostNotFound => "host not found".to_string(),
        ureq::Error::BodyExceedsLimit(_) => "answer too large".to_string(),
        other => other.to_string(),
    }
}

fn classify(status: u16) -> MetadataError {
    match status {
        429 | 500..=599 => MetadataError::Unavailable(format!("HTTP {status}")),
        _ => MetadataError::Refused(status),
    }
}

/// Parses a `recursive=true` listing of instance attributes.
pub fn parse_attributes(body: &str) -> Result<Attributes, MetadataError> {
    let map: BTreeMap<String, serde_json::Value> = serde_json::from_str(body)
        .map_err(|_| MetadataError::Invalid("attributes are not a JSON object".into()))?;
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::String(s) => Some((k, s)),
            _ => None,
        })
        .collect())
}

/// Percent-encodes everything but RFC 3986's unreserved characters, for a query value
/// or one segment of a path.
pub(crate) fn query_escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Capped exponential back-off that logs the first failure, every tenth, and the recovery,
/// so a long outage costs a few console lines, not one per attempt.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
    failures: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            next: BACKOFF_FIRST,
            failures: 0,
        }
    }
}

impl Backoff {
    /// The pauses a run of failures waits, in order.
    pub fn delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        self.failures += 1;
        delay
    }

    fn wait(&mut self, what: &str, err: &MetadataError) {
        if self.failures == 0 || (self.failures + 1).is_multiple_of(10) {
            log::event(
                "metadata",
                &format!("{what}: {err}; retrying (attempt {})", self.failures + 1),
            );
        }
        thread::sleep(self.delay());
    }

    fn recovered(&mut self, what: &str) {
        if self.failures > 0 {
            log::event(
                "metadata",
                &format!(
                    "{what}: answered again after {} failed attempts",
                    self.failures
                ),
            );
        }
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_keep_strings_and_reject_non_objects() {
        let attrs = parse_attributes(r#"{"BOT_NAME":"Ada","n":3,"LLM_PROVIDER":"kimi"}"#).unwrap();
        assert_eq!(attrs.len(), 2);
        assert_eq!(attrs["BOT_NAME"], "Ada");
        assert!(parse_attributes("[1]").is_err());
        assert!(parse_attributes("<html>").is_err());
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let mut b = Backoff::default();
        let delays: Vec<_> = (0..7).map(|_| b.delay().as_millis()).collect();
        assert_eq!(delays, vec![250, 500, 1000, 2000, 4000, 5000, 5000]);
    }

    #[test]
    fn statuses_worth_retrying() {
        assert!(matches!(classify(503), MetadataError::Unavailable(_)));
        assert!(matches!(classify(429), MetadataError::Unavailable(_)));
        assert_eq!(classify(403), MetadataError::Refused(403));
        assert_eq!(query_escape("a b/\"c\""), "a%20b%2F%22c%22");
    }
}
