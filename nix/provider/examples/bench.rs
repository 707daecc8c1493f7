//! Bench: starts the real `clawfree-provider` binary, walks a setup conversation
//! through it (plain and streaming requests, a pasted key handed to a stand-in
//! `openclaw`, the finish), and prints its resident memory (VmRSS and the peak VmHWM
//! from /proc) and the time per request.
//!
//! ```text
//! cargo build --release -p claw-free-provider --bins --examples
//! target/release/examples/bench [PATH-TO-clawfree-provider] [REQUESTS]
//! ```

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use claw_free_provider::system::{parse_vm_rss, resident_kib};
use serde_json::{json, Value};

#[path = "../tests/common/http.rs"]
mod http;

/// The Setup model's key, as the VM agent makes it at first boot.
const BENCH_KEY: &str = "bench-setup-provider-key-0123456789abcdef";

/// One chat completion, as OpenClaw sends it with the Setup model's key.
fn post(host: &str, body: &str) {
    let (status, answer) = http::request_with(
        &format!("http://{host}"),
        "POST",
        "/v1/chat/completions",
        Some(body),
        &format!("Host: {host}\r\nAuthorization: Bearer {BENCH_KEY}\r\n"),
    );
    assert_eq!(status, 200, "unexpected answer: {answer}");
}

fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    parse_vm_rss(&line.replace("VmHWM:", "VmRSS:")).unwrap()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let binary = args.next().map(PathBuf::from).unwrap_or_else(|| {
        let exe = std::env::current_exe().unwrap();
        exe.parent()
            .and_then(Path::parent)
            .unwrap()
            .join("clawfree-provider")
    });
    let requests: usize = args
        .next()
        .map_or(200, |n| n.parse().expect("REQUESTS is a number"));
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let dir = std::env::temp_dir().join(format!("clawfree-provider-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("openclaw.json"),
        json!({"models": {"providers": {"claw-free": {}}}, "agents": {"defaults": {"model": {"primary": "claw-free/setup"}}}}).to_string(),
    )
    .unwrap();
    let key_file = dir.join("setup-provider.key");
    std::fs::write(&key_file, BENCH_KEY).unwrap();

    let mut child = Command::new(&binary)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--provider",
            "kimi",
            "--restart-delay-ms",
            "0",
        ])
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--openclaw")
        .arg(fixtures.join("openclaw"))
        .arg("--openclaw-config")
        .arg(dir.join("openclaw.json"))
        .arg("--api-key-file")
        .arg(&key_file)
        .arg("--restart-gateway")
        .arg(fixtures.join("restart-gateway"))
        .env("OPENCLAW_FIXTURE_LOG", dir.join("openclaw.log"))
        .env("GATEWAY_FIXTURE_LOG", dir.join("gateway.log"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
    let pid = child.id();
    let line = claw_free_testkit::first_stdout_line(&mut child);
    let host = line
        .strip_prefix("listening on http://")
        .expect("listening line")
        .to_string();
    std::thread::sleep(Duration::from_millis(200));
    let idle = resident_kib(pid).unwrap();

    // The conversation, then many more turns (plain and streaming alternately).
    let mut messages: Vec<Value> = Vec::new();
    let script = ["hi", "nvapi-BENCH_KEY_0123456789abcdefghij", "no"];
    let started = Instant::now();
    for i in 0..requests {
        let text = match script.get(i) {
            Some(text) => text.to_string(),
            None => format!("are you there? ({i})"),
        };
        messages.push(json!({"role": "user", "content": text}));
        let body =
            json!({"model": "setup", "stream": i % 2 == 1, "messages": messages}).to_string();
        post(&host, &body);
        messages.push(json!({"role": "assistant", "content": "..."}));
        if messages.len() > 40 {
            messages.drain(..2);
        }
    }
    let elapsed = started.elapsed();
    let serving = resident_kib(pid).unwrap();
    let peak = peak_kib(pid);

    // SAFETY: plain syscall on our own child.
    unsafe {
        libc::kill(pid as i32, libc::SIGTERM);
    }
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);

    println!("clawfree-provider ({})", binary.display());
    println!("  resident memory idle:                {idle} KiB");
    println!("  resident memory after {requests} requests: {serving} KiB");
    println!("  peak resident memory (VmHWM):        {peak} KiB");
    println!(
        "  time per request:                    {:.2} ms",
        elapsed.as_secs_f64() * 1000.0 / requests as f64
    );
}
