//! Shared by the test suites of the simulator, the VM agent, the bootstrap provider
//! and the integration tests, which run each other's programs as real processes:
//!
//! - [`workspace_binary`]: a program of this workspace, built on demand (a no-op when
//!   fresh) into the same target folder and profile as the running test, so a test
//!   never runs a stale build of another crate;
//! - [`wait_for`]: polling for a condition with a deadline;
//! - [`openclaw`]: the pinned OpenClaw release and its configuration validator;
//! - [`alive`]: whether a process still runs, and [`first_stdout_line`] and
//!   [`listening_address`]: what a server it started says first, where it listens;
//! - [`age_cli`]: the `age` command-line tool encrypting or decrypting;
//! - [`guest_attributes`]: a VM's guest attributes as the simulator's admin API shows
//!   them, flattened to `namespace/key`;
//! - [`netns`]: a test re-run in a network namespace with only loopback;
//! - [`telegram`]: the simulator's Telegram, a bot and a conversation with it;
//! - [`keyless`]: GitHub mode's Google side made from the Worker's plan, and CI's
//!   keyless token as a GitHub Actions job gets it.

pub mod keyless;
pub mod netns;
pub mod openclaw;
pub mod telegram;

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

/// The first line `child` writes to its stdout (which it must have piped, and which
/// this takes), trimmed: where the workspace's servers say `listening on ADDRESS`.
pub fn first_stdout_line(child: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("the child's stdout is piped"))
        .read_line(&mut line)
        .expect("the child's first line");
    line.trim().to_string()
}

/// The address a server of this workspace says it listens on (`listening on ADDRESS`,
/// without a trailing `/`), read from `child`'s stdout (which it must have piped, and
/// which this takes). A thread keeps reading the rest, so the server never blocks on a
/// full pipe. If nothing is said within `timeout`, the child is killed and the test fails.
pub fn listening_address(child: &mut std::process::Child, timeout: Duration) -> String {
    use std::io::BufRead;
    let stdout = child.stdout.take().expect("the child's stdout is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(url) = line.trim().strip_prefix("listening on ") {
                let _ = tx.send(url.trim_end_matches('/').to_string());
            }
        }
    });
    match rx.recv_timeout(timeout) {
        Ok(address) => address,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server did not say where it listens within {timeout:?}");
        }
    }
}

/// What the `age` command-line tool (Debian package age) writes for `input` when run
/// with `args` (`--encrypt --armor -r KEY`, `--decrypt -i FILE`, ...); the test fails
/// if it refuses.
pub fn age_cli<S: AsRef<std::ffi::OsStr>>(
    args: impl IntoIterator<Item = S>,
    input: &[u8],
) -> Vec<u8> {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new("age")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the age command-line tool (Debian package age) is installed");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "age failed");
    output.stdout
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

    fn sh(script: &str) -> std::process::Child {
        Command::new("sh")
            .args(["-c", script])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("sh")
    }

    #[test]
    fn the_listening_address_is_found_among_other_lines() {
        let mut child = sh("echo starting; echo 'listening on http://127.0.0.1:9/'; exec sleep 30");
        let address = listening_address(&mut child, Duration::from_secs(30));
        assert_eq!(address, "http://127.0.0.1:9");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn a_server_that_never_says_where_it_listens_is_killed() {
        let mut child = sh("echo starting; exec sleep 30");
        let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            listening_address(&mut child, Duration::from_millis(200))
        }));
        assert!(failed.is_err());
        use std::os::unix::process::ExitStatusExt;
        let status = child.try_wait().unwrap().expect("the server was reaped");
        const SIGKILL: i32 = 9;
        assert_eq!(status.signal(), Some(SIGKILL), "killed, not left to finish");
    }

    #[test]
    fn age_encrypts_and_decrypts_for_an_identity() {
        let dir = std::env::temp_dir().join(format!("testkit-age-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let identity = dir.join("key.txt");
        let made = Command::new("age-keygen")
            .arg("-o")
            .arg(&identity)
            .output()
            .expect("age-keygen (Debian package age)");
        assert!(made.status.success());
        let recipient = String::from_utf8(
            Command::new("age-keygen")
                .arg("-y")
                .arg(&identity)
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        let armored = age_cli(["--encrypt", "--armor", "-r", recipient.trim()], b"secret");
        assert!(armored.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----"));
        let identity = identity.to_str().unwrap();
        assert_eq!(age_cli(["--decrypt", "-i", identity], &armored), b"secret");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    #[should_panic(expected = "age failed")]
    fn age_refusing_fails_the_test() {
        age_cli(["--decrypt"], b"not a ciphertext");
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
