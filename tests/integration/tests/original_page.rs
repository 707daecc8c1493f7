//! The original claw.free page's requests, replayed as that page sends them, through
//! wrangler dev, the simulator and the real VM agent: sign-in with its query, the
//! session, a new project, the bot list, the start with `{projectId, telegramToken,
//! region}` and nothing else, then status polls only (that page never posts a secret)
//! until the bot is `done`, and the logout link. These are the requests
//! docs/CONTRACTS.md marks as the original page's.

mod deploy_support;

use claw_free_it::{Stack, StackOptions, TELEGRAM_TOKEN};
use deploy_support::*;
use serde_json::json;
use std::time::{Duration, Instant};

#[test]
fn the_original_pages_requests_bring_a_bot_to_done() {
    let stack = Stack::start(StackOptions::default());
    stack.admin(
        "telegram/bots",
        json!({"token": TELEGRAM_TOKEN, "username": "lovelace_helper_bot", "firstName": "Lovelace Helper"}),
    );
    stack.admin("config", json!({"billingForNewProjects": true}));
    let page = stack.client();

    // GET /api/auth/google?provider&channel&cloud → consent → callback → back home.
    let home = page.sign_in("provider=claude&channel=telegram&cloud=gcp");
    assert_eq!(home.status, 302, "{}", home.text);
    let location = home.header("location").unwrap_or_default().to_string();
    for part in ["provider=claude", "channel=telegram", "cloud=gcp"] {
        assert!(location.contains(part), "{part} in {location}");
    }

    // GET /api/deploy/session: the fields the original page reads.
    let session = page.get("/api/deploy/session");
    assert_eq!(session.status, 200, "{}", session.text);
    for field in [
        "provider",
        "channel",
        "userName",
        "userEmail",
        "userPicture",
    ] {
        assert!(session.json[field].is_string(), "{field}: {}", session.text);
    }
    assert_eq!(session.json["provider"], "claude");
    assert!(session.json["projects"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["projectId"].is_string() && p["name"].is_string()));

    // POST /api/deploy/create-project {projectId, displayName} → {projectId, name}.
    let created = page.post(
        "/api/deploy/create-project",
        json!({"projectId": "lovelace-bots-1", "displayName": "Lovelace bots"}),
    );
    assert_eq!(created.status, 200, "{}", created.text);
    assert_eq!(created.json["projectId"], "lovelace-bots-1");
    assert!(created.json["name"].is_string());

    // GET /api/deploy/existing → {vms: [...]}.
    let existing = page.get("/api/deploy/existing");
    assert_eq!(existing.status, 200, "{}", existing.text);
    assert!(existing.json["vms"].is_array());

    // POST /api/deploy/start exactly as the original page sends it.
    let start = page.post(
        "/api/deploy/start",
        json!({"projectId": "lovelace-bots-1", "telegramToken": TELEGRAM_TOKEN, "region": "us-central1"}),
    );
    assert_eq!(start.status, 200, "{}", start.text);
    let id = start.json["deploymentId"]
        .as_str()
        .expect("deploymentId")
        .to_string();
    let mut deploy_writes = start.kv_ops().1;

    // GET /api/deploy/:id until done; the page never sends the token again.
    let deadline = Instant::now() + Duration::from_secs(90);
    let before_calls = google_calls(&stack);
    let mut polls = 0u64;
    let mut enabling = false;
    let done = loop {
        let metadata_writes = counter(&stack, "compute.instances.setMetadata");
        let before = google_calls(&stack);
        let reply = page.get(&format!("/api/deploy/{id}"));
        polls += 1;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let (reads, writes) = reply.kv_ops();
        assert!(reads <= 1, "{reads} KV reads in one poll");
        assert!(writes <= 1, "{writes} KV writes in one poll");
        deploy_writes += writes;
        enabling |= reply.json["status"] == "enabling";
        let calls = google_calls(&stack) - before;
        let delivered = counter(&stack, "compute.instances.setMetadata") > metadata_writes;
        assert!(
            calls <= MAX_CALLS_PER_POLL + if delivered { DELIVERY_CALLS } else { 0 },
            "{calls} Google calls in one poll"
        );
        match reply.json["status"].as_str() {
            Some("done") => break reply,
            Some("error") => panic!("the deploy failed: {}", reply.text),
            _ => {}
        }
        assert!(reply.json["retryAfterMs"].as_u64().is_some_and(|ms| ms > 0));
        assert!(reply.header("retry-after").is_some());
        assert!(
            Instant::now() < deadline,
            "not done in time: {}",
            reply.text
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(
        done.json["provider"], "claude",
        "the provider chosen at sign-in"
    );
    assert_eq!(
        done.json["botName"], "Lovelace Helper",
        "the bot's own name"
    );
    assert!(done.json["ip"].is_string());
    assert_eq!(
        counter(&stack, "compute.instances.setMetadata"),
        1,
        "delivered once"
    );
    let calls = google_calls(&stack) - before_calls;
    assert!(
        calls <= polls + DELIVERY_CALLS,
        "{calls} Google calls over {polls} polls"
    );
    // The record once at the start with the deploy counter, then only facts: the VM
    // running, the token delivered, the end; in a new project, whose Compute API
    // starts off, also the API turned on and the insert sent after it.
    assert!(enabling, "a new project starts with Compute off");
    assert!(
        deploy_writes <= 5 + 2,
        "{deploy_writes} KV writes from start to done"
    );

    // A finished deploy: one KV read and no Google call; with the tag of the last
    // answer (what a browser sends by itself), 304 and no KV read at all.
    let path = format!("/api/deploy/{id}");
    let before = google_calls(&stack);
    let again = page.get(&path);
    assert_eq!((again.status, again.kv_ops()), (200, (1, 0)));
    assert!(again.json["retryAfterMs"].is_null());
    let tag = again.header("etag").expect("an ETag").to_string();
    assert_eq!(again.header("cache-control"), Some("private, no-cache"));
    let cached = page.send("GET", &path, None, &[("if-none-match", &tag)]);
    assert_eq!((cached.status, cached.kv_ops()), (304, (0, 0)));
    assert_eq!(
        google_calls(&stack),
        before,
        "a finished deploy costs Google nothing"
    );
    // The tag is worth nothing to another browser: without cookies it is refused; the
    // owner signed in elsewhere gets the full answer (its session read too).
    let cookieless = stack.client();
    let refused = cookieless.send("GET", &path, None, &[("if-none-match", &tag)]);
    assert_eq!(refused.status, 401);
    let elsewhere = stack.client().signed_in();
    let full = elsewhere.send("GET", &path, None, &[("if-none-match", &tag)]);
    assert_eq!((full.status, full.kv_ops()), (200, (2, 0)));

    // The agent on the VM holds the token; nothing else does.
    let vm = done.json["vmName"].as_str().unwrap();
    let sim = sim_vm(&stack, "lovelace-bots-1", vm);
    let root = std::path::PathBuf::from(sim["root"].as_str().unwrap());
    assert_eq!(
        files_named(&root, "telegram-token"),
        vec![TELEGRAM_TOKEN.to_string()]
    );
    let kv = stack.kv_contents();
    assert!(
        !kv.contains("AAHfiqksKZ8WmR2zSjiQ7"),
        "plaintext token in KV"
    );
    assert!(!sim["metadata"]
        .to_string()
        .contains("AAHfiqksKZ8WmR2zSjiQ7"));

    // The bot list shows it; the logout link signs out.
    let existing = page.get("/api/deploy/existing");
    assert!(existing.json["vms"]
        .as_array()
        .unwrap()
        .iter()
        .any(|b| b["vmName"] == vm));
    let logout = page.get("/api/auth/logout");
    assert_eq!(logout.status, 302);
    assert_eq!(logout.header("location"), Some("/"));
}
