//! What runs on a simulated VM: its serial console (a NixOS boot log), its SSH host
//! key, its app's health endpoint, and either the real agent (`--agent PATH`, one
//! process group per VM, killed when the VM stops, is deleted or the simulator exits)
//! or a built-in stand-in that walks the `openclaw/` guest attributes like the agent.

use crate::clock::{now_ms, now_secs, syslog_time};
use crate::http::{ok_json, Req};
use crate::metadata_server::set_guest_attribute;
use crate::state::{InstanceStatus, SerialLog, VmKey, World};
use crate::Sim;
use axum::http::StatusCode;
use axum::response::Response;
use claw_free_protocol::guest::{self, Health, SetupState};
use claw_free_protocol::metadata::{SecretName, SECRET_VERSION};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::task::JoinHandle;

/// How often the stand-in refreshes `openclaw/health`; the real agent gets the same.
pub const HEALTH_INTERVAL_SECS: u64 = 2;

/// Firmware and boot-loader lines, written when the VM is created or started.
pub fn bios_log(serial: &mut SerialLog, now: u64) {
    for line in [
        "SeaBIOS (version 1.8.2-google)",
        "Total RAM Size = 0x0000000040000000 = 1024 MiB",
        "CPUs found: 2     Max CPUs supported: 2",
        "Booting from Hard Disk 0...",
        "<<< NixOS Stage 1 >>>",
    ] {
        serial.push_line(line);
    }
    serial.push_line(&format!(
        "[    0.000000] Linux version 6.12.30 (nixbld@localhost) #1-NixOS SMP PREEMPT_DYNAMIC ({})",
        syslog_time(now)
    ));
}

/// The operating system's lines once the VM is RUNNING.
fn os_log(serial: &mut SerialLog, key: &VmKey, now: u64) {
    let t = syslog_time(now);
    for line in [
        "[    1.204331] EXT4-fs (sda1): mounted filesystem with ordered data mode.".to_string(),
        "<<< NixOS Stage 2 >>>".to_string(),
        "[    2.118406] systemd[1]: systemd 257.5 running in system mode".to_string(),
        format!(
            "[    2.301200] systemd[1]: Hostname set to <{}>.",
            key.instance
        ),
        "[  OK  ] Started Journal Service.".to_string(),
        "[  OK  ] Reached target Network is Online.".to_string(),
        "[  OK  ] Started Google Compute Engine Guest Agent.".to_string(),
        "[  OK  ] Started OpenSSH Daemon.".to_string(),
        String::new(),
        "<<< Welcome to NixOS 25.05 (x86_64) - ttyS0 >>>".to_string(),
        format!("{} login: ", key.instance),
        format!(
            "{t} {} systemd[1]: Starting clawfree-agent.service...",
            key.instance
        ),
    ] {
        serial.push_line(&line);
    }
}

/// What runs for one booted VM.
pub struct Runner {
    pub boot_id: u64,
    kind: RunnerKind,
}

enum RunnerKind {
    Agent { pgid: i32, exited: Arc<AtomicBool> },
    StandIn(JoinHandle<()>),
}

impl Runner {
    /// Stops it: SIGTERM to the agent's process group (SIGKILL `grace` later), or
    /// aborts the stand-in.
    pub fn stop(self, grace: Option<Duration>) {
        match self.kind {
            RunnerKind::StandIn(task) => task.abort(),
            RunnerKind::Agent { pgid, exited } => match grace {
                Some(grace) if !exited.load(Ordering::SeqCst) => {
                    signal_group(pgid, libc::SIGTERM);
                    if let Ok(handle) = tokio::runtime::Handle::try_current() {
                        handle.spawn(async move {
                            tokio::time::sleep(grace).await;
                            if !exited.load(Ordering::SeqCst) {
                                signal_group(pgid, libc::SIGKILL);
                            }
                        });
                    } else {
                        signal_group(pgid, libc::SIGKILL);
                    }
                }
                _ => {
                    if !exited.load(Ordering::SeqCst) {
                        signal_group(pgid, libc::SIGKILL);
                    }
                }
            },
        }
    }
}

fn signal_group(pgid: i32, signal: i32) {
    if pgid > 1 {
        // SAFETY: kill(2) with a negative pid signals that process group only.
        unsafe {
            libc::kill(-pgid, signal);
        }
    }
}

/// The OpenSSH ed25519 host key at `<root>/etc/ssh/ssh_host_ed25519_key`, created on
/// the first boot and kept across stops, as the VM's disk would keep it. Returns the
/// public key as an age recipient: `ssh-ed25519 AAAA...` without a comment.
pub fn ensure_host_key(root: &Path, hostname: &str) -> std::io::Result<String> {
    use ssh_key::{rand_core::OsRng, Algorithm, LineEnding, PrivateKey, PublicKey};
    use std::os::unix::fs::PermissionsExt;
    let dir = root.join("etc/ssh");
    let private_path = dir.join("ssh_host_ed25519_key");
    let public_path = dir.join("ssh_host_ed25519_key.pub");
    let io_err = |e: ssh_key::Error| std::io::Error::other(e.to_string());
    let public = if private_path.exists() {
        let text = std::fs::read_to_string(&private_path)?;
        PrivateKey::from_openssh(&text)
            .map_err(io_err)?
            .public_key()
            .clone()
    } else {
        std::fs::create_dir_all(&dir)?;
        let mut key = PrivateKey::random(&mut OsRng, Algorithm::Ed25519).map_err(io_err)?;
        key.set_comment(format!("root@{hostname}"));
        let text = key.to_openssh(LineEnding::LF).map_err(io_err)?;
        let staging = dir.join(".ssh_host_ed25519_key.tmp");
        std::fs::write(&staging, text.as_bytes())?;
        std::fs::set_permissions(&staging, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&staging, &private_path)?;
        let public = key.public_key().clone();
        std::fs::write(
            &public_path,
            format!("{}\n", public.to_openssh().map_err(io_err)?),
        )?;
        std::fs::set_permissions(&public_path, std::fs::Permissions::from_mode(0o644))?;
        public
    };
    let line = PublicKey::new(public.key_data().clone(), "")
        .to_openssh()
        .map_err(io_err)?;
    Ok(line.trim().to_string())
}

/// Where the agent keeps the Telegram token inside a VM's root.
fn telegram_secret_path(root: &Path) -> PathBuf {
    root.join("var/lib/openclaw/secrets")
        .join(SecretName::telegram_token().as_str())
}

/// Whether the VM's stand-in OpenClaw would answer healthy now.
fn app_healthy(world: &World, root: &Path, key: &VmKey) -> bool {
    match world.instances.get(key) {
        Some(inst)
            if inst.status == InstanceStatus::Running
                && !inst.never_healthy
                && !world.config.apps_never_healthy =>
        {
            inst.standin_secret_version.is_some() || telegram_secret_path(root).exists()
        }
        _ => false,
    }
}

/// `GET /_vm/{p}/{z}/{i}/app/health`: OpenClaw's stand-in health endpoint.
pub fn app_health(sim: &Sim, _req: &Req, key: &VmKey) -> Response {
    let root = World::vm_root(&sim.opts.state_dir, key);
    let healthy = match sim.real_gateway_healthy(key) {
        Some(real) => real,
        None => app_healthy(&sim.world(), &root, key),
    };
    if healthy {
        ok_json(&serde_json::json!({ "ok": true, "status": "live" }))
    } else {
        crate::http::json(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({ "ok": false, "error": "the gateway is not running (no Telegram token yet)" }),
        )
    }
}

impl Sim {
    /// The instance reached RUNNING: log the OS boot, then (after the boot delay) start
    /// the agent or the stand-in.
    pub fn boot(self: &Arc<Self>, key: VmKey, boot_id: u64) {
        let root = World::vm_root(&self.opts.state_dir, &key);
        let delay = {
            let mut world = self.world();
            let delay = world.config.agent_boot_delay_ms;
            if let Some(inst) = world.instances.get_mut(&key) {
                os_log(&mut inst.serial, &key, now_ms());
            }
            delay
        };
        let sim = Arc::clone(self);
        tokio::spawn(async move {
            let hostname = key.instance.clone();
            let key_root = root.clone();
            let recipient =
                tokio::task::spawn_blocking(move || ensure_host_key(&key_root, &hostname)).await;
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let run = {
                let world = sim.world();
                world.instances.get(&key).is_some_and(|i| {
                    i.boot_id == boot_id && i.status == InstanceStatus::Running && i.run_agent
                })
            };
            if !run {
                return;
            }
            let recipient = match recipient {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => {
                    return sim.serial(
                        &key,
                        &format!("sshd-keygen.service: cannot create the host key: {e}"),
                    )
                }
                Err(e) => return sim.serial(&key, &format!("sshd-keygen.service: {e}")),
            };
            let runner = match &sim.opts.agent {
                Some(path) => sim.spawn_agent(path, &key, &root, boot_id),
                None => Ok(Runner {
                    boot_id,
                    kind: RunnerKind::StandIn(tokio::spawn(stand_in(
                        Arc::clone(&sim),
                        key.clone(),
                        boot_id,
                        recipient,
                    ))),
                }),
            };
            match runner {
                Ok(runner) => {
                    if let Some(old) = sim.runners().insert(key.clone(), runner) {
                        old.stop(None);
                    }
                }
                Err(e) => sim.serial(
                    &key,
                    &format!("clawfree-agent.service: Failed to start: {e}"),
                ),
            }
        });
    }

    /// Stops whatever runs on the VM (it is stopping or being deleted).
    pub fn halt(&self, key: &VmKey) {
        if let Some(runner) = self.runners().remove(key) {
            runner.stop(Some(Duration::from_secs(2)));
        }
        self.halt_app(key);
    }

    /// Kills every agent now (reset, shutdown).
    pub fn halt_all(&self) {
        let runners: Vec<Runner> = self.runners().drain().map(|(_, r)| r).collect();
        for runner in runners {
            runner.stop(None);
        }
        self.halt_apps();
    }

    fn serial(&self, key: &VmKey, line: &str) {
        if let Some(inst) = self.world().instances.get_mut(key) {
            inst.serial.push_line(line);
        }
    }

    fn spawn_agent(
        self: &Arc<Self>,
        path: &Path,
        key: &VmKey,
        root: &Path,
        boot_id: u64,
    ) -> std::io::Result<Runner> {
        let base = format!(
            "{}/_vm/{}/{}/{}",
            self.base_url, key.project, key.zone, key.instance
        );
        let mut command = tokio::process::Command::new(path);
        command
            .arg("run")
            .arg("--metadata-url")
            .arg(&base)
            .arg("--root")
            .arg(root)
            .arg("--health-url")
            .arg(format!("{base}/app/health"))
            .arg("--restart-cmd")
            .arg(match self.opts.app {
                // What `systemctl restart openclaw-gateway.service` is here.
                Some(_) => format!("curl -fsS -X POST {base}/app/restart"),
                None => "true".into(),
            })
            .arg("--health-interval-secs")
            .arg(HEALTH_INTERVAL_SECS.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        // SAFETY: prctl is async-signal-safe; it makes the kernel kill the agent if the
        // simulator dies without cleaning up, so no agent outlives it.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = command.spawn()?;
        let pid = child.id().unwrap_or(0) as i32;
        let exited = Arc::new(AtomicBool::new(false));
        let tag = format!("{} clawfree-agent[{pid}]:", key.instance);
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        ]
        .into_iter()
        .flatten()
        {
            let sim = Arc::clone(self);
            let key = key.clone();
            let tag = tag.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    sim.serial(&key, &format!("{} {tag} {line}", syslog_time(now_ms())));
                }
            });
        }
        let sim = Arc::clone(self);
        let key = key.clone();
        let done = Arc::clone(&exited);
        tokio::spawn(async move {
            let status = child.wait().await;
            done.store(true, Ordering::SeqCst);
            let line = match status {
                Ok(s) => format!("clawfree-agent.service: Main process exited, {s}"),
                Err(e) => format!("clawfree-agent.service: {e}"),
            };
            sim.serial(&key, &line);
            // An agent that exits on its own leaves the VM without one, as systemd would
            // after its restart limit; forget it so a stop does not signal a stale group.
            let mut runners = sim.runners();
            if runners.get(&key).is_some_and(|r| r.boot_id == boot_id) {
                runners.remove(&key);
            }
        });
        Ok(Runner {
            boot_id,
            kind: RunnerKind::Agent { pgid: pid, exited },
        })
    }
}

/// The built-in stand-in for the agent: publishes the recipient and `waiting-secret`,
/// and once an encrypted Telegram token and a secret version appear in metadata, goes
/// `configuring` → `starting` → `ready` with `secret-version` and a fresh `health`.
/// It cannot decrypt (that is the real agent's job), so it treats the ciphertext's
/// arrival as the secret being applied.
async fn stand_in(sim: Arc<Sim>, key: VmKey, boot_id: u64, recipient: String) {
    let say = |line: &str| {
        sim.serial(
            &key,
            &format!(
                "{} {} clawfree-agent[stand-in]: {line}",
                syslog_time(now_ms()),
                key.instance
            ),
        )
    };
    let publish = |attr: &str, value: &str| -> bool {
        let result = set_guest_attribute(&mut sim.world(), &key, guest::NAMESPACE, attr, value);
        sim.changed.notify_waiters();
        result.is_ok()
    };
    if !publish(guest::RECIPIENT, &recipient) {
        say("cannot publish guest attributes: enable-guest-attributes is not TRUE");
        return;
    }
    say("published openclaw/recipient");
    let step = Duration::from_millis(sim.world().config.boot_step_ms / 2);
    let mut setup = None;
    let interval = Duration::from_secs(HEALTH_INTERVAL_SECS);
    let mut last_probe: Option<tokio::time::Instant> = None;
    loop {
        let changed = sim.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let (wanted, applied, alive) = {
            let world = sim.world();
            match world.instances.get(&key) {
                Some(inst) if inst.boot_id == boot_id => {
                    let token_key = SecretName::telegram_token().metadata_key();
                    let wanted = inst
                        .metadata
                        .get(SECRET_VERSION)
                        .filter(|_| inst.metadata.get(&token_key).is_some_and(|v| !v.is_empty()))
                        .map(str::to_string);
                    (wanted, inst.standin_secret_version.clone(), true)
                }
                _ => (None, None, false),
            }
        };
        if !alive {
            return;
        }
        match (&wanted, &applied) {
            (Some(version), _) if Some(version) != applied.as_ref() => {
                publish(guest::SETUP, &SetupState::Configuring.to_string());
                say(&format!("applying secret version {version}"));
                tokio::time::sleep(step).await;
                if let Some(inst) = sim
                    .world()
                    .instances
                    .get_mut(&key)
                    .filter(|i| i.boot_id == boot_id)
                {
                    inst.standin_secret_version = Some(version.clone());
                }
                publish(guest::SECRET_VERSION, version);
                publish(guest::SETUP, &SetupState::Starting.to_string());
                setup = Some(SetupState::Starting);
                tokio::time::sleep(step).await;
                continue;
            }
            (None, None) if setup.is_none() => {
                publish(guest::SETUP, &SetupState::WaitingSecret.to_string());
                setup = Some(SetupState::WaitingSecret);
                say("waiting for the Telegram token");
            }
            _ => {}
        }
        // Only probe on the interval: the stand-in's own writes also wake it.
        let due = last_probe.is_none_or(|at| at.elapsed() >= interval);
        if applied.is_some() && due {
            last_probe = Some(tokio::time::Instant::now());
            let root = World::vm_root(&sim.opts.state_dir, &key);
            let healthy = app_healthy(&sim.world(), &root, &key);
            let now = now_secs();
            let health = if healthy {
                Health::Ok { at: now }
            } else {
                Health::Failing {
                    at: now,
                    reason: "the gateway does not answer on its health URL".into(),
                }
            };
            publish(guest::HEALTH, &health.to_string());
            if healthy && setup != Some(SetupState::Ready) {
                publish(guest::SETUP, &SetupState::Ready.to_string());
                setup = Some(SetupState::Ready);
                say("OpenClaw answered healthy: ready");
            }
        }
        let _ = tokio::time::timeout(interval, changed).await;
    }
}
