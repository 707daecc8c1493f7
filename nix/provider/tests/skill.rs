//! The `clawfree` command of the skill, with stand-in systemctl, journalctl, nix-env
//! and VM agent, against a real provider for the health and switch-llm parts.

mod common;

use std::fs;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use common::*;

struct Vm<'a> {
    provider: &'a Provider,
    root: PathBuf,
}

impl<'a> Vm<'a> {
    /// A fake system layout: generations 1 (a) and 2 (b, running), and c pushed by CI.
    fn new(provider: &'a Provider) -> Self {
        let root = provider.dir.path("vm");
        for name in ["store/a", "store/b", "store/c/bin", "profiles", "secrets"] {
            fs::create_dir_all(root.join(name)).unwrap();
        }
        let switch = root.join("store/c/bin/switch-to-configuration");
        fs::write(
            &switch,
            format!(
                "#!/bin/sh\necho \"switch-to-configuration $*\" >>{}\n",
                root.join("log").display()
            ),
        )
        .unwrap();
        fs::set_permissions(&switch, fs::Permissions::from_mode(0o755)).unwrap();
        symlink(root.join("store/a"), root.join("profiles/system-1-link")).unwrap();
        symlink(root.join("store/b"), root.join("profiles/system-2-link")).unwrap();
        symlink("system-2-link", root.join("profiles/system")).unwrap();
        symlink(root.join("store/b"), root.join("current-system")).unwrap();
        symlink(root.join("store/c"), root.join("pushed-system")).unwrap();
        // What systemd hands the gateway: a copy of OpenClaw's configuration.
        fs::write(
            root.join("credential-openclaw.json"),
            initial_openclaw_config().to_string(),
        )
        .unwrap();
        Self { provider, root }
    }

    fn clawfree(&self, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> (bool, String, String) {
        let f = fixtures();
        let p = |name: &str| self.root.join(name).display().to_string();
        let fixture = |name: &str| f.join(name).display().to_string();
        let host = self
            .provider
            .address
            .strip_prefix("http://")
            .unwrap()
            .to_string();
        let mut command = Command::new(env!("CARGO_BIN_EXE_clawfree"));
        command
            .args(["--listen", &host])
            .args([
                "--state-dir",
                &self.provider.dir.path("state").display().to_string(),
            ])
            .args([
                "--openclaw-config",
                &self
                    .provider
                    .dir
                    .path("openclaw.json")
                    .display()
                    .to_string(),
            ])
            .args([
                "--systemctl",
                &fixture("systemctl"),
                "--journalctl",
                &fixture("journalctl"),
            ])
            .args([
                "--agent",
                &fixture("clawfree-agent"),
                "--nix-env",
                &fixture("nix-env"),
            ])
            .args([
                "--current-system",
                &p("current-system"),
                "--pushed-system",
                &p("pushed-system"),
            ])
            .args(["--system-profile", &p("profiles/system")])
            .args(["--health-url", &format!("{}/health", self.provider.address)])
            // As the gateway's user: the root-only key file is out of reach, and the
            // key is read from OpenClaw's configuration as the gateway's credential.
            .args(["--api-key-file", "/nonexistent/setup-provider.key"])
            .env("OPENCLAW_CONFIG_PATH", p("credential-openclaw.json"))
            .args(args)
            .env_remove("CLAWFREE_CONFIG")
            .env("SKILL_FIXTURE_LOG", p("log"))
            .env("SKILL_FIXTURE_SECRETS", p("secrets"))
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        // A command refused before it reads stdin closes the pipe early; that is fine.
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn log(&self) -> String {
        fs::read_to_string(self.root.join("log")).unwrap_or_default()
    }

    /// Asserts that `command` was run on the VM, showing what was run when not.
    fn assert_ran(&self, command: &str) {
        let log = self.log();
        assert!(
            log.contains(command),
            "{command:?} was not run; the VM ran:\n{log}"
        );
    }
}

#[test]
fn status_reports_services_memory_disk_generation_update_and_health() {
    let provider = Provider::start_for("skill-status", "kimi");
    let vm = Vm::new(&provider);
    let (ok, out, err) = vm.clawfree(&["status"], "", &[]);
    assert!(ok, "{err}");
    for expected in [
        "openclaw-gateway.service",
        "active",
        "memory: ",
        "disk /: ",
        "system: generation 2 (",
        "a newer system was pushed",
        "gateway health: ok (HTTP 200)",
        "setup model: running, stage welcome",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    vm.assert_ran("systemctl is-active openclaw-gateway.service");
}

#[test]
fn update_switches_to_the_pushed_system_once() {
    let provider = Provider::start("skill-update", Options::default());
    let vm = Vm::new(&provider);
    let (ok, out, err) = vm.clawfree(&["update"], "", &[]);
    assert!(ok, "{err}");
    assert!(out.contains("Switched to"), "{out}");
    let c = vm.root.join("store/c").display().to_string();
    let profile = vm.root.join("profiles/system").display().to_string();
    vm.assert_ran(&format!("nix-env --profile {profile} --set {c}"));
    vm.assert_ran("switch-to-configuration switch");

    // Once the pushed system runs, there is nothing to do.
    fs::remove_file(vm.root.join("current-system")).unwrap();
    symlink(vm.root.join("store/c"), vm.root.join("current-system")).unwrap();
    let (ok, out, _) = vm.clawfree(&["update"], "", &[]);
    assert!(ok && out.contains("Already running"), "{out}");
}

#[test]
fn update_can_run_through_a_root_unit() {
    let provider = Provider::start("skill-update-unit", Options::default());
    let vm = Vm::new(&provider);
    let (ok, out, err) = vm.clawfree(
        &["--update-service", "clawfree-update.service", "update"],
        "",
        &[],
    );
    assert!(ok, "{err}");
    assert!(out.contains("clawfree-update.service"), "{out}");
    vm.assert_ran("systemctl start --no-block clawfree-update.service");
    assert!(
        !vm.log().contains("nix-env"),
        "the unit, not this command, switches"
    );

    // The unit itself runs `clawfree update --in-place`.
    let (ok, out, err) = vm.clawfree(
        &[
            "--update-service",
            "clawfree-update.service",
            "update",
            "--in-place",
        ],
        "",
        &[],
    );
    assert!(ok && out.contains("Switched to"), "{out}{err}");
    vm.assert_ran("switch-to-configuration switch");
}

#[test]
fn logs_and_restart_accept_only_known_services() {
    let provider = Provider::start("skill-logs", Options::default());
    let vm = Vm::new(&provider);
    let (ok, out, err) = vm.clawfree(&["logs", "gateway", "--lines", "5"], "", &[]);
    assert!(ok, "{err}");
    assert!(out.contains("gateway listening"), "{out}");
    vm.assert_ran("journalctl --unit openclaw-gateway.service --lines 5 --no-pager");

    let (ok, _, err) = vm.clawfree(&["logs", "sshd; rm -rf /"], "", &[]);
    assert!(!ok && err.contains("unknown service"), "{err}");
    let (ok, _, err) = vm.clawfree(&["logs", "gateway", "--lines", "0"], "", &[]);
    assert!(!ok && err.contains("lines"), "{err}");

    let (ok, out, _) = vm.clawfree(&["restart"], "", &[]);
    assert!(ok && out.contains("openclaw-gateway.service"));
    vm.assert_ran("systemctl restart --no-block openclaw-gateway.service");
    let (ok, _, _) = vm.clawfree(&["restart", "clawfree-provider"], "", &[]);
    assert!(ok);
    vm.assert_ran("systemctl restart --no-block clawfree-provider.service");
}

#[test]
fn secret_set_hands_stdin_to_the_agent_and_never_prints_it() {
    let provider = Provider::start("skill-secret", Options::default());
    let vm = Vm::new(&provider);
    let value = "123456:FIXTURE-telegram-token-value";
    let (ok, out, err) = vm.clawfree(
        &["secret", "set", "telegram-token"],
        &format!("{value}\n"),
        &[],
    );
    assert!(ok, "{err}");
    assert!(out.contains("Secret telegram-token saved"), "{out}");
    assert_eq!(
        fs::read_to_string(vm.root.join("secrets/telegram-token")).unwrap(),
        value
    );
    assert!(!out.contains(value) && !err.contains(value) && !vm.log().contains(value));
    vm.assert_ran("clawfree-agent set-secret telegram-token");

    let (ok, out, err) = vm.clawfree(
        &["secret", "set", "telegram-token"],
        value,
        &[("AGENT_FIXTURE_FAIL", "1")],
    );
    assert!(!ok && err.contains("could not save"), "{err}");
    assert!(
        !out.contains(value) && !err.contains(value),
        "the failure is redacted: {err}"
    );

    let (ok, _, err) = vm.clawfree(&["secret", "set", "Bad/Name"], value, &[]);
    assert!(!ok && err.contains("secret names"), "{err}");
    let (ok, _, err) = vm.clawfree(&["secret", "set", "empty"], "", &[]);
    assert!(!ok && err.contains("no secret on stdin"), "{err}");
}

#[test]
fn switch_llm_turns_the_setup_model_back_on_and_restarts_the_conversation() {
    let provider = Provider::start_for("skill-switch", "kimi");
    {
        let mut chat = Chat::new(&provider);
        chat.say("hi");
        chat.say(NVIDIA_KEY);
        assert!(chat.say("no").contains("All set"));
    }
    assert_eq!(
        provider.openclaw_config()["agents"]["defaults"]["model"]["primary"],
        "nvidia/moonshotai/kimi-k2.5"
    );

    let vm = Vm::new(&provider);
    // `clawfree` runs as the gateway's user, which cannot even read OpenClaw's
    // root-only configuration: here it has none, so only the provider can edit it.
    let (ok, out, err) = vm.clawfree(
        &[
            "--openclaw-config",
            "/nonexistent/openclaw.json",
            "switch-llm",
        ],
        "",
        &[],
    );
    assert!(ok, "{err}");
    assert!(out.contains("Setup model is back on"), "{out}");
    let config = provider.openclaw_config();
    assert_eq!(
        config["agents"]["defaults"]["model"]["primary"],
        "claw-free/setup"
    );
    assert_eq!(
        config["models"]["providers"]["claw-free"]["baseUrl"],
        format!("{}/v1", provider.address)
    );
    vm.assert_ran("systemctl restart clawfree-provider.service");
    vm.assert_ran("systemctl restart --no-block openclaw-gateway.service");

    // The provider (not `clawfree`) reset its stage and its Setup model's address is
    // where it really listens.
    assert_eq!(provider.health()["stage"], "welcome");
    assert!(provider.log().contains("the conversation was reset"));
    let mut chat = Chat::new(&provider);
    assert!(chat.say("hi").contains("nvapi-"));
}

#[test]
fn switch_llm_reports_a_provider_that_cannot_edit_the_configuration() {
    let provider = Provider::start_for("skill-switch-fails", "kimi");
    Chat::new(&provider).say("hi");
    let stage = provider.health()["stage"].clone();
    fs::remove_file(provider.dir.path("openclaw.json")).unwrap();

    let vm = Vm::new(&provider);
    let (ok, out, err) = vm.clawfree(&["switch-llm"], "", &[]);
    assert!(!ok, "{out}");
    assert!(
        err.contains("refused to reset") && err.contains("configuration"),
        "{err}"
    );
    // Nothing half-done: the conversation is where it was, the bot not restarted.
    assert_eq!(provider.health()["stage"], stage);
    assert!(
        !vm.log().contains("openclaw-gateway.service"),
        "{}",
        vm.log()
    );
}

#[test]
fn bad_usage_is_explained() {
    let provider = Provider::start("skill-usage", Options::default());
    let vm = Vm::new(&provider);
    let (ok, _, err) = vm.clawfree(&["frobnicate"], "", &[]);
    assert!(
        !ok && err.contains("unknown command") && err.contains("usage"),
        "{err}"
    );
    let (ok, out, _) = vm.clawfree(&["help"], "", &[]);
    assert!(ok && out.contains("switch-llm"));
}

/// The real VM agent, built on demand beside this test.
fn agent_binary() -> PathBuf {
    claw_free_testkit::workspace_binary("claw-free-agent", "clawfree-agent")
}

/// What systemd does with `clawfree-set-secret.socket` (`Accept=yes`,
/// `StandardInput=socket`, `StandardOutput=socket`): each connection becomes the
/// stdin and stdout of one run of `clawfree-agent serve-set-secret`, here as the test
/// user, with every path under `root`. Stopped (and its socket removed) on drop.
struct AgentSocket {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    server: Option<thread::JoinHandle<()>>,
}

impl AgentSocket {
    fn start(root: &Path) -> Self {
        let path = root.join("run/clawfree/set-secret.sock");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let listener = UnixListener::bind(&path).expect("bind the agent's socket");
        let stop = Arc::new(AtomicBool::new(false));
        let agent = agent_binary();
        let (root, stopping) = (root.to_path_buf(), stop.clone());
        let server = thread::spawn(move || {
            for connection in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(connection) = connection else { continue };
                let stdin = OwnedFd::from(connection.try_clone().unwrap());
                let log = fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(root.join("agent.log"))
                    .unwrap();
                // The command (and with it our copies of the connection) is dropped
                // once the agent runs: only the agent may hold the connection open.
                let child = Command::new(&agent)
                    .arg("serve-set-secret")
                    .arg("--root")
                    .arg(&root)
                    .arg("--restart-cmd")
                    .arg(format!(
                        "test ! -e '{0}/restart-fails' && echo restarted >> '{0}/restarts.log'",
                        root.display()
                    ))
                    .stdin(Stdio::from(stdin))
                    .stdout(Stdio::from(OwnedFd::from(connection)))
                    .stderr(log)
                    .spawn();
                if let Ok(mut child) = child {
                    let _ = child.wait();
                }
            }
        });
        Self {
            path,
            stop,
            server: Some(server),
        }
    }
}

impl Drop for AgentSocket {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = UnixStream::connect(&self.path);
        if let Some(server) = self.server.take() {
            let _ = server.join();
        }
        let _ = fs::remove_file(&self.path);
    }
}

#[test]
fn secret_set_through_the_agents_socket_reaches_the_real_agent() {
    let provider = Provider::start("skill-secret-socket", Options::default());
    let vm = Vm::new(&provider);
    let root = vm.root.join("agent-root");
    let socket = AgentSocket::start(&root);
    let socket_path = socket.path.display().to_string();
    // No agent to run: only the socket can store the secret.
    let through_socket = [
        "--agent-socket",
        &socket_path,
        "--agent",
        "/nonexistent/clawfree-agent",
    ];
    let secret_file = root.join("var/lib/openclaw/secrets/telegram-token");
    let value = "7000000009:AASocketTokenSocketTokenSocketToken";

    let (ok, out, err) = vm.clawfree(
        &[&through_socket[..], &["secret", "set", "telegram-token"]].concat(),
        &format!("{value}\n"),
        &[],
    );
    assert!(ok, "{err}");
    assert!(out.contains("Secret telegram-token saved"), "{out}");
    assert_eq!(fs::read_to_string(&secret_file).unwrap(), value);
    assert_eq!(
        fs::metadata(&secret_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        fs::read_to_string(root.join("restarts.log")).unwrap(),
        "restarted\n",
        "the agent restarts the gateway for its new token"
    );
    assert!(
        !vm.log().contains("clawfree-agent set-secret"),
        "the agent was run, not reached"
    );

    // The agent's refusal comes back as the command's error.
    fs::write(root.join("restart-fails"), "").unwrap();
    let rotated = "7000000009:AARotatedTokenRotatedTokenRotatedTo";
    let (ok, out, err) = vm.clawfree(
        &[&through_socket[..], &["secret", "set", "telegram-token"]].concat(),
        rotated,
        &[],
    );
    assert!(!ok, "{out}");
    assert!(
        err.contains("could not save secret telegram-token: the restart command failed"),
        "{err}"
    );
    assert_eq!(fs::read_to_string(&secret_file).unwrap(), rotated);

    let agent_log = fs::read_to_string(root.join("agent.log")).unwrap();
    assert!(
        agent_log.contains("stored secret telegram-token locally"),
        "{agent_log}"
    );
    for secret in [value, rotated] {
        assert!(!out.contains(secret) && !err.contains(secret));
        assert!(
            !agent_log.contains(secret),
            "a secret reached the agent's log"
        );
    }

    // Without the agent's socket, a clear error and nothing sent anywhere else.
    drop(socket);
    let (ok, _, err) = vm.clawfree(
        &[&through_socket[..], &["secret", "set", "other"]].concat(),
        value,
        &[],
    );
    assert!(!ok && err.contains("cannot reach the agent at"), "{err}");
    assert!(!err.contains(value));
}

#[test]
fn switch_llm_needs_the_setup_models_key() {
    let provider = Provider::start("skill-switch-no-key", Options::default());
    let vm = Vm::new(&provider);
    fs::remove_file(vm.root.join("credential-openclaw.json")).unwrap();
    let (ok, out, err) = vm.clawfree(&["switch-llm"], "", &[]);
    assert!(!ok, "{out}");
    assert!(err.contains("API key"), "{err}");
    // With a wrong key the provider refuses, and nothing is reset.
    fs::write(
        vm.root.join("credential-openclaw.json"),
        serde_json::json!({"models": {"providers": {"claw-free": {"apiKey": "guessed"}}}})
            .to_string(),
    )
    .unwrap();
    let (ok, _, err) = vm.clawfree(&["switch-llm"], "", &[]);
    assert!(!ok && err.contains("HTTP 401"), "{err}");
    assert!(!provider.log().contains("the conversation was reset"));
}
