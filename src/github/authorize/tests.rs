use super::*;
use crate::github::link_start::tests::{cookie_value, with_github_mode, LINK};
use crate::http::{Method, OutboundRequest, OutboundResponse};
use crate::store::SIGNIN_TTL;
use crate::testing::reply;
use crate::testing::TestApp;
use serde_json::json;
use std::cell::RefCell;
use std::rc::Rc;

const USER_TOKEN: &str = "ghu_usertoken0123456789";

/// What the fake GitHub saw and answers.
#[derive(Default)]
struct FakeGitHub {
    /// The PKCE challenge the authorize redirect carried, to check the verifier against.
    challenge: String,
    /// The installations `/user/installations` lists.
    installations: Vec<u64>,
    /// Answer the token exchange with this OAuth error.
    token_error: Option<&'static str>,
    /// Answer `/user/installations` with this status.
    installations_status: Option<u16>,
    exchanges: u32,
    /// The repositories the installation was given (`id`, `owner/name`).
    repositories: Vec<(u64, &'static str)>,
    /// What `generate` was asked for: `(owner, name, private)`.
    generated: Vec<(String, String, bool)>,
}

fn install_github(h: &TestApp) -> Rc<RefCell<FakeGitHub>> {
    let fake = Rc::new(RefCell::new(FakeGitHub::default()));
    let handle = fake.clone();
    h.p.respond(move |req: &OutboundRequest| -> OutboundResponse {
        let mut gh = handle.borrow_mut();
        if req.url == "http://127.0.0.1:9/github/login/oauth/access_token" {
            gh.exchanges += 1;
            let form: Vec<(String, String)> =
                form_urlencoded::parse(req.body.as_deref().unwrap_or_default())
                    .into_owned()
                    .collect();
            let field = |n: &str| {
                form.iter()
                    .find(|(k, _)| k == n)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            if let Some(error) = gh.token_error {
                return reply(200, json!({"error": error}));
            }
            let verified = crypto::pkce_challenge(&field("code_verifier")) == gh.challenge;
            let ok = field("code") == "c0de"
                && field("client_id") == "Iv23abc"
                && field("client_secret") == "s3cret"
                && field("redirect_uri") == "http://127.0.0.1:8787/api/github/callback"
                && verified;
            return if ok {
                reply(
                    200,
                    json!({"access_token": USER_TOKEN, "token_type": "bearer"}),
                )
            } else {
                reply(200, json!({"error": "bad_verification_code"}))
            };
        }
        if req
            .url
            .starts_with("https://api.github.com/user/installations?")
        {
            let authorized = req
                .headers
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case("authorization") && v.ends_with(USER_TOKEN));
            if !authorized {
                return reply(401, json!({"message": "Bad credentials"}));
            }
            if let Some(status) = gh.installations_status {
                return reply(status, json!({"message": "Server Error"}));
            }
            let list: Vec<_> = gh
                .installations
                .iter()
                .map(|id| {
                    json!({"id": id, "app_id": 123456, "repository_selection": "all",
                           "account": {"login": "alice", "id": 5}})
                })
                .collect();
            return reply(
                200,
                json!({"total_count": list.len(), "installations": list}),
            );
        }
        let authorized = req
            .headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("authorization") && v.ends_with(USER_TOKEN));
        let render = |id: u64, full: &str| {
            json!({"id": id, "full_name": full, "private": true, "default_branch": "main",
                   "html_url": format!("https://github.com/{full}"), "is_template": false})
        };
        if req
            .url
            .starts_with("https://api.github.com/user/installations/77/repositories")
            && authorized
        {
            let list: Vec<_> = gh
                .repositories
                .iter()
                .map(|(id, f)| render(*id, f))
                .collect();
            return reply(
                200,
                json!({"total_count": list.len(), "repositories": list}),
            );
        }
        if req.url == "https://api.github.com/repos/claw-free/bot-template/generate" && authorized {
            let body: serde_json::Value =
                serde_json::from_slice(req.body.as_deref().unwrap_or_default()).unwrap();
            let (owner, name) = (
                body["owner"].as_str().unwrap().to_string(),
                body["name"].as_str().unwrap().to_string(),
            );
            gh.generated
                .push((owner.clone(), name.clone(), body["private"] == true));
            return reply(201, render(900, &format!("{owner}/{name}")));
        }
        reply(599, json!({"message": format!("unexpected {}", req.url)}))
    });
    fake
}

/// The link the callback began, as stored.
fn stored_link(h: &TestApp) -> crate::github::link::model::LinkRecord {
    let raw =
        h.p.kv
            .borrow()
            .get("github-link:claw-demo/us-central1-a/my-bot-010203")
            .map(|(v, _)| v.clone())
            .expect("a link record");
    serde_json::from_str(&raw).unwrap()
}

fn get(h: &TestApp, path: &str, session: &str, link_cookie: Option<&str>) -> crate::http::Response {
    let mut request = h.request(Method::Get, path, Some(session), None);
    if let Some(value) = link_cookie {
        request
            .headers
            .push(("cookie".into(), format!("__Host-github-link={value}")));
    }
    h.send(request)
}

/// GitHub's redirect back after the App's authorization, with its code.
fn callback(h: &TestApp, state: &str, cookie: &str) -> crate::http::Response {
    let path = format!("/api/github/callback?code=c0de&state={state}");
    get(h, &path, &h.cookie, Some(cookie))
}

fn location(response: &crate::http::Response) -> String {
    assert_eq!(
        response.status,
        302,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    response.header("location").unwrap().to_string()
}

fn query(url: &str, name: &str) -> String {
    let (_, query) = url.split_once('?').unwrap();
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Start, then GitHub's setup redirect for installation `id`: the authorize URL and the
/// cookie that goes with it.
fn through_setup(h: &TestApp, fake: &Rc<RefCell<FakeGitHub>>, id: u64) -> (String, String) {
    let start = get(h, LINK, &h.cookie, None);
    let state = query(&location(&start), "state");
    let cookie = cookie_value(&start);
    let setup = get(
        h,
        &format!("/api/github/setup?installation_id={id}&setup_action=install&state={state}"),
        &h.cookie,
        Some(&cookie),
    );
    let authorize = location(&setup);
    fake.borrow_mut().challenge = query(&authorize, "code_challenge");
    (authorize, cookie_value(&setup))
}

#[test]
fn the_installation_is_proven_the_persons_through_the_apps_authorization_with_pkce() {
    let h = with_github_mode();
    let fake = install_github(&h);
    fake.borrow_mut().installations = vec![41, 77];
    let (authorize, cookie) = through_setup(&h, &fake, 77);
    assert!(
        authorize.starts_with("http://127.0.0.1:9/github/login/oauth/authorize?"),
        "{authorize}"
    );
    assert_eq!(query(&authorize, "client_id"), "Iv23abc");
    assert_eq!(query(&authorize, "code_challenge_method"), "S256");
    assert_eq!(
        query(&authorize, "redirect_uri"),
        "http://127.0.0.1:8787/api/github/callback"
    );
    assert!(query(&authorize, "code_challenge").len() >= 43);
    let state = query(&authorize, "state");

    let done = callback(&h, &state, &cookie);
    assert_eq!(
        location(&done),
        "/?githubLink=claw-demo%2Fus-central1-a%2Fmy-bot-010203&installation=77"
    );
    assert!(done
        .headers
        .iter()
        .any(|(k, v)| k == "set-cookie" && v.starts_with("__Host-github-link=;")));
    assert_eq!(fake.borrow().exchanges, 1);
    // The user token went nowhere but GitHub.
    assert!(!h.p.kv_dump().contains(USER_TOKEN));
    assert!(!String::from_utf8_lossy(&done.body).contains(USER_TOKEN));
    // The installation was given no repository: a private one is made from the
    // template, in the installation's account, named after the VM; the link begins.
    assert_eq!(
        fake.borrow().generated,
        vec![("alice".to_string(), "my-bot-010203".to_string(), true)]
    );
    let link = stored_link(&h);
    assert_eq!(
        (
            link.repository.id,
            link.repository.full_name.as_str(),
            link.installation
        ),
        (900, "alice/my-bot-010203", 77)
    );
    assert_eq!(link.owner, "sub-alice");
    assert_eq!(link.state, crate::github::link::model::LinkState::Linking);
}

#[test]
fn the_one_repository_an_installation_was_given_is_adopted() {
    let h = with_github_mode();
    let fake = install_github(&h);
    fake.borrow_mut().installations = vec![77];
    fake.borrow_mut().repositories = vec![(555, "alice/bot-config")];
    let (authorize, cookie) = through_setup(&h, &fake, 77);
    let state = query(&authorize, "state");
    let done = callback(&h, &state, &cookie);
    assert!(location(&done).starts_with("/?githubLink="));
    assert!(fake.borrow().generated.is_empty(), "nothing is created");
    let link = stored_link(&h);
    assert_eq!(
        (link.repository.id, link.repository.full_name.as_str()),
        (555, "alice/bot-config")
    );
}

#[test]
fn someone_elses_installation_a_refusal_a_decline_or_github_failing_each_say_so() {
    let h = with_github_mode();
    let fake = install_github(&h);
    let callback = |h: &TestApp, authorize: &str, cookie: &str, extra: &str| {
        let state = query(authorize, "state");
        location(&get(
            h,
            &format!("/api/github/callback?state={state}&{extra}"),
            &h.cookie,
            Some(cookie),
        ))
    };

    // The setup redirect named an installation the authorizing user cannot reach.
    fake.borrow_mut().installations = vec![41];
    let (authorize, cookie) = through_setup(&h, &fake, 77);
    assert_eq!(
        callback(&h, &authorize, &cookie, "code=c0de"),
        "/?githubLinkError=not-yours"
    );

    fake.borrow_mut().installations = vec![77];
    let (authorize, cookie) = through_setup(&h, &fake, 77);
    assert_eq!(
        callback(&h, &authorize, &cookie, "error=access_denied"),
        "/?githubLinkError=cancelled"
    );
    // A code without the verifier this browser holds is refused by GitHub.
    fake.borrow_mut().challenge = "another".into();
    assert_eq!(
        callback(&h, &authorize, &cookie, "code=c0de"),
        "/?githubLinkError=refused"
    );

    let (authorize, cookie) = through_setup(&h, &fake, 77);
    fake.borrow_mut().installations_status = Some(502);
    assert_eq!(
        callback(&h, &authorize, &cookie, "code=c0de"),
        "/?githubLinkError=github"
    );
}

#[test]
fn without_this_browsers_cookie_its_state_or_the_same_google_account_nothing_goes_on() {
    let h = with_github_mode();
    let fake = install_github(&h);
    fake.borrow_mut().installations = vec![77];
    let start = get(&h, LINK, &h.cookie, None);
    let state = query(&location(&start), "state");
    let cookie = cookie_value(&start);
    let setup = |session: &str, cookie: Option<&str>, state: &str, id: &str| {
        location(&get(
            &h,
            &format!("/api/github/setup?installation_id={id}&setup_action=install&state={state}"),
            session,
            cookie,
        ))
    };
    let expired = "/?githubLinkError=expired";
    assert_eq!(setup(&h.cookie, None, &state, "77"), expired);
    assert_eq!(
        setup(&h.cookie, Some(&cookie), "other-state", "77"),
        expired
    );
    assert_eq!(setup(&h.cookie, Some("tampered"), &state, "77"), expired);
    let bob = h.sign_in("sub-bob", &["claw-demo"], 3600);
    assert_eq!(setup(&bob, Some(&cookie), &state, "77"), expired);
    for bad in ["", "0", "-1", "abc", "99999999999999999999999"] {
        assert_eq!(
            setup(&h.cookie, Some(&cookie), &state, bad),
            "/?githubLinkError=refused"
        );
    }
    // The start's cookie names no installation yet: it cannot skip the setup redirect.
    let skipped = location(&callback(&h, &state, &cookie));
    assert_eq!(skipped, expired);
    h.p.advance_secs(SIGNIN_TTL + 1);
    assert_eq!(setup(&h.cookie, Some(&cookie), &state, "77"), expired);
    assert_eq!(fake.borrow().exchanges, 0);
}
