//! Everything we ask of OpenClaw: storing a credential through its own CLI
//! (`openclaw models auth paste-token|paste-api-key --provider P`, the secret on stdin,
//! never in argv), editing its JSON configuration (the primary and alternative models,
//! the claw-free Setup provider removed or restored), and restarting the gateway.
//!
//! The configuration edits are pure functions on `serde_json::Value`; the file is
//! rewritten atomically and keeps every key we do not own.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use claw_free_protocol::provider::Provider;
use serde_json::{json, Map, Value};

use crate::children::{self, RunAs};
use crate::keys::{Credential, CredentialKind};

/// The provider id of the Setup model in OpenClaw's configuration.
pub const SETUP_PROVIDER_ID: &str = "claw-free";
/// The Setup model's id, as served on `/v1/models`.
pub const SETUP_MODEL_ID: &str = "setup";
/// NVIDIA's OpenAI-compatible endpoint, which serves Kimi K2.5.
pub const NVIDIA_BASE_URL: &str = "https://integrate.api.nvidia.com/v1";

/// OpenClaw's id for the provider behind a claw.free choice.
pub fn openclaw_provider_id(provider: Provider) -> &'static str {
    provider.facts().openclaw_id
}

/// Gives OpenClaw a credential through its own command, run as `user`.
pub fn hand_credential(
    openclaw: &Path,
    credential: &Credential,
    timeout: Duration,
    user: Option<RunAs>,
) -> Result<(), String> {
    let subcommand = match credential.kind {
        CredentialKind::Token => "paste-token",
        CredentialKind::ApiKey => "paste-api-key",
    };
    let provider = openclaw_provider_id(credential.provider);
    let args = ["models", "auth", subcommand, "--provider", provider];
    let mut input = credential.secret.expose().as_bytes().to_vec();
    input.push(b'\n');
    let done = children::run_as(openclaw, &args, &input, timeout, user);
    input.fill(0);
    let done = done?;
    if done.status.success() {
        Ok(())
    } else {
        let line =
            children::last_line(&done.output).replace(credential.secret.expose(), "[redacted]");
        Err(format!(
            "`openclaw models auth {subcommand}` failed ({line})"
        ))
    }
}

/// Runs the gateway restart command.
pub fn restart_gateway(command: &[String], timeout: Duration) -> Result<(), String> {
    let (program, args) = command
        .split_first()
        .ok_or("no gateway restart command is configured")?;
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let done = children::run(Path::new(program), &args, b"", timeout)?;
    if done.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{}` failed ({})",
            command.join(" "),
            children::last_line(&done.output)
        ))
    }
}

/// Reads OpenClaw's configuration (a JSON object).
pub fn read_config(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "cannot read OpenClaw's configuration {}: {e}",
            path.display()
        )
    })?;
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        format!(
            "OpenClaw's configuration {} is not plain JSON: {e}",
            path.display()
        )
    })?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(format!(
            "OpenClaw's configuration {} is not a JSON object",
            path.display()
        ))
    }
}

/// Writes OpenClaw's configuration atomically. An existing file keeps its owner and
/// mode (we may run as root while the gateway runs as its own user); a new one is
/// readable only by its owner.
pub fn write_config(path: &Path, config: &Value) -> Result<(), String> {
    let mut bytes = serde_json::to_vec_pretty(config).map_err(|e| e.to_string())?;
    bytes.push(b'\n');
    let (mode, owner) = match std::fs::metadata(path) {
        Ok(meta) => (meta.mode() & 0o7777, Some((meta.uid(), meta.gid()))),
        Err(_) => (0o600, None),
    };
    crate::store::write_atomically(path, &bytes, mode, owner)
}

/// Applies `edit` to the configuration file.
pub fn edit_config(path: &Path, edit: impl FnOnce(&mut Value)) -> Result<(), String> {
    let mut config = read_config(path)?;
    edit(&mut config);
    write_config(path, &config)
}

/// The object at `keys` under `value`, created (and replacing any non-object) on the way.
fn object_at<'a>(value: &'a mut Value, keys: &[&str]) -> &'a mut Map<String, Value> {
    let mut current = value;
    for key in keys {
        if !current.is_object() {
            *current = Value::Object(Map::new());
        }
        current = current
            .as_object_mut()
            .expect("just made an object")
            .entry(key.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if !current.is_object() {
        *current = Value::Object(Map::new());
    }
    current.as_object_mut().expect("just made an object")
}

/// Points OpenClaw at the connected providers: `primary` as the default model, the
/// rest as fallbacks in order; removes the Setup provider. When the configuration has
/// a model allowlist (`agents.defaults.models`), the new models are added to it.
/// `nvidia` is NVIDIA's API (where Kimi runs) when Kimi is among them: OpenClaw has no
/// built-in endpoint for that provider.
pub fn use_models(config: &mut Value, primary: &str, fallbacks: &[String], nvidia: Option<&str>) {
    let setup_ref = format!("{SETUP_PROVIDER_ID}/{SETUP_MODEL_ID}");
    let defaults = object_at(config, &["agents", "defaults"]);
    defaults.insert(
        "model".into(),
        json!({ "primary": primary, "fallbacks": fallbacks }),
    );
    if let Some(Value::Object(allowed)) = defaults.get_mut("models") {
        allowed.remove(&setup_ref);
        for model in std::iter::once(primary).chain(fallbacks.iter().map(String::as_str)) {
            allowed
                .entry(model.to_string())
                .or_insert_with(|| json!({}));
        }
    }
    let providers = object_at(config, &["models", "providers"]);
    providers.remove(SETUP_PROVIDER_ID);
    if let Some(base_url) = nvidia {
        let entry = providers
            .entry(openclaw_provider_id(Provider::Kimi).to_string())
            .or_insert_with(|| json!({}));
        if !entry.is_object() {
            *entry = json!({});
        }
        let entry = entry.as_object_mut().expect("just made an object");
        entry.insert("baseUrl".into(), json!(base_url));
        entry.insert("api".into(), json!("openai-completions"));
    }
}

/// Turns the Setup model back on as the only model (what `clawfree switch-llm` does).
pub fn use_setup(config: &mut Value, base_url: &str, api_key: &str) {
    let setup_ref = format!("{SETUP_PROVIDER_ID}/{SETUP_MODEL_ID}");
    object_at(config, &["models", "providers"]).insert(
        SETUP_PROVIDER_ID.into(),
        json!({
            "baseUrl": base_url,
            "api": "openai-completions",
            "apiKey": api_key,
            "models": [{ "id": SETUP_MODEL_ID, "name": "claw.free Setup" }],
        }),
    );
    let defaults = object_at(config, &["agents", "defaults"]);
    defaults.insert(
        "model".into(),
        json!({ "primary": setup_ref, "fallbacks": [] }),
    );
    if let Some(Value::Object(allowed)) = defaults.get_mut("models") {
        allowed.entry(setup_ref).or_insert_with(|| json!({}));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent_written() -> Value {
        json!({
            "gateway": { "port": 18789 },
            "channels": { "telegram": { "enabled": true } },
            "models": { "providers": { "claw-free": { "baseUrl": "http://localhost:3456/v1" } } },
            "agents": { "defaults": { "model": { "primary": "claw-free/setup" }, "workspace": "/w" } }
        })
    }

    #[test]
    fn use_models_sets_primary_and_fallbacks_and_removes_setup() {
        let mut config = agent_written();
        use_models(
            &mut config,
            "anthropic/claude-opus-5",
            &["nvidia/moonshotai/kimi-k2.5".into()],
            Some(NVIDIA_BASE_URL),
        );
        assert_eq!(
            config["agents"]["defaults"]["model"]["primary"],
            "anthropic/claude-opus-5"
        );
        assert_eq!(
            config["agents"]["defaults"]["model"]["fallbacks"],
            json!(["nvidia/moonshotai/kimi-k2.5"])
        );
        assert!(config["models"]["providers"].get("claw-free").is_none());
        assert_eq!(
            config["models"]["providers"]["nvidia"]["baseUrl"],
            NVIDIA_BASE_URL
        );
        // What we do not own is kept.
        assert_eq!(config["gateway"]["port"], 18789);
        assert_eq!(config["agents"]["defaults"]["workspace"], "/w");
        assert_eq!(config["channels"]["telegram"]["enabled"], true);
    }

    #[test]
    fn an_allowlist_gets_the_new_models() {
        let mut config = agent_written();
        config["agents"]["defaults"]["models"] = json!({ "claw-free/setup": {} });
        use_models(&mut config, "openai/gpt-5.5", &[], None);
        assert_eq!(
            config["agents"]["defaults"]["models"],
            json!({ "openai/gpt-5.5": {} })
        );
        assert!(config["models"]["providers"].get("nvidia").is_none());
    }

    #[test]
    fn use_setup_restores_the_setup_model_with_its_key() {
        let mut config = agent_written();
        use_models(&mut config, "openai/gpt-5.5", &[], None);
        use_setup(&mut config, "http://127.0.0.1:3456/v1", "k3y");
        assert_eq!(
            config["agents"]["defaults"]["model"]["primary"],
            "claw-free/setup"
        );
        assert_eq!(
            config["models"]["providers"]["claw-free"]["models"][0]["id"],
            "setup"
        );
        assert_eq!(config["models"]["providers"]["claw-free"]["apiKey"], "k3y");
    }

    #[test]
    fn rewriting_keeps_the_files_owner_and_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("cfp-openclaw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("openclaw.json");
        std::fs::write(&path, agent_written().to_string()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        // As root (the provider's case on the VM), hand the file to another user first.
        // SAFETY: plain getter.
        let owner = if unsafe { libc::geteuid() } == 0 {
            std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
            (65534, 65534)
        } else {
            let meta = std::fs::metadata(&path).unwrap();
            (meta.uid(), meta.gid())
        };
        edit_config(&path, |c| use_models(c, "openai/gpt-5.5", &[], None)).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o640);
        assert_eq!((meta.uid(), meta.gid()), owner);
        assert_eq!(
            read_config(&path).unwrap()["agents"]["defaults"]["model"]["primary"],
            "openai/gpt-5.5"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn edits_survive_odd_shapes() {
        let mut config = json!({ "agents": "oops" });
        use_models(&mut config, "a/b", &[], None);
        assert_eq!(config["agents"]["defaults"]["model"]["primary"], "a/b");
    }
}
