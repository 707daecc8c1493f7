//! The real OpenClaw gateway (the pinned release) against the simulator's Telegram:
//! every Bot API method it calls must be one the simulator serves.
//!
//! Each test runs in a network namespace of its own with only loopback (see
//! `claw_free_testkit::netns`).

mod common;
use common::*;
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};

use claw_free_testkit::netns::inside_own_network;
use claw_free_testkit::telegram::Telegram;

const BOT: &str = "7000000001:AAFirstTokenFirstTokenFirstTokenFirst";

/// The gateway run as its unit runs it: restarted whenever it dies (here by a shell
/// loop), so the Setup model's restart command (`restart`, which kills it) switches it
/// to the configuration the Setup model wrote.
struct Gateway {
    supervisor: Child,
    home: TempDir,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        // The gateway drains for minutes on SIGTERM; this one is thrown away. The
        // supervisor leads its own process group, which holds every gateway it started.
        let group = format!("-{}", self.supervisor.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.supervisor.wait();
    }
}

/// A bot's `openclaw` environment, as the simulator's VMs run it, with its
/// configuration in its home.
fn openclaw_env(command: &mut Command, home: &std::path::Path) {
    claw_free_sim::gateway::openclaw_env(command, home, &home.join("openclaw.json"));
}

/// A folder for one bot's gateway, with its Telegram token.
fn gateway_home() -> TempDir {
    let home = TempDir(temp_dir());
    std::fs::write(home.0.join("telegram-token"), format!("{BOT}\n")).unwrap();
    home
}

/// Writes `config` as the gateway's configuration, pointed at the simulator's Telegram.
fn write_config(home: &TempDir, sim: &TestSim, mut config: Value) {
    config["channels"]["telegram"]["tokenFile"] = json!(home.0.join("telegram-token"));
    config["channels"]["telegram"]["apiRoot"] = json!(sim.url);
    std::fs::write(
        home.0.join("openclaw.json"),
        serde_json::to_vec_pretty(&config).unwrap(),
    )
    .unwrap();
}

fn start_gateway(sim: &TestSim, config: Value) -> Gateway {
    let home = gateway_home();
    write_config(&home, sim, config);
    start_gateway_in(home)
}

fn start_gateway_in(home: TempDir) -> Gateway {
    use std::os::unix::process::CommandExt;
    let log = std::fs::File::create(home.0.join("gateway.log")).unwrap();
    let pid_file = home.0.join("gateway.pid");
    // The command that restarts the gateway, as the Setup model is given it.
    let restart = home.0.join("restart");
    std::fs::write(
        &restart,
        format!(
            "#!/bin/sh\npid=$(cat '{}')\npkill -KILL -P \"$pid\"\nkill -KILL \"$pid\"\n",
            pid_file.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &restart,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mut command = Command::new("sh");
    command
        .args([
            "-c",
            "while :; do \"$0\" gateway --port 28789 & echo $! > \"$1\"; wait $!; done",
        ])
        .arg(claw_free_testkit::openclaw::openclaw_bin())
        .arg(&pid_file);
    openclaw_env(&mut command, &home.0);
    let supervisor = command
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start the gateway");
    Gateway { supervisor, home }
}

impl Gateway {
    fn log(&self) -> String {
        std::fs::read_to_string(self.home.0.join("gateway.log")).unwrap_or_default()
    }

    fn pid(&self) -> Option<String> {
        std::fs::read_to_string(self.home.0.join("gateway.pid"))
            .ok()
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
    }
}

/// The agent's first configuration, as `openclaw.json` on a VM without an owner.
fn agent_config() -> Value {
    json!({
        "gateway": { "mode": "local", "port": 28789, "bind": "loopback" },
        "agents": { "entries": { "main": { "identity": { "name": "Sim Bot" } } } },
        "channels": { "telegram": { "enabled": true, "dmPolicy": "pairing" } },
    })
}

#[test]
fn the_real_gateway_polls_the_simulated_telegram_using_only_methods_it_serves() {
    if !inside_own_network(
        "the_real_gateway_polls_the_simulated_telegram_using_only_methods_it_serves",
    ) {
        return;
    }
    let sim = sim();
    add_bot(&sim);
    let gateway = start_gateway(&sim, agent_config());
    // Long polling proves the channel came up past its start-up calls.
    sim.wait_for(180, || {
        (sim.counter("telegram.getUpdates") >= 2).then_some(())
    });
    let unknown = sim.admin_get("telegram/unknown-methods");
    let log = std::fs::read_to_string(gateway.home.0.join("gateway.log")).unwrap_or_default();
    assert_eq!(
        unknown,
        json!([]),
        "methods the simulator does not serve; gateway log:\n{log}"
    );
}

/// The Setup model's key, as the VM agent makes it at first boot and gives it to
/// OpenClaw as that provider's `apiKey`; the provider answers nothing else.
const SETUP_KEY: &str = "real-gateway-test-setup-key-0123456789abcdef";

/// The claw.free Setup model (nix/provider) on a loopback port, as on the VM.
struct SetupModel {
    child: Child,
    url: String,
    _dir: TempDir,
}

impl Drop for SetupModel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the Setup model for the bot whose gateway lives in `home` (it edits that
/// gateway's configuration and hands credentials to its `openclaw`), for a user who
/// picked `provider` on claw.free.
fn start_setup_model(home: &std::path::Path, provider: &str, extra: &[&str]) -> SetupModel {
    let dir = TempDir(temp_dir());
    let key_file = dir.0.join("setup-provider.key");
    std::fs::write(&key_file, SETUP_KEY).unwrap();
    let mut command = Command::new(claw_free_testkit::workspace_binary(
        "claw-free-provider",
        "clawfree-provider",
    ));
    openclaw_env(&mut command, home);
    let mut child = command
        .args(["--listen", "127.0.0.1:0", "--provider", provider])
        .arg("--state-dir")
        .arg(dir.0.join("state"))
        .arg("--openclaw-config")
        .arg(home.join("openclaw.json"))
        .arg("--api-key-file")
        .arg(&key_file)
        .arg("--openclaw")
        .arg(claw_free_testkit::openclaw::openclaw_bin())
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start clawfree-provider");
    let line = claw_free_testkit::first_stdout_line(&mut child);
    let url = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("the provider said {line:?}"))
        .to_string();
    SetupModel {
        child,
        url,
        _dir: dir,
    }
}

const OWNER: u64 = 4242;
const STRANGER: u64 = 9999;

/// The agent's configuration once the owner is known: the Setup model as the only
/// model, only the owner may write.
fn setup_config(setup: &SetupModel) -> Value {
    let mut config = agent_config();
    config["models"] = json!({ "mode": "merge", "providers": { "claw-free": {
        "baseUrl": format!("{}/v1", setup.url), "apiKey": SETUP_KEY,
        "api": "openai-completions",
        "models": [{ "id": "setup", "name": "claw.free Setup", "reasoning": false,
            "input": ["text"], "cost": { "input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0 },
            "contextWindow": 32768, "maxTokens": 4096 }] } } });
    config["agents"]["defaults"] = json!({ "model": { "primary": "claw-free/setup" } });
    config["channels"]["telegram"]["dmPolicy"] = json!("allowlist");
    config["channels"]["telegram"]["allowFrom"] = json!([OWNER.to_string()]);
    config
}

/// The bot the tests' gateways poll, through this simulator's admin API.
fn telegram(sim: &TestSim) -> Telegram<'_> {
    Telegram::new(BOT, move |path, body| sim.admin(path, body).json())
}

/// Registers the bot the tests' gateways poll, with nothing waiting for it.
fn add_bot(sim: &TestSim) {
    telegram(sim).add_bot("sim_claw_bot");
}

/// The bot answered no stranger, and the gateway called no Telegram method the
/// simulator does not serve.
fn assert_stranger_unanswered_and_methods_served(sim: &TestSim, gateway: &Gateway) {
    assert_eq!(
        telegram(sim).sent_to(STRANGER),
        Vec::<String>::new(),
        "a stranger got an answer"
    );
    assert_eq!(
        sim.admin_get("telegram/unknown-methods"),
        json!([]),
        "{}",
        gateway.log()
    );
}

fn wait_for_polling(sim: &TestSim) {
    let before = sim.counter("telegram.getUpdates");
    sim.wait_for(180, || {
        (sim.counter("telegram.getUpdates") >= before + 2).then_some(())
    });
}

#[test]
fn the_owner_gets_the_setup_model_s_answer_and_a_stranger_gets_none() {
    if !inside_own_network("the_owner_gets_the_setup_model_s_answer_and_a_stranger_gets_none") {
        return;
    }
    let sim = sim();
    add_bot(&sim);
    let home = gateway_home();
    let setup = start_setup_model(&home.0, "openai", &["--restart-gateway", "/bin/true"]);
    write_config(&home, &sim, setup_config(&setup));
    let gateway = start_gateway_in(home);
    wait_for_polling(&sim);

    let telegram = telegram(&sim);
    telegram.say(STRANGER, "hello, whose bot is this?");
    let texts = telegram.conversation(OWNER).turn("hi");
    assert!(
        texts
            .iter()
            .any(|t| t.to_lowercase().contains("openai") || t.to_lowercase().contains("key")),
        "the reply is not the setup conversation: {texts:?}\n{}",
        gateway.log()
    );
    assert_stranger_unanswered_and_methods_served(&sim, &gateway);
}

/// The journey to its end for Kimi: the owner pastes an NVIDIA key in the chat, the
/// Setup model hands it to OpenClaw, switches the configuration to Kimi on NVIDIA's
/// API (the simulator's) and restarts the gateway; the next message is answered by
/// that model through the real gateway, and a stranger still gets nothing.
#[test]
fn after_the_owner_pastes_an_nvidia_key_kimi_answers_through_the_gateway() {
    if !inside_own_network("after_the_owner_pastes_an_nvidia_key_kimi_answers_through_the_gateway")
    {
        return;
    }
    let sim = sim();
    add_bot(&sim);
    let home = gateway_home();
    let restart = home.0.join("restart");
    let nvidia = format!("{}/nvidia/v1", sim.url);
    let setup = start_setup_model(
        &home.0,
        "kimi",
        &[
            "--restart-gateway",
            restart.to_str().unwrap(),
            // systemd stops the gateway with SIGTERM and lets it finish what it is
            // sending; this stand-in kills it, so the Setup model's last answer needs
            // time to leave first, with room for a loaded machine.
            "--restart-delay-ms",
            "10000",
            "--nvidia-base-url",
            &nvidia,
        ],
    );
    write_config(&home, &sim, setup_config(&setup));
    let gateway = start_gateway_in(home);
    wait_for_polling(&sim);

    let telegram = telegram(&sim);
    let mut owner = telegram.conversation(OWNER);
    let asked = owner.turn("hi");
    assert!(
        asked.iter().any(|t| t.contains("build.nvidia.com")),
        "the Setup model did not ask for the NVIDIA key: {asked:?}\n{}",
        gateway.log()
    );
    let saved = owner.turn("nvapi-SimulatedKey0123456789abcdefXYZ");
    let first_gateway = gateway.pid();
    let finished = owner.turn("no");
    assert!(
        finished.iter().any(|t| t.contains("Kimi")),
        "setup did not finish with Kimi: {saved:?} {finished:?}\n{}",
        gateway.log()
    );
    // The Setup model restarts the gateway; the new one polls again.
    sim.wait_for(60, || (gateway.pid() != first_gateway).then_some(()));
    wait_for_polling(&sim);
    let config = std::fs::read_to_string(gateway.home.0.join("openclaw.json")).unwrap();
    assert!(
        !config.contains(SETUP_KEY),
        "the Setup model is still configured: {config}"
    );

    telegram.say(STRANGER, "and now?");
    let answer = owner.turn("what is a lobster?");
    assert!(
        answer
            .iter()
            .any(|t| t.contains(claw_free_sim::nvidia::ANSWER_PREFIX)
                && t.contains("what is a lobster?")),
        "the answer is not Kimi's: {answer:?}\n{}",
        gateway.log()
    );
    assert!(sim.counter("nvidia.chat.completions") >= 1);
    assert_stranger_unanswered_and_methods_served(&sim, &gateway);
}
