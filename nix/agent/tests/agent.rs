//! The real `clawfree-agent` binary in a temporary root against the simulator's
//! metadata server: first boot, secrets, crashes, faults and health.

mod support;

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use support::*;

/// A deadline, not an expectation: generous, because a loaded machine is slow, and
/// every wait below ends at the event it waits for.
const WAIT: Duration = Duration::from_secs(90);
/// What the secret watcher logs once it has read a metadata change needing nothing.
const UP_TO_DATE: &str = "nothing new to apply";
const TOKEN_1: &str = "7000000001:AAFirstTokenFirstTokenFirstTokenFirst";
const TOKEN_2: &str = "7000000002:AASecondTokenSecondTokenSecondTokenX";

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn wait_guest(sim: &Sim, vm: &str, key: &str, wanted: &str) {
    wait_for(&format!("openclaw/{key} = {wanted}"), WAIT, || {
        (sim.guest(vm, key).as_deref() == Some(wanted)).then_some(())
    });
}

/// Delivers a secret set as the Worker does: ciphertext plus version, in one change.
fn deliver(sim: &Sim, vm: &str, version: u64, ciphertext: &str) {
    sim.set_metadata(
        vm,
        json!({
            "openclaw-secret-telegram-token": ciphertext,
            "openclaw-secret-version": version.to_string(),
        }),
    );
}

/// Delivers `token` as version `version`, encrypted to `recipient`.
fn deliver_encrypted(sim: &Sim, vm: &str, version: u64, recipient: &str, token: &str) {
    deliver(
        sim,
        vm,
        version,
        &encrypt_with_crate(recipient, token.as_bytes()),
    );
}

/// The Telegram token the agent has stored.
fn token_on_disk(root: &Root) -> String {
    fs::read_to_string(root.secret("telegram-token")).unwrap()
}

/// A VM whose agent runs `run`, waiting for its first secret.
struct Bot {
    sim: Sim,
    root: Root,
    app: FakeApp,
    vm: String,
    agent: Agent,
}

impl Bot {
    fn boot(test: &str, extra: &[&str]) -> Self {
        let bot = BotVm::new(test);
        let agent = bot.run_agent(extra);
        let BotVm { sim, root, app, vm } = bot;
        wait_guest(&sim, &vm, "setup", "waiting-secret");
        Self {
            sim,
            root,
            app,
            vm,
            agent,
        }
    }

    fn recipient(&self) -> String {
        self.sim
            .guest(&self.vm, "recipient")
            .expect("a published recipient")
    }

    fn guest(&self, key: &str) -> Option<String> {
        self.sim.guest(&self.vm, key)
    }

    fn token_on_disk(&self) -> String {
        token_on_disk(&self.root)
    }

    fn deliver_token(&self, version: u64, token: &str) {
        deliver_encrypted(&self.sim, &self.vm, version, &self.recipient(), token);
        wait_guest(&self.sim, &self.vm, "secret-version", &version.to_string());
    }

    /// Nothing secret may reach the console: no token, no ciphertext.
    fn assert_log_is_clean(&self, secrets: &[&str]) {
        let log = self.root.log_text();
        assert!(!log.is_empty(), "the agent logged nothing");
        for secret in secrets {
            assert!(!log.contains(secret), "a secret reached the log");
        }
        assert!(
            !log.contains("AGE ENCRYPTED"),
            "a ciphertext reached the log"
        );
        assert!(
            log.lines().all(|l| l.starts_with("clawfree-agent ")),
            "{log}"
        );
    }
}

#[test]
fn first_boot_first_secret_then_ready_then_rotation() {
    let mut bot = Bot::boot("first-boot", &[]);
    let root = &bot.root;

    // The recipient is the host key without its comment.
    let public = root.host_public_key();
    let expected: Vec<&str> = public.split_whitespace().take(2).collect();
    assert_eq!(bot.recipient(), expected.join(" "));

    // OpenClaw's configuration: bootstrap model first, Telegram reading the token from
    // the gateway's credential (the gateway is not root: the secret file is not its).
    let config: Value =
        serde_json::from_slice(&fs::read(root.state().join("openclaw.json")).unwrap()).unwrap();
    assert_eq!(
        config["agents"]["defaults"]["model"]["primary"],
        "claw-free/setup"
    );
    assert_eq!(
        config["models"]["providers"]["claw-free"]["baseUrl"],
        "http://localhost:3456/v1"
    );
    // The bootstrap provider's key: root-only, and given to OpenClaw, nobody else.
    let key_file = root.state().join("setup-provider.key");
    assert_eq!(mode(&key_file), 0o600);
    let key = fs::read_to_string(&key_file).unwrap();
    assert_eq!(key.trim().len(), 64);
    assert_eq!(
        config["models"]["providers"]["claw-free"]["apiKey"],
        key.trim(),
        "OpenClaw presents the provider's own key"
    );
    assert_eq!(
        config["channels"]["telegram"]["tokenFile"],
        root.gateway_token_file().display().to_string()
    );
    assert_eq!(
        config["agents"]["entries"]["main"]["identity"]["name"],
        "Test \"Bot\""
    );
    let choices: Value =
        serde_json::from_slice(&fs::read(root.state().join("claw-free.json")).unwrap()).unwrap();
    assert_eq!(
        choices,
        json!({"provider": "claude", "botName": "Test \"Bot\""})
    );
    assert!(!root.state().join(".setup-staging").exists());
    assert_eq!(bot.guest("setup").as_deref(), Some("waiting-secret"));

    // Without its token the app is not ready, and is not restarted for it: by the
    // time it has been probed twice more than the failures that restart a running app
    // (3), the decision after each of those probes has been carried out.
    wait_for("the app to be probed 5 times", WAIT, || {
        (bot.app.probes() >= 5).then_some(())
    });
    assert_eq!(bot.guest("setup").as_deref(), Some("waiting-secret"));
    assert!(bot.guest("health").unwrap().starts_with("failing "));
    assert_eq!(root.restarts(), 0);

    // The first token, encrypted by the age command-line tool to the host key's .pub
    // (`age -R ssh_host_ed25519_key.pub -a`): plain age interoperates.
    let ciphertext = encrypt_with_cli(&root.host_public_key_file(), TOKEN_1.as_bytes());
    deliver(&bot.sim, &bot.vm, 1, &ciphertext);
    wait_guest(&bot.sim, &bot.vm, "secret-version", "1");
    assert_eq!(bot.token_on_disk(), TOKEN_1);
    assert_eq!(root.restarts(), 1);
    wait_guest(&bot.sim, &bot.vm, "setup", "ready");
    let health = bot.guest("health").unwrap();
    assert!(health.starts_with("ok "), "{health}");
    let at: u64 = health[3..].parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        now.abs_diff(at) < 30,
        "health timestamp {at} is not now ({now})"
    );

    // Root-only files, owned by the user the agent runs as.
    let me = fs::metadata(root.path()).unwrap().uid();
    let token_file = root.secret("telegram-token");
    assert_eq!(mode(&root.state().join("secrets")), 0o700);
    assert_eq!(mode(&token_file), 0o600);
    // The unprivileged gateway lives below the state folder (its HOME, working and
    // state directory): others must be able to pass through it, never to write in it.
    assert_eq!(
        mode(&root.state()) & 0o011,
        0o011,
        "the gateway cannot enter"
    );
    assert_eq!(mode(&root.state()) & 0o022, 0, "others may write");
    assert_eq!(mode(&root.state().join("openclaw.json")), 0o600);
    for path in [
        root.state(),
        root.state().join("secrets"),
        token_file.clone(),
    ] {
        assert_eq!(fs::metadata(&path).unwrap().uid(), me, "{}", path.display());
    }
    let leftovers: Vec<_> = fs::read_dir(root.state().join("secrets"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(leftovers, vec!["telegram-token"]);

    // Rotation: a new version replaces the token and restarts the app once more.
    bot.deliver_token(2, TOKEN_2);
    assert_eq!(bot.token_on_disk(), TOKEN_2);
    assert_eq!(mode(&token_file), 0o600);
    assert_eq!(root.restarts(), 2);
    // Unrelated metadata changes wake the watcher but re-apply nothing.
    let read = root.log_count(UP_TO_DATE);
    bot.sim.set_metadata(&bot.vm, json!({"unrelated": "x"}));
    wait_for("the watcher to read the unrelated change", WAIT, || {
        (root.log_count(UP_TO_DATE) > read).then_some(())
    });
    assert_eq!(root.restarts(), 2);
    assert!(bot.agent.still_running());
    bot.assert_log_is_clean(&[TOKEN_1, TOKEN_2]);
}

#[test]
fn a_restarted_agent_does_not_reapply_and_republishes_its_version() {
    let bot = Bot::boot("reboot", &[]);
    bot.deliver_token(1, TOKEN_1);
    wait_guest(&bot.sim, &bot.vm, "setup", "ready");
    let Bot {
        sim,
        root,
        app,
        vm,
        agent,
    } = bot;
    drop(agent);
    let restarts = root.restarts();
    let read = root.log_count(UP_TO_DATE);
    // Guest attributes outlive the agent (and a reboot): `ready` still stands.
    let before_restart = sim.last_guest_write(&vm);
    assert_eq!(sim.guest(&vm, "setup").as_deref(), Some("ready"));
    // An older agent pointed the gateway at the root-only secret file, and the
    // bootstrap provider has switched models since.
    let config_file = root.state().join("openclaw.json");
    let mut config: Value = serde_json::from_slice(&fs::read(&config_file).unwrap()).unwrap();
    config["channels"]["telegram"]["tokenFile"] =
        json!(root.secret("telegram-token").display().to_string());
    config["agents"]["defaults"]["model"]["primary"] = json!("anthropic/claude-opus-5");
    fs::write(&config_file, serde_json::to_vec(&config).unwrap()).unwrap();

    // The next boot: setup is complete, the secret already applied. The restarted
    // agent withdraws the old `ready` first and says it again only once this boot's
    // configuration is repaired and the app has answered.
    let _agent = Agent::spawn(&root, "run", &root.agent_args(&sim, &vm, &app.url));
    let setup_writes = wait_for("this boot's `ready`", WAIT, || {
        let writes = sim.guest_written_after(&vm, "setup", before_restart);
        (writes.last().map(String::as_str) == Some("ready")).then_some(writes)
    });
    assert_eq!(setup_writes, ["configuring", "starting", "ready"]);
    let config: Value = serde_json::from_slice(&fs::read(&config_file).unwrap()).unwrap();
    assert_eq!(
        config["channels"]["telegram"]["tokenFile"],
        root.gateway_token_file().display().to_string(),
        "setup points an old configuration at the gateway's credential"
    );
    assert_eq!(
        config["agents"]["defaults"]["model"]["primary"],
        "anthropic/claude-opus-5"
    );
    assert_eq!(mode(&config_file), 0o600);
    // The watcher has read the metadata, with version 1 in it, and found nothing to do.
    wait_for("the restarted watcher to read the metadata", WAIT, || {
        (root.log_count(UP_TO_DATE) > read).then_some(())
    });
    assert_eq!(
        root.restarts(),
        restarts,
        "an applied secret set was applied again"
    );
    assert_eq!(
        sim.guest_written_after(&vm, "secret-version", before_restart),
        ["1"],
        "the restarted agent republishes the version it has applied"
    );
}

#[test]
fn setup_converges_after_a_crash_at_each_step() {
    let sim = Sim::start();
    for step in [
        "metadata",
        "recipient",
        "staging",
        "config",
        "install-secrets",
        "install-config",
        "marker",
    ] {
        let root = Root::new();
        let vm = instance_name("crash");
        sim.create_vm(&vm, bot_metadata());
        let args = root.agent_args(&sim, &vm, "http://127.0.0.1:9/health");

        let mut crashing = Agent::command(&root, "setup", &args);
        crashing.env("CLAWFREE_AGENT_CRASH_AT", step);
        let status = Agent::run_to_end(crashing);
        assert_eq!(
            status.signal(),
            Some(SIGABRT),
            "{step}: expected an abort, got {status}"
        );
        assert!(
            !root.state().join(".setup-complete").exists(),
            "{step}: marker after a crash"
        );

        let status = Agent::run_to_end(Agent::command(&root, "setup", &args));
        assert!(
            status.success(),
            "{step}: rerun failed: {}",
            root.log_text()
        );
        assert!(root.state().join(".setup-complete").is_file(), "{step}");
        assert!(
            !root.state().join(".setup-staging").exists(),
            "{step}: staging left behind"
        );
        let config: Value =
            serde_json::from_slice(&fs::read(root.state().join("openclaw.json")).unwrap()).unwrap();
        assert_eq!(
            config["agents"]["defaults"]["model"]["primary"], "claw-free/setup",
            "{step}"
        );
        assert_eq!(mode(&root.state().join("secrets")), 0o700, "{step}");
        assert_eq!(
            sim.guest(&vm, "setup").as_deref(),
            Some("waiting-secret"),
            "{step}"
        );
        assert!(
            sim.guest(&vm, "recipient")
                .unwrap()
                .starts_with("ssh-ed25519 "),
            "{step}"
        );

        // Once complete, setup never rewrites a configuration someone has changed since;
        // it only keeps Telegram pointed at the gateway's token credential.
        fs::write(root.state().join("openclaw.json"), b"{\"edited\": true}\n").unwrap();
        assert!(Agent::run_to_end(Agent::command(&root, "setup", &args)).success());
        let config: Value =
            serde_json::from_slice(&fs::read(root.state().join("openclaw.json")).unwrap()).unwrap();
        assert_eq!(
            config,
            json!({
                "edited": true,
                "channels": {"telegram": {
                    "enabled": true,
                    "tokenFile": root.gateway_token_file().display().to_string(),
                }},
            }),
            "{step}"
        );
    }
}

/// SIGABRT on Linux: what `std::process::abort` ends the process with.
const SIGABRT: i32 = 6;

#[test]
fn setup_with_bad_metadata_fails_with_a_reason() {
    let sim = Sim::start();
    let root = Root::new();
    let vm = instance_name("bad-metadata");
    sim.create_vm(&vm, json!({"LLM_PROVIDER": "gpt-9", "BOT_NAME": "x"}));
    let status = Agent::run_to_end(Agent::command(
        &root,
        "setup",
        &root.agent_args(&sim, &vm, "http://127.0.0.1:9/"),
    ));
    assert_eq!(status.code(), Some(1));
    let setup = sim.guest(&vm, "setup").unwrap();
    assert!(
        setup.starts_with("failed:") && setup.contains("LLM_PROVIDER"),
        "{setup}"
    );
    assert!(!root.state().join(".setup-complete").exists());
}

#[test]
fn a_bad_ciphertext_is_reported_and_the_working_secret_kept() {
    let bot = Bot::boot("bad-ciphertext", &[]);
    bot.deliver_token(1, TOKEN_1);
    let restarts = bot.root.restarts();

    // Encrypted to another VM's key.
    let other = bot.root.path().join("other_key");
    ssh_keygen(&other);
    let stranger = fs::read_to_string(other.with_extension("pub")).unwrap();
    deliver_encrypted(&bot.sim, &bot.vm, 2, &stranger, TOKEN_2);
    wait_guest(
        &bot.sim,
        &bot.vm,
        "secret-error",
        "2 telegram-token: the secret is not encrypted to this VM's key",
    );

    // Not age at all.
    deliver(
        &bot.sim,
        &bot.vm,
        3,
        "-----BEGIN AGE ENCRYPTED FILE-----\nbm90IGFnZQ==\n-----END AGE ENCRYPTED FILE-----\n",
    );
    wait_guest(
        &bot.sim,
        &bot.vm,
        "secret-error",
        "3 telegram-token: the secret is not a valid age ciphertext",
    );

    assert_eq!(bot.token_on_disk(), TOKEN_1);
    assert_eq!(bot.guest("secret-version").as_deref(), Some("1"));
    assert_eq!(
        bot.root.restarts(),
        restarts,
        "a failed set restarted the app"
    );

    // The next good set goes through.
    bot.deliver_token(4, TOKEN_2);
    assert_eq!(bot.token_on_disk(), TOKEN_2);
    bot.assert_log_is_clean(&[TOKEN_1, TOKEN_2]);
}

#[test]
fn a_first_token_that_fails_to_decrypt_leaves_the_vm_waiting() {
    let bot = Bot::boot("bad-first", &[]);
    deliver(&bot.sim, &bot.vm, 1, "garbage");
    wait_guest(
        &bot.sim,
        &bot.vm,
        "secret-error",
        "1 telegram-token: the secret is not a valid age ciphertext",
    );
    wait_guest(&bot.sim, &bot.vm, "setup", "waiting-secret");
    assert!(!bot.root.secret("telegram-token").exists());
    assert_eq!(bot.root.restarts(), 0);
}

#[test]
fn the_metadata_server_down_or_slow_then_back() {
    let bot = BotVm::new("flaky-metadata");
    let (sim, root, vm) = (&bot.sim, &bot.root, &bot.vm);

    // Down at boot: setup waits it out instead of failing.
    sim.metadata_server(true, 0);
    let refused_before = metadata_requests(sim);
    let mut agent = bot.run_agent(&[]);
    wait_for("the agent to be refused 3 times", WAIT, || {
        (metadata_requests(sim) >= refused_before + 3).then_some(())
    });
    assert!(agent.still_running());
    assert_eq!(sim.guest(vm, "setup"), None);
    sim.metadata_server(false, 0);
    wait_guest(sim, vm, "setup", "waiting-secret");

    // Slower than the agent's timeout (1 s) while a secret arrives: nothing half-done.
    let recipient = sim.guest(vm, "recipient").unwrap();
    sim.metadata_server(false, 2500);
    let asked = metadata_requests(sim);
    deliver_encrypted(sim, vm, 1, &recipient, TOKEN_1);
    // Three requests after the change: at least two of them were slow answers the
    // agent gave up on and asked again.
    wait_for("the agent to meet the slow server", WAIT, || {
        (metadata_requests(sim) >= asked + 3).then_some(())
    });
    sim.metadata_server(false, 0);
    wait_guest(sim, vm, "secret-version", "1");
    assert_eq!(token_on_disk(root), TOKEN_1);

    // Down while the watcher long-polls: the rotation lands once it is back.
    sim.metadata_server(true, 0);
    let asked = metadata_requests(sim);
    deliver_encrypted(sim, vm, 2, &recipient, TOKEN_2);
    wait_for("the agent to be refused twice", WAIT, || {
        (metadata_requests(sim) >= asked + 2).then_some(())
    });
    assert_eq!(token_on_disk(root), TOKEN_1);
    sim.metadata_server(false, 0);
    wait_guest(sim, vm, "secret-version", "2");
    assert_eq!(token_on_disk(root), TOKEN_2);
    wait_guest(sim, vm, "setup", "ready");
    assert!(agent.still_running());
}

/// Every request the agent has made to the metadata server, reads and writes.
fn metadata_requests(sim: &Sim) -> u64 {
    sim.counter("metadata.get") + sim.counter("metadata.guestAttributes.put")
}

#[test]
fn health_flapping_restarts_with_back_off_and_ready_needs_a_healthy_answer() {
    let bot = Bot::boot(
        "flapping",
        &["--health-failures", "2", "--restart-backoff-secs", "4"],
    );
    bot.app.set(Health::Status(503));
    bot.deliver_token(1, TOKEN_1);
    let after_secret = bot.root.restarts();
    assert_eq!(after_secret, 1);

    // Failing with its token: restarted after 2 failures in a row, never `ready`.
    wait_for("a restart of the failing app", WAIT, || {
        (bot.root.restarts() > after_secret).then_some(())
    });
    assert_eq!(bot.guest("setup").as_deref(), Some("starting"));
    assert!(bot.guest("health").unwrap().contains("HTTP 503"));

    // Back-off: failing at one probe a second, without it a restart would follow every
    // 2 probes. The first restart for health may come at once; the next at least 4 s
    // later, the one after at least 8 s (doubled). A slow machine only widens the gaps;
    // the slack covers the restart command's own start-up, which stamps the time.
    wait_for("three restarts for health", WAIT, || {
        (bot.root.restarts() >= after_secret + 3).then_some(())
    });
    let times = bot.root.restart_times();
    let gaps: Vec<f64> = times[after_secret..]
        .windows(2)
        .map(|pair| pair[1] - pair[0])
        .collect();
    assert!(
        gaps[0] >= 3.5 && gaps[1] >= 7.5,
        "restarts for health {gaps:?} s apart: no doubling back-off from 4 s"
    );

    // The first healthy answer makes it ready.
    bot.app.set(Health::Status(200));
    wait_guest(&bot.sim, &bot.vm, "setup", "ready");
    wait_for("health ok", WAIT, || {
        bot.guest("health").filter(|h| h.starts_with("ok "))
    });

    // Failing again after being healthy: restarted again.
    let before = bot.root.restarts();
    bot.app.set(Health::Status(500));
    wait_for("a restart after the app failed again", WAIT, || {
        (bot.root.restarts() > before).then_some(())
    });
    bot.app.set(Health::Status(200));
    wait_for("health ok again", WAIT, || {
        bot.guest("health").filter(|h| h.starts_with("ok "))
    });
    assert!(bot.app.probes() > 10);
}

#[test]
fn set_secret_locally_reads_stdin_and_sends_nothing() {
    let bot = Bot::boot("local-secret", &[]);
    let args = bot.root.agent_args(&bot.sim, &bot.vm, &bot.app.url);
    let run = |input: &str| {
        let mut command = std::process::Command::new("/bin/sh");
        // umask 000: the file is 0600 however permissive the caller is.
        command
            .arg("-c")
            .arg(format!("umask 000; printf '%s' \"$SECRET\" | exec '{AGENT}' set-secret telegram-token \"$@\""))
            .arg("sh")
            .args(&args)
            .env("SECRET", input)
            .stderr(fs::OpenOptions::new().append(true).open(bot.root.agent_log()).unwrap());
        command.status().unwrap()
    };

    assert!(!run("").success(), "an empty secret was accepted");
    assert!(!bot.root.secret("telegram-token").exists());

    assert!(run(&format!("{TOKEN_1}\n")).success());
    assert_eq!(bot.token_on_disk(), TOKEN_1);
    assert_eq!(mode(&bot.root.secret("telegram-token")), 0o600);
    assert_eq!(mode(&bot.root.state().join("secrets")), 0o700);
    assert_eq!(bot.root.restarts(), 1);
    // Local mode: nothing published, no version, the metadata holds no secret.
    wait_guest(&bot.sim, &bot.vm, "setup", "ready");
    assert_eq!(bot.guest("secret-version"), None);
    let config: Value =
        serde_json::from_slice(&fs::read(bot.root.state().join("openclaw.json")).unwrap()).unwrap();
    assert_eq!(
        config["channels"]["telegram"]["tokenFile"],
        bot.root.gateway_token_file().display().to_string()
    );

    assert!(run(TOKEN_2).success());
    assert_eq!(bot.token_on_disk(), TOKEN_2);
    assert_eq!(bot.root.restarts(), 2);
    bot.assert_log_is_clean(&[TOKEN_1, TOKEN_2]);

    let refused = Agent::run_to_end(Agent::command(
        &bot.root,
        "set-secret",
        &["../../etc/passwd".to_string()],
    ));
    assert_eq!(refused.code(), Some(2));
}

/// One run of `serve-set-secret`, as systemd starts it for one connection: the request
/// on stdin (then end of input), the answer read from stdout.
fn serve_set_secret(bot: &Bot, request: &[u8]) -> (Option<i32>, String) {
    let mut command = Agent::command(
        &bot.root,
        "serve-set-secret",
        &bot.root.agent_args(&bot.sim, &bot.vm, &bot.app.url),
    );
    command.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = command.spawn().expect("start the agent");
    // A refused request may be answered before all of it is read.
    let _ = child.stdin.take().unwrap().write_all(request);
    let output = child.wait_with_output().unwrap();
    (
        output.status.code(),
        String::from_utf8(output.stdout).unwrap(),
    )
}

#[test]
fn serve_set_secret_answers_one_request_like_set_secret() {
    let bot = Bot::boot("serve-secret", &[]);

    let (code, answer) = serve_set_secret(&bot, format!("telegram-token\n{TOKEN_1}\n").as_bytes());
    assert_eq!((code, answer.as_str()), (Some(0), "ok\n"));
    assert_eq!(bot.token_on_disk(), TOKEN_1);
    assert_eq!(mode(&bot.root.secret("telegram-token")), 0o600);
    assert_eq!(mode(&bot.root.state().join("secrets")), 0o700);
    assert_eq!(bot.root.restarts(), 1, "the app restarts for its new token");
    wait_guest(&bot.sim, &bot.vm, "setup", "ready");
    assert_eq!(bot.guest("secret-version"), None, "nothing leaves the VM");
    let config: Value =
        serde_json::from_slice(&fs::read(bot.root.state().join("openclaw.json")).unwrap()).unwrap();
    assert_eq!(
        config["channels"]["telegram"]["tokenFile"],
        bot.root.gateway_token_file().display().to_string()
    );

    // Another secret: stored beside the token, which stays.
    let (code, answer) = serve_set_secret(&bot, format!("openai-key\n{TOKEN_2}").as_bytes());
    assert_eq!((code, answer.as_str()), (Some(0), "ok\n"));
    assert_eq!(
        fs::read_to_string(bot.root.secret("openai-key")).unwrap(),
        TOKEN_2
    );
    assert_eq!(bot.token_on_disk(), TOKEN_1);
    assert_eq!(bot.root.restarts(), 2);

    // Refused: one line `error: ...`, exit 1, nothing stored or restarted.
    let oversized = [&b"big\n"[..], &vec![b'x'; 16 * 1024 + 1]].concat();
    for (request, expected) in [
        (
            format!("Bad/Name\n{TOKEN_2}").into_bytes(),
            "not a secret name",
        ),
        (TOKEN_2.as_bytes().to_vec(), "secret's name on a line"),
        (
            format!("{TOKEN_2}\nvalue").into_bytes(),
            "not a secret name",
        ),
        (oversized, "longer than 16384 bytes"),
        (b"empty\n\n".to_vec(), "empty"),
    ] {
        let (code, answer) = serve_set_secret(&bot, &request);
        assert_eq!(code, Some(1), "{answer}");
        assert!(
            answer.starts_with("error: ") && answer.contains(expected),
            "{answer:?} should say {expected:?}"
        );
        assert_eq!(answer.lines().count(), 1, "{answer:?}");
        assert!(!answer.contains(TOKEN_2), "the answer quotes the value");
    }
    assert!(!bot.root.secret("big").exists() && !bot.root.secret("empty").exists());
    assert_eq!(bot.root.restarts(), 2);
    assert_eq!(bot.token_on_disk(), TOKEN_1);
    bot.assert_log_is_clean(&[TOKEN_1, TOKEN_2]);

    // A restart that fails is an error too, after the secret is stored.
    let mut args = bot.root.agent_args(&bot.sim, &bot.vm, &bot.app.url);
    args.extend([
        "--restart-cmd".to_string(),
        "echo 'restart output' && false".to_string(),
    ]);
    let mut command = Agent::command(&bot.root, "serve-set-secret", &args);
    command.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = command.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("telegram-token\n{TOKEN_2}").as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let answer = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        answer.starts_with("error: the restart command failed"),
        "{answer:?}"
    );
    assert!(
        !answer.contains("restart output"),
        "the restart command's output reached the caller: {answer:?}"
    );
    assert_eq!(bot.token_on_disk(), TOKEN_2);
    let log = bot.root.log_text();
    assert!(log.contains("restart output"), "its output goes to the log");
    assert!(!log.contains(TOKEN_1) && !log.contains(TOKEN_2));
}
