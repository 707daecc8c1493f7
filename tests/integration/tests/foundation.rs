//! The foundation through wrangler dev: health, the page, unknown routes, security
//! headers, and refusal of bad input on every kind of route.

use claw_free_it::Stack;
use serde_json::json;

fn assert_security_headers(reply: &claw_free_it::Reply) {
    let csp = reply.header("content-security-policy").expect("CSP");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(reply.header("x-frame-options"), Some("DENY"));
    assert_eq!(
        reply.header("referrer-policy"),
        Some("strict-origin-when-cross-origin")
    );
}

#[test]
fn the_worker_serves_health_the_page_and_json_errors_with_security_headers() {
    let (_stack, client) = Stack::signed_out();

    let health = client.get("/api/health");
    assert_eq!(health.status, 200);
    assert_eq!(health.json["ok"], true);
    assert_eq!(health.json["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(health.header("cache-control"), Some("no-store"));
    assert_security_headers(&health);

    let page = client.get("/");
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap_or("")
        .starts_with("text/html"));
    assert!(page.text.contains("claw.free"));
    assert!(!page.text.contains("<script>"), "no inline script");
    assert_security_headers(&page);

    let unknown = client.get("/api/no-such-route");
    assert_eq!(unknown.status, 404);
    assert!(unknown
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    assert!(!unknown.error().is_empty());
    assert_security_headers(&unknown);

    let wrong_method = client.send("PUT", "/api/health", Some(json!({})), &[]);
    assert_eq!(wrong_method.status, 405);
    assert!(!wrong_method.error().is_empty());
}

#[test]
fn bad_input_gets_a_clear_4xx_and_never_a_500() {
    let (_stack, client) = Stack::signed_in();
    let routes = [
        "/api/deploy/start",
        "/api/deploy/create-project",
        "/api/telegram/detect-user",
    ];
    let hostile = "\u{202e}<script>alert(1)</script>'; DROP TABLE bots;--\u{0000}";
    for route in routes {
        let bodies: Vec<(Vec<u8>, &str)> = vec![
            (b"{not json".to_vec(), "application/json"),
            (b"[1,2,3]".to_vec(), "application/json"),
            (br#"{"projectId": 5, "region": [], "token": {}, "botName": null}"#.to_vec(), "application/json"),
            (json!({"projectId": hostile, "region": hostile, "provider": hostile, "botName": hostile, "token": hostile, "displayName": hostile}).to_string().into_bytes(), "application/json"),
            (b"projectId=x".to_vec(), "application/x-www-form-urlencoded"),
            (vec![b'x'; 64 * 1024], "application/json"),
        ];
        for (body, content_type) in bodies {
            let reply = client
                .request("POST", route, Some(body), &[("content-type", content_type)])
                .expect("request");
            assert!(
                (400..500).contains(&reply.status),
                "{route}: {} {}",
                reply.status,
                reply.text
            );
            assert!(
                !reply.error().is_empty(),
                "{route}: an error sentence: {}",
                reply.text
            );
            assert!(
                !reply.text.contains("<script>"),
                "{route}: hostile input is not echoed raw"
            );
        }
    }
    for path in [
        "/api/deploy/%00%ff",
        "/api/deploy/../../etc/passwd",
        "/api/bots/x/y/z",
        "/api/bots/claw-demo/us-central1-a/UPPER",
    ] {
        let reply = client.get(path);
        assert!(
            (400..500).contains(&reply.status),
            "{path}: {} {}",
            reply.status,
            reply.text
        );
    }
}

#[test]
fn state_changing_requests_from_another_site_are_refused() {
    let (stack, mut client) = Stack::signed_in();
    client.origin = Some("https://evil.example".into());
    let reply = client.post(
        "/api/deploy/start",
        claw_free_it::start_body("claw-demo", "My bot"),
    );
    assert_eq!(reply.status, 403);
    client.origin = None;
    let reply = client.post("/api/auth/logout", json!({}));
    assert_eq!(reply.status, 403);
    assert_eq!(
        stack
            .counters()
            .get("compute.instances.insert")
            .copied()
            .unwrap_or(0),
        0
    );
}
