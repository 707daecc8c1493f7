//! Shared by the test suites of the simulator, the VM agent, the bootstrap provider
//! and the integration tests, which run each other's programs as real processes:
//!
//! - [`workspace_binary`]: a program of this workspace, built on demand (a no-op when
//!   fresh) into the same target folder and profile as the running test, so a test
//!   never runs a stale build of another crate;
//! - [`wait_for`]: polling for a condition with a deadline;
//! - [`openclaw`]: the pinned OpenClaw release and its configuration validator;
//! - [`alive`]: whether a process still runs;
//! - [`guest_attributes`]: a VM's guest attributes as the simulator's admin API shows
//!   them, flattened to `namespace/key`;
//! - [`netns`]: a test re-run in a network namespace with only loopback;
//! - [`keyless`]: GitHub mode's Google side made from the Worker's plan, and CI's
//!   keyless token as a GitHub Actions job gets it.

pub mod keyless;
pub mod netns;
pub mod openclaw;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The folder the running executable was built into (`target/debug`), also when it
/// is a test binary under `deps/`.
fn build_folder() -> PathBuf {
    let exe = std::env::current_exe().expect("the running executable");
    let folder = exe.parent().expect("the executable's folder");
    match folder.file_name() {
        // Tests run from `deps/`, examples from `examples/`.
        Some(name) if name == "deps" || name == "examples" => {
            folder.parent().expect("the profile folder").to_path_buf()
        }
        _ => folder.to_path_buf(),
    }
}

/// The workspace root, found from this crate's manifest.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root")
}

/// The path of program `bin` of package `package`, built once per process with the
/// cargo that runs the tests (`$CARGO`). Panics with cargo's verdict if it does not build.
pub fn workspace_binary(package: &str, bin: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let mut built = built
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(path) = built.get(bin) {
        return path.clone();
    }
    let folder = build_folder();
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .args(["build", "--quiet", "-p", package, "--bin", bin])
        .current_dir(workspace_root());
    // Release test runs (`cargo test --release`) want release programs beside them.
    if folder.file_name().is_some_and(|name| name == "release") {
        cargo.arg("--release");
    }
    let status = cargo
        .status()
        .unwrap_or_else(|e| panic!("run cargo to build {bin}: {e}"));
    assert!(
        status.success(),
        "building {bin} (package {package}) failed"
    );
    let path = folder.join(bin);
    assert!(
        path.exists(),
        "cargo built {bin} but it is not at {}",
        path.display()
    );
    built.insert(bin.to_string(), path.clone());
    path
}

/// Polls `check` every `every` until it returns `Some`; fails the test naming `what`
/// once `timeout` has passed.
pub fn wait_for_every<T>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(every);
    }
}

/// [`wait_for_every`] polling every 100 ms.
pub fn wait_for<T>(what: &str, timeout: Duration, check: impl FnMut() -> Option<T>) -> T {
    wait_for_every(what, timeout, Duration::from_millis(100), check)
}

/// True while process `pid` runs: a zombie has exited and counts as gone (only its
/// parent's reaping is left).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

/// Guest attributes as `namespace/key` → value, from any of the shapes the simulator
/// shows them in: `{"ns/key": v}`, `{"ns": {"key": v}}` or
/// `[{namespace, key, value}]`.
pub fn guest_attributes(value: &serde_json::Value) -> std::collections::BTreeMap<String, String> {
    use serde_json::Value;
    let mut out = std::collections::BTreeMap::new();
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    Value::String(s) => {
                        out.insert(k.clone(), s.clone());
                    }
                    Value::Object(inner) => {
                        for (ik, iv) in inner {
                            if let Some(s) = iv.as_str() {
                                out.insert(format!("{k}/{ik}"), s.to_string());
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                let key = item.get("key").and_then(Value::as_str).unwrap_or_default();
                let value = item
                    .get("value")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let full = match item.get("namespace").and_then(Value::as_str) {
                    Some(ns) if !key.contains('/') => format!("{ns}/{key}"),
                    _ => key.to_string(),
                };
                out.insert(full, value.to_string());
            }
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_attributes_are_flattened_from_every_shape() {
        let expected: std::collections::BTreeMap<String, String> =
            [("openclaw/ready".to_string(), "ok".to_string())].into();
        for shape in [
            serde_json::json!({"openclaw/ready": "ok"}),
            serde_json::json!({"openclaw": {"ready": "ok"}}),
            serde_json::json!([{"namespace": "openclaw", "key": "ready", "value": "ok"}]),
        ] {
            assert_eq!(guest_attributes(&shape), expected, "{shape}");
        }
        assert!(guest_attributes(&serde_json::Value::Null).is_empty());
    }

    #[test]
    fn waits_until_the_condition_holds() {
        let mut calls = 0;
        let value = wait_for("the third call", Duration::from_secs(5), || {
            calls += 1;
            (calls == 3).then_some(calls)
        });
        assert_eq!(value, 3);
    }

    #[test]
    #[should_panic(expected = "timed out")]
    fn fails_naming_what_never_happened() {
        wait_for::<()>("nothing", Duration::from_millis(50), || None);
    }

    #[test]
    fn test_binaries_live_under_the_profile_folder() {
        let folder = build_folder();
        assert!(
            folder.ends_with("debug") || folder.ends_with("release"),
            "{}",
            folder.display()
        );
    }
}
