//! A fresh bot's first boot under real systemd: a Debian guest under QEMU with the units
//! the Nix modules render, the real agent and provider, a stand-in gateway, and the
//! simulator's metadata server as the only thing it can reach. The first secret is
//! encrypted by the Worker's own code.
//!
//! Prints the time from boot to `ready` and each of our units' `MemoryCurrent`. What
//! Debian's systemd (252) cannot show of NixOS's (258) is printed with the figures.

use std::time::{SystemTime, UNIX_EPOCH};

use claw_free_firstboot::guest::{self, Base, Gateway, Rendered};
use claw_free_firstboot::sim::Sim;
use claw_free_firstboot::vm::{Vm, GUEST_DEADLINE};
use serde_json::{json, Value};

const TOKEN: &str = "123456789:AAHfirstbootfirstbootfirstboot0123";
const OUR_UNITS: [&str; 5] = [
    "clawfree-setup.service",
    "clawfree-watch-secrets.service",
    "clawfree-health.service",
    "clawfree-provider.service",
    "openclaw-gateway.service",
];

struct Setup {
    base: Base,
    rendered: Rendered,
    dir: std::path::PathBuf,
}

fn setup(name: &str) -> Setup {
    let base = guest::base();
    let rendered = guest::render();
    let dir = claw_free_firstboot::state_dir().join(format!("run-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the run's folder");
    Setup {
        base,
        rendered,
        dir,
    }
}

fn disk(s: &Setup) -> std::path::PathBuf {
    let gateway = claw_free_testkit::workspace_binary("claw-free-firstboot", "firstboot-gateway");
    guest::disk(&s.base, &s.rendered, &Gateway::Program(gateway), &s.dir)
}

fn start_sim(s: &Setup) -> Sim {
    Sim::start(
        &s.rendered.metadata_url,
        json!({"LLM_PROVIDER": "claude", "BOT_NAME": "First boot", "enable-guest-attributes": "TRUE"}),
    )
}

fn boot(s: &Setup, sim: &Sim) -> Vm {
    Vm::boot(
        &s.base,
        &s.dir.join("disk.img"),
        &s.dir,
        &s.rendered.metadata_url,
        sim.port,
        &s.rendered.memory.kernel_params,
        None,
    )
}

/// Waits until guest attribute `key` satisfies `ok`; the guest's journal on failure.
fn wait_guest(sim: &Sim, vm: &mut Vm, key: &str, ok: impl Fn(&str) -> bool) -> String {
    vm.wait_for(
        GUEST_DEADLINE,
        || {
            format!(
                "openclaw/{key} becoming what the test waits for (now {:?})",
                sim.guest(key)
            )
        },
        |_| sim.guest(key).filter(|v| ok(v)),
    )
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// `health` is `ok <unix seconds>` from at least `since`.
fn healthy_since(since: u64) -> impl Fn(&str) -> bool {
    move |value| {
        value
            .strip_prefix("ok ")
            .and_then(|t| t.parse::<u64>().ok())
            .is_some_and(|t| t >= since)
    }
}

/// What the guest must hold once the bot is ready.
fn assert_ready_guest(vm: &mut Vm, rendered: &Rendered) {
    for unit in OUR_UNITS {
        let state = vm.must(&format!("systemctl show -p ActiveState --value {unit}"));
        assert_eq!(state, "active", "{unit}");
    }
    // The gateway runs as its own user and could read and write what it needs.
    let pid = vm.must("systemctl show -p MainPID --value openclaw-gateway.service");
    assert_eq!(vm.must(&format!("stat -c %U /proc/{pid}")), "openclaw");
    let record: Value =
        serde_json::from_str(&vm.must("cat /var/lib/openclaw/gateway/firstboot-gateway.json"))
            .expect("the gateway's record is JSON");
    let expected_sha = {
        use sha2::Digest;
        sha2::Sha256::digest(TOKEN.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    assert_eq!(record["tokenSha256"], expected_sha.as_str(), "{record}");
    assert_eq!(
        record["workingDirectory"], "/var/lib/openclaw/gateway",
        "{record}"
    );
    assert_eq!(
        record["tokenFile"], "/run/credentials/openclaw-gateway.service/telegram-token",
        "{record}"
    );
    let answer = vm.must(&format!(
        "exec 3<>/dev/tcp/127.0.0.1/{}; printf 'GET /health HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3",
        rendered.gateway_port
    ));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // Secrets: 0600 files in a 0700 folder, root's.
    assert_eq!(
        vm.must("stat -c '%a %U %G' /var/lib/openclaw/secrets /var/lib/openclaw/secrets/telegram-token /var/lib/openclaw/openclaw.json"),
        "700 root root\n600 root root\n600 root root"
    );
}

#[test]
fn a_fresh_bot_becomes_ready_without_a_reboot_and_stays_so_across_one() {
    let s = setup("journey");
    let sim = start_sim(&s);
    disk(&s);
    let mut vm = boot(&s, &sim);

    wait_guest(&sim, &mut vm, "setup", |v| v == "waiting-secret");
    let waiting_after = vm.started.elapsed();
    sim.deliver_telegram_token(TOKEN, 1);
    wait_guest(&sim, &mut vm, "setup", |v| v == "ready");
    let ready_after = vm.started.elapsed();
    wait_guest(&sim, &mut vm, "secret-version", |v| v == "1");
    assert_ready_guest(&mut vm, &s.rendered);

    // The set-secret socket: the gateway's group may store a secret, no one else may.
    assert_eq!(
        vm.must("stat -c '%a %U %G' /run/clawfree/set-secret.sock"),
        "660 root openclaw"
    );
    let clawfree = format!(
        "{}/bin/clawfree --config /etc/clawfree/config.json",
        s.rendered.packages.provider
    );
    let (status, output) = vm.run(&format!(
        "printf %s not-for-you | runuser -u nobody -- {clawfree} secret set intruder-key"
    ));
    assert_ne!(status, 0, "user nobody stored a secret: {output}");
    assert!(output.contains("ermission denied"), "{output}");
    assert_eq!(
        vm.run("test -e /var/lib/openclaw/secrets/intruder-key").0,
        1,
        "the refused secret was written"
    );
    let gateway_before = vm.must("systemctl show -p MainPID --value openclaw-gateway.service");
    let output = vm.must(&format!(
        "printf %s sk-firstboot-0123456789 | runuser -u openclaw -- {clawfree} secret set openai-api-key"
    ));
    assert!(
        !output.contains("sk-firstboot"),
        "the value was echoed: {output}"
    );
    assert_eq!(
        vm.must("stat -c '%a %U' /var/lib/openclaw/secrets/openai-api-key; cat /var/lib/openclaw/secrets/openai-api-key"),
        "600 root\nsk-firstboot-0123456789"
    );
    let gateway_after = vm.must("systemctl show -p MainPID --value openclaw-gateway.service");
    assert_ne!(
        gateway_before, gateway_after,
        "setting a secret restarts the gateway"
    );

    // The figures.
    println!("\nfirst boot under systemd (QEMU TCG, 1 vCPU, 1024 MB):");
    println!(
        "  boot to setup=waiting-secret: {:.1} s",
        waiting_after.as_secs_f64()
    );
    println!(
        "  boot to setup=ready (secret delivered at waiting-secret): {:.1} s",
        ready_after.as_secs_f64()
    );
    for unit in OUR_UNITS {
        let bytes = vm.must(&format!("systemctl show -p MemoryCurrent --value {unit}"));
        // A finished oneshot (setup) has no process left to count.
        let mib = bytes
            .parse::<f64>()
            .map(|b| format!("{:.1} MiB", b / 1048576.0))
            .unwrap_or_else(|_| format!("{bytes} (no process left)"));
        println!("  MemoryCurrent {unit}: {mib}");
    }
    println!("  (the gateway is the stand-in, not OpenClaw: its figure is not OpenClaw's)");
    println!("  guest: {}", vm.must("systemctl --version | head -1"));
    println!("  not exercised on Debian's systemd: NixOS's own unit generation and activation (units and users are put in place before boot instead), MemoryPeak (systemd 254+)");

    // A restart of the whole system: still healthy, setup not redone.
    let before = vm.must("stat -c '%Y %i' /var/lib/openclaw/.setup-complete; sha256sum /var/lib/openclaw/openclaw.json");
    vm.start("systemctl reboot");
    vm.wait_end();
    drop(vm);
    let rebooted_at = unix_now();
    let mut vm = boot(&s, &sim);
    wait_guest(&sim, &mut vm, "health", healthy_since(rebooted_at));
    let healthy_after = vm.started.elapsed();
    assert_eq!(
        wait_guest(&sim, &mut vm, "setup", |v| v == "ready"),
        "ready"
    );
    assert_eq!(
        vm.must("stat -c '%Y %i' /var/lib/openclaw/.setup-complete; sha256sum /var/lib/openclaw/openclaw.json"),
        before,
        "setup rewrote its work after the restart"
    );
    let journal = vm.must("journalctl -b --no-pager -u clawfree-setup.service");
    assert!(journal.contains("already complete"), "{journal}");
    assert_ready_guest(&mut vm, &s.rendered);
    println!(
        "  restart: boot to a fresh health=ok: {:.1} s",
        healthy_after.as_secs_f64()
    );
}

#[test]
fn setup_killed_midway_converges_after_a_restart() {
    let s = setup("killed");
    let sim = start_sim(&s);
    disk(&s);
    // Slow answers (under the agent's 10 s timeout) keep setup in its metadata calls
    // long enough to be killed between `configuring` and its completion marker.
    sim.metadata_delay(6000);
    let mut vm = boot(&s, &sim);
    let killed = vm.must(
        "until journalctl -b -u clawfree-setup.service --no-pager | grep -q 'state configuring'; do sleep 0.1; done
         systemctl kill --signal=SIGKILL clawfree-setup.service
         test ! -e /var/lib/openclaw/.setup-complete && echo no-marker",
    );
    assert_eq!(killed, "no-marker");
    // A power cut right after: no clean shutdown.
    vm.start("echo 1 > /proc/sys/kernel/sysrq; echo b > /proc/sysrq-trigger");
    vm.wait_end();
    drop(vm);
    sim.metadata_delay(0);

    let mut vm = boot(&s, &sim);
    wait_guest(&sim, &mut vm, "setup", |v| v == "waiting-secret");
    sim.deliver_telegram_token(TOKEN, 1);
    wait_guest(&sim, &mut vm, "setup", |v| v == "ready");
    assert_ready_guest(&mut vm, &s.rendered);
    assert_eq!(
        vm.run("test -e /var/lib/openclaw/.setup-staging").0,
        1,
        "staging left behind"
    );
}
