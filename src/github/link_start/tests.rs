use super::*;
use crate::github::app_jwt::tests::FIXTURE_PEM;
use crate::github::config::GitHubMode;
use crate::http::Method;
use crate::testing::TestApp;

pub const LINK: &str = "/api/bots/claw-demo/us-central1-a/my-bot-010203/github";

pub fn with_github_mode() -> TestApp {
    let mut h = TestApp::new();
    let var = |name: &str| {
        Some(match name {
            "GITHUB_APP_ID" => "123456".to_string(),
            "GITHUB_APP_SLUG" => "claw-free-dev".into(),
            "GITHUB_APP_CLIENT_ID" => "Iv23abc".into(),
            "GITHUB_APP_CLIENT_SECRET" => "s3cret".into(),
            "GITHUB_APP_PRIVATE_KEY" => FIXTURE_PEM.into(),
            "GITHUB_WEB" => "http://127.0.0.1:9/github".into(),
            _ => return None,
        })
    };
    h.config.github = GitHubMode::parse(&var, h.config.environment).unwrap();
    assert!(h.config.github.is_some());
    h
}

fn get(h: &TestApp, path: &str, extra: &[(&str, &str)]) -> crate::http::Response {
    let mut request = h.request(Method::Get, path, Some(&h.cookie), None);
    for (name, value) in extra {
        request.headers.push((name.to_string(), value.to_string()));
    }
    h.send(request)
}

/// The sealed value of the link cookie in a `Set-Cookie` line.
pub fn cookie_value(response: &crate::http::Response) -> String {
    let line = response
        .headers
        .iter()
        .find(|(k, v)| k == "set-cookie" && v.starts_with("__Host-github-link="))
        .map(|(_, v)| v.clone())
        .expect("the link cookie");
    assert!(line.contains("Max-Age=600") && line.contains("HttpOnly"));
    line["__Host-github-link=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn starting_goes_to_the_apps_install_page_with_the_state_sealed_for_this_bot_and_owner() {
    let h = with_github_mode();
    let response = get(&h, LINK, &[("sec-fetch-site", "same-origin")]);
    assert_eq!(
        response.status,
        302,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    let location = response.header("location").unwrap().to_string();
    let prefix = "http://127.0.0.1:9/github/apps/claw-free-dev/installations/new?state=";
    assert!(location.starts_with(prefix), "{location}");
    let state = &location[prefix.len()..];
    assert!(state.len() >= 32, "{state}");

    let sealed = cookie_value(&response);
    assert!(
        !sealed.contains(state),
        "the cookie shows the state in the clear"
    );
    let plain = crypto::open(
        &h.config.sealing_key,
        LINK_CONTEXT,
        &crypto::Sealed::from_text(&sealed),
    )
    .unwrap();
    let pending: PendingLink = serde_json::from_str(&plain).unwrap();
    assert_eq!(pending.state, state);
    assert!(pending.verifier.len() >= 43 && pending.verifier != pending.state);
    assert_eq!(
        (
            pending.project.as_str(),
            pending.zone.as_str(),
            pending.vm.as_str()
        ),
        ("claw-demo", "us-central1-a", "my-bot-010203")
    );
    assert_eq!(pending.owner, "sub-alice");
    // Sealed for linking only: the sign-in context does not open it.
    assert!(crypto::open(
        &h.config.sealing_key,
        "signin",
        &crypto::Sealed::from_text(&sealed)
    )
    .is_err());
    // Nothing is stored for a start.
    assert!(!h.p.kv_dump().contains(state));

    // Every start is its own: a new state and verifier.
    let again = get(&h, LINK, &[]);
    assert_ne!(again.header("location").unwrap(), location);
}

#[test]
fn a_start_is_refused_off_mode_signed_out_for_another_project_and_from_another_site() {
    let off = TestApp::new();
    let (status, body) = off.call(Method::Get, LINK, None);
    assert_eq!(status, 404);
    assert!(body["error"].as_str().unwrap().contains("GitHub"), "{body}");

    let h = with_github_mode();
    let signed_out = h.send(h.request(Method::Get, LINK, None, None));
    assert_eq!(signed_out.status, 401);

    let (status, body) = h.call(
        Method::Get,
        "/api/bots/someone-elses/us-central1-a/my-bot-010203/github",
        None,
    );
    assert_eq!(status, 404, "{body}");

    let (status, body) = h.call(
        Method::Get,
        "/api/bots/claw-demo/us-central1-a/Bad%20Name/github",
        None,
    );
    assert!((400..500).contains(&status), "{status} {body}");
    assert!(body["error"].is_string());

    let cross = get(&h, LINK, &[("sec-fetch-site", "cross-site")]);
    assert_eq!(cross.status, 403);
    assert!(!cross.headers.iter().any(|(k, _)| k == "set-cookie"));

    let post = h.send(h.request(Method::Post, LINK, Some(&h.cookie), None));
    assert_eq!(post.status, 405);
}
