//! Google OAuth as the Worker uses it: consent, PKCE, single-use codes, redirect_uri
//! matching, userinfo, expiry and revocation.

mod common;
use common::*;
use serde_json::json;

#[test]
fn consent_page_then_allow_issues_a_code_that_works_once() {
    let sim = sim();
    let verifier = pkce_verifier();
    let page = sim.authorize(SCOPES, &challenge(&verifier), "xyz");
    assert_eq!(page.status, 200);
    assert!(page.body.contains(">Allow</button>") && page.body.contains(">Cancel</button>"));
    assert!(page.body.contains("ada@example.com"));
    let allowed = sim.decide(&consent_id(&page.body), "allow");
    assert_eq!(allowed.status, 302);
    let location = allowed.location.unwrap();
    assert!(location.starts_with(REDIRECT));
    assert_eq!(query_param(&location, "state").as_deref(), Some("xyz"));
    let code = query_param(&location, "code").unwrap();

    let exchange = |verifier: &str, redirect: &str| sim.exchange_code(&code, verifier, redirect);
    let wrong = exchange(&pkce_verifier(), REDIRECT);
    assert_eq!(wrong.status, 400);
    assert_eq!(wrong.json()["error"], "invalid_grant");
    let mismatch = exchange(&verifier, "http://127.0.0.1:9/elsewhere");
    assert_eq!(mismatch.json()["error"], "redirect_uri_mismatch");

    let ok = exchange(&verifier, REDIRECT);
    assert_eq!(ok.status, 200, "{}", ok.body);
    let token = ok.json();
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["expires_in"], 3600);
    assert!(
        token.get("refresh_token").is_none(),
        "no refresh token unless offline access was asked for"
    );
    let access = token["access_token"].as_str().unwrap();

    let again = exchange(&verifier, REDIRECT);
    assert_eq!(again.status, 400);
    assert_eq!(again.json()["error"], "invalid_grant");

    let me = sim.get("/v1/userinfo", access).json();
    assert_eq!(me["sub"], "100000000000000000001");
    assert_eq!(me["email"], "ada@example.com");
    assert_eq!(me["name"], "Ada Lovelace");
    let picture = me["picture"].as_str().unwrap().to_string();
    assert!(picture.starts_with(&sim.url));
    let avatar = sim.anonymous("GET", &picture[sim.url.len()..]);
    assert_eq!(avatar.status, 200);
    assert!(avatar.body.contains("<svg"));
}

#[test]
fn cancel_redirects_with_access_denied() {
    let sim = sim();
    let page = sim.authorize(SCOPES, &challenge(&pkce_verifier()), "s1");
    let denied = sim.decide(&consent_id(&page.body), "deny");
    assert_eq!(denied.status, 302);
    let location = denied.location.unwrap();
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(query_param(&location, "state").as_deref(), Some("s1"));
    assert!(query_param(&location, "code").is_none());
}

#[test]
fn bad_clients_and_requests_are_refused() {
    let sim = sim();
    let wrong_client = sim.anonymous("GET", "/o/oauth2/v2/auth?client_id=other&redirect_uri=http://x/cb&response_type=code&scope=openid");
    assert_eq!(wrong_client.status, 401);
    assert!(wrong_client.body.contains("invalid_client"));
    let bad_scope = sim.authorize(
        "openid https://www.googleapis.com/auth/nope",
        &challenge(&pkce_verifier()),
        "s",
    );
    assert_eq!(bad_scope.status, 400);
    assert!(bad_scope.body.contains("invalid_scope"));
    let wrong_secret = sim.form(
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("client_id", CLIENT_ID),
            ("client_secret", "nope"),
        ],
    );
    assert_eq!(wrong_secret.status, 401);
    assert_eq!(wrong_secret.json()["error"], "invalid_client");
    let unknown_code = sim.form(
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", "4/0nope"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("redirect_uri", REDIRECT),
        ],
    );
    assert_eq!(unknown_code.json()["error"], "invalid_grant");
}

#[test]
fn expired_and_revoked_tokens_get_401() {
    let (sim, token) = signed_in();
    assert_eq!(sim.get("/v3/projects:search", &token).status, 200);
    sim.admin("tokens/expire", json!({ "email": "ada@example.com" }));
    let expired = sim.get("/v3/projects:search", &token);
    assert_eq!(expired.status, 401);
    assert!(expired
        .www_authenticate
        .clone()
        .unwrap()
        .contains("invalid_token"));
    let body = expired.json();
    assert_eq!(body["error"]["status"], "UNAUTHENTICATED");
    assert_eq!(
        body["error"]["details"][0]["reason"],
        "ACCESS_TOKEN_EXPIRED"
    );
    assert_eq!(sim.get("/v1/userinfo", &token).status, 401);

    let missing = sim.anonymous("GET", "/compute/v1/projects/claw-demo/aggregated/instances");
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.json()["error"]["details"][0]["reason"],
        "CREDENTIALS_MISSING"
    );

    let fresh = sim.token();
    let revoked = sim.form("/revoke", &[("token", &fresh)]);
    assert_eq!(revoked.status, 200);
    assert_eq!(sim.get("/v3/projects:search", &fresh).status, 401);
    assert_eq!(
        sim.form("/revoke", &[("token", &fresh)]).json()["error"],
        "invalid_token"
    );
}

#[test]
fn short_ttl_tokens_expire_by_themselves() {
    let sim = sim();
    sim.admin("config", json!({ "tokenTtlSecs": 1 }));
    let token = sim.sign_in_with(SCOPES);
    assert_eq!(token["expires_in"], 1);
    let access = token["access_token"].as_str().unwrap();
    // Accepted while fresh, refused once its second is up, with nothing done to it.
    sim.wait_for(30, || {
        (sim.get("/v3/projects:search", access).status == 401).then_some(())
    });
}

#[test]
fn offline_access_gives_a_refresh_token_that_refreshes() {
    let sim = sim();
    sim.admin("config", json!({ "autoApprove": true }));
    let verifier = pkce_verifier();
    let auth = sim
        .request("GET", "/o/oauth2/v2/auth")
        .query("client_id", CLIENT_ID)
        .query("redirect_uri", REDIRECT)
        .query("response_type", "code")
        .query("scope", SCOPES)
        .query("access_type", "offline")
        .query("code_challenge", &challenge(&verifier))
        .query("code_challenge_method", "S256")
        .call()
        .unwrap();
    let code = query_param(auth.header("location").unwrap(), "code").unwrap();
    let token = sim.exchange_code(&code, &verifier, REDIRECT).json();
    let refresh = token["refresh_token"].as_str().expect("refresh token");
    let renewed = sim.form(
        "/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ],
    );
    assert_eq!(renewed.status, 200);
    assert!(renewed.text("access_token").starts_with("ya29."));
}

#[test]
fn tokens_without_cloud_scope_cannot_call_apis() {
    let sim = sim();
    let token = sim.sign_in_with("openid email profile");
    let r = sim.get(
        "/v3/projects:search",
        token["access_token"].as_str().unwrap(),
    );
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json()["error"]["details"][0]["reason"],
        "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
    );
}

#[test]
fn the_consent_page_signs_in_as_the_last_user_added_unless_hinted() {
    let sim = sim();
    sim.admin("users", json!({ "sub": "100000000000000000002", "email": "bob@example.com", "name": "Bob Builder", "picture": format!("{}/_static/avatar.svg", sim.url) }));
    let page = sim.authorize(SCOPES, &challenge(&pkce_verifier()), "s");
    assert!(page.body.contains("bob@example.com") && !page.body.contains("ada@example.com"));
    let hinted = sim
        .request("GET", "/o/oauth2/v2/auth")
        .query("client_id", CLIENT_ID)
        .query("redirect_uri", REDIRECT)
        .query("response_type", "code")
        .query("scope", SCOPES)
        .query("login_hint", "ada@example.com")
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(hinted.contains("ada@example.com") && !hinted.contains("bob@example.com"));
    let bad = sim.send(
        "POST",
        "/_admin/users",
        None,
        Some(json!({ "sub": "", "email": "nobody" })),
    );
    assert_eq!(bad.status, 400);
}
