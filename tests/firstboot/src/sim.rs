//! The Google simulator as a process, and the one VM record the guest's agent uses
//! (the project, zone and instance its rendered `--metadata-url` names).

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use claw_free_protocol::metadata::{SecretName, SECRET_VERSION};
use claw_free_testkit::telegram::Telegram;
use serde_json::{json, Value};

/// A running simulator on a free loopback port, stopped when dropped.
pub struct Sim {
    child: Child,
    pub port: u16,
    base: String,
    project: String,
    zone: String,
    instance: String,
    _state: TempDir,
}

/// A folder removed when dropped.
pub struct TempDir(pub std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn http() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

impl Sim {
    /// Starts the simulator with a VM record for the instance `metadata_url` names
    /// (`.../_vm/{project}/{zone}/{instance}`), with `metadata`.
    pub fn start(metadata_url: &str, metadata: Value) -> Self {
        let path = metadata_url
            .split_once("/_vm/")
            .map(|(_, path)| path)
            .unwrap_or_else(|| panic!("{metadata_url} is not a simulated VM's metadata URL"));
        let parts: Vec<&str> = path.split('/').collect();
        let [project, zone, instance] = parts.as_slice() else {
            panic!("{metadata_url}: expected /_vm/PROJECT/ZONE/INSTANCE");
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let state = TempDir(crate::state_dir().join(format!("sim-{}-{port}", std::process::id())));
        let mut command = Command::new(claw_free_testkit::workspace_binary(
            "claw-free-sim",
            "claw-free-sim",
        ));
        command
            .args(["--port", &port.to_string(), "--state-dir"])
            .arg(&state.0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        // SAFETY: only an async-signal-safe call between fork and exec. The simulator
        // dies with the test process, even one killed before it could drop this.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = command.spawn().expect("start the simulator");
        let base = claw_free_testkit::listening_address(&mut child, Duration::from_secs(60));
        let sim = Self {
            child,
            port,
            base,
            project: project.to_string(),
            zone: zone.to_string(),
            instance: instance.to_string(),
            _state: state,
        };
        sim.admin(
            "/_admin/vms",
            json!({"project": sim.project, "zone": sim.zone, "instance": sim.instance,
                   "metadata": metadata, "runAgent": false}),
        );
        sim
    }

    fn admin(&self, path: &str, body: Value) -> Value {
        let mut response = http()
            .post(&format!("{}{path}", self.base))
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        assert!(status < 300, "POST {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// Changes instance metadata as `instances.setMetadata` would.
    pub fn set_metadata(&self, items: Value) {
        self.admin(
            "/_admin/vms/metadata",
            json!({"project": self.project, "zone": self.zone, "instance": self.instance, "items": items}),
        );
    }

    /// Delivers the Telegram bot token as the Worker does: encrypted with the Worker's
    /// own code to the recipient the VM published, as secret version `version`.
    pub fn deliver_telegram_token(&self, token: &str, version: u32) {
        let recipient = self
            .guest("recipient")
            .expect("the VM published its recipient");
        let ciphertext =
            claw_free::crypto::age_encrypt(&crate::OsRandom, &recipient, token.as_bytes())
                .expect("the Worker encrypts to the VM's recipient");
        let mut items = serde_json::Map::new();
        items.insert(
            SecretName::telegram_token().metadata_key(),
            ciphertext.into(),
        );
        items.insert(SECRET_VERSION.into(), version.to_string().into());
        self.set_metadata(items.into());
    }

    /// The bot `token` of the simulator's Telegram.
    pub fn telegram(&self, token: &str) -> Telegram<'_> {
        Telegram::new(token, move |path, body| {
            self.admin(&format!("/_admin/{path}"), body)
        })
    }

    /// Delays every metadata-server answer by `delay_ms`.
    pub fn metadata_delay(&self, delay_ms: u64) {
        self.admin(
            "/_admin/metadata-server",
            json!({"down": false, "delayMs": delay_ms}),
        );
    }

    /// The VM's guest attributes, keyed `namespace/key`.
    pub fn guest_attributes(&self) -> BTreeMap<String, String> {
        let mut response = http()
            .get(&format!("{}/_admin/vms", self.base))
            .call()
            .expect("GET /_admin/vms");
        let listing: Value =
            serde_json::from_str(&response.body_mut().read_to_string().unwrap_or_default())
                .expect("/_admin/vms answers JSON");
        let vms = listing.get("vms").unwrap_or(&listing);
        let vm = vms
            .as_array()
            .into_iter()
            .flatten()
            .find(|vm| {
                ["instance", "name"]
                    .iter()
                    .any(|k| vm.get(k).and_then(Value::as_str) == Some(self.instance.as_str()))
            })
            .unwrap_or_else(|| panic!("no VM {} in /_admin/vms", self.instance));
        claw_free_testkit::guest_attributes(&vm["guestAttributes"])
    }

    /// One `openclaw/` guest attribute.
    pub fn guest(&self, key: &str) -> Option<String> {
        self.guest_attributes().remove(&format!("openclaw/{key}"))
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
