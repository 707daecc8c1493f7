//! The local stack, for integration tests, browser tests and the README's run command:
//! the Google simulator and the built Worker under `wrangler dev` (real workerd, real
//! local KV), each on a free loopback port, each in its own process group, stopped
//! together when the [`Stack`] is dropped (also when a test panics).
//!
//! [`Client`] speaks to the Worker like the page does: a cookie jar, the site's
//! `Origin` on state-changing requests, no automatic redirects (tests look at them),
//! and a [`Client::sign_in`] that goes through the simulator's consent flow.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

pub use claw_free_testkit::{wait_for, workspace_root as repo_root};

pub mod github_app;

/// The simulator and the agent, built on demand.
fn native_binaries() -> (PathBuf, PathBuf) {
    (
        claw_free_testkit::workspace_binary("claw-free-sim", "claw-free-sim"),
        claw_free_testkit::workspace_binary("claw-free-agent", "clawfree-agent"),
    )
}

/// The newest modification time of the files under `dir` with one of `extensions`.
fn newest(dir: &Path, extensions: &[&str]) -> SystemTime {
    let mut latest = SystemTime::UNIX_EPOCH;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return latest;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let modified = if path.is_dir() {
            newest(&path, extensions)
        } else if extensions
            .iter()
            .any(|e| path.extension().is_some_and(|x| x == *e))
        {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH)
        } else {
            SystemTime::UNIX_EPOCH
        };
        latest = latest.max(modified);
    }
    latest
}

/// Builds the Worker bundle once per process unless `build/` is newer than its sources.
pub fn ensure_worker_built() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = repo_root();
        let bundle = root.join("build/index_bg.wasm");
        let built_at = std::fs::metadata(&bundle).and_then(|m| m.modified()).ok();
        let sources = newest(&root.join("src"), &["rs"])
            .max(newest(&root.join("protocol/src"), &["rs"]))
            .max(
                std::fs::metadata(root.join("Cargo.toml"))
                    .and_then(|m| m.modified())
                    .unwrap_or(SystemTime::UNIX_EPOCH),
            );
        if built_at.is_some_and(|t| t >= sources) {
            return;
        }
        let status = Command::new("bash")
            .arg(root.join("scripts/build-worker"))
            .env(
                "CLAW_FREE_FAST_BUILD",
                std::env::var("CLAW_FREE_FAST_BUILD").unwrap_or_else(|_| "1".into()),
            )
            .current_dir(&root)
            .status()
            .expect("run scripts/build-worker");
        assert!(status.success(), "building the Worker failed");
    });
}

/// A free loopback port for a server of the stack. It is drawn below the kernel's
/// ephemeral range (32768 and up), where outbound connections (the agents' long polls,
/// wrangler's fetches) take their local ports, so a port released here is not taken
/// by one of them before the server binds it. Still a small race between two stacks:
/// [`Stack::start`] retries a Worker that cannot bind.
pub fn free_port() -> u16 {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        ^ (u64::from(std::process::id()) << 20)
        ^ COUNTER.fetch_add(0x9E37_79B9, std::sync::atomic::Ordering::SeqCst);
    for i in 0..64u64 {
        let port = 15_000
            + ((seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(i * 7919))
                >> 33)
                % 17_000;
        if TcpListener::bind(("127.0.0.1", port as u16)).is_ok() {
            return port as u16;
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// How to start a stack.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// 0 picks a free port.
    pub site_port: u16,
    pub sim_port: u16,
    /// Worker `[vars]` to override (`READY_TIMEOUT_SECS`, limits...).
    pub vars: BTreeMap<String, String>,
    /// Extra simulator flags.
    pub sim_args: Vec<String>,
    /// Where KV, the simulator's VMs and logs live; a fresh folder under target/ by default.
    pub state_dir: Option<PathBuf>,
    /// Run the real VM agent for each simulated VM (otherwise the simulator's stand-in).
    pub real_agent: bool,
    /// Behind the real agent, run the real OpenClaw gateway (the pinned release,
    /// installed on first use) and the claw.free Setup model on each VM, instead of a
    /// health stand-in. Each gateway holds some 700 MB, and reaches out (model
    /// catalogs) wherever the stack's network lets it: tests run it in a namespace.
    pub real_gateway: bool,
    /// Configure the Worker with the development GitHub App and register it in the
    /// simulator ([`github_app`]), so bots can be linked to simulated repositories.
    pub github: bool,
    /// Show the children's output on this process's stderr.
    pub verbose: bool,
}

impl Default for StackOptions {
    fn default() -> Self {
        Self {
            site_port: 0,
            sim_port: 0,
            vars: BTreeMap::new(),
            sim_args: vec![
                "--auto-approve".into(),
                "--operation-step-ms".into(),
                "300".into(),
                "--boot-step-ms".into(),
                "300".into(),
            ],
            state_dir: None,
            real_agent: true,
            real_gateway: false,
            github: false,
            verbose: false,
        }
    }
}

impl StackOptions {
    pub fn var(mut self, name: &str, value: impl ToString) -> Self {
        self.vars.insert(name.into(), value.to_string());
        self
    }
}

/// A running simulator + Worker.
pub struct Stack {
    pub site: String,
    pub sim: String,
    pub state_dir: PathBuf,
    children: Vec<Child>,
}

/// The development configuration of the Worker, pointing every Google URL at `sim`.
pub fn development_vars(site: &str, sim: &str) -> BTreeMap<String, String> {
    claw_free::config::development::vars(site, sim)
}

/// Worker variables from `(name, value)` pairs.
fn named<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Iterator<Item = (String, String)> + 'a {
    pairs
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
}

/// Worker variables holding URLs of the simulator at `sim`, each `(name, path)`: the
/// path its API has there, empty where the simulator's root serves the whole API.
fn at_sim<'a>(
    sim: &'a str,
    urls: &'a [(&'a str, &'a str)],
) -> impl Iterator<Item = (String, String)> + 'a {
    urls.iter()
        .map(move |(name, path)| (name.to_string(), format!("{sim}{path}")))
}

fn toml_string(value: &str) -> String {
    serde_json::to_string(value).expect("string")
}

impl Stack {
    pub fn start(options: StackOptions) -> Stack {
        ensure_worker_built();
        let (sim_bin, agent_bin) = native_binaries();
        let root = repo_root();
        let state_dir = options.state_dir.clone().unwrap_or_else(|| {
            static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            root.join(format!("target/it-state/{}-{n}", std::process::id()))
        });
        let _ = std::fs::remove_dir_all(&state_dir);
        std::fs::create_dir_all(&state_dir).expect("state dir");
        let mut stack = Stack {
            site: String::new(),
            sim: String::new(),
            state_dir: state_dir.clone(),
            children: Vec::new(),
        };

        // The simulator prints its URL once it listens.
        let mut sim = Command::new(&sim_bin);
        sim.args(["--port", &options.sim_port.to_string(), "--state-dir"])
            .arg(state_dir.join("sim"))
            .args(&options.sim_args)
            .stdout(Stdio::piped())
            .stderr(if options.verbose {
                Stdio::inherit()
            } else {
                Stdio::from(log_file(&state_dir, "sim.log"))
            })
            .process_group(0);
        if options.real_agent {
            sim.arg("--agent").arg(&agent_bin);
        }
        if options.real_gateway {
            sim.arg("--openclaw")
                .arg(claw_free_testkit::openclaw::openclaw_bin())
                .arg("--setup-model")
                .arg(claw_free_testkit::workspace_binary(
                    "claw-free-provider",
                    "clawfree-provider",
                ));
        }
        let mut sim_child = sim.spawn().expect("start the simulator");
        let first_line = claw_free_testkit::first_stdout_line(&mut sim_child);
        stack.children.push(sim_child);
        stack.sim = first_line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| {
                panic!(
                    "the simulator did not start: {first_line:?} (see {}/sim.log)",
                    state_dir.display()
                )
            })
            .to_string();

        stack.start_worker(&root, &options);
        if options.github {
            stack.register_github_app();
        }
        stack
    }

    /// Registers the development GitHub App in the simulator (again after a reset).
    pub fn register_github_app(&self) {
        let app = self.admin("github/apps", github_app::registration(&self.site));
        assert_eq!(app["id"], github_app::APP_ID, "{app}");
    }

    /// Starts `wrangler dev` and waits until the Worker answers. A Worker that exits
    /// while starting (a port taken in the meantime) is tried again on fresh ports.
    fn start_worker(&mut self, root: &Path, options: &StackOptions) {
        const ATTEMPTS: u32 = 3;
        for attempt in 1..=ATTEMPTS {
            let site_port = if options.site_port == 0 {
                free_port()
            } else {
                options.site_port
            };
            self.site = format!("http://127.0.0.1:{site_port}");
            let wrangler = self.spawn_wrangler(root, options, site_port);
            self.children.push(wrangler);
            match self.wait_until_ready() {
                Ok(()) => return,
                Err(why) if attempt < ATTEMPTS => {
                    eprintln!("wrangler dev did not start ({why}); trying again on other ports");
                    if let Some(mut failed) = self.children.pop() {
                        stop_group(&mut failed);
                    }
                }
                Err(why) => panic!("{why}; see {}/wrangler.log", self.state_dir.display()),
            }
        }
    }

    fn spawn_wrangler(&self, root: &Path, options: &StackOptions, site_port: u16) -> Child {
        let state_dir = &self.state_dir;
        let mut vars = development_vars(&self.site, &self.sim);
        if options.github {
            vars.extend(github_app::worker_vars(&self.sim));
        }
        vars.extend(options.vars.clone());
        let vars_toml: String = vars
            .iter()
            .map(|(k, v)| format!("{k} = {}\n", toml_string(v)))
            .collect();
        let config = format!(
            "name = \"claw-free-local\"\nmain = {}\ncompatibility_date = \"2026-04-01\"\n\n[assets]\ndirectory = {}\nbinding = \"ASSETS\"\nrun_worker_first = true\n\n[[kv_namespaces]]\nbinding = \"KV\"\nid = \"local\"\n\n[vars]\n{vars_toml}",
            toml_string(&root.join("build/index.js").to_string_lossy()),
            toml_string(&root.join("public").to_string_lossy()),
        );
        spawn_wrangler_with(state_dir, &config, site_port, options.verbose)
    }

    /// Starts, beside the Worker, the plain JavaScript reference Worker of
    /// `tests/bench/reference-worker` (what the original TypeScript Worker did per
    /// status poll) under its own `wrangler dev` and KV, pointed at this stack's
    /// simulator; returns its base URL once it answers. Stopped with the stack.
    pub fn start_reference_worker(&mut self) -> String {
        let root = repo_root();
        let dir = self.state_dir.join("reference");
        std::fs::create_dir_all(&dir).expect("reference state dir");
        let config = format!(
            "name = \"claw-free-reference\"\nmain = {}\ncompatibility_date = \"2026-04-01\"\n\n[[kv_namespaces]]\nbinding = \"KV\"\nid = \"local\"\n\n[vars]\nCOMPUTE_API = {}\n",
            toml_string(&root.join("tests/bench/reference-worker/worker.js").to_string_lossy()),
            toml_string(&self.sim),
        );
        let port = free_port();
        let child = spawn_wrangler_with(&dir, &config, port, false);
        self.children.push(child);
        let base = format!("http://127.0.0.1:{port}");
        let client = Client::new(&base);
        let deadline = Instant::now() + Duration::from_secs(90);
        while !client.try_get("/api/health").is_ok_and(|r| r.status == 200) {
            assert!(
                Instant::now() < deadline,
                "the reference Worker did not start; see {}/wrangler.log",
                dir.display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        base
    }

    /// Waits until the Worker answers its health route; an error when a process of
    /// the stack exited or 90 s passed.
    fn wait_until_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(90);
        let client = Client::new(&self.site);
        loop {
            if let Ok(reply) = client.try_get("/api/health") {
                if reply.status == 200 {
                    return Ok(());
                }
            }
            if let Some(exited) = self
                .children
                .iter_mut()
                .find_map(|c| c.try_wait().ok().flatten())
            {
                return Err(format!("a stack process exited early ({exited})"));
            }
            if Instant::now() >= deadline {
                return Err("wrangler dev did not answer in 90 s".into());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// A client of the Worker.
    pub fn client(&self) -> Client {
        Client::new(&self.site)
    }

    /// A stack with the default options and a client signed in to it: where most
    /// journeys begin.
    pub fn signed_in() -> (Stack, Client) {
        let (stack, client) = Stack::signed_out();
        (stack, client.signed_in())
    }

    /// A stack with the default options and a client that has not signed in yet.
    pub fn signed_out() -> (Stack, Client) {
        let stack = Stack::start(StackOptions::default());
        let client = stack.client();
        (stack, client)
    }

    /// `POST` to the simulator's admin API.
    pub fn admin(&self, path: &str, body: Value) -> Value {
        let reply =
            Client::new(&self.sim).send("POST", &format!("/_admin/{path}"), Some(body), &[]);
        assert!(
            reply.status < 300,
            "admin {path}: {} {}",
            reply.status,
            reply.text
        );
        reply.json
    }

    /// `GET` from the simulator's admin API.
    pub fn admin_get(&self, path: &str) -> Value {
        Client::new(&self.sim).get(&format!("/_admin/{path}")).json
    }

    /// The simulator's request counters.
    pub fn counters(&self) -> BTreeMap<String, u64> {
        serde_json::from_value(self.admin_get("counters")).unwrap_or_default()
    }

    /// Every value in the Worker's local KV, as stored on disk by wrangler.
    pub fn kv_contents(&self) -> String {
        let mut all = String::new();
        collect_files(&self.state_dir.join("kv"), &mut all);
        all
    }
}

fn collect_files(dir: &Path, out: &mut String) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, out);
        } else if let Ok(mut file) = std::fs::File::open(&path) {
            let mut bytes = Vec::new();
            let _ = file.read_to_end(&mut bytes);
            out.push_str(&String::from_utf8_lossy(&bytes));
            out.push('\n');
        }
    }
}

/// `wrangler dev` with `config` (written into `state_dir`), its KV persisted there,
/// on loopback `port`, quiet and offline, in its own process group.
fn spawn_wrangler_with(state_dir: &Path, config: &str, port: u16, verbose: bool) -> Child {
    let config_path = state_dir.join("wrangler.toml");
    std::fs::write(&config_path, config).expect("write wrangler config");
    let output = || {
        if verbose {
            Stdio::inherit()
        } else {
            Stdio::from(log_file(state_dir, "wrangler.log"))
        }
    };
    Command::new(repo_root().join("node_modules/.bin/wrangler"))
        .args(["dev", "--config"])
        .arg(&config_path)
        .args(["--ip", "127.0.0.1", "--port", &port.to_string()])
        // Workers run side by side: each needs its own inspector port (default 9229).
        .args(["--inspector-port", &free_port().to_string(), "--persist-to"])
        .arg(state_dir.join("kv"))
        .args([
            "--show-interactive-dev-session=false",
            "--log-level",
            "warn",
        ])
        .env("WRANGLER_SEND_METRICS", "false")
        .env("WRANGLER_SEND_ERROR_REPORTS", "false")
        .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
        .env("XDG_CONFIG_HOME", state_dir.join("xdg"))
        .current_dir(state_dir)
        .stdin(Stdio::null())
        .stdout(output())
        .stderr(output())
        .process_group(0)
        .spawn()
        .expect("start wrangler dev")
}

fn log_file(dir: &Path, name: &str) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(name))
        .expect("log file")
}

/// Stops a child's whole process group (workerd and esbuild too): SIGTERM, a grace
/// period, then SIGKILL.
fn stop_group(child: &mut Child) {
    let group = child.id() as i32;
    unsafe {
        libc::kill(-group, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
    let _ = child.wait();
}

impl Drop for Stack {
    fn drop(&mut self) {
        for child in &mut self.children {
            unsafe {
                libc::kill(-(child.id() as i32), libc::SIGTERM);
            }
        }
        for child in &mut self.children {
            stop_group(child);
        }
    }
}

/// One answer from the Worker or the simulator.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub text: String,
    pub json: Value,
}

impl Reply {
    /// The KV reads and writes the Worker made for this request, from the header it
    /// adds in development only (`x-claw-free-kv: reads=N writes=N`).
    pub fn kv_ops(&self) -> (u64, u64) {
        let header = self.header("x-claw-free-kv").unwrap_or("");
        let field = |name: &str| {
            header
                .split_whitespace()
                .find_map(|p| p.strip_prefix(name).and_then(|v| v.parse().ok()))
                .unwrap_or(0)
        };
        (field("reads="), field("writes="))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `error` sentence of an error reply.
    pub fn error(&self) -> &str {
        self.json["error"].as_str().unwrap_or("")
    }
}

/// A browser-like client: cookie jar, `Origin` on state-changing requests, no redirects.
pub struct Client {
    base: String,
    agent: ureq::Agent,
    cookies: std::cell::RefCell<BTreeMap<String, String>>,
    pub origin: Option<String>,
}

impl Client {
    pub fn new(base: &str) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Self {
            base: base.trim_end_matches('/').to_string(),
            agent,
            cookies: Default::default(),
            origin: Some(base.trim_end_matches('/').to_string()),
        }
    }

    /// The cookie jar as a `Cookie` header.
    pub fn cookie_header(&self) -> String {
        self.cookies
            .borrow()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.borrow().get(name).cloned()
    }

    pub fn set_cookie(&self, name: &str, value: &str) {
        self.cookies.borrow_mut().insert(name.into(), value.into());
    }

    pub fn clear_cookies(&self) {
        self.cookies.borrow_mut().clear();
    }

    pub fn get(&self, path: &str) -> Reply {
        self.try_get(path)
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    pub fn try_get(&self, path: &str) -> Result<Reply, ureq::Error> {
        self.request("GET", path, None, &[])
    }

    pub fn post(&self, path: &str, body: Value) -> Reply {
        self.send("POST", path, Some(body), &[])
    }

    pub fn delete(&self, path: &str) -> Reply {
        self.send("DELETE", path, None, &[])
    }

    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        self.request(
            method,
            path,
            body.map(|b| b.to_string().into_bytes()),
            headers,
        )
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// A raw request: any body bytes, any headers (`content-type` defaults to JSON).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Result<Reply, ureq::Error> {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        let mut builder = ureq::http::Request::builder().method(method).uri(&url);
        let cookies = self.cookie_header();
        if !cookies.is_empty() {
            builder = builder.header("cookie", cookies);
        }
        if method != "GET" && method != "HEAD" {
            if let Some(origin) = &self.origin {
                if !headers
                    .iter()
                    .any(|(k, _)| k.eq_ignore_ascii_case("origin"))
                {
                    builder = builder.header("origin", origin);
                }
            }
            if !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            {
                builder = builder.header("content-type", "application/json");
            }
        }
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let request = builder.body(body.unwrap_or_default()).expect("request");
        let mut response = self.agent.run(request)?;
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        for (_, value) in headers.iter().filter(|(k, _)| k == "set-cookie") {
            let pair = value.split(';').next().unwrap_or("");
            if let Some((k, v)) = pair.split_once('=') {
                let expired = value.contains("Max-Age=0");
                if expired || v.is_empty() {
                    self.cookies.borrow_mut().remove(k.trim());
                } else {
                    self.cookies
                        .borrow_mut()
                        .insert(k.trim().to_string(), v.to_string());
                }
            }
        }
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Reply {
            status,
            headers,
            text,
            json,
        })
    }

    /// Signs in through the simulator (which must auto-approve): returns the final redirect.
    pub fn sign_in(&self, query: &str) -> Reply {
        let start = self.get(&format!("/api/auth/google?{query}"));
        assert_eq!(start.status, 302, "sign-in start: {}", start.text);
        let consent = start
            .header("location")
            .expect("consent location")
            .to_string();
        let outsider = Client {
            base: String::new(),
            agent: self.agent.clone(),
            cookies: Default::default(),
            origin: None,
        };
        let approved = outsider.get(&consent);
        assert_eq!(approved.status, 302, "consent: {}", approved.text);
        let callback = approved
            .header("location")
            .expect("callback location")
            .to_string();
        assert!(
            callback.starts_with(&self.base),
            "Google sends the person back to the site: {callback}"
        );
        self.get(&callback)
    }

    /// Signs in with the default choices and asserts it worked.
    pub fn signed_in(self) -> Self {
        let done = self.sign_in("provider=kimi&channel=telegram&cloud=gcp");
        assert_eq!(done.status, 302);
        assert!(
            self.cookie("__Host-session").is_some(),
            "no session after sign-in: {:?}",
            done.header("location")
        );
        self
    }
}

/// A Telegram token shaped like @BotFather's.
pub const TELEGRAM_TOKEN: &str = "123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0";

/// The value of the query parameter `name` in `url` (up to the next `&`), such as the
/// `state` of a consent URL; panics when it is absent.
pub fn query_param<'a>(url: &'a str, name: &str) -> &'a str {
    url.split(&format!("{name}="))
        .nth(1)
        .unwrap_or_else(|| panic!("no {name} in {url}"))
        .split('&')
        .next()
        .unwrap()
}

/// Default JSON for a bot start.
pub fn start_body(project: &str, bot: &str) -> Value {
    json!({"projectId": project, "region": "us-central1", "provider": "kimi", "botName": bot})
}
