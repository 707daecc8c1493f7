//! The route table of docs/CONTRACTS.md held to [`Route`], and 404 against 405.

use super::Route;
use crate::http::Method;
use crate::testing::TestApp;

const CONTRACTS: &str = include_str!("../../docs/CONTRACTS.md");

/// `(method, pattern)` of every API route the contract's table lists.
fn documented() -> Vec<(Method, String)> {
    CONTRACTS
        .lines()
        .filter_map(|line| {
            let cell = line.strip_prefix("| ")?.split(" | ").next()?;
            let cell = cell.trim_start_matches("◆ ").trim_matches('`');
            let (method, path) = cell.split_once(' ')?;
            let path = path.split('?').next()?;
            path.starts_with("/api/")
                .then(|| (Method::parse(method), path.to_string()))
        })
        .collect()
}

fn concrete(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|s| if s.starts_with(':') { "x1" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn every_documented_route_parses_to_its_own_pattern_and_answers_its_method() {
    let routes = documented();
    assert!(routes.len() >= 20, "{routes:?}");
    let h = TestApp::new();
    for (method, pattern) in routes {
        let path = concrete(&pattern);
        let route = Route::parse(&path).unwrap_or_else(|| panic!("{pattern} does not parse"));
        assert_eq!(route.pattern(), pattern);
        let response = h.send(h.request(method, &path, Some(&h.cookie), None));
        assert_ne!(response.status, 405, "{method:?} {pattern}");
        let body = String::from_utf8_lossy(&response.body);
        assert!(
            !body.contains("no such API route"),
            "{method:?} {pattern}: {body}"
        );
    }
}

#[test]
fn every_route_is_documented() {
    let documented: Vec<String> = documented().into_iter().map(|(_, p)| p).collect();
    let samples = [
        "/api/health",
        "/api/auth/google",
        "/api/auth/callback/google",
        "/api/auth/logout",
        "/api/deploy/session",
        "/api/deploy/create-project",
        "/api/deploy/vm-name",
        "/api/deploy/start",
        "/api/deploy/existing",
        "/api/deploy/x1",
        "/api/deploy/x1/secret",
        "/api/deploy/x1/logs",
        "/api/bots/p/z/v",
        "/api/bots/p/z/v/secret",
        "/api/bots/p/z/v/rekey",
        "/api/bots/p/z/v/logs",
        "/api/bots/p/z/v/rollback",
        "/api/bots/p/z/v/github",
        "/api/bots/p/z/v/github/link",
        "/api/github/setup",
        "/api/github/callback",
        "/api/vm/github-token",
        "/api/telegram/owner-code",
        "/api/telegram/detect-user",
    ];
    for sample in samples {
        let route = Route::parse(sample).unwrap();
        assert!(
            documented.iter().any(|p| p == route.pattern()),
            "{} is not in docs/CONTRACTS.md",
            route.pattern()
        );
    }
}

#[test]
fn an_unknown_path_is_404_and_a_known_path_with_another_method_405() {
    let h = TestApp::new();
    for path in [
        "/api/nothing",
        "/api/deploy/x1/other",
        "/api/bots/p/z",
        "/api",
    ] {
        let response = h.send(h.request(Method::Get, path, Some(&h.cookie), None));
        assert_eq!(response.status, 404, "{path}");
    }
    for (method, path) in [
        (Method::Delete, "/api/deploy/start"),
        (Method::Put, "/api/bots/p/z/v"),
        (Method::Post, "/api/health"),
        (Method::Patch, "/api/deploy/x1/logs"),
        (Method::Other, "/api/auth/logout"),
    ] {
        let response = h.send(h.request(method, path, Some(&h.cookie), None));
        assert_eq!(response.status, 405, "{method:?} {path}");
    }
}
