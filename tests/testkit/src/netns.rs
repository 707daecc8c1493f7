//! Tests that run the real OpenClaw gateway run in a network namespace of their own
//! with only loopback, so its attempts to reach anything else (model catalogs,
//! Telegram's real addresses) fail there instead of leaving the machine.

use std::process::Command;

/// Set in the re-executed test's environment.
const INSIDE: &str = "CLAW_FREE_TEST_IN_NETNS";

/// Runs `test` of the calling test binary again inside a fresh network namespace
/// (`unshare -rn`, loopback up); true when the caller is already inside and should
/// run the body itself. Installs the pinned OpenClaw first, out here, where the npm
/// registry is reachable.
pub fn inside_own_network(test: &str) -> bool {
    if std::env::var_os(INSIDE).is_some() {
        return true;
    }
    crate::openclaw::openclaw_bin();
    let status = Command::new("unshare")
        .args([
            "-rn",
            "sh",
            "-c",
            "ip link set lo up && exec \"$@\"",
            "netns",
        ])
        .arg(std::env::current_exe().expect("the running test"))
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(INSIDE, "1")
        .status()
        .expect("run unshare -rn (a network namespace with only loopback)");
    assert!(
        status.success(),
        "{test} failed inside its network namespace"
    );
    false
}
