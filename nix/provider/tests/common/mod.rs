//! Shared by the integration tests: a provider process on a free port with stand-in
//! CLIs, in its own temporary folder, killed when the test ends (also on panic), and a
//! small chat client that keeps the transcript like OpenClaw does.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod http;
pub use http::request_with;

/// How long a test waits for an event before failing: a deadline, not an expectation,
/// so generous enough for a loaded machine.
pub const DEADLINE: Duration = Duration::from_secs(60);
pub const SETUP_TOKEN: &str = "sk-ant-oat01-FIXTURE_SETUP_TOKEN_0123456789abcdef";
pub const NVIDIA_KEY: &str = "nvapi-FIXTURE_NVIDIA_KEY_0123456789abcdef";
pub const OPENAI_KEY: &str = "sk-proj-FIXTURE_OPENAI_KEY_0123456789abcdef";
pub const ANTHROPIC_KEY: &str = "sk-ant-api03-FIXTURE_ANTHROPIC_KEY_0123456789";
/// The Setup model's own API key, as the VM agent makes it at first boot.
pub const SETUP_KEY: &str = "setup-key-FIXTURE-0123456789abcdef0123456789abcdef";

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A fresh temporary folder, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "clawfree-provider-{name}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The OpenClaw configuration the agent writes at first boot, in miniature.
pub fn initial_openclaw_config() -> Value {
    json!({
        "gateway": { "port": 18789 },
        "channels": { "telegram": { "enabled": true } },
        "models": { "providers": { "claw-free": {
            "baseUrl": "http://127.0.0.1:3456/v1", "api": "openai-completions",
            "apiKey": SETUP_KEY,
            "models": [{ "id": "setup", "name": "claw.free Setup" }]
        } } },
        "agents": { "defaults": { "model": { "primary": "claw-free/setup" } } }
    })
}

/// A running provider with stand-in CLIs.
pub struct Provider {
    pub dir: TempDir,
    pub address: String,
    process: Option<Child>,
    extra_args: Vec<String>,
    env: Vec<(String, String)>,
}

pub struct Options {
    pub provider: Option<&'static str>,
    pub login_timeout_secs: u64,
    pub extra_args: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl Options {
    /// Runs `provider`'s setup with `name=value` in the environment (how a test picks
    /// a fixture CLI's behaviour).
    pub fn with_env(provider: &'static str, name: &str, value: &str) -> Self {
        Self {
            provider: Some(provider),
            env: vec![(name.into(), value.into())],
            ..Default::default()
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            provider: None,
            login_timeout_secs: 600,
            extra_args: Vec::new(),
            env: Vec::new(),
        }
    }
}

impl Provider {
    /// A provider configured only with the LLM `provider` it sets up.
    pub fn start_for(name: &str, provider: &'static str) -> Self {
        Self::start(
            name,
            Options {
                provider: Some(provider),
                ..Default::default()
            },
        )
    }

    /// A provider that sets up `provider`, its fixture CLIs run with `variable=value`
    /// (see [`Options::with_env`]).
    pub fn start_with_env(name: &str, provider: &'static str, variable: &str, value: &str) -> Self {
        Self::start(name, Options::with_env(provider, variable, value))
    }

    pub fn start(name: &str, options: Options) -> Self {
        let dir = TempDir::new(name);
        fs::create_dir_all(dir.path("codex")).unwrap();
        fs::write(
            dir.path("openclaw.json"),
            serde_json::to_vec_pretty(&initial_openclaw_config()).unwrap(),
        )
        .unwrap();
        fs::write(dir.path("setup-provider.key"), format!("{SETUP_KEY}\n")).unwrap();
        let f = fixtures();
        let shown = |path: PathBuf| path.display().to_string();
        let flags = [
            ("--api-key-file", shown(dir.path("setup-provider.key"))),
            ("--listen", "127.0.0.1:0".into()),
            ("--state-dir", shown(dir.path("state"))),
            ("--claude", shown(f.join("claude"))),
            ("--codex", shown(f.join("codex"))),
            ("--openclaw", shown(f.join("openclaw"))),
            ("--openclaw-config", shown(dir.path("openclaw.json"))),
            ("--restart-gateway", shown(f.join("restart-gateway"))),
            (
                "--login-timeout-secs",
                options.login_timeout_secs.to_string(),
            ),
            ("--output-wait-secs", "5".into()),
            ("--code-wait-secs", "5".into()),
            ("--device-wait-secs", "1".into()),
            ("--restart-delay-ms", "0".into()),
        ];
        let mut args: Vec<String> = flags
            .into_iter()
            .flat_map(|(flag, value)| [flag.to_string(), value])
            .collect();
        if let Some(p) = options.provider {
            args.extend(["--provider".into(), p.into()]);
        }
        args.extend(options.extra_args);
        // Where each fixture program writes what it saw, inside the test's folder.
        let mut env: Vec<(String, String)> = [
            ("OPENCLAW_FIXTURE_LOG", "openclaw.log"),
            ("GATEWAY_FIXTURE_LOG", "gateway.log"),
            ("CODEX_FIXTURE_DIR", "codex"),
            ("CLAUDE_FIXTURE_PIDS", "claude.pids"),
        ]
        .into_iter()
        .map(|(name, file)| (name.to_string(), shown(dir.path(file))))
        .collect();
        env.extend(options.env);
        let mut provider = Self {
            dir,
            address: String::new(),
            process: None,
            extra_args: args,
            env,
        };
        provider.spawn();
        provider
    }

    fn spawn(&mut self) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path("provider.log"))
            .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_clawfree-provider"))
            .args(&self.extra_args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env_remove("CLAWFREE_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let line = claw_free_testkit::first_stdout_line(&mut child);
        let address = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}; log: {}", self.log()))
            .to_string();
        self.address = address;
        self.process = Some(child);
    }

    /// Stops the provider as systemd would (SIGTERM) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.process.take() {
            // SAFETY: plain syscall on our own child.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            let until = Instant::now() + Duration::from_secs(5);
            while Instant::now() < until {
                if child.try_wait().unwrap().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            panic!("the provider did not stop on SIGTERM");
        }
    }

    /// Stops and starts the provider on the same state folder.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path("provider.log")).unwrap_or_default()
    }

    pub fn openclaw_log(&self) -> String {
        fs::read_to_string(self.dir.path("openclaw.log")).unwrap_or_default()
    }

    pub fn openclaw_config(&self) -> Value {
        serde_json::from_slice(&fs::read(self.dir.path("openclaw.json")).unwrap()).unwrap()
    }

    pub fn health(&self) -> Value {
        request(&self.address, "GET", "/health", None).1
    }

    /// The processes of the stand-in `claude` sign-ins started so far (the stand-in
    /// writes its own and its child's pid).
    pub fn claude_pids(&self) -> Vec<i32> {
        fs::read_to_string(self.dir.path("claude.pids"))
            .unwrap()
            .split_whitespace()
            .map(|p| p.parse().unwrap())
            .collect()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        if let Some(mut child) = self.process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let until = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Waits until every process in `pids` has ended, failing the test naming `what`.
pub fn wait_until_gone(what: &str, pids: impl IntoIterator<Item = i32>) {
    for pid in pids {
        wait_until(what, DEADLINE, || !claw_free_testkit::alive(pid));
    }
}

/// One HTTP/1.1 request; returns the status and the body as JSON (or a string).
pub fn request(address: &str, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let (status, raw) = request_raw(address, method, path, body);
    let value = serde_json::from_str(&raw).unwrap_or(Value::String(raw));
    (status, value)
}

pub fn request_raw(address: &str, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let host = address.strip_prefix("http://").unwrap();
    let headers = format!("Host: {host}\r\nAuthorization: Bearer {SETUP_KEY}\r\n");
    request_with(address, method, path, body, &headers)
}

/// A chat like OpenClaw holds it: the whole transcript goes with every request.
pub struct Chat<'a> {
    pub provider: &'a Provider,
    pub messages: Vec<Value>,
}

impl<'a> Chat<'a> {
    /// Pastes another provider's `key`: the reply refuses it, names `names`, and
    /// never echoes it.
    pub fn paste_wrong_key(&mut self, key: &str, names: &str) {
        let wrong = self.say(key);
        assert!(wrong.contains(names) && !wrong.contains(key), "{wrong}");
    }

    /// Pastes `key`: the reply says `connected`, and the key went to OpenClaw's
    /// `models auth paste-api-key` for `openclaw_provider`, on stdin.
    pub fn paste_key(&mut self, key: &str, connected: &str, openclaw_provider: &str) {
        let saved = self.say(key);
        assert!(saved.contains(connected), "{saved}");
        assert_eq!(
            self.provider.openclaw_log(),
            format!("argv=models auth paste-api-key --provider {openclaw_provider} stdin={key}\n")
        );
    }

    /// Greets the Setup model and picks the first way to connect, signing in with the
    /// subscription; returns the answer (the sign-in link, or why there is none).
    pub fn start_sign_in(&mut self) -> String {
        self.say("hi");
        self.say("1")
    }

    /// Says `text` to a sign-in that fails: the answer says it didn't work and why
    /// (`why`), and the conversation is back at choosing how to connect.
    pub fn sign_in_fails(&mut self, text: &str, why: &str) -> String {
        let failed = self.say(text);
        assert!(
            failed.contains("didn't work") && failed.contains(why),
            "{failed}"
        );
        assert_eq!(self.provider.health()["stage"], "choose-method");
        failed
    }

    pub fn new(provider: &'a Provider) -> Self {
        Self {
            provider,
            messages: vec![json!({"role": "system", "content": "You are a helpful bot."})],
        }
    }

    /// Sends a user message and returns the Setup model's answer.
    pub fn say(&mut self, text: &str) -> String {
        self.messages.push(json!({"role": "user", "content": text}));
        let body = json!({"model": "setup", "messages": self.messages}).to_string();
        let (status, reply) = request(
            &self.provider.address,
            "POST",
            "/v1/chat/completions",
            Some(&body),
        );
        assert_eq!(status, 200, "{reply}");
        let content = reply["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .to_string();
        self.messages
            .push(json!({"role": "assistant", "content": content}));
        content
    }
}

/// Everything a test can read back that must never contain a secret: the provider's
/// log, its state folder, and the answers it gave.
pub fn assert_nowhere(provider: &Provider, chat: &Chat<'_>, secrets: &[&str]) {
    for secret in secrets {
        assert_secret_nowhere(provider, chat, secret);
    }
}

fn assert_secret_nowhere(provider: &Provider, chat: &Chat<'_>, secret: &str) {
    assert!(
        !provider.log().contains(secret),
        "the secret is in the provider's log"
    );
    for entry in fs::read_dir(provider.dir.path("state")).unwrap() {
        let content = fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
        assert!(
            !content.contains(secret),
            "the secret is in the state folder"
        );
    }
    for message in &chat.messages {
        if message["role"] == "assistant" {
            assert!(
                !message["content"].as_str().unwrap().contains(secret),
                "an answer echoes the secret"
            );
        }
    }
    assert!(
        !provider.openclaw_config().to_string().contains(secret),
        "the secret is in OpenClaw's config"
    );
}
