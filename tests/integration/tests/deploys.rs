//! Deploys through wrangler dev and the simulator (with the real VM agent): start,
//! the status state machine to `done` or a readable `error`, the first secret, and
//! what must never happen (a second VM, a stranger's view, a plaintext token in KV).

mod deploy_support;

use claw_free_it::{Client, Stack, StackOptions, TELEGRAM_TOKEN};
use deploy_support::*;
use serde_json::json;
use std::time::Duration;

/// The secret half of [`TELEGRAM_TOKEN`].
const TOKEN_SECRET: &str = "AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0";

/// The next `times` VM creations end in an operation error `code`.
fn fail_inserts(stack: &Stack, code: &str, times: u32) {
    stack.admin(
        "faults",
        json!({"endpoint": "compute.instances.insert", "operationError": {"code": code}, "times": times}),
    );
}

/// A signed-in person's deploy of `bot` in `claw-demo` whose first VM creation ends in
/// the operation error `code`, followed without a token through `until`: the stack, the
/// person, the VM's name and what the deploy said.
fn deploy_failing_once(code: &str, bot: &str, until: &[&str]) -> (Stack, Client, String, Followed) {
    let (stack, client) = Stack::signed_in();
    fail_inserts(&stack, code, 1);
    let (id, vm) = started(&client, "claw-demo", bot);
    let followed = follow_tokenless(&stack, &client, &id, until);
    (stack, client, vm, followed)
}

#[test]
fn a_deploy_reaches_done_with_its_first_secret_and_no_plaintext_anywhere() {
    let (stack, client) = Stack::signed_in();
    let (id, vm, followed) = deploy_to_done(&stack, &client, "claw-demo", "My Bot");
    assert!(vm.starts_with("my-bot-") && vm.len() == 13, "{vm}");
    assert_eq!(
        followed.statuses.first().map(String::as_str),
        Some("creating")
    );
    assert!(
        followed.statuses.contains(&"configuring".to_string()),
        "{:?}",
        followed.statuses
    );
    let done = &followed.last;
    for field in [
        "label",
        "deploymentId",
        "projectId",
        "zone",
        "vmName",
        "botName",
        "ip",
        "startedAt",
        "elapsedSeconds",
        "readyDeadlineSeconds",
        "runningSince",
    ] {
        assert!(!done[field].is_null(), "{field} in {done}");
    }
    assert_eq!(done["deploymentId"], id.as_str());
    assert_eq!(done["label"], "Ready");
    assert_eq!(done["botName"], "My Bot");
    assert_eq!(done["waitingForSecret"], false);
    assert_eq!(done["retrying"], false);
    assert_eq!(counter(&stack, "compute.instances.insert"), 1);

    // The VM got ciphertext only, and the agent applied the version it was sent.
    let version = followed
        .secret_version
        .expect("the first token was delivered");
    let sim = sim_vm(&stack, "claw-demo", &vm);
    let ciphertext = sim["metadata"]["openclaw-secret-telegram-token"]
        .as_str()
        .expect("secret in metadata");
    assert!(ciphertext.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
    assert!(!sim["metadata"].to_string().contains(TOKEN_SECRET));
    assert_eq!(
        sim["metadata"]["openclaw-secret-version"],
        version.to_string()
    );
    assert_eq!(
        sim["guestAttributes"]["openclaw/secret-version"],
        version.to_string()
    );
    let root = std::path::PathBuf::from(sim["root"].as_str().unwrap());
    assert_eq!(
        files_named(&root, "telegram-token"),
        vec![TELEGRAM_TOKEN.to_string()]
    );

    // A finished deploy costs Google nothing more.
    let before = google_calls(&stack);
    assert_eq!(
        client.get(&format!("/api/deploy/{id}")).json["status"],
        "done"
    );
    assert_eq!(google_calls(&stack), before);

    let kv = stack.kv_contents();
    assert!(
        kv.contains(&format!("deploy:{id}")) || kv.contains(&vm),
        "the deploy record is in KV"
    );
    assert!(!kv.contains("ya29."), "no access token in KV");
    assert!(!kv.contains(TOKEN_SECRET), "no Telegram token in KV");
}

#[test]
fn compute_is_enabled_first_when_the_api_is_off() {
    let (stack, client) = Stack::signed_in();
    let (id, _) = started(&client, "claw-fresh", "Fresh Bot");
    let followed = follow_to_done(&stack, &client, &id, Duration::from_secs(90));
    assert_eq!(followed.last["status"], "done", "{}", followed.last);
    assert_eq!(
        followed.statuses.first().map(String::as_str),
        Some("enabling"),
        "{:?}",
        followed.statuses
    );
    assert_eq!(counter(&stack, "serviceusage.services.enable"), 1);
    assert_eq!(
        counter(&stack, "compute.instances.insert"),
        2,
        "refused while disabled, then created"
    );
}

#[test]
fn an_operation_that_ends_in_error_is_explained() {
    let (_stack, _client, _, followed) = deploy_failing_once("QUOTA_EXCEEDED", "Quota Bot", &[]);
    let last = followed.last;
    assert_failed_saying(&last, "quota");
    assert!(
        last["errorAction"]["url"]
            .as_str()
            .unwrap()
            .contains("iam-admin/quotas"),
        "{last}"
    );
}

#[test]
fn an_exhausted_zone_moves_to_the_next_and_none_left_is_an_error() {
    let (stack, client, vm, followed) = deploy_failing_once(
        "ZONE_RESOURCE_POOL_EXHAUSTED",
        "Zone Bot",
        &["booting", "configuring"],
    );
    assert_eq!(followed.last["zone"], "us-central1-b", "{}", followed.last);
    assert_eq!(sim_vm(&stack, "claw-demo", &vm)["zone"], "us-central1-b");

    fail_inserts(&stack, "ZONE_RESOURCE_POOL_EXHAUSTED", 4);
    let (id, _) = started(&client, "claw-demo", "Zone Bot");
    let followed = follow_tokenless(&stack, &client, &id, &[]);
    assert_failed_saying(&followed.last, "no free e2-micro capacity");
}

#[test]
fn a_bot_not_ready_in_time_ends_with_its_logs() {
    let stack = Stack::start(StackOptions::default().var("READY_TIMEOUT_SECS", 8));
    let client = stack.client().signed_in();
    let (id, vm) = started(&client, "claw-demo", "Slow Bot");
    stack.admin("vm-faults", json!({"project": "claw-demo", "zone": "us-central1-a", "instance": vm, "neverHealthy": true}));
    let followed = follow(
        &stack,
        &client,
        &id,
        Some(TELEGRAM_TOKEN),
        &[],
        Duration::from_secs(40),
    );
    let last = &followed.last;
    assert_failed_saying(last, "not ready 8 seconds after");
    assert!(
        followed.secret_version.is_some(),
        "the token was delivered; the app still never answered"
    );
    assert_eq!(last["readyDeadlineSeconds"], 8);
    assert_eq!(last["logsUrl"], format!("/api/deploy/{id}/logs"));
    assert!(last["consoleUrl"].as_str().unwrap().contains(&vm));
    let logs = client.get(&format!("/api/deploy/{id}/logs"));
    assert_eq!(logs.status, 200, "{}", logs.text);
    assert!(!logs.json["output"].as_str().unwrap().is_empty());
    assert_eq!(logs.json["consoleUrl"], last["consoleUrl"]);
}

#[test]
fn another_users_deployment_is_not_found() {
    let (stack, alice) = Stack::signed_in();
    let (id, _) = started(&alice, "claw-demo", "Alice Bot");
    stack.admin(
        "users",
        json!({"sub": "bob-sub", "email": "bob@example.com", "name": "Bob", "picture": ""}),
    );
    let bob = stack.client().signed_in();
    let theirs = bob.get(&format!("/api/deploy/{id}"));
    let missing = bob.get(&format!("/api/deploy/{}", "0".repeat(32)));
    assert_eq!((theirs.status, missing.status), (404, 404));
    assert_eq!(
        theirs.error(),
        missing.error(),
        "a stranger cannot tell it exists"
    );
    assert_eq!(bob.get(&format!("/api/deploy/{id}/logs")).status, 404);
    let secret = bob.post(
        &format!("/api/deploy/{id}/secret"),
        json!({"telegramToken": TELEGRAM_TOKEN}),
    );
    assert_eq!(secret.status, 404);
    assert_eq!(alice.get(&format!("/api/deploy/{id}")).status, 200);
}

#[test]
fn the_same_idempotency_key_twice_creates_one_vm() {
    let (stack, client) = Stack::signed_in();
    let first = start(&client, "claw-demo", "Twice Bot", Some("attempt-7f1c"));
    let second = start(&client, "claw-demo", "Twice Bot", Some("attempt-7f1c"));
    assert_eq!(
        (first.status, second.status),
        (200, 200),
        "{} {}",
        first.text,
        second.text
    );
    assert_eq!(first.json, second.json);
    assert_eq!(counter(&stack, "compute.instances.insert"), 1);
    let other = start(&client, "claw-demo", "Twice Bot", Some("attempt-2b9e"));
    assert_ne!(other.json["deploymentId"], first.json["deploymentId"]);
    assert_eq!(counter(&stack, "compute.instances.insert"), 2);
    let too_long = "k".repeat(201);
    assert_eq!(
        start(&client, "claw-demo", "Twice Bot", Some(&too_long)).status,
        400
    );
}

#[test]
fn deploys_past_the_limit_are_refused_with_retry_after() {
    let stack = Stack::start(StackOptions::default().var("LIMIT_DEPLOYS_PER_SESSION", 2));
    let client = stack.client().signed_in();
    started(&client, "claw-demo", "Limit Bot");
    started(&client, "claw-demo", "Limit Bot");
    let refused = start(&client, "claw-demo", "Limit Bot", None);
    assert_eq!(refused.status, 429, "{}", refused.text);
    let retry_after: u64 = refused
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry_after));
    assert!(!refused.error().is_empty());
    assert_eq!(counter(&stack, "compute.instances.insert"), 2);
}

#[test]
fn polling_goes_on_without_the_session_and_an_expired_token_says_sign_in() {
    let (stack, client) = Stack::signed_in();
    let (id, _) = started(&client, "claw-demo", "Orphan Bot");
    // The session cookie is gone (expired or deleted); the deploy's own cookie stays.
    let viewer = client.cookie("__Host-deploy").expect("the deploy cookie");
    client.clear_cookies();
    assert_eq!(client.get("/api/deploy/session").status, 401);
    client.set_cookie("__Host-deploy", &viewer);
    let followed = follow_to_done(&stack, &client, &id, Duration::from_secs(60));
    assert_eq!(followed.last["status"], "done", "{}", followed.last);
    assert!(followed.secret_version.is_some());

    // Google's token itself expires mid-deploy: a clear error, not an endless wait.
    let client = stack.client().signed_in();
    let (id, _) = started(&client, "claw-demo", "Expiring Bot");
    stack.admin("tokens/expire", json!({}));
    let followed = follow_tokenless(&stack, &client, &id, &[]);
    assert_failed_saying(&followed.last, "Sign in again");
    assert!(!stack.kv_contents().contains("ya29."));
}

#[test]
fn bad_start_requests_name_the_field() {
    let (stack, client) = Stack::signed_in();
    for (body, field) in [
        (
            json!({"projectId": "claw-demo", "region": "mars-east1", "provider": "kimi", "botName": "My Bot"}),
            "region",
        ),
        (
            json!({"projectId": "claw-demo", "region": "us-east1", "provider": "kimi", "botName": "!!"}),
            "botName",
        ),
        (
            json!({"region": "us-east1", "provider": "kimi", "botName": "My Bot"}),
            "projectId",
        ),
    ] {
        let reply = client.post("/api/deploy/start", body);
        assert_eq!(reply.status, 400);
        assert!(reply.error().contains(field), "{}", reply.text);
    }
    let preview = client.get("/api/deploy/vm-name?botName=Caf%C3%A9%20Bot");
    assert_eq!(preview.json["slug"], "cafe-bot");
    assert_eq!(
        client
            .get("/api/deploy/vm-name?botName=%F0%9F%A4%96")
            .status,
        400
    );
    assert_eq!(counter(&stack, "compute.instances.insert"), 0);
}
