//! The harness for the agent's process tests: the project's Google simulator (its
//! metadata server and admin API), a stand-in app with a controllable health endpoint,
//! a temporary root with an SSH host key, and the real `clawfree-agent` binary.
//! Everything started here is stopped on drop, also when a test panics.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use claw_free_testkit::keyless::Google;
use serde_json::{json, Value};

/// The gateway's unit, which the rollout tests' agents watch.
pub const GATEWAY_UNIT: &str = "openclaw-gateway.service";

pub const AGENT: &str = env!("CARGO_BIN_EXE_clawfree-agent");
pub const PROJECT: &str = "agent-tests";
pub const ZONE: &str = "us-central1-a";

pub use claw_free_testkit::wait_for;

pub mod ci;

/// The harness's HTTP client (no proxy, a 10 s deadline per request).
pub fn http_client() -> &'static ureq::Agent {
    http()
}

fn http() -> &'static ureq::Agent {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    AGENT.get_or_init(|| {
        ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .proxy(None)
                .timeout_global(Some(Duration::from_secs(10)))
                .build(),
        )
    })
}

/// The simulator, built on demand beside this test.
fn sim_binary() -> PathBuf {
    claw_free_testkit::workspace_binary("claw-free-sim", "claw-free-sim")
}

/// A running simulator on a free loopback port.
pub struct Sim {
    child: Child,
    pub base: String,
    /// The simulator's own state, removed with it.
    _state: tempfile::TempDir,
}

impl Sim {
    pub fn start() -> Self {
        let state = tempfile::tempdir().expect("simulator state folder");
        // Port 0: the simulator binds a free port itself and prints it, so no other
        // process can take the port between choosing and binding it.
        let mut child = Command::new(sim_binary())
            .args(["--port", "0"])
            .arg("--state-dir")
            .arg(state.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the simulator");
        let base = claw_free_testkit::listening_address(&mut child, Duration::from_secs(30));
        Self {
            child,
            base,
            _state: state,
        }
    }

    /// An admin read (`GET /_admin/...`).
    pub fn admin_get(&self, path: &str) -> Value {
        self.call("GET", path, None, None).1
    }

    pub fn admin(&self, path: &str, body: Value) -> Value {
        let mut response = http()
            .post(&format!("{}{path}", self.base))
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let text = response.body_mut().read_to_string().unwrap_or_default();
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// A `RUNNING` VM with `metadata`, whose agent the test runs itself.
    pub fn create_vm(&self, instance: &str, metadata: Value) {
        self.admin(
            "/_admin/vms",
            json!({"project": PROJECT, "zone": ZONE, "instance": instance, "metadata": metadata, "runAgent": false}),
        );
    }

    /// Changes instance metadata as `setMetadata` would (`null` deletes a key).
    pub fn set_metadata(&self, instance: &str, items: Value) {
        self.admin(
            "/_admin/vms/metadata",
            json!({"project": PROJECT, "zone": ZONE, "instance": instance, "items": items}),
        );
    }

    pub fn metadata_server(&self, down: bool, delay_ms: u64) {
        self.admin(
            "/_admin/metadata-server",
            json!({"down": down, "delayMs": delay_ms}),
        );
    }

    /// The URL the agent uses as `--metadata-url` for `instance`.
    pub fn metadata_url(&self, instance: &str) -> String {
        format!("{}/_vm/{PROJECT}/{ZONE}/{instance}", self.base)
    }

    /// Every guest attribute of `instance`, keyed `namespace/key`.
    pub fn guest_attributes(&self, instance: &str) -> BTreeMap<String, String> {
        claw_free_testkit::guest_attributes(&self.vm(instance)["guestAttributes"])
    }

    pub fn guest(&self, instance: &str, key: &str) -> Option<String> {
        self.guest_attributes(instance)
            .remove(&format!("openclaw/{key}"))
    }

    /// The recent guest-attribute writes of `instance`, oldest first. A value alone
    /// cannot say which boot wrote it (guest attributes outlive a reboot); its number can.
    pub fn guest_writes(&self, instance: &str) -> Vec<GuestWrite> {
        let vm = self.vm(instance);
        serde_json::from_value(vm["guestAttributeWrites"].clone())
            .expect("the simulator lists guestAttributeWrites")
    }

    /// The number of the latest guest-attribute write of `instance` (0 for none).
    pub fn last_guest_write(&self, instance: &str) -> u64 {
        self.guest_writes(instance).last().map_or(0, |w| w.seq)
    }

    /// The values written to `openclaw/{key}` after write number `after`, in order.
    pub fn guest_written_after(&self, instance: &str, key: &str, after: u64) -> Vec<String> {
        let key = format!("openclaw/{key}");
        self.guest_writes(instance)
            .into_iter()
            .filter(|w| w.seq > after && w.key == key)
            .map(|w| w.value)
            .collect()
    }

    /// How many requests the simulator has counted for `endpoint` (`metadata.get`, ...).
    pub fn counter(&self, endpoint: &str) -> u64 {
        let mut response = http()
            .get(&format!("{}/_admin/counters", self.base))
            .call()
            .expect("GET /_admin/counters");
        let counters: Value =
            serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
        counters[endpoint].as_u64().unwrap_or(0)
    }

    fn vm(&self, instance: &str) -> Value {
        let mut response = http()
            .get(&format!("{}/_admin/vms", self.base))
            .call()
            .expect("GET /_admin/vms");
        let listing: Value = serde_json::from_str(&response.body_mut().read_to_string().unwrap())
            .expect("/_admin/vms answers JSON");
        listing["vms"]
            .as_array()
            .and_then(|vms| vms.iter().find(|vm| vm["instance"] == instance).cloned())
            .unwrap_or_else(|| panic!("no VM {instance} in /_admin/vms"))
    }
}

/// One guest-attribute write as the simulator recorded it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct GuestWrite {
    pub seq: u64,
    /// `namespace/key`.
    pub key: String,
    pub value: String,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the stand-in app's health endpoint answers.
#[derive(Debug, Clone)]
pub enum Health {
    /// 200 once this file exists, 503 before (OpenClaw cannot start without its token).
    WhenFileExists(PathBuf),
    Status(u16),
}

/// A stand-in for OpenClaw's health endpoint.
pub struct FakeApp {
    pub url: String,
    mode: Arc<Mutex<Health>>,
    probes: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    port: u16,
}

impl FakeApp {
    pub fn start(mode: Health) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake app");
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(Mutex::new(mode));
        let probes = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, p, s) = (mode.clone(), probes.clone(), stop.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    p.fetch_add(1, Ordering::SeqCst);
                    let status = match &*m.lock().unwrap() {
                        Health::WhenFileExists(path) if path.is_file() => 200,
                        Health::WhenFileExists(_) => 503,
                        Health::Status(code) => *code,
                    };
                    answer(stream, status);
                }
            }
        });
        Self {
            url: format!("http://127.0.0.1:{port}/health"),
            mode,
            probes,
            stop,
            port,
        }
    }

    pub fn set(&self, mode: Health) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn probes(&self) -> usize {
        self.probes.load(Ordering::SeqCst)
    }
}

fn answer(mut stream: TcpStream, status: u16) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).map(|n| n == 1).unwrap_or(false) {
        head.push(byte[0]);
    }
    let body = if status == 200 { "ok" } else { "unavailable" };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

impl Drop for FakeApp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// A temporary root with an SSH host key, as a VM's disk would have.
pub struct Root {
    pub dir: tempfile::TempDir,
}

impl Root {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temporary root");
        let ssh = dir.path().join("etc/ssh");
        fs::create_dir_all(&ssh).unwrap();
        ssh_keygen(&ssh.join("ssh_host_ed25519_key"));
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn state(&self) -> PathBuf {
        self.path().join("var/lib/openclaw")
    }

    pub fn secret(&self, name: &str) -> PathBuf {
        self.state().join("secrets").join(name)
    }

    /// Where the gateway reads its token: its systemd credential, under the root.
    pub fn gateway_token_file(&self) -> PathBuf {
        self.path()
            .join("run/credentials/openclaw-gateway.service/telegram-token")
    }

    pub fn host_public_key_file(&self) -> PathBuf {
        self.path().join("etc/ssh/ssh_host_ed25519_key.pub")
    }

    pub fn host_public_key(&self) -> String {
        fs::read_to_string(self.host_public_key_file()).unwrap()
    }

    /// Where the restart command of [`Root::agent_args`] appends a line per restart.
    pub fn restart_log(&self) -> PathBuf {
        self.path().join("restarts.log")
    }

    pub fn restarts(&self) -> usize {
        fs::read_to_string(self.restart_log())
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }

    pub fn agent_log(&self) -> PathBuf {
        self.path().join("agent.log")
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(self.agent_log()).unwrap_or_default()
    }

    /// How many lines of the agent's log contain `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        self.log_text()
            .lines()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// When each restart happened (seconds since the epoch, as the restart command saw it).
    pub fn restart_times(&self) -> Vec<f64> {
        fs::read_to_string(self.restart_log())
            .unwrap_or_default()
            .lines()
            .map(|l| l.trim().parse().expect("a timestamp per restart"))
            .collect()
    }

    /// Flags that put every path under this root and point at `sim` and `app`.
    pub fn agent_args(&self, sim: &Sim, instance: &str, app_url: &str) -> Vec<String> {
        vec![
            "--root".into(),
            self.path().display().to_string(),
            "--metadata-url".into(),
            sim.metadata_url(instance),
            "--health-url".into(),
            app_url.to_string(),
            "--restart-cmd".into(),
            format!("date +%s.%N >> '{}'", self.restart_log().display()),
            "--health-interval-secs".into(),
            "1".into(),
            // These tests' stand-in app answers at once when it runs: a failure is
            // never a slow start, so restarts are tested without the start's grace.
            "--start-grace-secs".into(),
            "0".into(),
            "--metadata-timeout-secs".into(),
            "1".into(),
        ]
    }

    /// Flags that turn rollouts on for a system tree under this root: `fetch` brings a
    /// store path in, its `switch-to-configuration` switches, a unit exists when its
    /// file is under `units/`, the gateway is the unit watched, and Telegram is `sim`'s.
    pub fn rollout_args(&self, sim: &Sim, fetch: &str, deadline_secs: u64) -> Vec<String> {
        let r = self.path().display().to_string();
        [
            "--rollouts",
            "on",
            "--system-fetch-cmd",
            fetch,
            "--system-switch-cmd",
            &format!("'{r}'{{path}}/bin/switch-to-configuration test"),
            "--system-boot-cmd",
            &format!("'{r}'{{path}}/bin/switch-to-configuration boot"),
            "--unit-check-cmd",
            &format!("test -e '{r}/units/{{unit}}'"),
            "--watched-units",
            GATEWAY_UNIT,
            "--telegram-api",
            &sim.base,
            "--rollout-deadline-secs",
            &deadline_secs.to_string(),
        ]
        .map(String::from)
        .to_vec()
    }
}

/// Generates an unencrypted ed25519 key pair at `path` and `path.pub`.
pub fn ssh_keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "root@test-vm", "-f"])
        .arg(path)
        .stdout(Stdio::null())
        .status()
        .expect("ssh-keygen (Debian package openssh-client)");
    assert!(status.success());
}

/// The agent binary, its stderr captured in the root's `agent.log`.
pub struct Agent {
    child: Child,
}

impl Agent {
    pub fn command(root: &Root, subcommand: &str, args: &[String]) -> Command {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(root.agent_log())
            .unwrap();
        let mut command = Command::new(AGENT);
        command
            .arg(subcommand)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .env_remove("CLAWFREE_AGENT_CRASH_AT")
            // What a declarative NixOS configuration would set: each test says its own.
            .env_remove("LLM_PROVIDER")
            .env_remove("BOT_NAME")
            .env_remove("CLAWFREE_BASE_CONFIG");
        command
    }

    pub fn spawn(root: &Root, subcommand: &str, args: &[String]) -> Self {
        let child = Self::command(root, subcommand, args)
            .spawn()
            .expect("start the agent");
        Self { child }
    }

    pub fn run_to_end(mut command: Command) -> ExitStatus {
        let mut child = command.spawn().expect("start the agent");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("the agent did not finish");
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The agent's process id, for a test that kills it from a stand-in command.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn still_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Armored age ciphertext for `recipient`, made by the `age` crate.
pub fn encrypt_with_crate(recipient: &str, plaintext: &[u8]) -> String {
    let recipient = age::ssh::Recipient::from_str(recipient.trim()).expect("an ssh recipient");
    age::encrypt_and_armor(&recipient, plaintext).expect("encrypt")
}

/// Armored age ciphertext for the recipients in `recipients_file` (an SSH `.pub` works
/// as it is), made by the `age` command-line tool: `age -R FILE -a`.
pub fn encrypt_with_cli(recipients_file: &Path, plaintext: &[u8]) -> String {
    let armored = claw_free_testkit::age_cli(
        [
            OsStr::new("-R"),
            recipients_file.as_os_str(),
            OsStr::new("-a"),
        ],
        plaintext,
    );
    String::from_utf8(armored).unwrap()
}

/// A new bot VM in its own simulator, with the default metadata, an agent root, and an
/// app that turns healthy once the Telegram token is on disk; no agent runs yet.
pub struct BotVm {
    pub sim: Sim,
    pub root: Root,
    pub app: FakeApp,
    pub vm: String,
}

impl BotVm {
    pub fn new(test: &str) -> Self {
        let sim = Sim::start();
        let root = Root::new();
        let app = FakeApp::start(Health::WhenFileExists(root.secret("telegram-token")));
        let vm = instance_name(test);
        sim.create_vm(&vm, bot_metadata());
        Self { sim, root, app, vm }
    }

    /// The agent's `run`, with `extra` arguments after the usual ones.
    pub fn run_agent(&self, extra: &[&str]) -> Agent {
        let mut args = self.root.agent_args(&self.sim, &self.vm, &self.app.url);
        args.extend(extra.iter().map(|s| s.to_string()));
        Agent::spawn(&self.root, "run", &args)
    }
}

/// A process-unique instance name, so tests sharing nothing still read clearly.
pub fn instance_name(test: &str) -> String {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    format!("{test}-{}", NEXT.fetch_add(1, Ordering::SeqCst))
}

/// The default metadata of a new bot.
pub fn bot_metadata() -> Value {
    json!({
        "LLM_PROVIDER": "claude",
        "BOT_NAME": "Test \"Bot\"",
        "enable-guest-attributes": "TRUE",
        "enable-oslogin": "TRUE",
    })
}

/// The simulator's Google APIs for the keyless helpers.
impl Google for Sim {
    fn base(&self) -> String {
        self.base.clone()
    }
}
