//! A stand-in for the owner's CI run in GitHub mode: it makes a store path with the real
//! `nix` (a stand-in NixOS system: a `bin/switch-to-configuration` script), signs it into
//! a binary cache with `nix copy`, uploads the cache's objects to the simulator's Cloud
//! Storage as CI's service account, names the system in instance metadata, and follows
//! the VM's `openclaw/rollout` guest attribute to the outcome.
//!
//! The metadata is set and the report read through Compute's own API, as the template's
//! workflow does with `gcloud compute instances add-metadata` (the instance's
//! fingerprint, then `setMetadata`) and `get-guest-attributes`.
//!
//! CI's Google token is keyless, as `google-github-actions/auth` gets it: the job's
//! GitHub OIDC token, exchanged at STS against the provider linking made, then CI's
//! service account impersonated through IAM Credentials. Cloud Storage and Compute
//! accept it only through the grants of the Worker's plan.
//!
//! Where it is thinner than the real workflow: the system is not built from a flake
//! (nothing can be built here).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use claw_free_protocol::rollout::{RolloutReport, RolloutState};
use claw_free_testkit::keyless::{self, plan::Target};
use serde_json::{json, Value};

use super::{wait_for, Sim};

/// The cache key's name, as the owner's repository would call it.
pub const KEY_NAME: &str = "bot-cache-1";
/// Objects this large or larger are sent as resumable uploads, as `gcloud storage`
/// does past its `resumable_threshold`.
const RESUMABLE_THRESHOLD: usize = 8 * 1024 * 1024;
/// One request's share of a resumable upload (a multiple of 256 KiB, as required).
const CHUNK: usize = 8 * 1024 * 1024;

/// What a CI run ends with, as the workflow reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Green,
    Red(String),
}

pub struct Ci {
    dir: tempfile::TempDir,
    pub public_key: String,
    /// CI's service account's token, for Cloud Storage and Compute alike.
    token: String,
    target: Target,
}

/// `nix` with no daemon, no build users and its cache in `dir`.
fn nix(dir: &Path, program: &str) -> Command {
    let mut command = Command::new(program);
    command
        .env(
            "NIX_CONFIG",
            "build-users-group =\nexperimental-features = nix-command",
        )
        .env("XDG_CACHE_HOME", dir.join("xdg"))
        .env("NIX_REMOTE", "");
    command
}

fn run(mut command: Command) -> String {
    let output = command.output().expect("run nix (Debian package nix-bin)");
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

impl Ci {
    /// A CI run of `repository`'s `main` with its own signing key and CI's keyless token.
    pub fn new(sim: &Sim, target: &Target, repository: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut keygen = nix(dir.path(), "nix-store");
        keygen
            .args(["--generate-binary-cache-key", KEY_NAME])
            .arg(dir.path().join("secret-key"))
            .arg(dir.path().join("public-key"));
        run(keygen);
        let public_key = fs::read_to_string(dir.path().join("public-key")).unwrap();
        let token = keyless::ci_token(sim, target, repository, "refs/heads/main")
            .unwrap_or_else(|refusal| panic!("CI's keyless token: {refusal:?}"));
        Self {
            dir,
            public_key: public_key.trim().to_string(),
            token,
            target: target.clone(),
        }
    }

    /// Adds a stand-in system named `name`, whose `switch-to-configuration` runs
    /// `script`, to CI's own store; returns its store path.
    pub fn build(&self, name: &str, script: &str) -> String {
        self.build_with_payload(name, script, 0)
    }

    /// As [`Ci::build`], with a `share/payload` file of `bytes` bytes, the bulk a real
    /// closure's archives carry.
    pub fn build_with_payload(&self, name: &str, script: &str, bytes: usize) -> String {
        let source = self.dir.path().join("src").join(name);
        fs::create_dir_all(source.join("bin")).unwrap();
        if bytes > 0 {
            fs::create_dir_all(source.join("share")).unwrap();
            let payload: Vec<u8> = (0..bytes as u64)
                .map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8)
                .collect();
            fs::write(source.join("share/payload"), payload).unwrap();
        }
        let file = source.join("bin/switch-to-configuration");
        fs::write(&file, script).unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o755)).unwrap();
        let mut add = nix(self.dir.path(), "nix-store");
        add.arg("--store")
            .arg(self.store())
            .arg("--add")
            .arg(&source);
        run(add).trim().to_string()
    }

    fn store(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// Signs `path` into a binary cache folder and returns its objects (name, bytes).
    /// The narinfo's `CA` line is dropped: a NixOS system is input-addressed, so the
    /// VM must accept it on the signature alone, as it will in production.
    pub fn sign(&self, path: &str) -> Vec<(String, Vec<u8>)> {
        let staging = self.dir.path().join("staging");
        let _ = fs::remove_dir_all(&staging);
        let mut copy = nix(self.dir.path(), "nix");
        copy.arg("copy")
            .arg("--store")
            .arg(self.store())
            .arg("--to")
            .arg(format!(
                "file://{}?compression=none&secret-key={}",
                staging.display(),
                self.dir.path().join("secret-key").display()
            ))
            .arg(path);
        run(copy);
        let mut objects = Vec::new();
        for entry in walk(&staging) {
            let name = entry
                .strip_prefix(&staging)
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            let mut bytes = fs::read(&entry).unwrap();
            if name.ends_with(".narinfo") {
                let text = String::from_utf8(bytes).unwrap();
                bytes = text
                    .lines()
                    .filter(|l| !l.starts_with("CA:"))
                    .map(|l| format!("{l}\n"))
                    .collect::<String>()
                    .into_bytes();
            }
            objects.push((name, bytes));
        }
        objects.sort();
        objects
    }

    /// Uploads each object as CI's service account; the statuses Cloud Storage answered
    /// and whether the object went through a resumable session.
    pub fn upload(
        &self,
        sim: &Sim,
        objects: &[(String, Vec<u8>)],
    ) -> Vec<(String, u16, String, bool)> {
        objects
            .iter()
            .map(|(name, bytes)| {
                let resumable = bytes.len() >= RESUMABLE_THRESHOLD;
                let (status, body) = if resumable {
                    self.upload_resumable(sim, name, bytes)
                } else {
                    self.upload_media(sim, name, bytes)
                };
                (name.clone(), status, body, resumable)
            })
            .collect()
    }

    fn object_url(&self, sim: &Sim, upload_type: &str, name: &str) -> String {
        format!(
            "{}/upload/storage/v1/b/{}/o?uploadType={upload_type}&name={}",
            sim.base,
            self.target.bucket(),
            name.replace('/', "%2F")
        )
    }

    fn upload_media(&self, sim: &Sim, name: &str, bytes: &[u8]) -> (u16, String) {
        let mut response = uploads()
            .post(&self.object_url(sim, "media", name))
            .header("Authorization", &format!("Bearer {}", self.token))
            .header("Content-Type", "application/octet-stream")
            .send(bytes)
            .unwrap();
        let status = response.status().as_u16();
        (
            status,
            response.body_mut().read_to_string().unwrap_or_default(),
        )
    }

    /// A session, then chunks: every answer but the last a `308` whose `Range` says all
    /// bytes sent so far were persisted.
    fn upload_resumable(&self, sim: &Sim, name: &str, bytes: &[u8]) -> (u16, String) {
        let mut opened = uploads()
            .post(&self.object_url(sim, "resumable", name))
            .header("Authorization", &format!("Bearer {}", self.token))
            .header("X-Upload-Content-Type", "application/octet-stream")
            .header("X-Upload-Content-Length", &bytes.len().to_string())
            .send_empty()
            .unwrap();
        let status = opened.status().as_u16();
        let Some(session) = opened
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(str::to_string)
        else {
            return (
                status,
                opened.body_mut().read_to_string().unwrap_or_default(),
            );
        };
        let total = bytes.len();
        let mut sent = 0;
        loop {
            let end = (sent + CHUNK).min(total);
            let last = end == total;
            let range = format!(
                "bytes {sent}-{}/{}",
                end - 1,
                if last { total.to_string() } else { "*".into() }
            );
            let mut answer = uploads()
                .put(&session)
                .header("Content-Range", &range)
                .send(&bytes[sent..end])
                .unwrap();
            let status = answer.status().as_u16();
            let persisted = answer
                .headers()
                .get("range")
                .and_then(|r| r.to_str().ok())
                .map(str::to_string);
            let body = answer.body_mut().read_to_string().unwrap_or_default();
            if last || status != 308 || persisted != Some(format!("bytes=0-{}", end - 1)) {
                return (status, body);
            }
            sent = end;
        }
    }

    /// Build, sign, upload: what a push to `main` does before it names the system.
    pub fn publish(&self, sim: &Sim, path: &str) {
        self.publish_counting(sim, path);
    }

    /// [`Ci::publish`], answering how many objects went through resumable sessions.
    pub fn publish_counting(&self, sim: &Sim, path: &str) -> usize {
        let mut resumable = 0;
        for (name, status, body, chunked) in self.upload(sim, &self.sign(path)) {
            assert_eq!(status, 200, "uploading {name}: {body}");
            resumable += usize::from(chunked);
        }
        resumable
    }

    /// Names `path` at `rev` in the VM's metadata and follows `openclaw/rollout` until
    /// it is final for that revision.
    pub fn deploy(&self, sim: &Sim, path: &str, rev: &str, rollback: bool) -> Outcome {
        let mut value = json!({"path": path, "rev": rev});
        if rollback {
            value["rollback"] = Value::Bool(true);
        }
        let t = &self.target;
        let instance = format!(
            "{}/compute/v1/projects/{}/zones/{}/instances/{}",
            sim.base, t.project_id, t.zone, t.instance
        );
        let current = self.compute("GET", &instance, None);
        let mut items: Vec<Value> = current["metadata"]["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|item| item["key"] != "openclaw-system")
            .collect();
        items.push(json!({"key": "openclaw-system", "value": value.to_string()}));
        let operation = self.compute(
            "POST",
            &format!("{instance}/setMetadata"),
            Some(json!({"fingerprint": current["metadata"]["fingerprint"], "items": items})),
        );
        assert_eq!(operation["kind"], "compute#operation", "{operation}");
        let report = wait_for(
            "the VM's final rollout report",
            Duration::from_secs(120),
            || {
                let answer = self.compute(
                    "GET",
                    &format!("{instance}/getGuestAttributes?variableKey=openclaw/rollout"),
                    None,
                );
                RolloutReport::parse(answer["variableValue"].as_str()?).filter(|r| {
                    r.state.is_final() && r.rev.as_ref().is_some_and(|r| r.as_str() == rev)
                })
            },
        );
        match report.state {
            RolloutState::Done => Outcome::Green,
            RolloutState::RolledBack(reason) => Outcome::Red(format!("rolled back: {reason}")),
            RolloutState::Refused(reason) => Outcome::Red(format!("refused: {reason}")),
            other => unreachable!("{other} is not final"),
        }
    }

    /// A Compute call; an error answer is returned as its JSON body.
    fn compute(&self, method: &str, url: &str, body: Option<Value>) -> Value {
        let auth = format!("Bearer {}", self.token);
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .proxy(None)
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(10)))
                .build(),
        );
        let mut response = match body {
            Some(body) => agent
                .post(url)
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(body.to_string()),
            None if method == "GET" => agent.get(url).header("Authorization", &auth).call(),
            None => unreachable!("every POST here has a body"),
        }
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap()
    }
}

/// Cloud Storage's client: a `308` is an answer, not a redirect to follow.
fn uploads() -> &'static ureq::Agent {
    static AGENT: std::sync::OnceLock<ureq::Agent> = std::sync::OnceLock::new();
    AGENT.get_or_init(|| {
        ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .proxy(None)
                .max_redirects(0)
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(60)))
                .build(),
        )
    })
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
