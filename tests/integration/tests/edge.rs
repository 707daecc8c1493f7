//! What the Worker's edge does with requests no browser page sends: methods it
//! does not know, and bodies that declare no length. Raw HTTP over TCP, because
//! HTTP clients refuse to send a body that never ends.

use claw_free_it::{Stack, StackOptions};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// `host:port` of the site.
fn authority(stack: &Stack) -> String {
    stack.site.trim_start_matches("http://").to_string()
}

/// The status line and headers of the first response on `stream`.
fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            Ok(_) => break,
            Err(e) => panic!(
                "no response ({e}); read so far: {:?}",
                String::from_utf8_lossy(&head)
            ),
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Sends `method path` with `cookie` over a fresh connection; the response head.
fn raw_request(stack: &Stack, method: &str, path: &str, cookie: &str) -> String {
    let mut stream = TcpStream::connect(authority(stack)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nOrigin: {}\r\nCookie: {cookie}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n",
        authority(stack),
        stack.site
    );
    stream.write_all(request.as_bytes()).unwrap();
    read_head(&mut stream)
}

#[test]
fn an_unknown_method_is_405_and_signs_nobody_out() {
    let (stack, client) = Stack::signed_in();
    let cookie = client.cookie_header();
    for method in ["PROPFIND", "PURGE"] {
        let head = raw_request(&stack, method, "/api/auth/logout", &cookie);
        assert!(head.starts_with("HTTP/1.1 405"), "{method}: {head}");
        assert!(
            !head.contains("Max-Age=0"),
            "{method} must not clear the session: {head}"
        );
        assert_eq!(
            client.get("/api/deploy/session").status,
            200,
            "{method} must not sign out"
        );
    }
    assert_eq!(
        stack.counters().get("oauth.revoke").copied().unwrap_or(0),
        0,
        "nothing was revoked"
    );
}

/// `wrangler dev`'s proxy, not our Worker, answers this when the Worker it forwards to was
/// swapped while a non-GET request was in flight; it retries GET and HEAD itself and asks
/// the client to send others again. Production has no such proxy.
fn is_dev_proxy_restart(head: &str) -> bool {
    head.starts_with("HTTP/1.1 503")
        && head.contains("Retry-After: 0")
        && head.contains("text/plain")
}

/// A POST whose chunked body passes 16 KiB and never ends; the response's head.
fn post_endless_chunked_body(stack: &Stack) -> String {
    let mut stream = TcpStream::connect(authority(stack)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let head = format!(
        "POST /api/deploy/start HTTP/1.1\r\nHost: {}\r\nOrigin: {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        authority(stack),
        stack.site
    );
    stream.write_all(head.as_bytes()).unwrap();
    // 20 KiB in 1 KiB chunks, and then no last chunk: the body never ends.
    let chunk = format!("400\r\n{}\r\n", "x".repeat(1024));
    for _ in 0..20 {
        stream.write_all(chunk.as_bytes()).unwrap();
    }
    stream.flush().unwrap();
    read_head(&mut stream)
}

#[test]
fn a_chunked_body_is_refused_once_it_passes_16_kib_without_waiting_for_its_end() {
    let stack = Stack::start(StackOptions::default());
    // Sent again only when the development proxy asks for it, as it asks every client.
    let mut response = post_endless_chunked_body(&stack);
    for _ in 0..3 {
        if !is_dev_proxy_restart(&response) {
            break;
        }
        response = post_endless_chunked_body(&stack);
    }
    assert!(
        response.starts_with("HTTP/1.1 413"),
        "refused while the body was still arriving: {response}"
    );
}
