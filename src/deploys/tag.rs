//! Conditional status polls: the `ETag` a status answer carries, and whether the
//! `If-None-Match` of a later poll still holds, decided without reading KV or asking
//! Google.
//!
//! A tag says "this answer stays right until `valid_until`" for one deploy and one
//! caller: a finished deploy's answer never changes, so its tag holds until the record
//! expires; an answer in progress holds until the time the page was told to poll next
//! (`retryAfterMs`), sooner than which nothing can have moved. The tag is a MAC under
//! the sealing key over the deploy id, that time and a digest of the cookie that proved
//! the caller's right to see the deploy, so it is worth nothing without that cookie
//! and cannot be stretched. Browsers send it back by themselves (`Cache-Control:
//! private, no-cache` makes them revalidate every poll), so the original page gets the
//! same savings without knowing.

use crate::crypto::{self, SealingKey};

/// The MAC's length in hex characters (128 bits).
const MAC_HEX: usize = 32;

/// The `ETag` value (quoted) for deploy `id`, valid until `valid_until_ms`, for the
/// caller who proved itself with cookie value `credential`.
pub fn issue(key: &SealingKey, id: &str, valid_until_ms: u64, credential: &str) -> String {
    format!(
        "\"{valid_until_ms}.{}\"",
        mac(key, id, valid_until_ms, credential)
    )
}

fn mac(key: &SealingKey, id: &str, valid_until_ms: u64, credential: &str) -> String {
    let message = format!("{id}:{valid_until_ms}:{}", crypto::sha256_hex(credential));
    crypto::mac_hex(key, "deploy-status-tag", &message)[..MAC_HEX].to_string()
}

/// Whether `request` holds, in `If-None-Match`, a tag this Worker issued for deploy `id`
/// to one of the cookies the request carries (`credentials`), still valid at `now_ms`.
pub fn still_fresh(
    key: &SealingKey,
    header: &str,
    id: &str,
    credentials: &[&str],
    now_ms: u64,
) -> bool {
    header
        .split(',')
        .filter_map(|candidate| {
            let candidate = candidate.trim();
            let candidate = candidate.strip_prefix("W/").unwrap_or(candidate);
            let inner = candidate.strip_prefix('"')?.strip_suffix('"')?;
            let (until, mac_hex) = inner.split_once('.')?;
            let until: u64 = until.parse().ok()?;
            (mac_hex.len() == MAC_HEX).then_some((until, mac_hex))
        })
        .any(|(until, mac_hex)| {
            now_ms < until
                && credentials.iter().any(|credential| {
                    crypto::constant_time_eq(&mac(key, id, until, credential), mac_hex)
                })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::development_key;

    #[test]
    fn a_tag_holds_for_its_deploy_and_cookie_until_its_time() {
        let tag = issue(&development_key(), "d1", 5_000, "cookie-a");
        let fresh = |header: &str, id: &str, creds: &[&str], now: u64| {
            still_fresh(&development_key(), header, id, creds, now)
        };
        assert!(fresh(&tag, "d1", &["cookie-a"], 4_999));
        assert!(fresh(
            &format!("\"1.x\", W/{tag}"),
            "d1",
            &["other", "cookie-a"],
            0
        ));
        assert!(!fresh(&tag, "d1", &["cookie-a"], 5_000), "expired");
        assert!(!fresh(&tag, "d2", &["cookie-a"], 0), "another deploy");
        assert!(!fresh(&tag, "d1", &["cookie-b"], 0), "another caller");
        assert!(!fresh(&tag, "d1", &[], 0), "no cookie");
        let stretched = tag.replace("5000.", "9999999.");
        assert!(!fresh(&stretched, "d1", &["cookie-a"], 0));
        for junk in ["*", "\"\"", "\"5000.\"", "\"abc.def\"", "5000.abc"] {
            assert!(!fresh(junk, "d1", &["cookie-a"], 0), "{junk}");
        }
    }
}
