//! `claw-free-bench`: prints claw.free's figures. Nothing here asserts a timing (these
//! machines are noisy); the numbers are for people comparing changes.
//!
//! - the Worker bundle: Wasm size raw and gzip, and the JavaScript glue;
//! - one whole deploy through wrangler dev, the simulator and the real agent: Google
//!   calls per endpoint, KV reads and writes, and the same per status poll;
//! - status-poll latency (p50, p99) and requests per second under wrangler dev.

use claw_free_it::{repo_root, start_body, Client, Reply, Stack, StackOptions, TELEGRAM_TOKEN};
use serde_json::json;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

fn main() {
    bundle();
    let stack = Stack::start(StackOptions::default());
    let (owner, deployment) = deploy(&stack);
    latency(&stack, &owner, &deployment);
}

fn gzip_size(path: &std::path::Path) -> u64 {
    let out = Command::new("gzip")
        .args(["-9", "-c"])
        .arg(path)
        .output()
        .expect("gzip");
    out.stdout.len() as u64
}

fn bundle() {
    let build = repo_root().join("build");
    println!("== Worker bundle (build/, as scripts/build-worker made it)");
    for file in ["index_bg.wasm", "index.js"] {
        let path = build.join(file);
        let raw = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        println!(
            "{file:>16}: {:>8.1} KB raw, {:>7.1} KB gzip",
            raw as f64 / 1024.0,
            gzip_size(&path) as f64 / 1024.0
        );
    }
    println!(
        "{:>16}: 3072 KB gzip (free plan), 10240 KB (paid)",
        "Cloudflare limit"
    );
}

/// KV reads and writes a reply reports (development only header).
fn kv_ops(reply: &Reply) -> (u64, u64) {
    let header = reply.header("x-claw-free-kv").unwrap_or("");
    let field = |name: &str| {
        header
            .split_whitespace()
            .find_map(|p| p.strip_prefix(name).and_then(|v| v.parse().ok()))
            .unwrap_or(0)
    };
    (field("reads="), field("writes="))
}

fn diff(after: &BTreeMap<String, u64>, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter(|(k, _)| !k.starts_with("metadata.") && !k.starts_with("oauth.authorize"))
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

fn deploy(stack: &Stack) -> (Client, String) {
    println!("\n== One deploy (sign-in to done; simulator steps 300 ms, real agent)");
    let client = stack.client();
    let before_sign_in = stack.counters();
    let kv = std::cell::Cell::new((0u64, 0u64));
    let add = |reply: &Reply| {
        let (r, w) = kv_ops(reply);
        let (reads, writes) = kv.get();
        kv.set((reads + r, writes + w));
    };
    let start = client.get("/api/auth/google?provider=kimi&channel=telegram&cloud=gcp");
    add(&start);
    let consent = Client::new("").get(start.header("location").expect("consent"));
    let callback = client.get(consent.header("location").expect("callback"));
    add(&callback);
    let session = client.get("/api/deploy/session");
    add(&session);
    let sign_in_calls = diff(&stack.counters(), &before_sign_in);
    let sign_in_kv = kv.get();

    let before_deploy = stack.counters();
    let started_at = Instant::now();
    let start = client.send(
        "POST",
        "/api/deploy/start",
        Some(start_body("claw-demo", "Bench bot")),
        &[("idempotency-key", "bench-1")],
    );
    assert_eq!(start.status, 200, "deploy start: {}", start.text);
    add(&start);
    let id = start.json["deploymentId"]
        .as_str()
        .expect("deploymentId")
        .to_string();
    let mut polls = 0u64;
    let mut secret_sent = false;
    let mut poll_kv = (0u64, 0u64);
    let (mut poll_calls, mut most_poll_calls) = (0u64, 0u64);
    loop {
        let before = google_calls(stack);
        let status = client.get(&format!("/api/deploy/{id}"));
        let calls = google_calls(stack) - before;
        poll_calls += calls;
        most_poll_calls = most_poll_calls.max(calls);
        polls += 1;
        let (r, w) = kv_ops(&status);
        poll_kv.0 += r;
        poll_kv.1 += w;
        add(&status);
        match status.json["status"].as_str() {
            Some("done") => break,
            Some("error") => panic!("the deploy failed: {}", status.text),
            _ => {}
        }
        if status.json["waitingForSecret"] == true && !secret_sent {
            let sent = client.post(
                &format!("/api/deploy/{id}/secret"),
                json!({"telegramToken": TELEGRAM_TOKEN}),
            );
            assert_eq!(sent.status, 200, "secret: {}", sent.text);
            add(&sent);
            secret_sent = true;
        }
        assert!(
            started_at.elapsed() < Duration::from_secs(180),
            "the deploy did not finish in 3 minutes"
        );
        std::thread::sleep(Duration::from_millis(1000));
    }
    let deploy_calls = diff(&stack.counters(), &before_deploy);
    let total = |m: &BTreeMap<String, u64>| m.values().sum::<u64>();
    println!(
        "sign-in: {} Google calls {:?}; KV {} reads, {} writes",
        total(&sign_in_calls),
        sign_in_calls,
        sign_in_kv.0,
        sign_in_kv.1
    );
    println!(
        "deploy:  {} Google calls over {polls} status polls (1 s apart), done in {:.1} s",
        total(&deploy_calls),
        started_at.elapsed().as_secs_f64()
    );
    for (endpoint, count) in &deploy_calls {
        println!("{endpoint:>40}: {count}");
    }
    let kv = kv.get();
    println!(
        "KV for the whole journey: {} reads, {} writes; per status poll: {:.2} reads, {:.2} writes",
        kv.0,
        kv.1,
        poll_kv.0 as f64 / polls as f64,
        poll_kv.1 as f64 / polls as f64
    );
    println!(
        "Google calls per status poll: {:.2} on average, {most_poll_calls} at most (start and secret delivery make the rest)",
        poll_calls as f64 / polls as f64
    );
    (client, id)
}

/// Calls to Google's Cloud APIs so far (not OAuth, not the VMs' metadata servers).
fn google_calls(stack: &Stack) -> u64 {
    stack
        .counters()
        .iter()
        .filter(|(k, _)| {
            k.starts_with("compute.") || k.starts_with("serviceusage.") || k.starts_with("crm.")
        })
        .map(|(_, v)| v)
        .sum()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn latency(stack: &Stack, client: &Client, id: &str) {
    println!("\n== Status poll of a finished deploy under wrangler dev (loopback)");
    let path = format!("/api/deploy/{id}");
    let mut samples = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let reply = client.get(&path);
        samples.push(t.elapsed());
        assert!(reply.status < 500);
    }
    samples.sort();
    println!(
        "sequential, 200 polls: p50 {:.1} ms, p99 {:.1} ms",
        percentile(&samples, 0.5),
        percentile(&samples, 0.99)
    );
    let cookie = client.cookie("__Host-session").unwrap_or_default();
    let started = Instant::now();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let site = stack.site.clone();
            let cookie = cookie.clone();
            let path = path.clone();
            std::thread::spawn(move || {
                let c = Client::new(&site);
                c.set_cookie("__Host-session", &cookie);
                for _ in 0..100 {
                    c.get(&path);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("load thread");
    }
    println!(
        "4 concurrent clients x 100 polls: {:.0} requests/s",
        400.0 / started.elapsed().as_secs_f64()
    );
}
