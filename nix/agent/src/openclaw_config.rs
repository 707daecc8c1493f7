//! OpenClaw's configuration (`openclaw.json`), written through serde so no value can
//! break the JSON, and the small claw.free file beside it.
//!
//! Field names follow OpenClaw's config schema (`src/config/types.*.ts` in
//! openclaw/openclaw): `gateway.mode`, `models.providers.<id>.{baseUrl, api, models}`,
//! `agents.defaults.model.primary` as `provider/model`, `agents.list[].identity.name`,
//! and `channels.telegram.{enabled, tokenFile, dmPolicy}`. OpenClaw validates its config
//! strictly, so only fields it knows are written here.

use std::path::Path;

use claw_free_protocol::provider::Provider;
use serde::Serialize;
use serde_json::{json, Value};

/// The bootstrap provider's id in OpenClaw and its local endpoint (nix/provider).
pub const BOOTSTRAP_PROVIDER: &str = "claw-free";
pub const BOOTSTRAP_BASE_URL: &str = "http://localhost:3456/v1";
pub const BOOTSTRAP_MODEL: &str = "setup";
/// The gateway's port; its health URL is the agent's default `--health-url`.
pub const GATEWAY_PORT: u16 = 18789;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenClawConfig {
    gateway: Gateway,
    models: Models,
    agents: Agents,
    channels: Channels,
}

#[derive(Debug, Serialize)]
struct Gateway {
    /// OpenClaw refuses to start a gateway whose mode is not set.
    mode: &'static str,
    port: u16,
    bind: &'static str,
}

#[derive(Debug, Serialize)]
struct Models {
    mode: &'static str,
    providers: std::collections::BTreeMap<&'static str, ModelProvider>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ModelProvider {
    base_url: &'static str,
    /// The bootstrap provider listens on loopback only and checks no key; OpenClaw
    /// still wants one for an OpenAI-compatible provider, so a fixed non-secret label.
    api_key: &'static str,
    api: &'static str,
    models: Vec<ModelDefinition>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ModelDefinition {
    id: &'static str,
    name: &'static str,
    reasoning: bool,
    input: [&'static str; 1],
    cost: Cost,
    context_window: u32,
    max_tokens: u32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Cost {
    input: u32,
    output: u32,
    cache_read: u32,
    cache_write: u32,
}

#[derive(Debug, Serialize)]
struct Agents {
    defaults: AgentDefaults,
    list: Vec<Agent>,
}

#[derive(Debug, Serialize)]
struct AgentDefaults {
    model: AgentModel,
}

#[derive(Debug, Serialize)]
struct AgentModel {
    primary: String,
}

#[derive(Debug, Serialize)]
struct Agent {
    id: &'static str,
    default: bool,
    identity: Identity,
}

#[derive(Debug, Serialize)]
struct Identity {
    name: String,
}

#[derive(Debug, Serialize)]
struct Channels {
    telegram: Telegram,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Telegram {
    enabled: bool,
    token_file: String,
    /// Strangers get a pairing code the owner approves; nobody talks to the bot unasked.
    dm_policy: &'static str,
}

/// The first configuration: the claw.free Setup model is the primary model until the
/// user connects a real one, and Telegram reads its token from `telegram_token_file`
/// (the gateway's systemd credential, a copy of the root-only secret).
pub fn bootstrap(bot_name: &str, telegram_token_file: &Path) -> OpenClawConfig {
    OpenClawConfig {
        gateway: Gateway {
            mode: "local",
            port: GATEWAY_PORT,
            bind: "loopback",
        },
        models: Models {
            mode: "merge",
            providers: [(
                BOOTSTRAP_PROVIDER,
                ModelProvider {
                    base_url: BOOTSTRAP_BASE_URL,
                    api_key: "claw-free-local",
                    api: "openai-completions",
                    models: vec![ModelDefinition {
                        id: BOOTSTRAP_MODEL,
                        name: "claw.free Setup",
                        reasoning: false,
                        input: ["text"],
                        cost: Cost {
                            input: 0,
                            output: 0,
                            cache_read: 0,
                            cache_write: 0,
                        },
                        context_window: 32_768,
                        max_tokens: 4_096,
                    }],
                },
            )]
            .into(),
        },
        agents: Agents {
            defaults: AgentDefaults {
                model: AgentModel {
                    primary: format!("{BOOTSTRAP_PROVIDER}/{BOOTSTRAP_MODEL}"),
                },
            },
            list: vec![Agent {
                id: "main",
                default: true,
                identity: Identity {
                    name: bot_name.to_string(),
                },
            }],
        },
        channels: Channels {
            telegram: Telegram {
                enabled: true,
                token_file: telegram_token_file.to_string_lossy().into_owned(),
                dm_policy: "pairing",
            },
        },
    }
}

/// Pretty JSON with a final newline.
pub fn render<T: Serialize>(config: &T) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(config).expect("config types always serialize");
    bytes.push(b'\n');
    bytes
}

/// What claw.free's own programs on the VM read: the wizard's choices.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClawFreeConfig<'a> {
    pub provider: Provider,
    pub bot_name: &'a str,
}

/// Points an existing configuration's Telegram channel at the token file, keeping every
/// other setting (the bootstrap provider may have switched models since). Returns the
/// new bytes, or `None` when nothing had to change.
pub fn with_telegram_token_file(
    existing: &[u8],
    token_file: &Path,
) -> Result<Option<Vec<u8>>, String> {
    let mut config: Value = serde_json::from_slice(existing)
        .map_err(|_| "openclaw.json is not valid JSON".to_string())?;
    let root = config
        .as_object_mut()
        .ok_or("openclaw.json is not a JSON object")?;
    let channels = root
        .entry("channels")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or("openclaw.json: channels is not an object")?;
    let telegram = channels
        .entry("telegram")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or("openclaw.json: channels.telegram is not an object")?;
    let wanted_file = Value::String(token_file.to_string_lossy().into_owned());
    let mut changed = false;
    if telegram.get("tokenFile") != Some(&wanted_file) {
        telegram.insert("tokenFile".into(), wanted_file);
        changed = true;
    }
    if telegram.get("enabled") != Some(&Value::Bool(true)) {
        telegram.insert("enabled".into(), Value::Bool(true));
        changed = true;
    }
    // A token inline in the file would win over the secret file and sit in plain text.
    if telegram.remove("botToken").is_some() {
        changed = true;
    }
    Ok(changed.then(|| render(&config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_config_uses_the_setup_model_and_the_token_file() {
        let bytes = render(&bootstrap(
            "Ada \"the\" bot\n",
            Path::new("/run/credentials/openclaw-gateway.service/telegram-token"),
        ));
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            v["agents"]["defaults"]["model"]["primary"],
            "claw-free/setup"
        );
        let provider = &v["models"]["providers"]["claw-free"];
        assert_eq!(provider["baseUrl"], "http://localhost:3456/v1");
        assert_eq!(provider["api"], "openai-completions");
        assert_eq!(provider["models"][0]["id"], "setup");
        assert_eq!(
            v["channels"]["telegram"]["tokenFile"],
            "/run/credentials/openclaw-gateway.service/telegram-token"
        );
        assert_eq!(v["channels"]["telegram"]["enabled"], true);
        assert!(v["channels"]["telegram"].get("botToken").is_none());
        // A name with quotes and a newline stays one JSON string.
        assert_eq!(
            v["agents"]["list"][0]["identity"]["name"],
            "Ada \"the\" bot\n"
        );
        assert_eq!(v["gateway"]["mode"], "local");
    }

    #[test]
    fn token_file_update_keeps_other_settings() {
        let token = Path::new("/s/telegram-token");
        let existing = br#"{"agents":{"defaults":{"model":{"primary":"anthropic/claude"}}},"channels":{"telegram":{"botToken":"x","dmPolicy":"allowlist"}}}"#;
        let updated = with_telegram_token_file(existing, token).unwrap().unwrap();
        let v: Value = serde_json::from_slice(&updated).unwrap();
        assert_eq!(
            v["agents"]["defaults"]["model"]["primary"],
            "anthropic/claude"
        );
        assert_eq!(v["channels"]["telegram"]["dmPolicy"], "allowlist");
        assert_eq!(v["channels"]["telegram"]["tokenFile"], "/s/telegram-token");
        assert!(v["channels"]["telegram"].get("botToken").is_none());
        assert_eq!(with_telegram_token_file(&updated, token).unwrap(), None);
        assert!(with_telegram_token_file(b"[]", token).is_err());
        assert!(with_telegram_token_file(b"{", token).is_err());
    }
}
