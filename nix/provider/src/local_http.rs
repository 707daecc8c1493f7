//! A minimal blocking HTTP/1.1 client (GET, and POST without a body) for the
//! plain-http endpoints on the VM itself (OpenClaw's health URL, the Setup model) and
//! the GCE metadata server. Neither speaks TLS, so a full
//! HTTP client would only cost memory.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// A response: status code and body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

const MAX_REPLY: u64 = 256 * 1024;

/// GETs an `http://host[:port]/path` URL with extra headers.
pub fn get(url: &str, headers: &[(&str, &str)], timeout: Duration) -> Result<Reply, String> {
    request("GET", url, headers, timeout)
}

/// POSTs to an `http://host[:port]/path` URL with an empty body and extra headers.
pub fn post_empty(url: &str, headers: &[(&str, &str)], timeout: Duration) -> Result<Reply, String> {
    let mut all = vec![("Content-Length", "0")];
    all.extend_from_slice(headers);
    request("POST", url, &all, timeout)
}

fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> Result<Reply, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("only http:// URLs are supported, got {url:?}"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let address = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let socket = address
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("cannot resolve {authority}"))?;
    let mut stream = TcpStream::connect_timeout(&socket, timeout)
        .map_err(|e| format!("cannot connect to {authority}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("cannot send to {authority}: {e}"))?;
    let mut raw = Vec::new();
    stream
        .take(MAX_REPLY)
        .read_to_end(&mut raw)
        .map_err(|e| format!("cannot read from {authority}: {e}"))?;
    parse(&raw).ok_or_else(|| format!("{authority} sent a malformed HTTP response"))
}

fn parse(raw: &[u8]) -> Option<Reply> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:")
            && l.to_ascii_lowercase().contains("chunked")
    });
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_string()
    };
    Some(Reply { status, body })
}

fn dechunk(mut body: &str) -> Option<String> {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n")?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        out.push_str(rest.get(..size)?);
        body = rest.get(size..)?.strip_prefix("\r\n")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_bodies() {
        let r = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nkimi").unwrap();
        assert_eq!((r.status, r.body.as_str()), (200, "kimi"));
        let r = parse(b"HTTP/1.1 503 No\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap();
        assert_eq!((r.status, r.body.as_str()), (503, "abcde"));
        assert!(parse(b"garbage").is_none());
    }

    #[test]
    fn refuses_https_and_unreachable_hosts_with_an_error() {
        assert!(get("https://x", &[], Duration::from_secs(1)).is_err());
        assert!(get("http://127.0.0.1:1/", &[], Duration::from_secs(1)).is_err());
    }
}
