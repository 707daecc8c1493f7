use super::PERMISSIONS;
use crate::github::link_start::tests::with_github_mode;
use crate::http::{Method, OutboundRequest, OutboundResponse};
use crate::ports::Clock;
use crate::testing::app::SITE;
use crate::testing::google_identity::{self as g, token};
use crate::testing::{reply, TestApp};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::rc::Rc;

const PATH: &str = "/api/vm/github-token";
const REPO: &str = "ada-lovelace/my-bot";
const VM: (&str, &str, &str, &str) = ("claw-demo", "us-east1-b", "my-bot-010203", "4242");
const WRITE_TOKEN: &str = "ghs_writetoken0123456789";
const READ_TOKEN: &str = "ghs_readtoken0123456789";

/// What the fake GitHub holds and saw.
struct FakeGitHub {
    installed: bool,
    /// `claw-free.json` on `main`, when there is one.
    config: Option<String>,
    /// Whether `main` requires pull requests.
    protected: bool,
    /// The bodies of every token request.
    minted: Vec<Value>,
}

/// The read-only token's permissions: the config, and whether main is protected.
fn read_permissions() -> Value {
    json!({"contents": "read", "administration": "read"})
}

/// The sentence of a refusal.
fn refusal(body: &Value) -> &str {
    body["error"].as_str().unwrap()
}

/// Whether every token minted could only read.
fn only_read_tokens(fake: &Rc<RefCell<FakeGitHub>>) -> bool {
    fake.borrow()
        .minted
        .iter()
        .all(|m| m["permissions"] == read_permissions())
}

fn config_naming(vm: (&str, &str, &str, &str)) -> String {
    json!({
        "repository": REPO,
        "bucket": "claw-cache-claw-demo",
        "cachePublicKey": "claw-cache-claw-demo-1:BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=",
        "bot": {"project": vm.0, "zone": vm.1, "instance": vm.2, "instanceId": vm.3},
    })
    .to_string()
}

fn setup() -> (TestApp, Rc<RefCell<FakeGitHub>>) {
    let h = with_github_mode();
    let fake = Rc::new(RefCell::new(FakeGitHub {
        installed: true,
        config: Some(config_naming(VM)),
        protected: true,
        minted: Vec::new(),
    }));
    let handle = fake.clone();
    h.p.respond(move |req: &OutboundRequest| -> OutboundResponse {
        let mut gh = handle.borrow_mut();
        let api = "https://api.github.com";
        let auth = req
            .headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        if req.url == g::CERTS_URL {
            return reply(200, g::jwks());
        }
        if req.url == format!("{api}/repos/{REPO}/installation") && req.method == Method::Get {
            return if gh.installed && auth.split('.').count() == 3 {
                reply(200, json!({"id": 77, "app_id": 123456, "account": {"login": "ada-lovelace", "id": 5}, "repository_selection": "selected"}))
            } else {
                reply(404, json!({"message": "Not Found"}))
            };
        }
        if req.url == format!("{api}/app/installations/77/access_tokens") {
            let body: Value = serde_json::from_slice(req.body.as_deref().unwrap()).unwrap();
            let read = body["permissions"] == read_permissions();
            gh.minted.push(body);
            let token = if read { READ_TOKEN } else { WRITE_TOKEN };
            return reply(201, json!({"token": token, "expires_at": "2026-11-28T13:00:00Z"}));
        }
        if req.url == format!("{api}/repos/{REPO}/contents/claw-free.json?ref=main") {
            assert_eq!(auth, format!("Bearer {READ_TOKEN}"), "the config is read read-only");
            return match &gh.config {
                Some(text) => reply(
                    200,
                    json!({"type": "file", "encoding": "base64", "content": STANDARD.encode(text)}),
                ),
                None => reply(404, json!({"message": "Not Found"})),
            };
        }
        if req.url == format!("{api}/repos/{REPO}/branches/main/protection") {
            assert_eq!(auth, format!("Bearer {READ_TOKEN}"), "protection is read read-only");
            return if gh.protected {
                reply(200, json!({"required_pull_request_reviews": {"required_approving_review_count": 0}}))
            } else {
                reply(404, json!({"message": "Branch not protected"}))
            };
        }
        reply(404, json!({"message": format!("unexpected {}", req.url)}))
    });
    (h, fake)
}

fn ask(h: &TestApp, bearer: Option<&str>, body: &str) -> (u16, Value) {
    let mut request = h.request(Method::Post, PATH, None, None);
    request
        .headers
        .push(("content-type".into(), "application/json".into()));
    if let Some(token) = bearer {
        request
            .headers
            .push(("authorization".into(), format!("Bearer {token}")));
    }
    request.body = body.as_bytes().to_vec();
    let response = h.send(request);
    (response.status, response.json_body())
}

/// The VM `vm` asks for a token for the repository, with its own identity token.
fn ask_as(h: &TestApp, vm: (&str, &str, &str, &str)) -> (u16, Value) {
    ask(h, Some(&vm_token(h, vm)), &repository_body())
}

fn vm_token(h: &TestApp, vm: (&str, &str, &str, &str)) -> String {
    token(SITE, h.p.now_secs(), vm)
}

/// The bot's VM asking for its token, of a GitHub that differs from [`setup`]'s by
/// `change`: what GitHub holds then, and the answer.
fn ask_when(change: impl FnOnce(&mut FakeGitHub)) -> (Rc<RefCell<FakeGitHub>>, u16, Value) {
    let (h, fake) = setup();
    change(&mut fake.borrow_mut());
    let (status, body) = ask_as(&h, VM);
    (fake, status, body)
}

fn repository_body() -> String {
    json!({"repository": REPO}).to_string()
}

#[test]
fn the_vm_the_repository_names_gets_a_narrow_token_and_nothing_is_stored() {
    let (h, fake) = setup();
    let (status, body) = ask_as(&h, VM);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token"], WRITE_TOKEN);
    assert_eq!(body["repository"], REPO);
    assert_eq!(
        body["permissions"],
        json!({"contents": "write", "pull_requests": "write"})
    );
    assert!(PERMISSIONS
        .iter()
        .all(|(name, _)| !["workflows", "administration"].contains(name)));
    let minted = fake.borrow().minted.clone();
    assert_eq!(
        minted,
        vec![
            json!({"repositories": ["my-bot"], "permissions": read_permissions()}),
            json!({"repositories": ["my-bot"], "permissions": {"contents": "write", "pull_requests": "write"}}),
        ]
    );
    let kv = h.p.kv_dump();
    assert!(!kv.contains("ghs_"), "{kv}");
}

#[test]
fn no_write_token_while_main_takes_direct_pushes() {
    let (fake, status, body) = ask_when(|github| github.protected = false);
    assert_eq!(status, 403, "{body}");
    assert!(refusal(&body).contains("does not require pull requests"));
    assert!(only_read_tokens(&fake));
}

#[test]
fn a_vm_the_repository_does_not_name_gets_no_write_token() {
    for other in [
        ("claw-demo", "us-east1-b", "my-bot-010203", "4343"),
        ("claw-demo", "us-east1-c", "my-bot-010203", "4242"),
        ("claw-other", "us-east1-b", "my-bot-010203", "4242"),
        ("claw-demo", "us-east1-b", "my-bot-999999", "4242"),
    ] {
        let (h, fake) = setup();
        let (status, body) = ask_as(&h, other);
        assert_eq!(status, 403, "{other:?}: {body}");
        assert!(refusal(&body).contains("does not name this VM"));
        assert!(only_read_tokens(&fake), "{other:?}");
    }
    // No claw-free.json, or one that does not parse, names no one.
    for config in [None, Some("{\"repository\": 1}".to_string())] {
        let (_, status, _) = ask_when(|github| github.config = config);
        assert_eq!(status, 403);
    }
    // A config copied from another repository names that one, not this.
    let copied = config_naming(VM).replace(REPO, "ada-lovelace/other");
    let (_, status, _) = ask_when(|github| github.config = Some(copied));
    assert_eq!(status, 403);
}

#[test]
fn no_installation_is_404() {
    let (fake, status, body) = ask_when(|github| github.installed = false);
    assert_eq!(status, 404, "{body}");
    assert!(fake.borrow().minted.is_empty());
}

#[test]
fn a_bad_identity_token_is_401_before_github_is_asked() {
    let (h, fake) = setup();
    let now = h.p.now_secs();
    let forged = g::sign_with(
        crate::github::app_jwt::tests::FIXTURE_PEM,
        &json!({"alg": "RS256", "kid": g::KID}),
        &g::vm_claims(SITE, now, VM),
    );
    for bad in [
        forged,
        token("https://evil.test", now, VM),
        "not-a-token".to_string(),
    ] {
        let (status, body) = ask(&h, Some(&bad), &repository_body());
        assert_eq!(status, 401, "{body}");
    }
    let (status, _) = ask(&h, None, &repository_body());
    assert_eq!(status, 401);
    let calls = h.p.call_log();
    assert!(
        calls.iter().all(|c| c.contains("certs")),
        "GitHub was asked: {calls:?}"
    );
    assert!(fake.borrow().minted.is_empty());
}

#[test]
fn bad_bodies_are_400_and_cross_site_posts_403() {
    let (h, _) = setup();
    let vm = vm_token(&h, VM);
    for bad in [
        "",
        "{",
        "[]",
        "{\"repository\": 7}",
        "{\"repository\": \"../../etc\"}",
        "{\"repository\": \"ada/bot\", \"extra\": true}",
        "{\"repository\": \"ada/<script>\"}",
    ] {
        let (status, body) = ask(&h, Some(&vm), bad);
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"].is_string());
    }
    let mut request = h.request(Method::Post, PATH, None, Some(json!({"repository": REPO})));
    request.headers.retain(|(k, _)| k != "origin");
    request
        .headers
        .push(("origin".into(), "https://evil.test".into()));
    request
        .headers
        .push(("authorization".into(), format!("Bearer {vm}")));
    assert_eq!(h.send(request).status, 403);
}

#[test]
fn each_vm_is_limited_per_hour() {
    let (mut h, _) = setup();
    h.config.limits.vm_tokens_per_instance = 2;
    let vm = vm_token(&h, VM);
    for _ in 0..2 {
        assert_eq!(ask(&h, Some(&vm), &repository_body()).0, 200);
    }
    let (status, body) = ask(&h, Some(&vm), &repository_body());
    assert_eq!(status, 429, "{body}");
    // Another VM is counted on its own.
    let other = vm_token(&h, ("claw-demo", "us-east1-b", "my-bot-010203", "4343"));
    assert_eq!(ask(&h, Some(&other), &repository_body()).0, 403);
}

#[test]
fn github_mode_off_is_404() {
    let h = TestApp::new();
    let (status, _) = ask(&h, Some("x.y.z"), &repository_body());
    assert_eq!(status, 404);
}
