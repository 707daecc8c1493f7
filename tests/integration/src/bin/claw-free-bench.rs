//! `claw-free-bench`: prints claw.free's figures. Nothing here asserts a timing (these
//! machines are noisy); the numbers are for people comparing changes, each beside
//! its goal.
//!
//! - the Worker bundle: Wasm size raw and gzip, and the JavaScript glue;
//! - one whole journey through wrangler dev, the simulator and the real agent, as the
//!   page makes it (the token given with the start, polls that honour `retryAfterMs`
//!   and send back the last `ETag`): Google calls per endpoint and per status poll,
//!   KV reads and writes for sign-in and for the whole journey;
//! - status-poll latency (p50, p99) and throughput under wrangler dev, ours beside a
//!   plain JavaScript reference Worker that does per poll what the original
//!   TypeScript Worker did (`tests/bench/reference-worker`), in the same run, taking
//!   turns in rounds so that a busy moment of the machine does not fall on one side.

use claw_free_it::{repo_root, Client, Reply, Stack, StackOptions, TELEGRAM_TOKEN};
use serde_json::json;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

/// The goals the figures are printed against.
const GOAL_WASM_GZIP_KB: f64 = 400.0;
const GOAL_JOURNEY_KV_WRITES: u64 = 7;
const GOAL_SIGN_IN_START_KV_WRITES: u64 = 0;
const GOAL_GOOGLE_CALLS_PER_POLL: f64 = 1.0;
const GOAL_LATENCY_RATIO: f64 = 0.8;
const GOAL_THROUGHPUT_RATIO: f64 = 1.25;

fn main() {
    bundle();
    let mut stack = Stack::start(StackOptions::default());
    let (owner, deployment) = deploy(&stack);
    let reference = stack.start_reference_worker();
    latency(&stack, &owner, &deployment, &reference);
    in_progress(&stack, &owner, &reference);
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "NOT met"
    }
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
        let gzip = gzip_size(&path) as f64 / 1024.0;
        let goal = if file == "index_bg.wasm" {
            format!(
                "  (goal <= {GOAL_WASM_GZIP_KB} KB gzip: {})",
                verdict(gzip <= GOAL_WASM_GZIP_KB)
            )
        } else {
            String::new()
        };
        println!(
            "{file:>16}: {:>8.1} KB raw, {gzip:>7.1} KB gzip{goal}",
            raw as f64 / 1024.0,
        );
    }
    println!(
        "{:>16}: 3072 KB gzip (free plan), 10240 KB (paid)",
        "Cloudflare limit"
    );
}

fn diff(after: &BTreeMap<String, u64>, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter(|(k, _)| !k.starts_with("metadata.") && !k.starts_with("oauth.authorize"))
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

/// KV operations summed over the replies of a journey.
#[derive(Default, Clone, Copy)]
struct Kv {
    reads: u64,
    writes: u64,
}

impl Kv {
    fn add(&mut self, reply: &Reply) {
        let (r, w) = reply.kv_ops();
        self.reads += r;
        self.writes += w;
    }
}

fn deploy(stack: &Stack) -> (Client, String) {
    println!("\n== One journey, sign-in to done, as the page makes it (simulator steps 300 ms, real agent)");
    stack.admin(
        "telegram/bots",
        json!({"token": TELEGRAM_TOKEN, "username": "bench_bot", "firstName": "Bench bot"}),
    );
    let client = stack.client();
    let before_sign_in = stack.counters();
    let (mut sign_in_start, mut journey) = (Kv::default(), Kv::default());
    let start = client.get("/api/auth/google?provider=kimi&channel=telegram&cloud=gcp");
    sign_in_start.add(&start);
    journey.add(&start);
    let consent = Client::new("").get(start.header("location").expect("consent"));
    let callback = client.get(consent.header("location").expect("callback"));
    journey.add(&callback);
    let session = client.get("/api/deploy/session");
    journey.add(&session);
    let sign_in_calls = diff(&stack.counters(), &before_sign_in);
    let sign_in = journey;

    let before_deploy = stack.counters();
    let started_at = Instant::now();
    let start = client.send(
        "POST",
        "/api/deploy/start",
        Some(
            json!({"projectId": "claw-demo", "region": "us-central1", "provider": "kimi",
                    "botName": "Bench bot", "telegramToken": TELEGRAM_TOKEN}),
        ),
        &[("idempotency-key", "bench-1")],
    );
    assert_eq!(start.status, 200, "deploy start: {}", start.text);
    let (_, start_writes) = start.kv_ops();
    journey.add(&start);
    let id = start.json["deploymentId"]
        .as_str()
        .expect("deploymentId")
        .to_string();
    let mut polls = 0u64;
    let mut not_modified = 0u64;
    let mut poll_kv = Kv::default();
    let (mut poll_calls, mut most_poll_calls) = (0u64, 0u64);
    let mut etag: Option<String> = None;
    let mut wait = Duration::from_millis(1000);
    loop {
        let before = google_calls(stack);
        let headers: Vec<(&str, &str)> = etag
            .as_deref()
            .map(|t| ("if-none-match", t))
            .into_iter()
            .collect();
        let status = client.send("GET", &format!("/api/deploy/{id}"), None, &headers);
        let calls = google_calls(stack) - before;
        poll_calls += calls;
        most_poll_calls = most_poll_calls.max(calls);
        polls += 1;
        poll_kv.add(&status);
        journey.add(&status);
        if status.status == 304 {
            not_modified += 1;
        } else {
            assert_eq!(status.status, 200, "status: {}", status.text);
            etag = status.header("etag").map(str::to_string);
            match status.json["status"].as_str() {
                Some("done") => break,
                Some("error") => panic!("the deploy failed: {}", status.text),
                _ => {}
            }
            // The page waits what the Worker said, and a person's browser is not
            // exact: half the time it asks a little sooner (answered by 304).
            let told = status.json["retryAfterMs"].as_u64().unwrap_or(1000);
            wait = Duration::from_millis(if polls.is_multiple_of(2) {
                told / 2
            } else {
                told
            });
        }
        assert!(
            started_at.elapsed() < Duration::from_secs(180),
            "the deploy did not finish in 3 minutes"
        );
        std::thread::sleep(wait);
    }
    let deploy_calls = diff(&stack.counters(), &before_deploy);
    let total = |m: &BTreeMap<String, u64>| m.values().sum::<u64>();
    println!(
        "sign-in: {} Google calls {:?}; KV {} reads, {} writes",
        total(&sign_in_calls),
        sign_in_calls,
        sign_in.reads,
        sign_in.writes
    );
    println!(
        "KV writes to start a sign-in (GET /api/auth/google): {} (goal {GOAL_SIGN_IN_START_KV_WRITES}: {})",
        sign_in_start.writes,
        verdict(sign_in_start.writes == GOAL_SIGN_IN_START_KV_WRITES)
    );
    println!(
        "deploy:  {} Google calls over {polls} status polls ({not_modified} answered 304), done in {:.1} s",
        total(&deploy_calls),
        started_at.elapsed().as_secs_f64()
    );
    for (endpoint, count) in &deploy_calls {
        println!("{endpoint:>40}: {count}");
    }
    println!(
        "KV for the whole journey: {} reads, {} writes (goal <= {GOAL_JOURNEY_KV_WRITES}: {}); \
         the start wrote {start_writes}; per status poll: {:.2} reads, {:.2} writes",
        journey.reads,
        journey.writes,
        verdict(journey.writes <= GOAL_JOURNEY_KV_WRITES),
        poll_kv.reads as f64 / polls as f64,
        poll_kv.writes as f64 / polls as f64
    );
    println!(
        "   sign-in start wrote {}, the callback {} (its pending sign-in deleted, the session written); \
         the deploy from start to done {}",
        sign_in_start.writes,
        sign_in.writes - sign_in_start.writes,
        journey.writes - sign_in.writes
    );
    let per_poll = poll_calls as f64 / polls as f64;
    println!(
        "Google calls per status poll: {per_poll:.2} on average (goal <= {GOAL_GOOGLE_CALLS_PER_POLL}: {}), \
         {most_poll_calls} at most (the poll that delivers the token: +2)",
        verdict(per_poll <= GOAL_GOOGLE_CALLS_PER_POLL)
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

/// Latency and throughput of one way of polling.
struct Figures {
    p50: f64,
    p99: f64,
    rps: f64,
}

/// One poll of `path`, with `If-None-Match: tag` when given; its status.
fn poll(client: &Client, path: &str, tag: Option<&str>) -> u16 {
    let headers: Vec<(&str, &str)> = tag.map(|t| ("if-none-match", t)).into_iter().collect();
    client.send("GET", path, None, &headers).status
}

/// One way of polling: `path` on `base` with `cookies` (and `If-None-Match: tag`).
struct Target<'a> {
    base: &'a str,
    cookies: &'a [(String, String)],
    path: &'a str,
    tag: Option<&'a str>,
}

impl Target<'_> {
    fn client(&self) -> Client {
        let client = Client::new(self.base);
        for (k, v) in self.cookies {
            client.set_cookie(k, v);
        }
        client
    }
}

/// Sequential polls of a deploy in progress per side, and all the polls measured
/// (those and the 4 clients' at once), each one Google call for ours.
const IN_PROGRESS_SAMPLES: usize = 100;
const IN_PROGRESS_POLLS: usize = IN_PROGRESS_SAMPLES + 4 * (IN_PROGRESS_SAMPLES / 2);

/// Rounds in which the targets take turns, so that a machine busy with something else
/// for a while slows them all alike rather than whichever was being measured.
const ROUNDS: usize = 10;

/// For each target 20 polls to warm up, `samples` sequential polls, then 4 clients
/// making `samples / 2` polls each at once, in [`ROUNDS`] rounds where the targets
/// take turns. `calls` counts the Google calls so far; each target's figures come with
/// its share of them.
fn measure<const N: usize>(
    targets: &[Target; N],
    samples: usize,
    calls: impl Fn() -> u64,
) -> [(Figures, u64); N] {
    let clients: Vec<Client> = targets.iter().map(Target::client).collect();
    for (target, client) in targets.iter().zip(&clients) {
        for _ in 0..20 {
            poll(client, target.path, target.tag);
        }
    }
    let per_round = samples / ROUNDS;
    let per_client = samples / 2 / ROUNDS;
    let mut latencies = vec![Vec::new(); N];
    let mut busy = vec![Duration::ZERO; N];
    let mut done = vec![0usize; N];
    let mut google = vec![0u64; N];
    for _ in 0..ROUNDS {
        for (i, (target, client)) in targets.iter().zip(&clients).enumerate() {
            let before = calls();
            for _ in 0..per_round {
                let t = Instant::now();
                let status = poll(client, target.path, target.tag);
                latencies[i].push(t.elapsed());
                assert!(status < 400, "poll answered {status}");
            }
            let started = Instant::now();
            std::thread::scope(|scope| {
                for _ in 0..4 {
                    scope.spawn(|| {
                        let c = target.client();
                        for _ in 0..per_client {
                            poll(&c, target.path, target.tag);
                        }
                    });
                }
            });
            busy[i] += started.elapsed();
            done[i] += 4 * per_client;
            google[i] += calls() - before;
        }
    }
    std::array::from_fn(|i| {
        latencies[i].sort();
        (
            Figures {
                p50: percentile(&latencies[i], 0.5),
                p99: percentile(&latencies[i], 0.99),
                rps: done[i] as f64 / busy[i].as_secs_f64(),
            },
            google[i],
        )
    })
}

fn latency(stack: &Stack, client: &Client, id: &str, reference: &str) {
    println!("\n== Status poll of a finished deploy under wrangler dev (loopback), side by side");
    // The reference gets the same finished deploy, as the original stored it.
    let done = client.get(&format!("/api/deploy/{id}")).json;
    let seeded = Client::new(reference).post(
        "/_seed",
        json!({"deploys": {id: {"status": "done", "projectId": done["projectId"], "zone": done["zone"],
                                 "vmName": done["vmName"], "ip": done["ip"], "botName": done["botName"]}}}),
    );
    assert_eq!(seeded.status, 200, "seed: {}", seeded.text);
    let path = format!("/api/deploy/{id}");
    let cookies: Vec<(String, String)> = ["__Host-session", "__Host-deploy"]
        .iter()
        .filter_map(|name| client.cookie(name).map(|v| (name.to_string(), v)))
        .collect();
    let tag = client
        .get(&path)
        .header("etag")
        .expect("a finished answer carries an ETag")
        .to_string();

    let target = |base, cookies, path, tag| Target {
        base,
        cookies,
        path,
        tag,
    };
    let figures = measure(
        &[
            target(reference, &[], &path, None),
            target(&stack.site, &cookies, &path, None),
            target(&stack.site, &cookies, &path, Some(&tag)),
            // The floor of each: a route that touches nothing.
            target(reference, &[], "/api/health", None),
            target(&stack.site, &[], "/api/health", None),
        ],
        200,
        || 0,
    );
    let [original, plain, tagged, reference_floor, floor] = figures.map(|(f, _)| f);
    let row = |name: &str, f: &Figures| {
        println!(
            "{name:<58} p50 {:>5.2} ms  p99 {:>5.2} ms  {:>5.0} req/s (4 clients)",
            f.p50, f.p99, f.rps
        );
    };
    row("reference (original per poll: 1 KV read, JSON)", &original);
    row("ours, no tag (1 KV read)", &plain);
    row(
        "ours, as the browser polls (If-None-Match: 304, no KV)",
        &tagged,
    );
    row("reference, /api/health (touches nothing)", &reference_floor);
    row("ours, /api/health (touches nothing)", &floor);
    println!(
        "floor, ours / reference: p50 {:.2}x, throughput {:.2}x",
        floor.p50 / reference_floor.p50,
        floor.rps / reference_floor.rps
    );
    for (name, ours) in [("no tag", &plain), ("as the browser polls", &tagged)] {
        let latency = ours.p50 / original.p50;
        let throughput = ours.rps / original.rps;
        println!(
            "ours ({name}) / reference: p50 {latency:.2}x (goal <= {GOAL_LATENCY_RATIO}: {}), \
             throughput {throughput:.2}x (goal >= {GOAL_THROUGHPUT_RATIO}: {})",
            verdict(latency <= GOAL_LATENCY_RATIO),
            verdict(throughput >= GOAL_THROUGHPUT_RATIO)
        );
    }
}

/// A deploy in progress (its VM never becomes healthy, so it stays `starting`): ours
/// reads KV once and asks Google once per poll; the reference reads twice (the deploy
/// and the session) and asks Google once, as the original did.
fn in_progress(stack: &Stack, client: &Client, reference: &str) {
    println!("\n== Status poll of a deploy in progress (one Google call each), side by side");
    let start = client.post(
        "/api/deploy/start",
        json!({"projectId": "claw-demo", "region": "us-central1", "provider": "kimi",
               "botName": "Never healthy", "telegramToken": TELEGRAM_TOKEN}),
    );
    assert_eq!(start.status, 200, "deploy start: {}", start.text);
    let id = start.json["deploymentId"].as_str().expect("id").to_string();
    let vm = start.json["vmName"].as_str().expect("vmName").to_string();
    let path = format!("/api/deploy/{id}");
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut faulted = false;
    loop {
        let reply = client.get(&path);
        let status = reply.json["status"].as_str().unwrap_or("").to_string();
        if !faulted && status != "creating" {
            stack.admin(
                "vm-faults",
                json!({"project": "claw-demo", "zone": reply.json["zone"], "instance": vm, "neverHealthy": true}),
            );
            faulted = true;
        }
        if faulted && status == "starting" {
            break;
        }
        assert!(status != "done" && status != "error", "{}", reply.text);
        assert!(
            Instant::now() < deadline,
            "not starting in time: {}",
            reply.text
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let seeded = Client::new(reference).post(
        "/_seed",
        json!({"deploys": {&id: {"status": "booting", "projectId": "claw-demo", "zone": "us-central1-a", "vmName": vm}},
               "sessions": {"bench-session": {"accessToken": "ya29.reference-holds-no-real-token"}}}),
    );
    assert_eq!(seeded.status, 200, "seed: {}", seeded.text);
    let cookies: Vec<(String, String)> = ["__Host-session", "__Host-deploy"]
        .iter()
        .filter_map(|name| client.cookie(name).map(|v| (name.to_string(), v)))
        .collect();
    let reference_cookies = [("session".to_string(), "bench-session".to_string())];
    let figures = measure(
        &[
            Target {
                base: reference,
                cookies: &reference_cookies,
                path: &path,
                tag: None,
            },
            Target {
                base: &stack.site,
                cookies: &cookies,
                path: &path,
                tag: None,
            },
        ],
        IN_PROGRESS_SAMPLES,
        || google_calls(stack),
    );
    let [(original, reference_calls), (ours, our_calls)] = figures;
    for (name, f, calls) in [
        (
            "reference (2 KV reads, 1 Google call)",
            &original,
            reference_calls,
        ),
        ("ours, no tag (1 KV read, 1 Google call)", &ours, our_calls),
    ] {
        println!(
            "{name:<58} p50 {:>5.2} ms  p99 {:>5.2} ms  {:>5.0} req/s (4 clients); {calls} Google calls for {IN_PROGRESS_POLLS} polls",
            f.p50, f.p99, f.rps
        );
    }
    println!(
        "ours / reference: p50 {:.2}x (goal <= {GOAL_LATENCY_RATIO}: {}), throughput {:.2}x (goal >= {GOAL_THROUGHPUT_RATIO}: {}); \
         the reference's calls are refused 401 by the simulator (it holds no real token), ours are answered",
        ours.p50 / original.p50,
        verdict(ours.p50 / original.p50 <= GOAL_LATENCY_RATIO),
        ours.rps / original.rps,
        verdict(ours.rps / original.rps >= GOAL_THROUGHPUT_RATIO)
    );
}
