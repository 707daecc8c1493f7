//! `openclaw gateway --port N`, as far as the first-boot test needs OpenClaw: it runs
//! as the unit's user, reads the configuration the unit points it at
//! (`OPENCLAW_CONFIG_PATH`, the agent's file as a systemd credential), reads the
//! Telegram token from the file that configuration names (`channels.telegram.tokenFile`),
//! writes its state below `OPENCLAW_STATE_DIR`, and only then answers `GET /health` on
//! the loopback port. Anything it cannot read or write stops it with a message and a
//! failing exit status, as OpenClaw would fail to start.
//!
//! It records what it read in `OPENCLAW_STATE_DIR/firstboot-gateway.json` (the token
//! only as its SHA-256), for the test to compare.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn fail(message: String) -> ! {
    eprintln!("openclaw (stand-in): {message}");
    std::process::exit(1);
}

fn env_path(name: &str) -> PathBuf {
    std::env::var_os(name)
        .map(PathBuf::from)
        .unwrap_or_else(|| fail(format!("{name} is not set")))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let port: u16 = match args.as_slice() {
        [gateway, flag, port] if gateway == "gateway" && flag == "--port" => port
            .parse()
            .unwrap_or_else(|_| fail(format!("bad port {port:?}"))),
        _ => fail(format!("usage: openclaw gateway --port N, got {args:?}")),
    };

    let config_path = env_path("OPENCLAW_CONFIG_PATH");
    let config: Value = std::fs::read(&config_path)
        .map_err(|e| format!("cannot read {}: {e}", config_path.display()))
        .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| format!("bad JSON: {e}")))
        .unwrap_or_else(|e| fail(e));
    if config["gateway"]["port"].as_u64() != Some(u64::from(port)) {
        fail(format!(
            "gateway.port {} is not --port {port}",
            config["gateway"]["port"]
        ));
    }
    if config["gateway"]["bind"] != "loopback" {
        fail(format!(
            "gateway.bind {} is not loopback",
            config["gateway"]["bind"]
        ));
    }
    let token_file = config["channels"]["telegram"]["tokenFile"]
        .as_str()
        .unwrap_or_else(|| fail("channels.telegram.tokenFile is not set".into()));
    let token = std::fs::read_to_string(token_file)
        .unwrap_or_else(|e| fail(format!("cannot read the Telegram token {token_file}: {e}")));
    let token = token.trim();
    let shaped = token.split_once(':').is_some_and(|(id, rest)| {
        !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && rest.len() >= 30
    });
    if !shaped {
        fail(format!(
            "the token in {token_file} is not a Telegram bot token"
        ));
    }

    let state_dir = env_path("OPENCLAW_STATE_DIR");
    let here =
        std::env::current_dir().unwrap_or_else(|e| fail(format!("no working directory: {e}")));
    let record = json!({
        "configPath": config_path,
        "tokenFile": token_file,
        "tokenSha256": Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect::<String>(),
        "port": port,
        "uid": unsafe { libc::getuid() },
        "workingDirectory": here,
    });
    let record_path = state_dir.join("firstboot-gateway.json");
    std::fs::write(&record_path, record.to_string())
        .unwrap_or_else(|e| fail(format!("cannot write {}: {e}", record_path.display())));

    let listener = TcpListener::bind(("127.0.0.1", port))
        .unwrap_or_else(|e| fail(format!("cannot listen on 127.0.0.1:{port}: {e}")));
    eprintln!("openclaw (stand-in): listening on 127.0.0.1:{port}");
    for stream in listener.incoming().flatten() {
        answer(stream);
    }
}

/// One HTTP/1.x request: `GET /health` is healthy, anything else is not found.
fn answer(mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while head.len() < 8192 && !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    let line = String::from_utf8_lossy(&head);
    let (status, body) = if line.starts_with("GET /health ") {
        ("200 OK", r#"{"ok":true,"status":"live"}"#)
    } else {
        ("404 Not Found", r#"{"ok":false}"#)
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}
