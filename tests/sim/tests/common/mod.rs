//! Shared test helpers: a simulator on a free port with fast timings, a blocking
//! HTTP client, and a signed-in access token.
#![allow(dead_code)]

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use claw_free_sim::{Background, Options};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub const CLIENT_ID: &str = "claw-free-local";
pub const CLIENT_SECRET: &str = "local-secret";
pub const REDIRECT: &str = "http://127.0.0.1:9/api/auth/callback/google";
/// The zone the tests' VMs live in, as Compute's URLs name it.
pub const ZONE: &str = "/compute/v1/projects/claw-demo/zones/us-central1-a";
pub const SCOPES: &str = "openid email profile https://www.googleapis.com/auth/cloud-platform";

pub struct TestSim {
    pub url: String,
    /// Always `Some` until dropped: the simulator stops before its folder is removed.
    bg: Option<Background>,
    pub agent: ureq::Agent,
    pub dir: PathBuf,
}

impl Drop for TestSim {
    fn drop(&mut self) {
        drop(self.bg.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A folder removed when dropped, also when a test panics.
pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "claw-free-sim-test-{}-{}",
        std::process::id(),
        claw_free_sim::clock::random_hex(6)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A simulator with steps short enough for tests.
pub fn sim() -> TestSim {
    sim_with(|_| {})
}

/// A simulator and an access token of its signed-in user, with the usual scopes.
pub fn signed_in() -> (TestSim, String) {
    let sim = sim();
    let token = sim.token();
    (sim, token)
}

pub fn sim_with(change: impl FnOnce(&mut Options)) -> TestSim {
    let dir = temp_dir();
    let mut opts = Options::new(dir.clone());
    opts.config.operation_step_ms = 100;
    opts.config.boot_step_ms = 100;
    opts.config.agent_boot_delay_ms = 50;
    change(&mut opts);
    let bg = Background::start(opts).expect("simulator starts");
    let agent = ureq::AgentBuilder::new()
        .redirects(0)
        .timeout(Duration::from_secs(20))
        .build();
    TestSim {
        url: bg.url.clone(),
        bg: Some(bg),
        agent,
        dir,
    }
}

/// A response: status, headers we look at, body text.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub body: String,
    pub location: Option<String>,
    pub etag: Option<String>,
    pub www_authenticate: Option<String>,
    pub flavor: Option<String>,
    /// Cloud Storage's `Range` on a resumable upload's 308.
    pub range: Option<String>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The string field `name` of the JSON body.
    pub fn text(&self, name: &str) -> String {
        match &self.json()[name] {
            Value::String(text) => text.clone(),
            other => panic!("{name} is not a string but {other}: {}", self.body),
        }
    }
}

/// GitHub's refusal: its status and the `message` it words it with.
pub fn assert_refused(r: &Resp, status: u16, message: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.json()["message"], message);
}

fn into_resp(result: Result<ureq::Response, ureq::Error>) -> Resp {
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("transport error: {e}"),
    };
    let header = |n: &str| response.header(n).map(str::to_string);
    let (location, etag, www, flavor, range) = (
        header("location"),
        header("etag"),
        header("www-authenticate"),
        header("metadata-flavor"),
        header("range"),
    );
    let status = response.status();
    Resp {
        status,
        body: response.into_string().unwrap_or_default(),
        location,
        etag,
        www_authenticate: www,
        flavor,
        range,
    }
}

impl TestSim {
    pub fn request(&self, method: &str, path: &str) -> ureq::Request {
        self.agent.request(method, &format!("{}{path}", self.url))
    }

    pub fn send(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        let mut req = self.request(method, path);
        if let Some(t) = token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        into_resp(match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        })
    }

    /// A request with raw bytes and the headers given (uploads).
    pub fn send_raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        let mut req = self.request(method, path);
        for (name, value) in headers {
            req = req.set(name, value);
        }
        into_resp(req.send_bytes(body))
    }

    /// A request with neither a token nor a body.
    pub fn anonymous(&self, method: &str, path: &str) -> Resp {
        self.send(method, path, None, None)
    }

    pub fn delete(&self, path: &str, token: &str) -> Resp {
        self.send("DELETE", path, Some(token), None)
    }

    pub fn get(&self, path: &str, token: &str) -> Resp {
        self.send("GET", path, Some(token), None)
    }

    /// `GET` on the VM `name` in [`ZONE`], with `rest` (an action, a query) after it.
    pub fn instance_get(&self, token: &str, name: &str, rest: &str) -> Resp {
        self.get(&format!("{ZONE}/instances/{name}{rest}"), token)
    }

    /// `instances.aggregatedList` in `project`, with `query` (`?filter=...`) after it.
    pub fn instance_list(&self, token: &str, project: &str, query: &str) -> Resp {
        self.get(
            &format!("/compute/v1/projects/{project}/aggregated/instances{query}"),
            token,
        )
    }

    pub fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.send("POST", path, Some(token), Some(body))
    }

    pub fn form(&self, path: &str, fields: &[(&str, &str)]) -> Resp {
        into_resp(self.request("POST", path).send_form(fields))
    }

    pub fn admin(&self, path: &str, body: Value) -> Resp {
        let r = self.send("POST", &format!("/_admin/{path}"), None, Some(body));
        assert_eq!(r.status, 200, "admin {path}: {}", r.body);
        r
    }

    /// A project `owner_email` owns, which the signed-in test user does not.
    pub fn add_project(&self, id: &str, owner_email: &str) {
        self.admin(
            "projects",
            json!({ "projectId": id, "ownerEmail": owner_email }),
        );
    }

    pub fn admin_get(&self, path: &str) -> Value {
        self.send("GET", &format!("/_admin/{path}"), None, None)
            .json()
    }

    pub fn metadata(&self, vm: &str, path: &str) -> Resp {
        into_resp(
            self.request("GET", &format!("/_vm/{vm}/computeMetadata/v1/{path}"))
                .set("Metadata-Flavor", "Google")
                .call(),
        )
    }

    pub fn counter(&self, name: &str) -> u64 {
        self.admin_get("counters")
            .get(name)
            .and_then(Value::as_u64)
            .unwrap_or(0)
    }

    /// Runs the authorization-code flow with PKCE (auto-approve) and returns the token response.
    pub fn sign_in_with(&self, scopes: &str) -> Value {
        self.admin("config", json!({ "autoApprove": true }));
        let verifier = pkce_verifier();
        let auth = self.authorize(scopes, &challenge(&verifier), "st");
        assert_eq!(auth.status, 302, "{}", auth.body);
        let code = query_param(auth.location.as_deref().unwrap(), "code").expect("code");
        let token = self.exchange_code(&code, &verifier, REDIRECT);
        assert_eq!(token.status, 200, "{}", token.body);
        token.json()
    }

    /// The person's answer (`allow` or `deny`) on the consent page whose id is `consent`.
    pub fn decide(&self, consent: &str, decision: &str) -> Resp {
        self.form(
            "/o/oauth2/v2/auth/consent",
            &[("consent", consent), ("decision", decision)],
        )
    }

    /// Exchanges an authorization code at `/token` as the Worker does (this test
    /// client's id and secret), with the PKCE `verifier` and the `redirect` URI.
    pub fn exchange_code(&self, code: &str, verifier: &str, redirect: &str) -> Resp {
        self.form(
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
                ("redirect_uri", redirect),
                ("code_verifier", verifier),
            ],
        )
    }

    pub fn token(&self) -> String {
        self.sign_in_with(SCOPES)["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub fn authorize(&self, scopes: &str, challenge: &str, state: &str) -> Resp {
        into_resp(
            self.request("GET", "/o/oauth2/v2/auth")
                .query("client_id", CLIENT_ID)
                .query("redirect_uri", REDIRECT)
                .query("response_type", "code")
                .query("scope", scopes)
                .query("state", state)
                .query("code_challenge", challenge)
                .query("code_challenge_method", "S256")
                .call(),
        )
    }

    /// The folder that is the first simulated VM's root file system.
    pub fn first_vm_root(&self) -> String {
        self.admin_get("vms")["vms"][0]["root"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Project `claw-demo`'s number, as IAM's principals name it.
    pub fn claw_demo_number(&self) -> String {
        self.admin_get("iam/projects/claw-demo")["number"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// A bot VM in project `claw-demo` linked to GitHub repository `repository`
    /// (`owner/name`) whose id is `repository_id`.
    pub fn claw_demo_target(
        &self,
        repository_id: u64,
        repository: &str,
    ) -> claw_free::github::plan::Target {
        claw_free::github::plan::Target {
            project_id: "claw-demo".into(),
            project_number: self.claw_demo_number(),
            zone: "us-central1-a".into(),
            instance: "my-bot-010203".into(),
            repository_id,
            repository: repository.into(),
        }
    }

    /// Polls `check` until it returns Some or `secs` pass.
    pub fn wait_for<T>(&self, secs: u64, mut check: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(v) = check() {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out after {secs} s");
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// Inserts a claw.free-like VM and waits until it runs.
    pub fn insert_vm(&self, token: &str, name: &str) -> Value {
        let r = self.post(
            "/compute/v1/projects/claw-demo/zones/us-central1-a/instances",
            token,
            vm_body(name),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        self.wait_for(10, || {
            let vm = self
                .get(
                    &format!("/compute/v1/projects/claw-demo/zones/us-central1-a/instances/{name}"),
                    token,
                )
                .json();
            (vm["status"] == "RUNNING").then_some(vm)
        })
    }
}

pub fn vm_body(name: &str) -> Value {
    json!({
        "name": name,
        "machineType": "zones/us-central1-a/machineTypes/e2-micro",
        "labels": { "claw-free": "bot", "claw-free-bot": "my-bot" },
        "metadata": { "items": [
            { "key": "LLM_PROVIDER", "value": "kimi" },
            { "key": "BOT_NAME", "value": "My bot" },
            { "key": "enable-guest-attributes", "value": "TRUE" },
            { "key": "enable-oslogin", "value": "TRUE" },
        ]},
        "disks": [{
            "boot": true,
            "autoDelete": true,
            "initializeParams": {
                "sourceImage": "projects/claw-free-images/global/images/family/clawfree-nixos",
                "diskSizeGb": "10",
                "diskType": "zones/us-central1-a/diskTypes/pd-standard",
            },
        }],
        "networkInterfaces": [{
            "network": "global/networks/default",
            "accessConfigs": [{ "type": "ONE_TO_ONE_NAT", "name": "External NAT" }],
        }],
    })
}

/// The string `field` of each item of the JSON list `list`, in order.
pub fn fields<'a>(list: &'a Value, field: &str) -> Vec<&'a str> {
    list.as_array()
        .expect("a JSON list")
        .iter()
        .map(|item| item[field].as_str().expect("a string field"))
        .collect()
}

/// `plaintext` encrypted by the `age` command-line tool to `recipient`, armored.
pub fn age_encrypt(recipient: &str, plaintext: &[u8]) -> String {
    let armored = claw_free_testkit::age_cli(
        ["--encrypt", "--armor", "--recipient", recipient],
        plaintext,
    );
    String::from_utf8(armored).expect("armored text")
}

/// The consent id the simulator's consent page posts back.
pub fn consent_id(page: &str) -> String {
    page.split("name=\"consent\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the consent page carries its consent id")
        .to_string()
}

pub fn pkce_verifier() -> String {
    format!("v{}", claw_free_sim::clock::random_token(40))
}

pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

pub fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    claw_free_sim::http::parse_form(query)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// The bytes a Base64 string in a body or an admin view holds (GitHub's file contents,
/// the simulator's record of a sealed secret once opened).
pub fn base64_bytes(value: &Value) -> Vec<u8> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"));
    STANDARD
        .decode(text)
        .unwrap_or_else(|e| panic!("not Base64 ({e}): {text}"))
}

/// Waits for the Compute operation `op` (as an insert, stop or delete answered it) in
/// [`ZONE`] to finish and returns it.
pub fn wait_zone_op(sim: &TestSim, op: &Value, token: &str) -> Value {
    let name = op["name"].as_str().expect("an operation has a name");
    wait_op(sim, &format!("{ZONE}/operations/{name}"), token)
}

/// Enables the IAM API in `claw-demo` (off in a new project) and waits until it is.
pub fn enable_iam_in_demo(sim: &TestSim, token: &str) {
    let op = sim.post(
        "/v1/projects/claw-demo/services/iam.googleapis.com:enable",
        token,
        json!({}),
    );
    assert_eq!(op.status, 200, "{}", op.body);
    let name = op.json()["name"].as_str().unwrap().to_string();
    wait_op(sim, &format!("/v1/{name}"), token);
}

/// Waits for an operation (Compute or Cloud) to finish and returns it.
pub fn wait_op(sim: &TestSim, path: &str, token: &str) -> Value {
    sim.wait_for(10, || {
        let op = sim.get(path, token).json();
        (op["status"] == "DONE" || op["done"] == true).then_some(op)
    })
}

impl claw_free_testkit::keyless::Google for TestSim {
    fn base(&self) -> String {
        self.url.clone()
    }
}
