//! The real OpenClaw gateway in a booted guest like an e2-micro: 1 GB of RAM, zram and
//! sysctls as `memory-tuning.nix` sets them, the gateway unit the modules render (its
//! caps, user and the configuration the agent writes), Node and the pinned OpenClaw
//! shared read-only from `scripts/install-openclaw`'s prefix. Its Telegram is the
//! simulator's, reached like the metadata server through the one forwarded address.
//!
//! A figure for `scripts/bench`, not part of `scripts/test`: under TCG on this
//! machine the run takes far longer than the whole suite may. It fails (exit status
//! 101) unless the gateway becomes healthy under its caps and answers the owner's
//! message through the real Setup provider with no OOM kill or restart; it prints the
//! times and the unit's memory (`memory.current`, `memory.swap.current`,
//! `memory.peak`).
//!
//! `real-gateway [MEMORY_HIGH MEMORY_MAX HEAP_MIB]` tries other caps than the
//! modules' (a runtime drop-in on the rendered unit), to find the ones that work.

use std::time::{Duration, Instant};

use claw_free_firstboot::guest::{self, Gateway};
use claw_free_firstboot::sim::Sim;
use claw_free_firstboot::vm::{Vm, GUEST_DEADLINE};
use serde_json::json;

const TOKEN: &str = "123456789:AAHrealgatewayrealgatewayrealgat01";
const OWNER: u64 = 4242;
const CGROUP: &str = "/sys/fs/cgroup/system.slice/openclaw-gateway.service";

/// The gateway cgroup's figures, in MiB, and its OOM kills.
fn memory(vm: &mut Vm) -> (f64, f64, f64, u64) {
    let out = vm.must(&format!(
        "cat {CGROUP}/memory.current {CGROUP}/memory.swap.current {CGROUP}/memory.peak; \
         awk '$1 == \"oom_kill\" {{ print $2 }}' {CGROUP}/memory.events"
    ));
    let values: Vec<u64> = out
        .lines()
        .map(|l| l.trim().parse().expect("a number"))
        .collect();
    let mib = |b: u64| b as f64 / 1048576.0;
    (mib(values[0]), mib(values[1]), mib(values[2]), values[3])
}

fn main() {
    let caps: Vec<String> = std::env::args().skip(1).collect();
    assert!(
        caps.is_empty() || caps.len() == 3,
        "usage: real-gateway [MEMORY_HIGH MEMORY_MAX HEAP_MIB]"
    );
    // The install prefix: bin/openclaw's folder's parent.
    let prefix = claw_free_testkit::openclaw::openclaw_bin()
        .parent()
        .and_then(|bin| bin.parent())
        .expect("the prefix of bin/openclaw")
        .to_path_buf();
    let base = guest::base();
    let plain = guest::render();
    // The simulator's Telegram is served where its metadata server is.
    let origin = plain
        .metadata_url
        .split("/_vm/")
        .next()
        .expect("a metadata URL")
        .to_string();
    let rendered = guest::render_for_telegram(&origin);
    let dir = claw_free_firstboot::state_dir().join("run-real-gateway");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the run's folder");

    let sim = Sim::start(
        &rendered.metadata_url,
        json!({"LLM_PROVIDER": "claude", "BOT_NAME": "Real gateway",
               "TELEGRAM_OWNER_ID": OWNER.to_string(), "enable-guest-attributes": "TRUE"}),
    );
    sim.telegram(TOKEN).add_bot("real_gateway_bot");
    let gateway = Gateway::OpenClaw(prefix);
    let disk = guest::disk(&base, &rendered, &gateway, &dir);
    let mut vm = Vm::boot(
        &base,
        &disk,
        &dir,
        &rendered.metadata_url,
        sim.port,
        // The journal on the console too: what happened is there even if the guest hangs.
        &[
            rendered.memory.kernel_params.clone(),
            vec!["systemd.journald.forward_to_console=1".into()],
        ]
        .concat(),
        gateway.share(),
    );

    vm.wait_for(
        GUEST_DEADLINE,
        || "setup=waiting-secret".into(),
        |_| (sim.guest("setup").as_deref() == Some("waiting-secret")).then_some(()),
    );
    // The health reporter restarts a gateway that fails three probes in a row, and
    // under TCG OpenClaw takes minutes to start: its restarts would measure only
    // themselves. It keeps probing and publishing; only its restart command is a no-op
    // here (the last `--restart-cmd` wins).
    let health = vm.must("systemctl show -p FragmentPath --value clawfree-health.service");
    vm.must(&format!(
        "mkdir -p /run/systemd/system/clawfree-health.service.d
         exec_start=$(grep '^ExecStart=' {health})
         printf '[Service]\\nExecStart=\\n%s \"--restart-cmd\" \"/bin/true\"\\n' \"$exec_start\" \\
           > /run/systemd/system/clawfree-health.service.d/no-restart.conf
         systemctl daemon-reload
         systemctl restart clawfree-health.service"
    ));
    if let [high, max, heap] = caps.as_slice() {
        // The gateway has not started yet: it waits for its token.
        vm.must(&format!(
            "mkdir -p /run/systemd/system/openclaw-gateway.service.d
             printf '[Service]\\nMemoryHigh={high}\\nMemoryMax={max}\\nEnvironment=NODE_OPTIONS=--max-old-space-size={heap}\\n' \\
               > /run/systemd/system/openclaw-gateway.service.d/caps.conf
             systemctl daemon-reload"
        ));
    }
    sim.deliver_telegram_token(TOKEN, 1);
    let delivered = vm.started.elapsed();
    // `ready` waits for the gateway's first healthy answer.
    // Under TCG that takes minutes: the unit's memory every half minute meanwhile.
    let mut sampled = Instant::now();
    vm.wait_for(Duration::from_secs(2400), || "setup=ready".into(), |vm| {
        if sampled.elapsed() > Duration::from_secs(30) {
            sampled = Instant::now();
            let (_, figures) = vm.run(&format!(
                "cd {CGROUP} && echo current $(cat memory.current) swap $(cat memory.swap.current) peak $(cat memory.peak) $(grep oom_kill memory.events)"
            ));
            eprintln!(
                "  {:.0} s: {}",
                vm.started.elapsed().as_secs_f64(),
                figures.trim()
            );
        }
        (sim.guest("setup").as_deref() == Some("ready")).then_some(())
    });
    let ready = vm.started.elapsed();

    // Zram as the modules configure it is in use.
    let swaps = vm.must("cat /proc/swaps");
    assert!(swaps.contains("/dev/zram0"), "{swaps}");

    // The real gateway's own /health, from the unit's start.
    let healthy = vm.wait_for(
        Duration::from_secs(1500),
        || "the gateway's /health".into(),
        |vm| {
            let (status, answer) = vm.run(&format!(
            "exec 3<>/dev/tcp/127.0.0.1/{}; printf 'GET /health HTTP/1.0\\r\\n\\r\\n' >&3; timeout 20 cat <&3",
            rendered.gateway_port
        ));
            (status == 0 && answer.starts_with("HTTP/1.1 200")).then(|| vm.started.elapsed())
        },
    );
    let pid = vm.must("systemctl show -p MainPID --value openclaw-gateway.service");
    assert_eq!(vm.must(&format!("stat -c %U /proc/{pid}")), "openclaw");
    let idle = memory(&mut vm);

    // The owner writes; the gateway asks the Setup provider and answers.
    let asked = Instant::now();
    sim.telegram(TOKEN).say(OWNER, "hello");
    let reply = vm.wait_for(
        Duration::from_secs(1500),
        || "an answer to the owner".into(),
        |_| sim.telegram(TOKEN).sent_to(OWNER).into_iter().next(),
    );
    let answered = asked.elapsed();
    let after = memory(&mut vm);
    assert!(!reply.trim().is_empty());

    let oom = vm
        .run("journalctl -k -b --no-pager | grep -ci 'out of memory\\|oom-kill'")
        .1;
    let restarts = vm.must("systemctl show -p NRestarts --value openclaw-gateway.service");
    let system = vm.must("free -m; cat /sys/block/zram0/mm_stat");
    println!("\nthe real OpenClaw gateway in a booted guest (QEMU TCG, 1 vCPU, 1024 MB, zram):");
    println!(
        "  caps: {}",
        vm.must("systemctl show -p MemoryHigh -p MemoryMax -p Environment openclaw-gateway.service | tr '\\n' ' '")
    );
    println!(
        "  boot to secret delivered: {:.1} s",
        delivered.as_secs_f64()
    );
    println!("  boot to setup=ready: {:.1} s", ready.as_secs_f64());
    println!(
        "  boot to gateway /health 200: {:.1} s",
        healthy.as_secs_f64()
    );
    println!(
        "  owner's message to the first reply: {:.1} s",
        answered.as_secs_f64()
    );
    println!(
        "  first reply: {:?}",
        reply.chars().take(120).collect::<String>()
    );
    for (when, (current, swap, peak, kills)) in
        [("healthy, idle", idle), ("after answering", after)]
    {
        println!(
            "  {when}: memory.current {current:.1} MiB, memory.swap.current {swap:.1} MiB, memory.peak {peak:.1} MiB, oom_kill {kills}"
        );
    }
    println!(
        "  gateway restarts: {restarts}; kernel OOM lines: {}",
        oom.trim()
    );
    println!("  guest memory:\n{system}");
    assert_eq!(after.3, 0, "the gateway's cgroup had OOM kills");
    assert_eq!(restarts, "0", "the gateway restarted");
}
