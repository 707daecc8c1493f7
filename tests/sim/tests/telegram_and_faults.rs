//! The Telegram Bot API, injected faults and the request counters.

mod common;
use common::*;
use serde_json::json;
use std::time::{Duration, Instant};

const BOT: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

#[test]
fn telegram_get_me_and_updates_like_telegram() {
    let sim = sim();
    let unknown = sim.anonymous("GET", &format!("/bot{BOT}/getMe"));
    assert_eq!(unknown.status, 401);
    assert_eq!(
        unknown.json(),
        json!({ "ok": false, "error_code": 401, "description": "Unauthorized" })
    );
    assert_eq!(sim.anonymous("GET", "/botnot-a-token/getMe").status, 404);

    sim.admin(
        "telegram/bots",
        json!({ "token": BOT, "username": "my_claw_bot",
        "updates": [{ "fromId": 4242, "firstName": "Ada", "username": "ada", "text": "/start" }] }),
    );
    let me = sim
        .send("GET", &format!("/bot{BOT}/getMe"), None, None)
        .json();
    assert_eq!(me["ok"], true);
    assert_eq!(me["result"]["id"], 123456789);
    assert_eq!(me["result"]["is_bot"], true);
    assert_eq!(me["result"]["username"], "my_claw_bot");

    let updates = sim
        .send("GET", &format!("/bot{BOT}/getUpdates"), None, None)
        .json();
    let first = &updates["result"][0];
    assert_eq!(first["message"]["from"]["id"], 4242);
    assert_eq!(first["message"]["from"]["first_name"], "Ada");
    assert_eq!(first["message"]["chat"]["type"], "private");
    assert_eq!(first["message"]["text"], "/start");
    // Confirming with offset forgets it.
    let next = first["update_id"].as_u64().unwrap() + 1;
    let after = sim
        .send(
            "GET",
            &format!("/bot{BOT}/getUpdates?offset={next}"),
            None,
            None,
        )
        .json();
    assert_eq!(after["result"], json!([]));
    let started = Instant::now();
    let waited = sim
        .send(
            "GET",
            &format!("/bot{BOT}/getUpdates?offset={next}&timeout=1"),
            None,
            None,
        )
        .json();
    assert_eq!(waited["result"], json!([]));
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(
        sim.anonymous("GET", &format!("/bot{BOT}/getUpdates?offset=soon"))
            .status,
        400
    );
}

#[test]
fn faults_hit_the_named_endpoint_the_given_number_of_times() {
    let (sim, token) = signed_in();
    sim.admin(
        "faults",
        json!({ "endpoint": "crm.projects.search", "status": 503, "times": 2 }),
    );
    for _ in 0..2 {
        let r = sim.get("/v3/projects:search", &token);
        assert_eq!(r.status, 503);
        assert_eq!(r.json()["error"]["status"], "UNAVAILABLE");
    }
    assert_eq!(sim.get("/v3/projects:search", &token).status, 200);

    sim.admin(
        "faults",
        json!({ "endpoint": "telegram.getMe", "status": 429, "times": 1 }),
    );
    let limited = sim.anonymous("GET", &format!("/bot{BOT}/getMe"));
    assert_eq!(limited.status, 429);
    assert_eq!(limited.json()["ok"], false);

    let custom = json!({ "error": { "code": 500, "message": "boom" } });
    sim.admin("faults", json!({ "endpoint": "compute.instances.get", "status": 500, "body": custom, "probability": 1.0 }));
    let r = sim.get(
        "/compute/v1/projects/claw-demo/zones/us-central1-a/instances/x",
        &token,
    );
    assert_eq!((r.status, r.json()), (500, custom));
    sim.anonymous("DELETE", "/_admin/faults");
    assert_eq!(
        sim.get(
            "/compute/v1/projects/claw-demo/zones/us-central1-a/instances/x",
            &token
        )
        .status,
        404
    );

    sim.admin(
        "faults",
        json!({ "endpoint": "oauth.userinfo", "latencyMs": 300, "times": 1 }),
    );
    let started = Instant::now();
    assert_eq!(sim.get("/v1/userinfo", &token).status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    let refused = sim.send(
        "POST",
        "/_admin/faults",
        None,
        Some(json!({ "endpoint": "compute.nope", "status": 500 })),
    );
    assert_eq!(refused.status, 400);
    assert!(refused.text("error").contains("unknown endpoint"));
}

#[test]
fn counters_count_each_endpoint_and_reset_clears_them() {
    let (sim, token) = signed_in();
    sim.get("/v3/projects:search", &token);
    sim.get("/v3/projects:search", &token);
    sim.instance_list(&token, "claw-demo", "");
    let counters = sim.admin_get("counters");
    assert_eq!(counters["oauth.authorize"], 1);
    assert_eq!(counters["oauth.token"], 1);
    assert_eq!(counters["crm.projects.search"], 2);
    assert_eq!(counters["compute.instances.aggregatedList"], 1);
    sim.admin("reset", json!({}));
    assert_eq!(sim.admin_get("counters"), json!({}));
    assert_eq!(
        sim.get("/v3/projects:search", &token).status,
        401,
        "reset forgets tokens"
    );
    let bad = sim.send(
        "POST",
        "/_admin/config",
        None,
        Some(json!({ "bootStepMillis": 5 })),
    );
    assert_eq!(bad.status, 400);
}

#[test]
fn telegram_bot_replies_are_kept_and_unknown_methods_recorded() {
    let sim = sim();
    sim.admin(
        "telegram/bots",
        json!({ "token": BOT, "username": "my_claw_bot", "updates": [] }),
    );
    let call = |method: &str, body: serde_json::Value| {
        sim.send("POST", &format!("/bot{BOT}/{method}"), None, Some(body))
    };
    for method in ["deleteWebhook", "setMyCommands", "deleteMyCommands"] {
        assert_eq!(
            call(method, json!({})).json(),
            json!({ "ok": true, "result": true })
        );
    }
    assert_eq!(
        call(
            "sendChatAction",
            json!({ "chat_id": 4242, "action": "typing" })
        )
        .json(),
        json!({ "ok": true, "result": true })
    );
    let sent = call("sendMessage", json!({ "chat_id": 4242, "text": "Hello" })).json();
    assert_eq!(sent["ok"], true);
    assert_eq!(sent["result"]["chat"]["id"], 4242);
    assert_eq!(sent["result"]["text"], "Hello");
    let empty = call("sendMessage", json!({ "chat_id": 4242, "text": " " }));
    assert_eq!(empty.status, 400);
    assert_eq!(
        empty.json(),
        json!({ "ok": false, "error_code": 400, "description": "Bad Request: message text is empty" })
    );

    assert_eq!(sim.admin_get("telegram/unknown-methods"), json!([]));
    let unknown = call("sendSticker", json!({ "chat_id": 4242 }));
    assert_eq!(unknown.status, 404);
    assert_eq!(
        unknown.json(),
        json!({ "ok": false, "error_code": 404, "description": "Not Found" })
    );
    assert_eq!(
        sim.admin_get("telegram/unknown-methods"),
        json!(["sendSticker"])
    );
}
