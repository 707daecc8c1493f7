//! Following a deploy the way the page does, shared by the deploy and bot tests:
//! start it, poll its status, hand the VM its first token when it asks, and count
//! the Google calls each poll makes.

#![allow(dead_code)]

use claw_free_it::{start_body, Client, Reply, Stack, TELEGRAM_TOKEN};
use serde_json::Value;
use std::time::{Duration, Instant};

/// The most Google calls one status poll may make to move a deploy on.
pub const MAX_CALLS_PER_POLL: u64 = 1;
/// What the one poll that delivers a token given at the start adds: the instance and
/// the metadata write.
pub const DELIVERY_CALLS: u64 = 2;

/// Calls to Google's APIs (not the VMs' metadata server, not OAuth) so far.
pub fn google_calls(stack: &Stack) -> u64 {
    stack
        .counters()
        .iter()
        .filter(|(name, _)| name.starts_with("compute.") || name.starts_with("serviceusage."))
        .map(|(_, count)| count)
        .sum()
}

pub fn counter(stack: &Stack, name: &str) -> u64 {
    stack.counters().get(name).copied().unwrap_or(0)
}

/// `POST /api/deploy/start`, optionally with an `Idempotency-Key`.
pub fn start(client: &Client, project: &str, bot: &str, key: Option<&str>) -> Reply {
    let headers: Vec<(&str, &str)> = key.map(|k| ("idempotency-key", k)).into_iter().collect();
    client.send(
        "POST",
        "/api/deploy/start",
        Some(start_body(project, bot)),
        &headers,
    )
}

/// Starts a deploy that must be accepted; returns its id and VM name.
pub fn started(client: &Client, project: &str, bot: &str) -> (String, String) {
    let reply = start(client, project, bot, None);
    assert_eq!(reply.status, 200, "start: {}", reply.text);
    (
        reply.json["deploymentId"]
            .as_str()
            .expect("deploymentId")
            .to_string(),
        reply.json["vmName"].as_str().expect("vmName").to_string(),
    )
}

/// What following a deploy saw.
pub struct Followed {
    /// The last status.
    pub last: Value,
    /// Every distinct `status`, in order.
    pub statuses: Vec<String>,
    /// The secret version the first token was delivered with, if it was.
    pub secret_version: Option<u64>,
    pub polls: u32,
}

/// Polls the deploy until its status is one of `until` (or `done`/`error`), delivering
/// `token` once when the VM waits for it, and checking every poll's Google calls.
pub fn follow(
    stack: &Stack,
    client: &Client,
    id: &str,
    token: Option<&str>,
    until: &[&str],
    timeout: Duration,
) -> Followed {
    let deadline = Instant::now() + timeout;
    let mut followed = Followed {
        last: Value::Null,
        statuses: Vec::new(),
        secret_version: None,
        polls: 0,
    };
    loop {
        let before = google_calls(stack);
        let writes = counter(stack, "compute.instances.setMetadata");
        let reply = client.get(&format!("/api/deploy/{id}"));
        let calls = google_calls(stack) - before;
        assert_eq!(reply.status, 200, "status: {}", reply.text);
        let delivered = counter(stack, "compute.instances.setMetadata") > writes;
        assert!(
            calls <= MAX_CALLS_PER_POLL + if delivered { DELIVERY_CALLS } else { 0 },
            "{calls} Google calls in one poll"
        );
        followed.polls += 1;
        let status = reply.json["status"].as_str().unwrap_or("").to_string();
        if followed.statuses.last() != Some(&status) {
            followed.statuses.push(status.clone());
        }
        followed.last = reply.json.clone();
        if until.contains(&status.as_str()) || status == "done" || status == "error" {
            return followed;
        }
        if reply.json["waitingForSecret"] == true && followed.secret_version.is_none() {
            if let Some(token) = token {
                let sent = client.post(
                    &format!("/api/deploy/{id}/secret"),
                    serde_json::json!({"telegramToken": token}),
                );
                if sent.status == 200 {
                    followed.secret_version = sent.json["secretVersion"].as_u64();
                } else {
                    assert_eq!(sent.status, 409, "first secret: {}", sent.text);
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "the deploy did not reach {until:?} in {timeout:?}; last: {}",
            reply.json
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Follows a deploy to `done` (or its end), handing it the standard token when its VM
/// asks.
pub fn follow_to_done(stack: &Stack, client: &Client, id: &str, timeout: Duration) -> Followed {
    follow(stack, client, id, Some(TELEGRAM_TOKEN), &["done"], timeout)
}

/// Follows a deploy that is handed no token until its status is one of `until` (or it
/// ends), within 30 s.
pub fn follow_tokenless(stack: &Stack, client: &Client, id: &str, until: &[&str]) -> Followed {
    follow(stack, client, id, None, until, Duration::from_secs(30))
}

/// The deploy ended in an error whose message says `words`.
pub fn assert_failed_saying(last: &Value, words: &str) {
    assert_eq!(last["status"], "error", "{last}");
    assert!(last["error"].as_str().unwrap().contains(words), "{last}");
}

/// A deploy followed to `done` with the standard token.
pub fn deploy_to_done(
    stack: &Stack,
    client: &Client,
    project: &str,
    bot: &str,
) -> (String, String, Followed) {
    let (id, vm) = started(client, project, bot);
    let followed = follow_to_done(stack, client, &id, Duration::from_secs(60));
    assert_eq!(followed.last["status"], "done", "{}", followed.last);
    (id, vm, followed)
}

/// The simulator's view of one VM.
pub fn sim_vm(stack: &Stack, project: &str, instance: &str) -> Value {
    stack.admin_get("vms")["vms"]
        .as_array()
        .expect("vms")
        .iter()
        .find(|v| v["project"] == project && v["instance"] == instance)
        .cloned()
        .unwrap_or_else(|| panic!("no VM {project}/{instance} in the simulator"))
}

/// The files under `dir` whose name is `name`, with their contents.
pub fn files_named(dir: &std::path::Path, name: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_named(&path, name));
        } else if path.file_name().is_some_and(|n| n == name) {
            found.push(std::fs::read_to_string(&path).unwrap_or_default());
        }
    }
    found
}
