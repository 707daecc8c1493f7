//! A plain HTTP/1.1 client over a socket, with exactly the header lines it is given:
//! the tests need requests no ordinary client would send (no `Authorization`, a
//! foreign `Host`), and the bench wants nothing between it and the provider.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A request to `address` (`http://host:port`) with exactly the `Host`/`Authorization`
/// lines in `headers` (each ending in CRLF); returns the status and the body.
pub fn request_with(
    address: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
    headers: &str,
) -> (u16, String) {
    let host = address.strip_prefix("http://").unwrap();
    let mut stream = TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\n{headers}Connection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}
