//! The test application: a signed-in person, the in-memory platform, the development
//! configuration and the fake Google, with helpers that send requests through the
//! whole [`crate::app::App`], as the edge would.

use super::fake_google::{install, FakeVm, Google, TEST_TOKEN};
use super::TestPlatform;
use crate::http::Method;
use serde_json::Value;

/// One person signed in, and everything a request meets.
pub struct TestApp {
    pub p: TestPlatform,
    pub config: crate::config::Config,
    pub google: Google,
    pub cookie: String,
}

pub const SITE: &str = "http://127.0.0.1:8787";

impl TestApp {
    pub fn new() -> Self {
        let p = TestPlatform::new();
        let google = install(&p);
        let config = crate::config::tests::development_config();
        let mut h = Self {
            p,
            config,
            google,
            cookie: String::new(),
        };
        h.cookie = h.sign_in(
            "sub-alice",
            &["claw-demo", "claw-fresh", "claw-other"],
            3600,
        );
        h
    }

    /// A new session for `sub` with `projects`; returns its cookie secret.
    pub fn sign_in(&self, sub: &str, projects: &[&str], lifetime: u64) -> String {
        let app = crate::app::App::new(&self.p, &self.config);
        let user = crate::google::oauth::GoogleUser {
            sub: sub.into(),
            email: format!("{sub}@example.com"),
            name: sub.into(),
            picture: String::new(),
        };
        let projects = projects
            .iter()
            .map(|p| crate::google::crm::ProjectSummary {
                project_id: p.to_string(),
                name: p.to_string(),
            })
            .collect();
        let choices = crate::types::Choices::parse(None, None, None, None).unwrap();
        crate::testing::run(crate::sessions::create(
            &app,
            user,
            projects,
            choices,
            &crate::google::AccessToken::new(TEST_TOKEN.into()),
            lifetime,
        ))
        .unwrap()
    }

    pub fn request(
        &self,
        method: Method,
        path: &str,
        cookie: Option<&str>,
        body: Option<Value>,
    ) -> crate::http::Request {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let mut headers = vec![("origin".to_string(), SITE.to_string())];
        if let Some(cookie) = cookie {
            headers.push(("cookie".into(), format!("__Host-session={cookie}")));
        }
        if body.is_some() {
            headers.push(("content-type".into(), "application/json".into()));
        }
        crate::http::Request {
            method,
            path: path.into(),
            query: query.into(),
            headers,
            body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
            client_ip: "203.0.113.9".into(),
        }
    }

    pub fn send(&self, request: crate::http::Request) -> crate::http::Response {
        let app = crate::app::App::new(&self.p, &self.config);
        crate::testing::run(app.handle(request))
    }

    /// Sends as the signed-in person; returns the status and the JSON body.
    pub fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let response = self.send(self.request(method, path, Some(&self.cookie), body));
        (response.status, response.json_body())
    }

    /// Sends a bodiless request as the signed-in person; returns only the status.
    pub fn status(&self, method: Method, path: &str) -> u16 {
        self.call(method, path, None).0
    }

    /// Sends a bodiless request as the signed-in person from `origin` (`None`: with no
    /// `Origin` header at all), as another site's page or a script would.
    pub fn from_origin(
        &self,
        method: Method,
        path: &str,
        origin: Option<&str>,
    ) -> crate::http::Response {
        let mut request = self.request(method, path, Some(&self.cookie), None);
        request.headers.retain(|(k, _)| k != "origin");
        if let Some(origin) = origin {
            request.headers.push(("origin".into(), origin.into()));
        }
        self.send(request)
    }

    /// Google calls made so far.
    pub fn google_calls(&self) -> usize {
        self.p.calls.borrow().len()
    }

    pub fn vm(&self, key: &str) -> FakeVm {
        self.google
            .borrow()
            .vms
            .get(key)
            .cloned()
            .unwrap_or_else(|| panic!("no VM {key}"))
    }

    pub fn set_guest(&self, key: &str, pairs: &[(&str, &str)]) {
        let mut google = self.google.borrow_mut();
        let vm = google
            .vms
            .get_mut(key)
            .unwrap_or_else(|| panic!("no VM {key}"));
        for (k, v) in pairs {
            vm.guest.insert(k.to_string(), v.to_string());
        }
    }
}

impl Default for TestApp {
    fn default() -> Self {
        Self::new()
    }
}
