//! The real OpenClaw release the image ships (pinned in `nix/openclaw-release.json`),
//! installed once per machine by `scripts/install-openclaw`, and its own verdict on a
//! configuration.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::workspace_root;

/// The `openclaw` command of the pinned release, installing it (Node 24 and OpenClaw,
/// from the npm registry) on first use. Panics when it cannot be installed: a test that
/// needs the real gateway must not pass without it.
pub fn openclaw_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = workspace_root();
        let output = Command::new(root.join("scripts/install-openclaw"))
            .current_dir(&root)
            .output()
            .unwrap_or_else(|e| panic!("run scripts/install-openclaw: {e}"));
        assert!(
            output.status.success(),
            "scripts/install-openclaw failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let prefix = String::from_utf8(output.stdout).expect("a UTF-8 path");
        PathBuf::from(prefix.trim()).join("bin/openclaw")
    })
    .clone()
}

/// What `openclaw config validate` says about `config`: `Ok` only when it is valid and
/// carries no warning (a deprecation warning today is a startup failure in a later
/// release), else the validator's own issues and warnings.
pub fn validate_config(config: &[u8]) -> Result<(), String> {
    let home = std::env::temp_dir().join(format!(
        "claw-free-openclaw-validate-{}-{}",
        std::process::id(),
        unique()
    ));
    std::fs::create_dir_all(&home).expect("a temporary home");
    let path = home.join("openclaw.json");
    std::fs::write(&path, config).expect("write the configuration");
    let output = Command::new(openclaw_bin())
        .args(["config", "validate", "--json"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", &home)
        .env("OPENCLAW_STATE_DIR", home.join("state"))
        .env("OPENCLAW_CONFIG_PATH", &path)
        .output()
        .expect("run openclaw config validate");
    let _ = std::fs::remove_dir_all(&home);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let verdict: serde_json::Value = serde_json::from_str(&stdout).map_err(|_| {
        format!(
            "openclaw config validate printed no JSON verdict: {stdout} {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    let valid = verdict["valid"] == true && output.status.success();
    let no_warnings = verdict["warnings"]
        .as_array()
        .is_none_or(|warnings| warnings.is_empty());
    if valid && no_warnings {
        Ok(())
    } else {
        Err(format!(
            "openclaw config validate: issues {}, warnings {}",
            verdict["issues"], verdict["warnings"]
        ))
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
