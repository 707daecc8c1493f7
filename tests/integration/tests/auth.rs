//! Sign-in, sessions and Telegram detection through wrangler dev and the simulator.

use claw_free_it::{query_param, Client, Stack, StackOptions, TELEGRAM_TOKEN};
use serde_json::json;

#[test]
fn a_full_sign_in_then_logout() {
    let (stack, client) = Stack::signed_out();
    let done = client.sign_in("provider=claude&channel=telegram&cloud=gcp&region=us-east1");
    assert_eq!(done.status, 302);
    assert_eq!(
        done.header("location"),
        Some("/?provider=claude&channel=telegram&cloud=gcp&region=us-east1")
    );
    let cookie_line = done
        .headers
        .iter()
        .find(|(k, v)| k == "set-cookie" && v.starts_with("__Host-session="))
        .expect("session cookie");
    for part in [
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        "Path=/",
        "Max-Age=3600",
    ] {
        assert!(cookie_line.1.contains(part), "{part} in {}", cookie_line.1);
    }
    let session = client.get("/api/deploy/session");
    assert_eq!(session.status, 200, "{}", session.text);
    assert_eq!(session.json["provider"], "claude");
    assert_eq!(session.json["region"], "us-east1");
    assert_eq!(session.json["userEmail"], "ada@example.com");
    let projects: Vec<&str> = session.json["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["projectId"].as_str().unwrap())
        .collect();
    assert!(projects.contains(&"claw-demo"), "{projects:?}");

    // The session's KV value holds the token sealed, never in plaintext.
    let kv = stack.kv_contents();
    assert!(
        kv.contains("userEmail") || kv.contains("ada@example.com"),
        "the session is in KV"
    );
    // The simulator's access tokens, like Google's, start with "ya29.".
    assert!(!kv.contains("ya29."), "no access token in KV");

    let old_cookie = client.cookie("__Host-session").unwrap();
    let logout = client.post("/api/auth/logout", json!({}));
    assert_eq!(logout.status, 200);
    assert_eq!(logout.json["revoked"], true, "{}", logout.text);
    assert!(
        client.cookie("__Host-session").is_none(),
        "the cookie is cleared"
    );
    assert_eq!(stack.counters().get("oauth.revoke").copied(), Some(1));
    client.set_cookie("__Host-session", &old_cookie);
    assert_eq!(
        client.get("/api/deploy/session").status,
        404,
        "the old cookie no longer works"
    );
    assert_eq!(
        Client::new(&stack.site).get("/api/deploy/session").status,
        401
    );
}

#[test]
fn denied_consent_forged_and_reused_states_give_no_session() {
    let (stack, client) = Stack::signed_out();
    stack.admin("config", json!({"autoApprove": false}));

    // Deny on the consent page: Google redirects with error=access_denied.
    let start = client.get("/api/auth/google?provider=kimi");
    let consent = start.header("location").unwrap().to_string();
    let state = query_param(&consent, "state").to_string();
    let denied = client.get(&format!(
        "/api/auth/callback/google?error=access_denied&state={state}"
    ));
    assert_eq!(denied.header("location"), Some("/?authError=cancelled"));
    assert!(client.cookie("__Host-session").is_none());

    // A forged state, and a real state from another browser.
    let forged = client.get("/api/auth/callback/google?code=x&state=forged");
    assert_eq!(forged.header("location"), Some("/?authError=expired"));
    stack.admin("config", json!({"autoApprove": true}));
    let victim = stack.client();
    let start = victim.get("/api/auth/google?provider=kimi");
    let approved = Client::new("").get(start.header("location").unwrap());
    let callback = approved.header("location").unwrap().to_string();
    let attacker = stack.client();
    let stolen = attacker.get(&callback);
    assert_eq!(stolen.header("location"), Some("/?authError=expired"));
    assert!(
        attacker.cookie("__Host-session").is_none(),
        "a state works only in the browser that started it"
    );
    // The rightful browser can still finish, once. A copy of its sign-in cookie
    // replayed later gets nothing: Google's code is spent.
    let copied = victim.cookie("__Host-signin").expect("the sign-in cookie");
    let ok = victim.get(&callback);
    assert!(
        victim.cookie("__Host-session").is_some(),
        "{:?}",
        ok.header("location")
    );
    assert!(
        victim.cookie("__Host-signin").is_none(),
        "cleared once used"
    );
    let replay_client = stack.client();
    replay_client.set_cookie("__Host-signin", &copied);
    let replay = replay_client.get(&callback);
    assert_eq!(replay.header("location"), Some("/?authError=refused"));
    assert!(replay_client.cookie("__Host-session").is_none());
    // The state alone, as a cookie, is not a sign-in.
    let state = query_param(&callback, "state");
    let bare = stack.client();
    bare.set_cookie("__Host-signin", state);
    let refused = bare.get(&callback);
    assert_eq!(refused.header("location"), Some("/?authError=expired"));
}

#[test]
fn starting_a_sign_in_writes_nothing_and_completed_sign_ins_are_limited() {
    let stack = Stack::start(StackOptions::default().var("LIMIT_SIGNINS_PER_IP", 2));
    let client = stack.client();
    for _ in 0..10 {
        let start = client.get("/api/auth/google?provider=kimi");
        assert_eq!(start.status, 302, "{}", start.text);
        assert_eq!(
            start.header("x-claw-free-kv"),
            Some("reads=0 writes=0"),
            "a sign-in start costs no KV operation"
        );
    }
    assert!(
        !stack.kv_contents().contains("signin"),
        "no pending sign-in in KV"
    );
    for _ in 0..2 {
        assert!(stack
            .client()
            .signed_in()
            .cookie("__Host-session")
            .is_some());
    }
    let third = stack.client();
    let done = third.sign_in("provider=kimi");
    assert_eq!(done.header("location"), Some("/?authError=limited"));
    assert!(third.cookie("__Host-session").is_none());
}

#[test]
fn telegram_user_detection_needs_the_sessions_code() {
    let (stack, client) = Stack::signed_in();
    let bot = |updates: serde_json::Value| {
        stack.admin(
            "telegram/bots",
            json!({"token": TELEGRAM_TOKEN, "username": "ada_claw_bot", "updates": updates}),
        );
    };
    let detect = || {
        client.post(
            "/api/telegram/detect-user",
            json!({"token": TELEGRAM_TOKEN}),
        )
    };
    bot(json!([]));
    let code = client.post("/api/telegram/owner-code", json!({"token": TELEGRAM_TOKEN}));
    assert_eq!(code.status, 200, "{}", code.text);
    let code = code.json["code"].as_str().unwrap().to_string();
    let none = detect();
    assert_eq!(none.status, 404);
    assert!(
        none.error().contains("no messages yet") && none.error().contains(&code),
        "{}",
        none.text
    );
    // A stranger wrote to the new bot first, and again after the owner.
    bot(json!([
        {"fromId": 666, "firstName": "Mallory", "username": "mallory", "text": "hi"},
        {"fromId": 424242, "firstName": "Ada", "username": "ada", "text": code},
        {"fromId": 666, "firstName": "Mallory", "username": "mallory", "text": "hello?"}]));
    let found = detect();
    assert_eq!(found.status, 200, "{}", found.text);
    assert_eq!(found.json["userId"], "424242");
    assert!(!found.text.contains(TELEGRAM_TOKEN));
    bot(json!([{"fromId": 666, "firstName": "Mallory", "username": "mallory", "text": "hi"}]));
    let stranger_only = detect();
    assert_eq!(
        stranger_only.status, 404,
        "the latest sender is not the owner"
    );
    assert!(stranger_only.error().contains(&code));
    // Without a session there is nothing to prove.
    let anonymous = Client::new(&stack.site).post(
        "/api/telegram/detect-user",
        json!({"token": TELEGRAM_TOKEN}),
    );
    assert_eq!(anonymous.status, 401);
    let unknown = client.post(
        "/api/telegram/detect-user",
        json!({"token": "987654321:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0"}),
    );
    assert_eq!(unknown.status, 400);
    assert!(unknown.error().contains("does not know this bot token"));
    let malformed = client.post("/api/telegram/detect-user", json!({"token": "not a token"}));
    assert_eq!(malformed.status, 400);
}

#[test]
fn creating_a_project_checks_the_id_first_and_adds_it_to_the_session() {
    let (stack, client) = Stack::signed_in();
    let bad = client.post(
        "/api/deploy/create-project",
        json!({"projectId": "Bad_Id", "displayName": "My bots"}),
    );
    assert_eq!(bad.status, 400);
    assert_eq!(
        stack
            .counters()
            .get("crm.projects.create")
            .copied()
            .unwrap_or(0),
        0,
        "Google is not called for a bad id"
    );
    let created = client.post(
        "/api/deploy/create-project",
        json!({"projectId": "ada-bots-2026", "displayName": "Ada bots"}),
    );
    assert_eq!(created.status, 200, "{}", created.text);
    assert_eq!(created.json["projectId"], "ada-bots-2026");
    assert_eq!(created.json["name"], "Ada bots");
    let session = client.get("/api/deploy/session");
    assert!(session.text.contains("ada-bots-2026"));
    let taken = client.post(
        "/api/deploy/create-project",
        json!({"projectId": "claw-demo", "displayName": "Again"}),
    );
    assert_eq!(taken.status, 409, "{}", taken.text);
    assert!(taken.error().contains("already taken"));
}

#[test]
fn an_ipv6_client_is_counted_by_its_64_and_a_cookie_sent_twice_is_none() {
    let stack = Stack::start(StackOptions::default().var("LIMIT_TELEGRAM_PER_IP", 1));
    let client = stack.client().signed_in();
    stack.admin(
        "telegram/bots",
        json!({"token": TELEGRAM_TOKEN, "username": "ada_claw_bot", "updates": []}),
    );
    let body = || Some(json!({"token": TELEGRAM_TOKEN}));
    let from = |address: &str| {
        client
            .send(
                "POST",
                "/api/telegram/detect-user",
                body(),
                &[("cf-connecting-ip", address)],
            )
            .status
    };
    assert_eq!(from("2001:db8:1:2::1"), 404, "counted, and no message yet");
    assert_eq!(
        from("2001:db8:1:2:ffff::99"),
        429,
        "another address of the same /64"
    );
    assert_eq!(
        from("2001:db8:1:3::1"),
        404,
        "another /64 has its own count"
    );

    // The session cookie, and a second one of the same name (planted by a sibling
    // domain, say): neither is trusted.
    let secret = client.cookie("__Host-session").unwrap();
    let outsider = Client::new(&stack.site);
    let doubled = outsider
        .request(
            "GET",
            "/api/deploy/session",
            None,
            &[(
                "cookie",
                &format!(
                    "__Host-session={secret}; __Host-session=00000000000000000000000000000000"
                ),
            )],
        )
        .unwrap();
    assert_eq!(doubled.status, 401, "{}", doubled.text);
    let single = outsider
        .request(
            "GET",
            "/api/deploy/session",
            None,
            &[("cookie", &format!("__Host-session={secret}"))],
        )
        .unwrap();
    assert_eq!(single.status, 200);
}
