//! GitHub mode's substituter: the owner's private bucket served to Nix on the VM's
//! loopback as an HTTP binary cache. Nix (`nix-store --realise`, `nix copy --from`)
//! asks for `nix-cache-info`, `<hash>.narinfo` and `nar/...`; each request becomes a
//! Cloud Storage download authorized by the VM's read-only service account, whose token
//! comes from the metadata server and never leaves this process (curl reads it from its
//! configuration on stdin, as the agent carries no TLS). Nix checks the narinfo
//! signatures against the cache's public key; this only moves bytes, and only objects
//! of the cache's layout.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use claw_free_protocol::rollout::cache;

use crate::context::Context;
use crate::curl;
use crate::log;

/// How many requests are served at once; more wait in the listen queue's stead get 503.
const MAX_CLIENTS: usize = 16;
/// The longest request head read from Nix.
const MAX_HEAD: usize = 8 * 1024;
/// A token is renewed this long before Google says it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);
/// The longest one download may take (a system's largest archive over a slow link).
const DOWNLOAD_TIMEOUT_SECS: &str = "1800";

/// Where the cache lives and where it is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheOptions {
    pub bucket: Option<String>,
    pub listen: SocketAddr,
    /// Cloud Storage's root (`https://storage.googleapis.com`).
    pub storage_api: String,
}

impl Default for CacheOptions {
    fn default() -> Self {
        Self {
            bucket: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 8091)),
            storage_api: "https://storage.googleapis.com".into(),
        }
    }
}

/// Serves until the process is stopped.
pub fn serve(ctx: &Context) -> Result<(), String> {
    let options = &ctx.options.cache;
    let bucket = options
        .bucket
        .clone()
        .ok_or("serve-cache needs --cache-bucket")?;
    let listener = TcpListener::bind(options.listen)
        .map_err(|e| format!("cannot listen on {}: {}", options.listen, e.kind()))?;
    log::event(
        "cache",
        &format!(
            "serving bucket {bucket} to Nix on http://{}",
            options.listen
        ),
    );
    let upstream = Arc::new(Upstream {
        bucket,
        storage_api: options.storage_api.clone(),
        curl: ctx.options.rollout.curl.clone(),
        token_url: format!(
            "{}/computeMetadata/v1/instance/service-accounts/default/token",
            ctx.options.metadata_url
        ),
        http: ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .proxy(None)
                .timeout_global(Some(ctx.options.metadata_timeout))
                .build(),
        ),
        token: Mutex::new(None),
    });
    let busy = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        if busy.fetch_add(1, Ordering::SeqCst) >= MAX_CLIENTS {
            busy.fetch_sub(1, Ordering::SeqCst);
            let _ = respond(&mut stream, 503, "too many requests at once\n", false);
            continue;
        }
        let (upstream, busy) = (Arc::clone(&upstream), Arc::clone(&busy));
        thread::spawn(move || {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
            upstream.answer(&mut stream);
            busy.fetch_sub(1, Ordering::SeqCst);
        });
    }
    Err("the listening socket closed".into())
}

/// A request Nix may make: GET or HEAD of one object of the layout.
#[derive(Debug, PartialEq, Eq)]
struct Ask {
    head: bool,
    object: String,
}

/// Parses the request line; `Err` is the status and reason to answer with.
fn parse_request(line: &str) -> Result<Ask, (u16, &'static str)> {
    let mut parts = line.split_ascii_whitespace();
    let (Some(method), Some(target), Some(_version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err((400, "malformed request line"));
    };
    let head = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Err((405, "only GET and HEAD")),
    };
    let path = target.split('?').next().unwrap_or("");
    let object = path.strip_prefix('/').unwrap_or("");
    if !cache::is_object(object) {
        // Nix also asks for what this layout does not hold (build logs, `.ls` listings,
        // realisations): absent, as in any cache without them.
        return Err((404, "not an object of this cache"));
    }
    Ok(Ask {
        head,
        object: object.to_string(),
    })
}

struct Upstream {
    bucket: String,
    storage_api: String,
    curl: String,
    token_url: String,
    http: ureq::Agent,
    token: Mutex<Option<(String, Instant)>>,
}

impl Upstream {
    fn answer(&self, stream: &mut TcpStream) {
        let mut reader = BufReader::new(match stream.try_clone() {
            Ok(s) => s.take(MAX_HEAD as u64),
            Err(_) => return,
        });
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() {
            return;
        }
        // The rest of the head (headers) is read and ignored.
        let mut header = String::new();
        while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
            header.clear();
        }
        let ask = match parse_request(&line) {
            Ok(ask) => ask,
            Err((status, why)) => {
                let _ = respond(stream, status, &format!("{why}\n"), false);
                return;
            }
        };
        if let Err(why) = self.relay(&ask, stream, true) {
            log::event("cache", &format!("{}: {why}", ask.object));
            let _ = respond(stream, 502, &format!("{why}\n"), ask.head);
        }
    }

    /// Downloads `ask.object` and writes Cloud Storage's answer to Nix: the bytes on
    /// 200, the status and Google's message otherwise. A refused token is renewed once.
    fn relay(&self, ask: &Ask, out: &mut TcpStream, may_retry: bool) -> Result<(), String> {
        let token = self.token()?;
        let encoded = ask.object.replace('/', "%2F");
        let url = format!(
            "{}/storage/v1/b/{}/o/{encoded}{}",
            self.storage_api,
            self.bucket,
            if ask.head { "" } else { "?alt=media" }
        );
        let config = format!("url = \"{url}\"\nheader = \"Authorization: Bearer {token}\"\n");
        let mut child = curl::spawn(
            &self.curl,
            DOWNLOAD_TIMEOUT_SECS,
            &["--dump-header", "-"],
            &config,
        )
        .map_err(|e| format!("cannot run curl ({})", e.kind()))?;
        let mut body = BufReader::new(child.stdout.take().expect("piped stdout"));
        let (status, length) = read_head(&mut body);
        let result = match status {
            Some(200) if ask.head => respond(out, 200, "", true).map_err(|e| e.to_string()),
            Some(200) => {
                let mut head = String::from("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n");
                if let Some(length) = length {
                    head.push_str(&format!("Content-Length: {length}\r\n"));
                }
                head.push_str("\r\n");
                out.write_all(head.as_bytes())
                    .and_then(|()| std::io::copy(&mut body, out).map(|_| ()))
                    .map_err(|e| format!("sending to Nix failed ({})", e.kind()))
            }
            Some(401) if may_retry => {
                let _ = child.kill();
                let _ = child.wait();
                *self.token.lock().unwrap_or_else(|e| e.into_inner()) = None;
                return self.relay(ask, out, false);
            }
            Some(status @ (401 | 403 | 404)) => {
                let mut text = String::new();
                let _ = body.take(64 * 1024).read_to_string(&mut text);
                let why = google_message(&text);
                // A 404 is Nix asking whether a path is here, not a fault.
                if status != 404 {
                    log::event(
                        "cache",
                        &format!("{}: Cloud Storage answered {status}: {why}", ask.object),
                    );
                }
                respond(
                    out,
                    status,
                    &format!("Cloud Storage answered {status}: {why}\n"),
                    ask.head,
                )
                .map_err(|e| e.to_string())
            }
            Some(status) => Err(format!("Cloud Storage answered HTTP {status}")),
            None => Err("Cloud Storage could not be reached".into()),
        };
        let _ = child.kill();
        let _ = child.wait();
        result
    }

    /// The VM's service-account token, renewed from the metadata server when due.
    fn token(&self) -> Result<String, String> {
        let mut slot = self.token.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((token, until)) = slot.as_ref() {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        let refused =
            |why: String| format!("no service-account token from the metadata server ({why})");
        let mut answer = self
            .http
            .get(&self.token_url)
            .header("Metadata-Flavor", "Google")
            .call()
            .map_err(|e| refused(crate::metadata::transport_reason(&e)))?;
        if !answer.status().is_success() {
            return Err(refused(format!("HTTP {}", answer.status().as_u16())));
        }
        let text = answer
            .body_mut()
            .read_to_string()
            .map_err(|_| refused("unreadable answer".into()))?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|_| refused("not JSON".into()))?;
        let token = json["access_token"]
            .as_str()
            .filter(|t| token_shaped(t))
            .ok_or_else(|| refused("no access_token".into()))?
            .to_string();
        let lifetime = Duration::from_secs(json["expires_in"].as_u64().unwrap_or(0));
        let until = Instant::now() + lifetime.saturating_sub(TOKEN_MARGIN);
        *slot = Some((token.clone(), until));
        Ok(token)
    }
}

/// An OAuth access token, and nothing that could end the quoted header in curl's
/// configuration.
fn token_shaped(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 4096
        && token.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'~' | b'+' | b'/' | b'=')
        })
}

/// Reads curl's dumped response head: the final status and Content-Length.
fn read_head(body: &mut impl BufRead) -> (Option<u16>, Option<u64>) {
    let mut status = None;
    let mut length = None;
    let mut line = String::new();
    loop {
        line.clear();
        match body.read_line(&mut line) {
            Ok(0) | Err(_) => return (None, None),
            Ok(_) => {}
        }
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            // A 1xx head is followed by the real one.
            if status.is_some_and(|s: u16| s >= 200) {
                return (status, length);
            }
            continue;
        }
        if trimmed.starts_with("HTTP/") {
            status = trimmed
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok());
            length = None;
        } else if let Some((name, value)) = trimmed.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok();
            }
        }
    }
}

/// Google's `error.message`, on one line and short, or a plain note.
fn google_message(body: &str) -> String {
    let json: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let message = json["error"]["message"].as_str().unwrap_or("no message");
    log::one_line(message).chars().take(300).collect()
}

fn respond(
    stream: &mut TcpStream,
    status: u16,
    body: &str,
    head_only: bool,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        503 => "Service Unavailable",
        _ => "Bad Gateway",
    };
    let mut answer = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if !head_only {
        answer.push_str(body);
    }
    stream.write_all(answer.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_objects_of_the_layout_are_asked_for() {
        let ask =
            parse_request("GET /0c8ylyd3r4hc1cq8iv3b3ywqbnnv5hb6.narinfo HTTP/1.1\r\n").unwrap();
        assert_eq!(ask.object, "0c8ylyd3r4hc1cq8iv3b3ywqbnnv5hb6.narinfo");
        assert!(!ask.head);
        assert!(parse_request("HEAD /nix-cache-info HTTP/1.1").unwrap().head);
        assert_eq!(
            parse_request("PUT /nix-cache-info HTTP/1.1"),
            Err((405, "only GET and HEAD"))
        );
        for bad in [
            "GET /../etc HTTP/1.1",
            "GET /nar/%2e%2e HTTP/1.1",
            "GET /secrets HTTP/1.1",
            "GET / HTTP/1.1",
        ] {
            assert_eq!(parse_request(bad).unwrap_err().0, 404, "{bad}");
        }
        assert_eq!(parse_request("GET").unwrap_err().0, 400);
    }

    #[test]
    fn tokens_and_heads() {
        assert!(token_shaped("ya29.c.abc-_DEF"));
        assert!(!token_shaped("ya29\"\nurl = x") && !token_shaped(""));
        let mut head = std::io::Cursor::new(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/2 404\r\ncontent-length: 12\r\n\r\nbody".to_vec(),
        );
        assert_eq!(read_head(&mut head), (Some(404), Some(12)));
        assert_eq!(
            google_message(r#"{"error":{"code":403,"message":"vm@x does not\nhave"}}"#),
            "vm@x does not have"
        );
    }
}
