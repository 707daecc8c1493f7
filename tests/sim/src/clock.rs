//! Time and randomness: the wall clock in milliseconds, Google's timestamp formats,
//! and the random identifiers (tokens, codes, ids) the simulator hands out.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand_core::{OsRng, RngCore};
use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub fn now_secs() -> u64 {
    now_ms() / 1000
}

/// `2026-11-25T18:52:19.123Z`, as the Cloud APIs write times.
pub fn rfc3339_utc(ms: u64) -> String {
    let (date, time, millis) = civil(ms as i64);
    format!("{date}T{time}.{millis:03}Z")
}

/// `2026-11-25T10:52:19.123-08:00`: Compute writes times in Pacific time.
pub fn rfc3339_pacific(ms: u64) -> String {
    let (date, time, millis) = civil(ms as i64 - 8 * 3600 * 1000);
    format!("{date}T{time}.{millis:03}-08:00")
}

/// `Nov 25 18:52:19` for the serial console's syslog-style lines.
pub fn syslog_time(ms: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (date, time, _) = civil(ms as i64);
    let month: usize = date[5..7].parse().unwrap_or(1);
    format!("{} {} {time}", MONTHS[month - 1], &date[8..10])
}

fn civil(ms: i64) -> (String, String, i64) {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        format!("{year:04}-{month:02}-{day:02}"),
        format!("{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60),
        millis,
    )
}

/// `bytes` random bytes as unpadded base64url.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// A random decimal number of `digits` digits, without a leading zero.
pub fn random_digits(digits: usize) -> String {
    let mut out = String::with_capacity(digits);
    for i in 0..digits {
        let low = if i == 0 { 1 } else { 0 };
        out.push(char::from(
            b'0' + (low + (OsRng.next_u32() % (10 - low))) as u8,
        ));
    }
    out
}

pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// True with probability `p` (0..=1).
pub fn chance(p: f64) -> bool {
    p >= 1.0 || (OsRng.next_u64() as f64 / u64::MAX as f64) < p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times_like_google() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_utc(1_764_096_739_123), "2025-11-25T18:52:19.123Z");
        assert_eq!(
            rfc3339_pacific(1_764_096_739_123),
            "2025-11-25T10:52:19.123-08:00"
        );
        assert_eq!(syslog_time(1_764_096_739_123), "Nov 25 18:52:19");
        assert_eq!(random_digits(12).len(), 12);
        assert!(!random_digits(12).starts_with('0'));
    }
}
