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

    // GET /api/deploy/:id until done; the page never sends the token again.
    let deadline = Instant::now() + Duration::from_secs(90);
    let before_calls = google_calls(&stack);
    let mut polls = 0u64;
    let done = loop {
        let writes = counter(&stack, "compute.instances.setMetadata");
        let before = google_calls(&stack);
        let reply = page.get(&format!("/api/deploy/{id}"));
        polls += 1;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let calls = google_calls(&stack) - before;
        let delivered = counter(&stack, "compute.instances.setMetadata") > writes;
        assert!(
            calls <= MAX_CALLS_PER_POLL + if delivered { DELIVERY_CALLS } else { 0 },
            "{calls} Google calls in one poll"
        );
        match reply.json["status"].as_str() {
            Some("done") => break reply,
            Some("error") => panic!("the deploy failed: {}", reply.text),
            _ => {}
        }
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
