//! The deploy flows end to end through the App, against the fake Google.

use crate::http::Method;
use crate::testing::fake_google::{FakeVm, TEST_TOKEN};
use crate::testing::TestApp;
use crate::testing::VM_RECIPIENT;
use serde_json::{json, Value};

const TELEGRAM: &str = "123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0";

fn start_body(project: &str) -> Value {
    json!({"projectId": project, "region": "us-central1", "provider": "claude", "botName": "My Bot"})
}

fn start(h: &TestApp, project: &str) -> (String, String) {
    let (status, body) = h.call(Method::Post, "/api/deploy/start", Some(start_body(project)));
    assert_eq!(status, 200, "{body}");
    (
        body["deploymentId"].as_str().unwrap().to_string(),
        body["vmName"].as_str().unwrap().to_string(),
    )
}

/// Polls once, asserting the poll's Google-call budget; returns the status body.
fn poll(h: &TestApp, id: &str) -> Value {
    let before = h.google_calls();
    let (status, body) = h.call(Method::Get, &format!("/api/deploy/{id}"), None);
    assert_eq!(status, 200, "{body}");
    let calls = h.google_calls() - before;
    let delivered = h.p.call_log()[before..]
        .iter()
        .any(|l| l.ends_with("/setMetadata"));
    let budget = super::MAX_CALLS_PER_POLL + if delivered { super::DELIVERY_CALLS } else { 0 };
    assert!(
        calls <= budget,
        "{calls} Google calls in one poll: {:#?}",
        &h.p.call_log()[before..]
    );
    body
}

fn key(vm: &str) -> String {
    format!("claw-demo/us-central1-a/{vm}")
}

/// A deploy of claw-demo whose VM, once the first poll has inserted it, reports `setup`.
fn reporting(h: &TestApp, setup: &str) -> (String, String) {
    let (id, vm) = start(h, "claw-demo");
    poll(h, &id);
    h.set_guest(&key(&vm), &[("setup", setup)]);
    (id, vm)
}

#[test]
fn a_deploy_goes_to_done_and_stores_no_plaintext_token() {
    let h = TestApp::new();
    let (id, vm) = start(&h, "claw-demo");
    assert!(
        vm.starts_with("my-bot-") && vm.len() == "my-bot-".len() + 6,
        "{vm}"
    );
    assert_eq!(id.len(), 32);
    let inserts =
        h.p.call_log()
            .iter()
            .filter(|l| l.starts_with("POST") && l.ends_with("/instances"))
            .count();
    assert_eq!(inserts, 1, "the start request sends the insert");

    let body = poll(&h, &id);
    assert_eq!(body["status"], "booting", "{body}");
    assert_eq!(body["vmName"], vm.as_str());
    assert_eq!(body["zone"], "us-central1-a");
    assert_eq!(body["ip"], "34.1.2.3");
    assert_eq!(body["runningSince"], h.p.now_ms.get() / 1000);
    assert_eq!(body["readyDeadlineSeconds"], 300);
    assert_eq!(body["label"], "Booting the VM");

    h.set_guest(
        &key(&vm),
        &[
            ("setup", "waiting-secret"),
            ("recipient", VM_RECIPIENT.trim()),
        ],
    );
    h.p.advance_secs(5);
    let body = poll(&h, &id);
    assert_eq!(body["status"], "configuring");
    assert_eq!(body["waitingForSecret"], true);
    assert_eq!(body["elapsedSeconds"], 5);

    let (status, sent) = h.call(
        Method::Post,
        &format!("/api/deploy/{id}/secret"),
        Some(json!({"telegramToken": TELEGRAM})),
    );
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["ok"], true);
    let version = sent["secretVersion"].as_u64().unwrap();
    let metadata = h.vm(&key(&vm)).metadata;
    let value = |k: &str| {
        metadata
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    assert!(value("openclaw-secret-telegram-token")
        .unwrap()
        .starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
    assert_eq!(value("openclaw-secret-version"), Some(version.to_string()));

    h.set_guest(
        &key(&vm),
        &[
            ("setup", "starting"),
            ("secret-version", &version.to_string()),
        ],
    );
    assert_eq!(poll(&h, &id)["status"], "starting");
    h.set_guest(
        &key(&vm),
        &[("setup", "ready"), ("health", "ok 1764000010")],
    );
    let body = poll(&h, &id);
    assert_eq!(body["status"], "done");
    assert_eq!(body["label"], "Ready");
    assert_eq!(body["secretVersion"], version);

    // Finished: no more Google calls and no KV writes.
    let (calls, writes) = (h.google_calls(), h.p.kv_writes.get());
    assert_eq!(poll(&h, &id)["status"], "done");
    assert_eq!((h.google_calls(), h.p.kv_writes.get()), (calls, writes));

    let kv = h.p.kv_dump();
    assert!(
        !kv.contains(TEST_TOKEN) && !kv.contains("ya29."),
        "plaintext access token in KV"
    );
    assert!(
        !kv.contains("AAHfiqksKZ8WmR2zSjiQ7"),
        "plaintext Telegram token in KV"
    );
    assert!(kv.contains(&format!("deploy:{id}=")));
}

#[test]
fn polls_write_kv_only_when_something_changed_and_keep_state_on_transient_failures() {
    let h = TestApp::new();
    let (id, _) = reporting(&h, "starting");
    assert_eq!(poll(&h, &id)["status"], "starting");
    let writes = h.p.kv_writes.get();
    let body = poll(&h, &id);
    assert_eq!(
        (body["status"].as_str(), body["retrying"].as_bool()),
        (Some("starting"), Some(false))
    );
    assert_eq!(
        h.p.kv_writes.get(),
        writes,
        "an unchanged poll writes nothing"
    );

    for (status, reason) in [
        (503, "backendError"),
        (429, "rateLimitExceeded"),
        (500, "internalError"),
    ] {
        h.google
            .borrow_mut()
            .faults
            .push(("getGuestAttributes".into(), status, reason.into()));
        let body = poll(&h, &id);
        assert_eq!(
            body["status"], "booting",
            "the agent's progress is read from the VM, not kept: the stored state"
        );
        assert_eq!(body["retrying"], true, "{status}");
        assert_eq!(body["retryAfterMs"], 3000, "a failed poll waits longer");
        assert_eq!(h.p.kv_writes.get(), writes);
    }
    assert_eq!(poll(&h, &id)["retrying"], false);
}

#[test]
fn compute_is_enabled_when_the_api_is_off() {
    let h = TestApp::new();
    h.google.borrow_mut().disabled.insert("claw-fresh".into());
    h.google.borrow_mut().enable_polls = 2;
    let (id, vm) = start(&h, "claw-fresh");
    let log = h.p.call_log();
    assert!(
        log[0].starts_with("POST") && log[0].ends_with("/instances"),
        "{log:#?}"
    );
    assert!(
        log[1].ends_with("compute.googleapis.com:enable"),
        "{log:#?}"
    );
    assert_eq!(
        log.len(),
        2,
        "the start request does not wait for the operation"
    );
    let body = poll(&h, &id);
    assert_eq!(body["status"], "enabling");
    assert_eq!(body["label"], "Turning on the Compute Engine API");
    assert_eq!(
        poll(&h, &id)["status"],
        "enabling",
        "the enable is done; one call a poll: the insert goes out with the next"
    );
    let body = poll(&h, &id);
    assert_eq!(body["status"], "creating");
    assert!(h.vm(&format!("claw-fresh/us-central1-a/{vm}")).status == "PROVISIONING");
    assert_eq!(poll(&h, &id)["status"], "booting");
}

#[test]
fn an_operation_that_ends_in_error_is_shown_with_its_action() {
    let h = TestApp::new();
    h.google.borrow_mut().operation_error = Some("QUOTA_EXCEEDED".into());
    let (id, _) = start(&h, "claw-demo");
    let body = poll(&h, &id);
    assert_eq!(
        body["status"], "creating",
        "no instance: the next poll asks the operation why"
    );
    let body = poll(&h, &id);
    assert_eq!(body["status"], "error");
    assert!(body["error"].as_str().unwrap().contains("quota"));
    assert!(body["errorAction"]["url"]
        .as_str()
        .unwrap()
        .contains("iam-admin/quotas"));
    assert_eq!(body["logsUrl"], Value::Null, "no VM, no logs");
}

#[test]
fn an_exhausted_zone_moves_to_the_next() {
    let h = TestApp::new();
    h.google
        .borrow_mut()
        .exhausted_at_insert
        .insert("us-central1-a".into());
    h.google
        .borrow_mut()
        .exhausted_in_operation
        .insert("us-central1-b".into());
    let (id, vm) = start(&h, "claw-demo");
    // a: refused at insert (start); b: no instance (poll 1), its operation says the
    // zone is exhausted (poll 2); then c is inserted (poll 3).
    poll(&h, &id);
    assert_eq!(poll(&h, &id)["zone"], "us-central1-c");
    let body = poll(&h, &id);
    assert_eq!(body["zone"], "us-central1-c", "{body}");
    assert_eq!(body["status"], "creating");
    assert!(h
        .google
        .borrow()
        .vms
        .contains_key(&format!("claw-demo/us-central1-c/{vm}")));

    let h = TestApp::new();
    h.google.borrow_mut().exhausted_at_insert.extend(
        [
            "us-central1-a",
            "us-central1-b",
            "us-central1-c",
            "us-central1-f",
        ]
        .map(String::from),
    );
    let (id, _) = start(&h, "claw-demo");
    let mut body = poll(&h, &id);
    for _ in 0..6 {
        if body["status"] == "error" {
            break;
        }
        body = poll(&h, &id);
    }
    assert_eq!(body["status"], "error");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("no free e2-micro capacity"),
        "{body}"
    );
}

#[test]
fn a_name_taken_by_another_vm_gets_a_new_suffix() {
    // The same seed draws the same name: learn it on a twin first.
    let twin = TestApp::new();
    let (_, name) = start(&twin, "claw-demo");
    let h = TestApp::new();
    let mut foreign = FakeVm::bot("RUNNING");
    foreign.labels.clear();
    h.google.borrow_mut().vms.insert(key(&name), foreign);
    let (id, renamed) = start(&h, "claw-demo");
    // The start request found the name taken and looked: someone else's VM.
    assert_ne!(renamed, name);
    let body = poll(&h, &id);
    assert_eq!(body["vmName"], renamed.as_str());
    assert_eq!(body["status"], "creating");
    assert!(renamed.starts_with("my-bot-"));
    assert!(h.google.borrow().vms.contains_key(&key(&renamed)));
    assert!(
        h.vm(&key(&name)).labels.is_empty(),
        "the other VM is untouched"
    );
}

#[test]
fn the_same_idempotency_key_never_creates_a_second_vm() {
    let h = TestApp::new();
    let send = |key: &str| {
        let mut request = h.request(
            Method::Post,
            "/api/deploy/start",
            Some(&h.cookie),
            Some(start_body("claw-demo")),
        );
        request.headers.push(("idempotency-key".into(), key.into()));
        let response = h.send(request);
        let mut body = response.json_body();
        if let Some(cookie) = response.header("set-cookie") {
            body["cookie"] = cookie.into();
        }
        (response.status, body)
    };
    let (s1, first) = send("attempt-1");
    let (s2, second) = send("attempt-1");
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(
        first, second,
        "the same deployment, VM name and viewer cookie"
    );
    assert_eq!(h.google.borrow().vms.len(), 1);
    let (_, third) = send("attempt-2");
    assert_ne!(third["deploymentId"], first["deploymentId"]);
    assert_eq!(h.google.borrow().vms.len(), 2);
    assert!(
        !h.p.kv_dump().contains("attempt-1"),
        "keys are stored hashed"
    );
    for bad in ["", &"k".repeat(201)] {
        let (status, body) = send(bad);
        assert_eq!(status, 400, "{body}");
        assert!(body["error"].as_str().unwrap().contains("Idempotency-Key"));
    }
}

#[test]
fn deploys_are_limited_per_session() {
    let h = TestApp::new();
    for _ in 0..h.config.limits.deploys_per_session {
        start(&h, "claw-demo");
    }
    let response = h.send(h.request(
        Method::Post,
        "/api/deploy/start",
        Some(&h.cookie),
        Some(start_body("claw-demo")),
    ));
    assert_eq!(response.status, 429);
    assert!(response.header("retry-after").is_some());
    let inserts =
        h.p.call_log()
            .iter()
            .filter(|l| l.starts_with("POST"))
            .count();
    assert_eq!(inserts as u32, h.config.limits.deploys_per_session);
}

#[test]
fn bad_input_is_refused_naming_the_field() {
    let h = TestApp::new();
    let cases = [
        (
            json!({"projectId": "X", "region": "us-central1", "provider": "kimi", "botName": "My Bot"}),
            "projectId",
        ),
        (
            json!({"projectId": "claw-demo", "region": "europe-west1", "provider": "kimi", "botName": "My Bot"}),
            "region",
        ),
        (
            json!({"projectId": "claw-demo", "region": "us-central1", "provider": "gpt", "botName": "My Bot"}),
            "provider",
        ),
        (
            json!({"projectId": "claw-demo", "region": "us-central1", "provider": "kimi", "botName": "🤖"}),
            "botName",
        ),
        (
            json!({"projectId": "claw-demo", "region": "us-central1", "provider": "kimi"}),
            "botName",
        ),
        (
            json!({"projectId": 7, "region": "us-central1", "provider": "kimi", "botName": "My Bot"}),
            "wrongly typed",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = h.call(Method::Post, "/api/deploy/start", Some(body.clone()));
        assert_eq!(status, 400, "{body}");
        assert!(
            answer["error"].as_str().unwrap().contains(field),
            "{answer}"
        );
    }
    let (status, _) = h.call(
        Method::Post,
        "/api/deploy/start",
        Some(start_body("someone-elses")),
    );
    assert_eq!(status, 404, "a project outside the session");
    let response = h.send(h.request(
        Method::Post,
        "/api/deploy/start",
        None,
        Some(start_body("claw-demo")),
    ));
    assert_eq!(response.status, 401);
    assert_eq!(h.google_calls(), 0);
}

/// A GET of `path` with exactly these cookies.
fn get_with(h: &TestApp, path: &str, cookies: &str) -> crate::http::Response {
    let mut request = h.request(Method::Get, path, None, None);
    if !cookies.is_empty() {
        request.headers.push(("cookie".into(), cookies.into()));
    }
    h.send(request)
}

#[test]
fn only_the_owner_sees_a_deploy_even_after_the_session_expired() {
    let h = TestApp::new();
    let short = h.sign_in("sub-alice", &["claw-demo"], 600);
    let started = h.send(h.request(
        Method::Post,
        "/api/deploy/start",
        Some(&short),
        Some(start_body("claw-demo")),
    ));
    assert_eq!(started.status, 200);
    let id = started.json_body()["deploymentId"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/deploy/{id}");
    let set_cookie = started.header("set-cookie").unwrap().to_string();
    assert!(
        set_cookie.starts_with(&format!("__Host-deploy={id}.")),
        "the deploy is bound inside the value: {set_cookie}"
    );
    for part in [
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        "Path=/;",
        "Max-Age=3600",
    ] {
        assert!(set_cookie.contains(part), "{part} in {set_cookie}");
    }
    let viewer = set_cookie.split(';').next().unwrap().to_string();
    assert!(
        !h.p.kv_dump().contains(viewer.split('.').nth(1).unwrap()),
        "the viewer secret is sealed in KV"
    );

    let mallory = h.sign_in("sub-mallory", &["claw-demo"], 3600);
    let stranger = get_with(&h, &path, &format!("__Host-session={mallory}"));
    let missing = get_with(
        &h,
        &format!("/api/deploy/{}", "0".repeat(32)),
        &format!("__Host-session={mallory}"),
    );
    assert_eq!((stranger.status, missing.status), (404, 404));
    assert_eq!(
        stranger.json_body(),
        missing.json_body(),
        "the same answer as for a missing id"
    );
    let forged = get_with(
        &h,
        &path,
        &format!(
            "__Host-session={mallory}; __Host-deploy={id}.{}",
            "0".repeat(32)
        ),
    );
    assert_eq!(forged.status, 404);
    // The real binding, but for another deploy id, opens nothing either.
    let secret_part = viewer.split('.').nth(1).unwrap();
    let moved = get_with(
        &h,
        &format!("/api/deploy/{}", "1".repeat(32)),
        &format!("__Host-deploy={}.{secret_part}", "1".repeat(32)),
    );
    assert_eq!(moved.status, 404);
    let secret = h.send(h.request(
        Method::Post,
        &format!("{path}/secret"),
        Some(&mallory),
        Some(json!({"telegramToken": TELEGRAM})),
    ));
    assert_eq!(secret.status, 404);
    assert_eq!(
        get_with(
            &h,
            &format!("{path}/logs"),
            &format!("__Host-session={mallory}")
        )
        .status,
        404
    );
    assert_eq!(get_with(&h, &path, "").status, 401);
    assert_eq!(
        get_with(
            &h,
            "/api/deploy/not-an-id",
            &format!("__Host-session={mallory}")
        )
        .status,
        404
    );

    // The session that started it expires, or its cookie is deleted: the browser
    // that started the deploy keeps following it.
    h.p.advance_secs(601);
    let expired = h.send(h.request(
        Method::Post,
        "/api/deploy/start",
        Some(&short),
        Some(start_body("claw-demo")),
    ));
    assert_eq!(expired.status, 404, "the session itself is gone");
    for cookies in [format!("__Host-session={short}; {viewer}"), viewer.clone()] {
        let response = get_with(&h, &path, &cookies);
        assert_eq!(
            response.status,
            200,
            "{cookies}: {:?}",
            response.json_body()
        );
        assert_eq!(response.json_body()["status"], "booting");
    }
    assert_eq!(
        get_with(&h, &path, &format!("__Host-session={short}")).status,
        404
    );
    // And the owner, signed in again, sees it too.
    let again = h.sign_in("sub-alice", &["claw-demo"], 3600);
    assert_eq!(
        get_with(&h, &path, &format!("__Host-session={again}")).status,
        200
    );
}

#[test]
fn not_ready_in_time_is_an_error_with_the_logs() {
    let h = TestApp::new();
    let (id, vm) = reporting(&h, "starting");
    h.p.advance_secs(300);
    assert_eq!(poll(&h, &id)["status"], "starting");
    h.p.advance_secs(1);
    let body = poll(&h, &id);
    assert_eq!(body["status"], "error");
    assert!(
        body["error"].as_str().unwrap().contains("5 minutes"),
        "{body}"
    );
    assert_eq!(body["logsUrl"], format!("/api/deploy/{id}/logs"));
    assert!(body["consoleUrl"]
        .as_str()
        .unwrap()
        .contains(&format!("instances/{vm}/console")));
    let (status, logs) = h.call(Method::Get, &format!("/api/deploy/{id}/logs"), None);
    assert_eq!(status, 200);
    assert!(logs["output"].as_str().unwrap().contains("clawfree-agent"));
    assert_eq!(logs["consoleUrl"], body["consoleUrl"]);
}

#[test]
fn an_expired_google_token_asks_to_sign_in_again() {
    let h = TestApp::new();
    let (id, _) = start(&h, "claw-demo");
    h.google.borrow_mut().token_expired = true;
    let body = poll(&h, &id);
    assert_eq!(body["status"], "error");
    assert!(body["error"].as_str().unwrap().contains("Sign in again"));
    assert_eq!(body["errorAction"]["label"], "Sign in again");
}

#[test]
fn the_secret_waits_for_the_vm_key() {
    let h = TestApp::new();
    let (id, vm) = start(&h, "claw-demo");
    let path = format!("/api/deploy/{id}/secret");
    let (status, body) = h.call(
        Method::Post,
        &path,
        Some(json!({"telegramToken": TELEGRAM})),
    );
    assert_eq!(status, 409, "the VM is being created: {body}");
    poll(&h, &id);
    let (status, body) = h.call(
        Method::Post,
        &path,
        Some(json!({"telegramToken": TELEGRAM})),
    );
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("encryption key"));
    let (status, body) = h.call(
        Method::Post,
        &path,
        Some(json!({"telegramToken": "not a token"})),
    );
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("telegramToken"));
    h.set_guest(
        &key(&vm),
        &[
            ("setup", "waiting-secret"),
            ("recipient", VM_RECIPIENT.trim()),
        ],
    );
    let (status, _) = h.call(
        Method::Post,
        &path,
        Some(json!({"telegramToken": TELEGRAM})),
    );
    assert_eq!(status, 200);
}

#[test]
fn vm_name_preview() {
    let h = TestApp::new();
    let (status, body) = h.call(
        Method::Get,
        "/api/deploy/vm-name?botName=Caf%C3%A9%20Bot",
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(body["slug"], "cafe-bot");
    assert_eq!(body["vmNameExample"], "cafe-bot-7f3a9c");
    let (status, body) = h.call(
        Method::Get,
        "/api/deploy/vm-name?botName=%F0%9F%A4%96",
        None,
    );
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("at least 3"));
}

#[test]
fn the_owners_telegram_id_reaches_the_vm_metadata_and_a_bad_one_is_refused() {
    let h = TestApp::new();
    let mut body = start_body("claw-demo");
    body["telegramUserId"] = json!("424242");
    let (status, started) = h.call(Method::Post, "/api/deploy/start", Some(body));
    assert_eq!(status, 200, "{started}");
    let insert =
        h.p.calls
            .borrow()
            .iter()
            .find(|c| c.method == Method::Post && c.url.ends_with("/instances"))
            .and_then(|c| c.body.clone())
            .expect("an insert");
    let insert: Value = serde_json::from_slice(&insert).unwrap();
    let items = insert["metadata"]["items"].as_array().unwrap();
    assert!(
        items.contains(&json!({"key": "TELEGRAM_OWNER_ID", "value": "424242"})),
        "{items:?}"
    );

    for bad in [json!("12ab"), json!(-1), json!({"id": 1}), json!("0")] {
        let mut body = start_body("claw-demo");
        body["telegramUserId"] = bad.clone();
        let (status, answer) = h.call(Method::Post, "/api/deploy/start", Some(body));
        assert_eq!(status, 400, "{bad}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains("telegramUserId"),
            "{answer}"
        );
    }
    let mut body = start_body("claw-demo");
    body["telegramUserId"] = json!("");
    assert_eq!(
        h.call(Method::Post, "/api/deploy/start", Some(body)).0,
        200,
        "empty means none"
    );
}

/// The VM's metadata value of `k`.
fn metadata_value(h: &TestApp, vm: &str, k: &str) -> Option<String> {
    h.vm(&key(vm))
        .metadata
        .iter()
        .find(|(key, _)| key == k)
        .map(|(_, v)| v.clone())
}

fn decrypt(armored: &str) -> String {
    String::from_utf8(crate::testing::decrypt_on_vm(armored)).unwrap()
}

/// A poll as the page makes it: with the cookie and, when it has one, the tag of its
/// last answer. Returns (status, body or Null, etag).
fn poll_as_page(h: &TestApp, id: &str, etag: Option<&str>) -> (u16, Value, Option<String>) {
    let mut request = h.request(
        Method::Get,
        &format!("/api/deploy/{id}"),
        Some(&h.cookie),
        None,
    );
    if let Some(tag) = etag {
        request.headers.push(("if-none-match".into(), tag.into()));
    }
    let response = h.send(request);
    let body = if response.body.is_empty() {
        Value::Null
    } else {
        response.json_body()
    };
    (
        response.status,
        body,
        response.header("etag").map(str::to_string),
    )
}

/// The original page's start, as it sends it: a project, a region and a Telegram token
/// (of a bot `(name, username)` the fake Telegram knows), nothing else.
fn original_start(h: &TestApp, bot: (&str, &str)) -> (u16, Value) {
    h.google
        .borrow_mut()
        .telegram_bots
        .insert(TELEGRAM.into(), (bot.0.into(), bot.1.into()));
    h.call(
        Method::Post,
        "/api/deploy/start",
        Some(json!({"projectId": "claw-demo", "telegramToken": TELEGRAM, "region": "us-central1"})),
    )
}

#[test]
fn the_original_pages_start_defaults_provider_and_name_and_the_poll_delivers_its_token() {
    let h = TestApp::new();
    let (status, body) = original_start(&h, ("Ada's Helper", "ada_helper_bot"));
    assert_eq!(status, 200, "{body}");
    let id = body["deploymentId"].as_str().unwrap().to_string();
    let vm = body["vmName"].as_str().unwrap().to_string();
    assert!(vm.starts_with("ada-s-helper-"), "the bot's own name: {vm}");
    let body = poll(&h, &id);
    assert_eq!(body["botName"], "Ada's Helper");
    assert_eq!(body["provider"], "kimi", "the provider chosen at sign-in");
    assert_eq!(body["status"], "booting");
    assert!(
        !h.p.kv_dump().contains("AAHfiqksKZ8WmR2zSjiQ7"),
        "the token is kept sealed"
    );

    h.set_guest(
        &key(&vm),
        &[
            ("setup", "waiting-secret"),
            ("recipient", VM_RECIPIENT.trim()),
        ],
    );
    let body = poll(&h, &id);
    assert_eq!(body["status"], "configuring");
    assert_eq!(body["waitingForSecret"], false, "delivered by this poll");
    let version = body["secretVersion"].as_u64().expect("secretVersion");
    let armored = metadata_value(&h, &vm, "openclaw-secret-telegram-token").unwrap();
    assert_eq!(decrypt(&armored), TELEGRAM);
    assert_eq!(
        metadata_value(&h, &vm, "openclaw-secret-version"),
        Some(version.to_string())
    );
    let stored = h.p.kv_dump();
    let record = stored
        .lines()
        .find(|l| l.starts_with(&format!("deploy:{id}=")))
        .unwrap();
    assert!(
        !record.contains("telegramToken"),
        "erased once delivered: {record}"
    );

    // Until the agent reads it, the VM still says it waits: the token is on its way.
    let body = poll(&h, &id);
    assert_eq!(body["waitingForSecret"], false, "{body}");
    assert_eq!(body["label"], "Receiving the Telegram token");

    // The VM applies it; the next polls neither deliver again nor regress.
    h.set_guest(
        &key(&vm),
        &[
            ("setup", "starting"),
            ("secret-version", &version.to_string()),
        ],
    );
    let sets = |h: &TestApp| {
        h.p.call_log()
            .iter()
            .filter(|l| l.ends_with("/setMetadata"))
            .count()
    };
    assert_eq!(poll(&h, &id)["status"], "starting");
    h.set_guest(&key(&vm), &[("setup", "ready")]);
    let body = poll(&h, &id);
    assert_eq!(body["status"], "done");
    assert_eq!(body["secretVersion"], version);
    assert_eq!(sets(&h), 1, "delivered once");

    // Neither a name nor a token: the name is required.
    let (status, body) = h.call(
        Method::Post,
        "/api/deploy/start",
        Some(json!({"projectId": "claw-demo", "region": "us-central1"})),
    );
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("botName"),
        "{body}"
    );
    // A token Telegram does not know cannot name the bot.
    let (status, body) = h.call(
        Method::Post,
        "/api/deploy/start",
        Some(json!({"projectId": "claw-demo", "region": "us-central1",
                    "telegramToken": "987654321:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0"})),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("Telegram"),
        "{body}"
    );
}

#[test]
fn a_journey_writes_each_record_once_per_request_and_only_facts() {
    let h = TestApp::new();
    let writes = h.p.kv_writes.get();
    let (status, body) = original_start(&h, ("Ada", "ada_bot"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        h.p.kv_writes.get() - writes,
        2,
        "the deploy counter (session and network in one) and the record, once"
    );
    let id = body["deploymentId"].as_str().unwrap().to_string();
    let vm = body["vmName"].as_str().unwrap().to_string();
    let polled_writes = |steps: &[&[(&str, &str)]]| {
        let before = h.p.kv_writes.get();
        for pairs in steps {
            h.set_guest(&key(&vm), pairs);
            let before_poll = h.p.kv_writes.get();
            poll(&h, &id);
            assert!(
                h.p.kv_writes.get() - before_poll <= 1,
                "one write a poll at most"
            );
        }
        h.p.kv_writes.get() - before
    };
    // Running (its start and address kept): one write.
    assert_eq!(poll(&h, &id)["status"], "booting");
    let recipient = VM_RECIPIENT.trim();
    let writes = polled_writes(&[
        &[("recipient", recipient)],
        &[("setup", "waiting-secret")],
        &[("setup", "configuring")],
        &[("setup", "starting")],
        &[("setup", "starting")],
        &[("setup", "ready")],
        &[("setup", "ready")],
    ]);
    assert_eq!(writes, 2, "the delivery (token erased) and the end");
}

#[test]
fn two_tabs_that_overwrite_each_other_still_converge_on_the_facts() {
    let h = TestApp::new();
    let (_, body) = original_start(&h, ("Ada", "ada_bot"));
    let id = body["deploymentId"].as_str().unwrap().to_string();
    let vm = body["vmName"].as_str().unwrap().to_string();
    poll(&h, &id);
    let record_key = format!("deploy:{id}");
    // Tab B read the record here...
    let stale = h.p.kv.borrow().get(&record_key).cloned().unwrap();
    h.set_guest(
        &key(&vm),
        &[
            ("setup", "waiting-secret"),
            ("recipient", VM_RECIPIENT.trim()),
        ],
    );
    // ...tab A's poll delivers the token and erases it...
    let version = poll(&h, &id)["secretVersion"].as_u64().unwrap();
    // ...and tab B's write, from what it read, lands last (KV: last write wins).
    h.p.kv.borrow_mut().insert(record_key.clone(), stale);
    h.set_guest(
        &key(&vm),
        &[
            ("setup", "starting"),
            ("secret-version", &version.to_string()),
        ],
    );
    assert_eq!(poll(&h, &id)["status"], "starting", "not delivered twice");
    h.set_guest(&key(&vm), &[("setup", "ready")]);
    let body = poll(&h, &id);
    assert_eq!(body["status"], "done");
    assert_eq!(
        body["secretVersion"], version,
        "the version is read back from the VM"
    );
    let setmetadata =
        h.p.call_log()
            .iter()
            .filter(|l| l.ends_with("/setMetadata"))
            .count();
    assert_eq!(setmetadata, 1);
    let record = h.p.kv.borrow().get(&record_key).cloned().unwrap().0;
    assert!(
        !record.contains("telegramToken"),
        "a finished record holds no token"
    );
}

#[test]
fn a_retried_click_that_races_the_first_finds_the_same_vm() {
    let h = TestApp::new();
    let send = || {
        let mut request = h.request(
            Method::Post,
            "/api/deploy/start",
            Some(&h.cookie),
            Some(start_body("claw-demo")),
        );
        request
            .headers
            .push(("idempotency-key".into(), "click-1".into()));
        h.send(request).json_body()
    };
    let first = send();
    let id = first["deploymentId"].as_str().unwrap().to_string();
    // The retry does not see the first record yet (another location of KV, or the
    // first request still on its way).
    h.p.kv.borrow_mut().remove(&format!("deploy:{id}"));
    let second = send();
    assert_eq!(second["deploymentId"], first["deploymentId"]);
    assert_eq!(second["vmName"], first["vmName"]);
    let vms = h.google.borrow().vms.len();
    assert_eq!(vms, 1, "Google refused the second VM of the same name");
    let mut status = poll(&h, &id)["status"].clone();
    for _ in 0..3 {
        if status == "booting" {
            break;
        }
        status = poll(&h, &id)["status"].clone();
    }
    assert_eq!(status, "booting", "the VM is adopted as this deploy's own");
}

#[test]
fn polls_cost_one_kv_read_and_a_fresh_tag_costs_nothing() {
    let h = TestApp::new();
    let (id, vm) = start(&h, "claw-demo");
    let cost = |h: &TestApp, tag: Option<&str>| {
        let (reads, calls) = (h.p.kv_reads.get(), h.google_calls());
        let (status, body, etag) = poll_as_page(h, &id, tag);
        (
            status,
            body,
            etag,
            h.p.kv_reads.get() - reads,
            h.google_calls() - calls,
        )
    };
    // In progress: one read, one Google call, and when to ask again.
    let (status, body, tag, reads, calls) = cost(&h, None);
    assert_eq!((status, reads, calls), (200, 1, 1), "{body}");
    assert_eq!(body["retryAfterMs"], 2000);
    let tag = tag.expect("an ETag");
    // Asked again sooner: the page's copy holds, nothing is read or asked.
    let (status, _, _, reads, calls) = cost(&h, Some(&tag));
    assert_eq!((status, reads, calls), (304, 0, 0));
    // Once that time has passed, the poll does its work again.
    h.p.now_ms.set(h.p.now_ms.get() + 2000);
    let (status, _, _, reads, calls) = cost(&h, Some(&tag));
    assert_eq!((status, reads, calls), (200, 1, 1));

    h.set_guest(&key(&vm), &[("setup", "ready")]);
    let (status, body, tag, _, _) = cost(&h, None);
    assert_eq!((status, &body["status"]), (200, &json!("done")));
    assert_eq!(
        body["retryAfterMs"],
        Value::Null,
        "finished: nothing to wait for"
    );
    let tag = tag.unwrap();
    // Finished: one read without the tag, none with it, never Google.
    let (status, _, _, reads, calls) = cost(&h, None);
    assert_eq!((status, reads, calls), (200, 1, 0));
    h.p.advance_secs(1800);
    let (status, _, _, reads, calls) = cost(&h, Some(&tag));
    assert_eq!(
        (status, reads, calls),
        (304, 0, 0),
        "holds while the record lives"
    );

    // A tag is worth nothing with another cookie, or for another deploy.
    let mallory = h.sign_in("sub-mallory", &["claw-demo"], 3600);
    let mut request = h.request(
        Method::Get,
        &format!("/api/deploy/{id}"),
        Some(&mallory),
        None,
    );
    request.headers.push(("if-none-match".into(), tag.clone()));
    assert_eq!(h.send(request).status, 404);
    let (other, _) = start(&h, "claw-demo");
    let (status, _, _) = poll_as_page(&h, &other, Some(&tag));
    assert_eq!(status, 200);
}

#[test]
fn a_finished_deploy_takes_no_more_secrets_so_its_answer_stays_final() {
    let h = TestApp::new();
    let (id, _) = reporting(&h, "ready");
    assert_eq!(poll(&h, &id)["status"], "done");
    let (status, body) = h.call(
        Method::Post,
        &format!("/api/deploy/{id}/secret"),
        Some(json!({"telegramToken": TELEGRAM})),
    );
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("bot list"));
}
