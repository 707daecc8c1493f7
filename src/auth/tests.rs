//! Sign-in, the session, projects and sign-out, through the App against an in-memory Google.

use super::*;
use crate::config::tests::development_config;
use crate::http::Method;
use crate::store::SIGNIN_TTL;
use crate::testing::{is, reply, run, TestPlatform};

const TOKEN: &str = "ya29.sim-access-token-for-ada";

fn google(p: &TestPlatform) {
    p.respond(|req| {
        if is(req, Method::Post, "/token") {
            let body = String::from_utf8_lossy(req.body.as_deref().unwrap_or_default()).into_owned();
            if !body.contains("code=good-code") || !body.contains("code_verifier=") {
                return reply(400, json!({"error": "invalid_grant", "error_description": "Bad Request"}));
            }
            reply(200, json!({"access_token": TOKEN, "expires_in": 3599, "token_type": "Bearer",
                "scope": "openid https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/cloud-platform"}))
        } else if is(req, Method::Get, "/v1/userinfo") {
            reply(200, json!({"sub": "100", "email": "ada@example.com", "name": "Ada", "picture": "https://example.com/a.png"}))
        } else if is(req, Method::Get, "/v3/projects:search") {
            reply(200, json!({"projects": [
                {"projectId": "claw-demo", "displayName": "Claw demo", "state": "ACTIVE"},
                {"projectId": "old-one", "displayName": "Old", "state": "DELETE_REQUESTED"}]}))
        } else if is(req, Method::Post, "/revoke") {
            reply(200, json!({}))
        } else {
            reply(404, json!({"error": {"code": 404, "message": "not found"}}))
        }
    });
}

/// A platform whose Google answers a sign-in, and the development configuration.
fn with_google() -> (TestPlatform, crate::config::Config) {
    let p = TestPlatform::new();
    google(&p);
    (p, development_config())
}

/// The callback Google redirects to after consent, with `answer` (`code=..` or
/// `error=..`), `state` and the browser's cookies.
fn callback(
    app: &App<'_, TestPlatform>,
    answer: &str,
    state: &str,
    cookies: &[String],
) -> Response {
    run(app.handle(get(
        &format!("/api/auth/callback/google?{answer}&state={state}"),
        cookies,
    )))
}

fn get(path_and_query: &str, cookies: &[String]) -> Request {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    Request {
        method: Method::Get,
        path: path.into(),
        query: query.into(),
        headers: cookies
            .iter()
            .map(|c| ("cookie".to_string(), c.clone()))
            .collect(),
        body: Vec::new(),
        client_ip: "203.0.113.9".into(),
    }
}

/// The `name=value` part of each Set-Cookie header.
fn cookies(response: &Response) -> Vec<String> {
    response
        .headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .map(|(_, v)| v.split(';').next().unwrap().to_string())
        .filter(|c| !c.ends_with('='))
        .collect()
}

/// The OAuth `state` of a consent URL.
fn state_of(location: &str) -> &str {
    let after = location.split("state=").nth(1).unwrap();
    after.split('&').next().unwrap()
}

fn begin(app: &App<'_, TestPlatform>) -> (String, Vec<String>) {
    let response = run(app.handle(get(
        "/api/auth/google?provider=claude&channel=telegram&cloud=gcp",
        &[],
    )));
    assert_eq!(response.status, 302);
    let state = state_of(response.header("location").unwrap()).to_string();
    (state, cookies(&response))
}

/// A sign-in begun in a fresh browser, and Google's `answer` to it (`code=..` or
/// `error=..`) brought back to the callback.
fn answered(app: &App<'_, TestPlatform>, answer: &str) -> Response {
    let (state, state_cookie) = begin(app);
    callback(app, answer, &state, &state_cookie)
}

/// A whole sign-in through the callback; the cookies it sets.
fn sign_in(app: &App<'_, TestPlatform>) -> Vec<String> {
    cookies(&answered(app, "code=good-code"))
}

/// Whether `response` sets a session cookie.
fn sets_session(response: &Response) -> bool {
    cookies(response)
        .iter()
        .any(|c| c.starts_with("__Host-session="))
}

/// `POST /api/auth/logout` from the site with these cookies.
fn logout(app: &App<'_, TestPlatform>, session_cookie: &[String]) -> Response {
    let mut logout = get("/api/auth/logout", session_cookie);
    logout.method = Method::Post;
    logout
        .headers
        .push(("origin".into(), app.config.site_origin.clone()));
    run(app.handle(logout))
}

#[test]
fn a_full_sign_in_stores_a_sealed_session() {
    let (p, config) = with_google();
    let app = App::new(&p, &config);
    let response = answered(&app, "code=good-code");
    assert_eq!(response.status, 302);
    assert_eq!(
        response.header("location"),
        Some("/?provider=claude&channel=telegram&cloud=gcp")
    );
    let set = response
        .headers
        .iter()
        .find(|(k, v)| k == "set-cookie" && v.starts_with("__Host-session="))
        .unwrap();
    assert!(
        set.1.contains("HttpOnly")
            && set.1.contains("Secure")
            && set.1.contains("SameSite=Lax")
            && set.1.contains("Path=/")
            && set.1.contains("Max-Age=3600")
    );
    let session_cookie = cookies(&response);
    let view = run(app.handle(get("/api/deploy/session", &session_cookie))).json_body();
    assert_eq!(view["userEmail"], "ada@example.com");
    assert_eq!(view["provider"], "claude");
    assert_eq!(
        view["projects"],
        json!([{"projectId": "claw-demo", "name": "Claw demo"}])
    );
    let kv = p.kv_dump();
    assert!(kv.contains("session:") && !kv.contains(TOKEN) && !kv.contains("sim-access-token"));
    assert!(
        !kv.contains(session_cookie[0].trim_start_matches("__Host-session=")),
        "KV keys hold the cookie's digest"
    );
    // The token endpoint received the PKCE verifier whose challenge went to Google.
    assert!(p.call_log().iter().any(|c| c.contains("/token")));
}

#[test]
fn a_state_is_single_use_and_bound_to_its_browser() {
    let (p, config) = with_google();
    let app = App::new(&p, &config);
    let (state, state_cookie) = begin(&app);
    let callback = format!("/api/auth/callback/google?code=good-code&state={state}");
    // Another browser (no cookie) cannot use the state, and burns nothing.
    let stranger = run(app.handle(get(&callback, &[])));
    assert!(stranger
        .header("location")
        .unwrap()
        .starts_with("/?authError="));
    assert!(cookies(&stranger).is_empty());
    // Another browser's sign-in cookie does not carry this state.
    let (_, other_cookie) = begin(&app);
    let crossed = run(app.handle(get(&callback, &other_cookie)));
    assert_eq!(crossed.header("location"), Some("/?authError=expired"));
    let ok = run(app.handle(get(&callback, &state_cookie)));
    assert!(sets_session(&ok));
    let forged = run(app.handle(get(
        "/api/auth/callback/google?code=good-code&state=forged",
        &["__Host-signin=forged".into()],
    )));
    assert_eq!(forged.header("location"), Some("/?authError=expired"));
    // A cookie sent twice (one planted) is no cookie.
    let doubled = vec![format!("{}; {}", state_cookie[0], other_cookie[0])];
    let planted = run(app.handle(get(&callback, &doubled)));
    assert_eq!(planted.header("location"), Some("/?authError=expired"));
}

#[test]
fn an_expired_state_gives_no_session() {
    let (p, config) = with_google();
    let app = App::new(&p, &config);
    let (state, state_cookie) = begin(&app);
    p.advance_secs(SIGNIN_TTL + 1);
    let late = callback(&app, "code=good-code", &state, &state_cookie);
    assert_eq!(late.header("location"), Some("/?authError=expired"));
}

#[test]
fn googles_refusals_redirect_with_a_code_never_text_and_no_session() {
    for (answer, code) in [
        ("code=stolen", "refused"),
        ("error=access_denied", "cancelled"),
        // Whatever else the URL carries, the page gets a code, never its text.
        (
            "error=%3Cscript%3Ebad&error_description=Click+evil.test",
            "failed",
        ),
    ] {
        let (p, config) = with_google();
        let app = App::new(&p, &config);
        let response = answered(&app, answer);
        let expected = format!("/?authError={code}");
        assert_eq!(response.header("location"), Some(expected.as_str()));
        assert!(!sets_session(&response), "{answer}");
        if answer.starts_with("error=") {
            assert!(
                p.call_log().iter().all(|c| !c.contains("/token")),
                "no code exchange after {answer}"
            );
        }
    }
}

#[test]
fn logout_signs_out_here_and_says_whether_google_revoked_the_token() {
    // Google's answer to the revocation, and whether the page is told it is revoked.
    for (status, body, revoked) in [
        (200, json!({}), true),
        (503, json!({"error": "backend_error"}), false),
    ] {
        let (p, config) = with_google();
        let app = App::new(&p, &config);
        let session_cookie = sign_in(&app);
        p.respond(move |req| {
            if is(req, Method::Post, "/revoke") {
                reply(status, body.clone())
            } else {
                reply(404, json!({}))
            }
        });
        let response = logout(&app, &session_cookie);
        assert_eq!(response.status, 200);
        assert_eq!(response.json_body()["revoked"], revoked);
        assert!(p
            .call_log()
            .iter()
            .any(|c| c.starts_with("POST") && c.contains("/revoke")));
        let cleared: Vec<&str> = response
            .headers
            .iter()
            .filter(|(k, v)| k == "set-cookie" && v.contains("Max-Age=0"))
            .map(|(_, v)| v.as_str())
            .collect();
        assert!(cleared.iter().any(|c| c.starts_with("__Host-session=;")));
        assert!(cleared.iter().any(|c| c.starts_with("__Host-deploy=;")));
        assert_eq!(
            run(app.handle(get("/api/deploy/session", &session_cookie))).status,
            404,
            "signed out here even when Google did not confirm"
        );
        assert_eq!(run(app.handle(get("/api/deploy/session", &[]))).status, 401);
    }
}

#[test]
fn bad_choices_are_refused_before_anything_is_stored() {
    let (p, config) = (TestPlatform::new(), development_config());
    let app = App::new(&p, &config);
    let response = run(app.handle(get("/api/auth/google?provider=gpt5", &[])));
    assert_eq!(response.status, 400);
    assert!(response.json_body()["error"]
        .as_str()
        .unwrap()
        .contains("provider"));
    assert_eq!(p.kv_writes.get(), 0);
}
#[test]
fn starting_a_sign_in_writes_nothing_and_the_cookie_holds_no_plaintext() {
    let (p, config) = (TestPlatform::new(), development_config());
    let app = App::new(&p, &config);
    for _ in 0..50 {
        let response = run(app.handle(get("/api/auth/google?provider=claude", &[])));
        assert_eq!(response.status, 302);
        let line = response.header("set-cookie").unwrap();
        assert!(line.starts_with("__Host-signin=v1."), "{line}");
        assert!(line.contains("; Secure") && line.contains("; Path=/;"));
        let state = state_of(response.header("location").unwrap());
        assert!(!line.contains(state), "the state travels sealed");
        assert!(!line.contains("claude"));
    }
    assert_eq!(p.kv_writes.get(), 0, "no KV write to start a sign-in");
}

#[test]
fn sign_in_error_codes_are_plain_words() {
    for error in [
        SignInError::Expired,
        SignInError::Cancelled,
        SignInError::Failed,
        SignInError::Refused,
        SignInError::Scope,
        SignInError::Google,
        SignInError::Busy,
        SignInError::Limited,
    ] {
        assert!(error.code().bytes().all(|b| b.is_ascii_lowercase()));
    }
}

#[test]
fn completed_sign_ins_are_limited_per_network_and_refusals_are_not_counted() {
    let p = TestPlatform::new();
    google(&p);
    let mut config = development_config();
    config.limits.signins_per_ip = 2;
    let app = App::new(&p, &config);
    // Forged callbacks, and made-up codes with a real sign-in cookie, write nothing.
    for _ in 0..5 {
        run(app.handle(get("/api/auth/callback/google?code=x&state=forged", &[])));
        let refused = answered(&app, "code=made-up");
        assert_eq!(refused.header("location"), Some("/?authError=refused"));
    }
    assert_eq!(p.kv_writes.get(), 0);
    for _ in 0..2 {
        assert!(sets_session(&answered(&app, "code=good-code")));
    }
    let limited = answered(&app, "code=good-code");
    assert_eq!(limited.header("location"), Some("/?authError=limited"));
    assert_eq!(
        p.call_log()
            .iter()
            .filter(|c| c.contains("/v1/userinfo"))
            .count(),
        2,
        "no session past the limit"
    );
}
