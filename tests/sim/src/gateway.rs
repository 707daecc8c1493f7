//! A simulated VM's real OpenClaw gateway and claw.free Setup model, when the simulator
//! is given the pinned OpenClaw release (`--openclaw PATH`) and the Setup model
//! (`--setup-model PATH`): what `openclaw-gateway.service` and `clawfree-provider.service`
//! are on the image. The agent's restart command (`POST /_vm/.../app/restart`) starts
//! the Setup model once and (re)starts the gateway from the configuration the agent
//! wrote; the VM's health endpoint then reports whether that gateway listens.
//!
//! The configuration the gateway runs is the agent's, with only what differs between a
//! VM and this machine put in: where the Telegram token is (the VM's secrets folder,
//! not systemd's credentials), Telegram's API root (this simulator), the gateway's
//! port and the Setup model's (free loopback ports, as several VMs share this machine).
//! Every other key reaches OpenClaw as the agent wrote it.

use crate::state::{VmKey, World};
use crate::Sim;
use claw_free_protocol::metadata::SecretName;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::collections::VecDeque;
use std::io::BufRead;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

/// The programs a VM's app is made of.
#[derive(Debug, Clone)]
pub struct AppPrograms {
    /// The pinned release's `openclaw` command.
    pub openclaw: PathBuf,
    /// `clawfree-provider`.
    pub setup_model: PathBuf,
}

/// One VM's running app.
#[derive(Default)]
pub struct App {
    setup_model: Option<(Child, String)>,
    gateway: Option<(Child, u16)>,
    /// Which start of the gateway runs now: a supervisor follows one start only.
    starts: u64,
}

/// How long systemd lets a stopping unit finish before it kills what is left: its
/// default `TimeoutStopSec`, which the image's units keep.
const STOP_TIMEOUT: Duration = Duration::from_secs(90);

/// The gateway unit's `Restart=on-failure` policy, as `mkCappedService` in
/// `nix/lib/default.nix` renders it: a failed gateway starts again after `RestartSec`,
/// at most `StartLimitBurst` times in `StartLimitIntervalSec`.
const RESTART_SEC: Duration = Duration::from_secs(5);
const START_LIMIT_BURST: usize = 5;
const START_LIMIT_INTERVAL: Duration = Duration::from_secs(300);

/// Sends `signal` to a process's whole group (the gateway's helpers too).
fn signal_group(child: &Child, signal: libc::c_int) {
    // SAFETY: plain signal delivery to a process group we created.
    unsafe {
        libc::kill(-(child.id() as i32), signal);
    }
}

/// Kills a process and its process group, and reaps it.
fn kill(child: &mut Child) {
    signal_group(child, libc::SIGKILL);
    let _ = child.kill();
    let _ = child.wait();
}

/// Stops a unit's processes as `systemctl stop` does: SIGTERM to the whole group, then,
/// once the main process has exited or `STOP_TIMEOUT` has passed, SIGKILL to what is
/// left. A gateway killed outright can leave its state database's maintenance lease
/// held, and the next gateway then refuses to start; a stopped one releases it.
fn stop(child: &mut Child) {
    signal_group(child, libc::SIGTERM);
    let deadline = Instant::now() + STOP_TIMEOUT;
    while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    kill(child);
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some((child, _)) = self.gateway.as_mut() {
            kill(child);
        }
        if let Some((child, _)) = self.setup_model.as_mut() {
            kill(child);
        }
    }
}

/// The agent's state folder inside a VM's root.
fn openclaw_state(root: &Path) -> PathBuf {
    root.join("var/lib/openclaw")
}

/// What every `openclaw` command of one bot shares: only this environment, with its
/// home, state and configuration, offline and never updating itself.
pub fn openclaw_env<'c>(command: &'c mut Command, home: &Path, config: &Path) -> &'c mut Command {
    command
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home)
        .env("TMPDIR", home)
        .env("OPENCLAW_STATE_DIR", home.join("state"))
        .env("OPENCLAW_CONFIG_PATH", config)
        .env("OPENCLAW_NO_AUTO_UPDATE", "1")
        .env("OPENCLAW_OFFLINE", "1")
}

/// A process of the app: its own process group, killed if the simulator dies (see
/// `spawn`).
fn app_command(program: &Path, home: &Path, config: &Path) -> Command {
    let mut command = Command::new(program);
    openclaw_env(&mut command, home, config)
        .stdin(Stdio::null())
        .process_group(0);
    // SAFETY: prctl is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    command
}

/// Starts `command` from one thread that lives as long as the simulator: the kernel's
/// parent-death signal follows the thread that forked, and the request threads that
/// ask for a restart come and go.
fn spawn(command: Command) -> std::io::Result<Child> {
    use std::sync::mpsc;
    type Job = (Command, mpsc::Sender<std::io::Result<Child>>);
    static KEEPER: std::sync::OnceLock<std::sync::Mutex<mpsc::Sender<Job>>> =
        std::sync::OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (jobs, incoming) = mpsc::channel::<Job>();
        std::thread::spawn(move || {
            for (mut command, reply) in incoming {
                let _ = reply.send(command.spawn());
            }
        });
        std::sync::Mutex::new(jobs)
    });
    let (reply, child) = mpsc::channel();
    let sent = keeper
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((command, reply));
    sent.map_err(|_| std::io::Error::other("the process keeper stopped"))?;
    child
        .recv()
        .map_err(|_| std::io::Error::other("the process keeper stopped"))?
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The configuration the gateway runs: the agent's, placed on this machine.
pub fn place(
    agent_config: &Value,
    token_file: &Path,
    sim_url: &str,
    port: u16,
    setup_url: &str,
) -> Value {
    let mut config = agent_config.clone();
    config["gateway"]["port"] = json!(port);
    config["channels"]["telegram"]["tokenFile"] = json!(token_file);
    config["channels"]["telegram"]["apiRoot"] = json!(sim_url);
    if let Some(setup) = config["models"]["providers"]
        .get_mut("claw-free")
        .filter(|p| p.is_object())
    {
        setup["baseUrl"] = json!(format!("{setup_url}/v1"));
    }
    config
}

impl Sim {
    fn apps(&self) -> MutexGuard<'_, HashMap<VmKey, Arc<Mutex<App>>>> {
        self.apps.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The VM's app, made empty on first use. Its own lock serializes that VM's
    /// restarts, as systemd runs one job at a time per unit, and leaves other VMs be.
    fn app(&self, key: &VmKey) -> Arc<Mutex<App>> {
        self.apps().entry(key.clone()).or_default().clone()
    }

    /// Whether the VM's real gateway runs and listens; `None` when the simulator runs
    /// no real gateways.
    pub fn real_gateway_healthy(&self, key: &VmKey) -> Option<bool> {
        self.opts.app.as_ref()?;
        let app = self.apps().get(key).cloned();
        let Some(app) = app else {
            return Some(false);
        };
        // A restart in progress holds the app: the gateway is stopping or starting.
        let mut app = match app.try_lock() {
            Ok(app) => app,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return Some(false),
        };
        let Some((child, port)) = app.gateway.as_mut() else {
            return Some(false);
        };
        if !matches!(child.try_wait(), Ok(None)) {
            return Some(false);
        }
        let address = std::net::SocketAddr::from(([127, 0, 0, 1], *port));
        Some(std::net::TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_ok())
    }

    /// Stops the VM's app (the VM stops or is deleted).
    pub fn halt_app(&self, key: &VmKey) {
        self.apps().remove(key);
    }

    /// Stops every VM's app (reset, shutdown).
    pub fn halt_apps(&self) {
        self.apps().clear();
    }

    /// `POST /_vm/{p}/{z}/{i}/app/restart`: what `systemctl restart openclaw-gateway`
    /// is on the VM. Starts the Setup model if it does not run, then the gateway anew,
    /// supervised as its unit is.
    pub fn restart_app(self: &Arc<Self>, key: &VmKey) -> Result<(), String> {
        let programs = self
            .opts
            .app
            .clone()
            .ok_or("this simulator runs no real gateways (start it with --openclaw)")?;
        let root = World::vm_root(&self.opts.state_dir, key);
        let state = openclaw_state(&root);
        let agent_config_path = state.join("openclaw.json");
        let home = state.join("gateway");
        std::fs::create_dir_all(&home).map_err(|e| format!("{}: {e}", home.display()))?;
        let base = format!(
            "{}/_vm/{}/{}/{}",
            self.base_url, key.project, key.zone, key.instance
        );
        let restart = format!("curl -fsS -X POST {base}/app/restart");
        let app = self.app(key);
        let mut app = app.lock().unwrap_or_else(|e| e.into_inner());
        let setup_alive = app
            .setup_model
            .as_mut()
            .is_some_and(|(child, _)| matches!(child.try_wait(), Ok(None)));
        if !setup_alive {
            let log = std::fs::File::create(root.join("clawfree-provider.log"))
                .map_err(|e| e.to_string())?;
            let mut command = app_command(&programs.setup_model, &home, &agent_config_path);
            command
                .args(["--listen", "127.0.0.1:0", "--metadata-url", &base])
                .arg("--state-dir")
                .arg(root.join("var/lib/clawfree-provider"))
                .arg("--openclaw-config")
                .arg(&agent_config_path)
                .arg("--api-key-file")
                .arg(state.join("setup-provider.key"))
                .arg("--openclaw")
                .arg(&programs.openclaw)
                .args(["--restart-gateway", &restart])
                .args(["--nvidia-base-url", &format!("{}/nvidia/v1", self.base_url)])
                .stdout(Stdio::piped())
                .stderr(log);
            let mut child =
                spawn(command).map_err(|e| format!("cannot start the Setup model: {e}"))?;
            let mut line = String::new();
            if let Some(out) = child.stdout.take() {
                let _ = std::io::BufReader::new(out).read_line(&mut line);
            }
            let Some(url) = line.trim().strip_prefix("listening on ").map(String::from) else {
                kill(&mut child);
                return Err(format!("the Setup model did not start: {line:?}"));
            };
            app.setup_model = Some((child, url));
        }
        if let Some((mut old, _)) = app.gateway.take() {
            stop(&mut old);
        }
        self.start_gateway(key, &mut app, Log::Anew)?;
        supervise(Arc::downgrade(self), key.clone(), app.starts);
        Ok(())
    }

    /// Starts the VM's gateway from the configuration the agent wrote.
    fn start_gateway(&self, key: &VmKey, app: &mut App, log: Log) -> Result<(), String> {
        let programs = self.opts.app.as_ref().ok_or("no real gateways")?;
        let root = World::vm_root(&self.opts.state_dir, key);
        let state = openclaw_state(&root);
        let agent_config_path = state.join("openclaw.json");
        let home = state.join("gateway");
        let setup_url = app
            .setup_model
            .as_ref()
            .map(|(_, u)| u.clone())
            .unwrap_or_default();
        let written: Value = std::fs::read(&agent_config_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| format!("no configuration at {}", agent_config_path.display()))?;
        let port = free_port().map_err(|e| e.to_string())?;
        let token = state
            .join("secrets")
            .join(SecretName::telegram_token().as_str());
        let runtime = home.join("openclaw.json");
        let placed = place(&written, &token, &self.base_url, port, &setup_url);
        std::fs::write(
            &runtime,
            serde_json::to_vec_pretty(&placed).unwrap_or_default(),
        )
        .map_err(|e| e.to_string())?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(matches!(log, Log::Appended))
            .truncate(matches!(log, Log::Anew))
            .open(root.join("openclaw-gateway.log"))
            .map_err(|e| e.to_string())?;
        let mut command = app_command(&programs.openclaw, &home, &runtime);
        command
            .args(["gateway", "--port", &port.to_string()])
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log);
        let child = spawn(command).map_err(|e| format!("cannot start the gateway: {e}"))?;
        app.gateway = Some((child, port));
        app.starts += 1;
        Ok(())
    }
}

/// Whether a gateway's start begins its log anew (a restart asked for) or goes on with
/// it (systemd starting a failed gateway again, whose reason stays readable).
enum Log {
    Anew,
    Appended,
}

/// Follows one start of a VM's gateway as systemd follows its unit: when the gateway
/// exits with an error (OpenClaw refuses to start while another process holds its
/// state database's maintenance lease, for one), it is started again after
/// `RESTART_SEC`, until the start limit. A clean exit, a restart asked for, or the VM's
/// app going away ends the supervision.
fn supervise(weak: Weak<Sim>, key: VmKey, start: u64) {
    std::thread::spawn(move || {
        let mut start = start;
        let mut started = VecDeque::from([Instant::now()]);
        loop {
            std::thread::sleep(Duration::from_millis(200));
            match follow(&weak, &key, start) {
                Followed::Running => continue,
                Followed::Ended => return,
                Followed::Failed => {}
            }
            started.retain(|at| at.elapsed() < START_LIMIT_INTERVAL);
            if started.len() >= START_LIMIT_BURST {
                return;
            }
            std::thread::sleep(RESTART_SEC);
            let Some(sim) = weak.upgrade() else { return };
            let Some(app) = sim.apps().get(&key).cloned() else {
                return;
            };
            let mut app = app.lock().unwrap_or_else(|e| e.into_inner());
            if app.starts != start || sim.start_gateway(&key, &mut app, Log::Appended).is_err() {
                return;
            }
            start = app.starts;
            started.push_back(Instant::now());
        }
    });
}

enum Followed {
    Running,
    Failed,
    /// It exited cleanly, was restarted or stopped on request, or its VM is gone.
    Ended,
}

/// Where one start of a VM's gateway is now. The locks are held only for the look.
fn follow(weak: &Weak<Sim>, key: &VmKey, start: u64) -> Followed {
    let Some(sim) = weak.upgrade() else {
        return Followed::Ended;
    };
    let Some(app) = sim.apps().get(key).cloned() else {
        return Followed::Ended;
    };
    let mut app = app.lock().unwrap_or_else(|e| e.into_inner());
    if app.starts != start {
        return Followed::Ended;
    }
    match app.gateway.as_mut().map(|(child, _)| child.try_wait()) {
        Some(Ok(None)) => Followed::Running,
        Some(Ok(Some(status))) if !status.success() => Followed::Failed,
        _ => Followed::Ended,
    }
}

/// `POST /_vm/{p}/{z}/{i}/app/restart`.
pub async fn restart(sim: &std::sync::Arc<Sim>, key: VmKey) -> axum::response::Response {
    let sim = std::sync::Arc::clone(sim);
    let done = tokio::task::spawn_blocking(move || sim.restart_app(&key)).await;
    match done {
        Ok(Ok(())) => crate::http::ok_json(&json!({ "ok": true })),
        Ok(Err(error)) => crate::http::json(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            &json!({ "ok": false, "error": error }),
        ),
        Err(e) => crate::http::json(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            &json!({ "ok": false, "error": e.to_string() }),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stop timeout and restart policy above are the gateway unit's: its module sets
    /// none of its own, so `mkCappedService`'s defaults and systemd's stop timeout hold.
    #[test]
    fn the_supervision_is_the_gateway_units() {
        let lib = include_str!("../../../nix/lib/default.nix");
        for default in [
            "restart ? \"on-failure\"".to_string(),
            format!("restartSec ? {}", RESTART_SEC.as_secs()),
            format!("startLimitBurst ? {START_LIMIT_BURST}"),
            format!("startLimitIntervalSec ? {}", START_LIMIT_INTERVAL.as_secs()),
        ] {
            assert!(
                lib.contains(&default),
                "nix/lib/default.nix has no {default:?}"
            );
        }
        let gateway = include_str!("../../../nix/modules/gateway.nix");
        for own in [
            "restart =",
            "restartSec",
            "startLimit",
            "TimeoutStopSec",
            "TimeoutSec",
        ] {
            assert!(
                !gateway.contains(own),
                "the gateway's module sets {own} of its own"
            );
        }
        assert!(
            !lib.contains("TimeoutStopSec") && !lib.contains("TimeoutSec"),
            "mkCappedService sets a stop timeout: STOP_TIMEOUT must follow it"
        );
    }

    #[test]
    fn placing_changes_only_what_differs_on_this_machine() {
        let written = json!({
            "gateway": { "mode": "local", "port": 18789, "bind": "loopback" },
            "models": { "providers": { "claw-free": { "baseUrl": "http://localhost:3456/v1", "apiKey": "k" } } },
            "channels": { "telegram": { "enabled": true, "tokenFile": "/run/credentials/x", "dmPolicy": "allowlist", "allowFrom": ["1"] } },
        });
        let placed = place(
            &written,
            Path::new("/vm/token"),
            "http://127.0.0.1:9",
            4000,
            "http://127.0.0.1:5",
        );
        assert_eq!(
            placed["gateway"],
            json!({ "mode": "local", "port": 4000, "bind": "loopback" })
        );
        assert_eq!(placed["channels"]["telegram"]["dmPolicy"], "allowlist");
        assert_eq!(placed["channels"]["telegram"]["allowFrom"], json!(["1"]));
        assert_eq!(placed["channels"]["telegram"]["tokenFile"], "/vm/token");
        assert_eq!(
            placed["models"]["providers"]["claw-free"]["baseUrl"],
            "http://127.0.0.1:5/v1"
        );
        assert_eq!(placed["models"]["providers"]["claw-free"]["apiKey"], "k");
    }
}
