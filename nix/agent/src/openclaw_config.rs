//! OpenClaw's configuration (`openclaw.json`), written through serde so no value can
//! break the JSON, and the small claw.free file beside it.
//!
//! Field names follow OpenClaw's config schema (`src/config/types.*.ts` in
//! openclaw/openclaw): `gateway.mode`, `models.providers.<id>.{baseUrl, api, models}`,
//! `agents.defaults.model.primary` as `provider/model`, `agents.entries.<id>.identity.name`
//! (keyed by agent id; the bot has one agent, so it needs no default marker),
//! and `channels.telegram.{enabled, tokenFile, dmPolicy, allowFrom}`. OpenClaw validates
//! its config strictly, so only fields it knows are written here.

use std::path::Path;

use claw_free_protocol::metadata::TelegramUserId;
use claw_free_protocol::provider::Provider;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::bot_settings::TelegramAccess;

/// The bootstrap provider's id in OpenClaw and its local endpoint (nix/provider).
pub const BOOTSTRAP_PROVIDER: &str = "claw-free";
pub const BOOTSTRAP_BASE_URL: &str = "http://localhost:3456/v1";
pub const BOOTSTRAP_MODEL: &str = "setup";
/// The gateway's port; its health URL is the agent's default `--health-url`.
pub const GATEWAY_PORT: u16 = 18789;
/// The bot's one agent.
const MAIN_AGENT: &str = "main";

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
    /// The bootstrap provider's own key (see `provider_key`): it answers no caller
    /// without it, and only the gateway gets this configuration.
    api_key: String,
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
    entries: std::collections::BTreeMap<&'static str, Agent>,
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
    /// `allowlist` when the owner is known (only `allow_from` may write), else
    /// `pairing`: strangers get a code that must be approved on the VM.
    dm_policy: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    allow_from: Option<[String; 1]>,
}

impl Telegram {
    fn new(token_file: &Path, access: TelegramAccess) -> Self {
        let owner = match access {
            TelegramAccess::Owner(id) => Some(id),
            // A declared policy comes with the base configuration written over this.
            TelegramAccess::Pairing | TelegramAccess::Declared => None,
        };
        Self {
            enabled: true,
            token_file: token_file.to_string_lossy().into_owned(),
            dm_policy: if owner.is_some() { ALLOWLIST } else { PAIRING },
            allow_from: owner.map(|id| [id.to_string()]),
        }
    }
}

const ALLOWLIST: &str = "allowlist";
const PAIRING: &str = "pairing";

/// The first configuration: the claw.free Setup model is the primary model until the
/// user connects a real one, and Telegram reads its token from `telegram_token_file`
/// (the gateway's systemd credential, a copy of the root-only secret), answering whom
/// `access` allows.
pub fn bootstrap(
    bot_name: &str,
    telegram_token_file: &Path,
    access: TelegramAccess,
    provider_key: &str,
) -> OpenClawConfig {
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
                    api_key: provider_key.to_string(),
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
            entries: [(
                MAIN_AGENT,
                Agent {
                    identity: Identity {
                        name: bot_name.to_string(),
                    },
                },
            )]
            .into(),
        },
        channels: Channels {
            telegram: Telegram::new(telegram_token_file, access),
        },
    }
}

/// Pretty JSON with a final newline.
pub fn render<T: Serialize>(config: &T) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(config).expect("config types always serialize");
    bytes.push(b'\n');
    bytes
}

/// `config` with a declared `base` written over it: the base's values win, objects
/// merge key by key, anything else (lists included) is replaced whole.
pub fn render_over_base<T: Serialize>(config: &T, base: Option<&Map<String, Value>>) -> Vec<u8> {
    let mut value = serde_json::to_value(config).expect("config types always serialize");
    if let Some(base) = base {
        merge(&mut value, base);
    }
    render(&value)
}

fn merge(target: &mut Value, over: &Map<String, Value>) {
    let Value::Object(target) = target else {
        *target = Value::Object(over.clone());
        return;
    };
    for (key, value) in over {
        match (target.get_mut(key), value) {
            (Some(existing @ Value::Object(_)), Value::Object(over)) => merge(existing, over),
            _ => {
                target.insert(key.clone(), value.clone());
            }
        }
    }
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
    edit_telegram(existing, |telegram| {
        let mut changed = set(
            telegram,
            "tokenFile",
            Value::String(token_file.to_string_lossy().into_owned()),
        );
        changed |= set(telegram, "enabled", Value::Bool(true));
        // A token inline in the file would win over the secret file and sit in plain text.
        changed |= telegram.remove("botToken").is_some();
        changed
    })
}

/// Lets only `owner` message the bot, keeping every other setting. Returns the new
/// bytes, or `None` when the configuration already says so.
pub fn with_telegram_owner(
    existing: &[u8],
    owner: TelegramUserId,
) -> Result<Option<Vec<u8>>, String> {
    edit_telegram(existing, |telegram| {
        let changed = set(telegram, "dmPolicy", Value::String(ALLOWLIST.into()));
        changed | set(telegram, "allowFrom", json!([owner.to_string()]))
    })
}

/// Sets `key`; whether the value changed.
fn set(object: &mut Map<String, Value>, key: &str, value: Value) -> bool {
    if object.get(key) == Some(&value) {
        return false;
    }
    object.insert(key.to_string(), value);
    true
}

/// Runs `edit` on `channels.telegram` of an existing configuration; the new bytes
/// when it reports a change.
fn edit_telegram(
    existing: &[u8],
    edit: impl FnOnce(&mut Map<String, Value>) -> bool,
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
    Ok(edit(telegram).then(|| render(&config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_config_uses_the_setup_model_and_the_token_file() {
        let bytes = render(&bootstrap(
            "Ada \"the\" bot\n",
            Path::new("/run/credentials/openclaw-gateway.service/telegram-token"),
            TelegramAccess::Pairing,
            "k3y",
        ));
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            v["agents"]["defaults"]["model"]["primary"],
            "claw-free/setup"
        );
        let provider = &v["models"]["providers"]["claw-free"];
        assert_eq!(provider["baseUrl"], "http://localhost:3456/v1");
        assert_eq!(
            provider["apiKey"], "k3y",
            "the provider's own key, nothing shared"
        );
        assert_eq!(provider["api"], "openai-completions");
        assert_eq!(provider["models"][0]["id"], "setup");
        assert_eq!(
            v["channels"]["telegram"]["tokenFile"],
            "/run/credentials/openclaw-gateway.service/telegram-token"
        );
        assert_eq!(v["channels"]["telegram"]["enabled"], true);
        assert!(v["channels"]["telegram"].get("botToken").is_none());
        assert_eq!(v["channels"]["telegram"]["dmPolicy"], "pairing");
        assert!(v["channels"]["telegram"].get("allowFrom").is_none());
        // A name with quotes and a newline stays one JSON string.
        assert_eq!(
            v["agents"]["entries"]["main"]["identity"]["name"],
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

    fn owner() -> TelegramUserId {
        TelegramUserId::parse("424242").unwrap()
    }

    #[test]
    fn an_owner_is_the_only_one_allowed() {
        let token = Path::new("/c/telegram-token");
        let v: Value = serde_json::from_slice(&render(&bootstrap(
            "Ada",
            token,
            TelegramAccess::Owner(owner()),
            "k3y",
        )))
        .unwrap();
        assert_eq!(v["channels"]["telegram"]["dmPolicy"], "allowlist");
        assert_eq!(v["channels"]["telegram"]["allowFrom"], json!(["424242"]));

        let existing = render(&bootstrap("Ada", token, TelegramAccess::Pairing, "k3y"));
        let updated = with_telegram_owner(&existing, owner()).unwrap().unwrap();
        let v: Value = serde_json::from_slice(&updated).unwrap();
        assert_eq!(v["channels"]["telegram"]["dmPolicy"], "allowlist");
        assert_eq!(v["channels"]["telegram"]["allowFrom"], json!(["424242"]));
        assert_eq!(v["channels"]["telegram"]["tokenFile"], "/c/telegram-token");
        assert_eq!(v["agents"]["entries"]["main"]["identity"]["name"], "Ada");
        assert_eq!(with_telegram_owner(&updated, owner()).unwrap(), None);
    }

    #[test]
    fn the_base_configuration_wins_and_merges() {
        let base = json!({
            "gateway": {"port": 1234},
            "models": {"providers": {"claw-free": {"baseUrl": "http://127.0.0.1:4000/v1"}}},
            "channels": {"telegram": {"dmPolicy": "allowlist", "allowFrom": ["7", "8"]}},
            "skills": {"load": {"extraDirs": ["/nix/store/x-skills"]}},
        });
        let bytes = render_over_base(
            &bootstrap(
                "Ada",
                Path::new("/c/telegram-token"),
                TelegramAccess::Declared,
                "k3y",
            ),
            base.as_object(),
        );
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["gateway"]["port"], 1234);
        assert_eq!(v["gateway"]["mode"], "local");
        let provider = &v["models"]["providers"]["claw-free"];
        assert_eq!(provider["baseUrl"], "http://127.0.0.1:4000/v1");
        assert_eq!(provider["models"][0]["id"], "setup");
        assert_eq!(v["channels"]["telegram"]["allowFrom"], json!(["7", "8"]));
        assert_eq!(v["channels"]["telegram"]["dmPolicy"], "allowlist");
        assert_eq!(v["channels"]["telegram"]["tokenFile"], "/c/telegram-token");
        assert_eq!(v["skills"]["load"]["extraDirs"][0], "/nix/store/x-skills");
        assert_eq!(v["agents"]["entries"]["main"]["identity"]["name"], "Ada");
    }

    /// Every openclaw.json a bot can run with, judged by the pinned OpenClaw release:
    /// the agent's first configuration for each kind of Telegram access, the owner
    /// added later, and what the Setup model writes over it when setup ends with each
    /// provider (and when `clawfree switch-llm` brings Setup back).
    #[test]
    fn every_configuration_passes_openclaw_config_validate_without_warnings() {
        use claw_free_provider::config::Config as ProviderConfig;
        use claw_free_provider::openclaw::{use_models, use_setup};

        let token = Path::new("/run/credentials/openclaw-gateway.service/telegram-token");
        // The Setup model's key, as the agent makes it at first boot.
        let key = "0123456789abcdef0123456789abcdef0123456789abcdef";
        let mut configs: Vec<(String, Vec<u8>)> = Vec::new();
        for (name, access) in [
            ("pairing", TelegramAccess::Pairing),
            ("owner", TelegramAccess::Owner(owner())),
            ("declared", TelegramAccess::Declared),
        ] {
            configs.push((
                format!("before setup, {name}"),
                render(&bootstrap("Ada \"the\" bot", token, access, key)),
            ));
        }
        let pairing = render(&bootstrap("Ada", token, TelegramAccess::Pairing, key));
        let owned = with_telegram_owner(&pairing, owner()).unwrap().unwrap();
        configs.push(("owner added later".into(), owned.clone()));
        let models = ProviderConfig::default();
        for start in [pairing, owned] {
            for provider in Provider::ALL {
                let chosen = models.models_for(provider);
                let mut config: Value = serde_json::from_slice(&start).unwrap();
                use_models(
                    &mut config,
                    &chosen.primary,
                    &chosen.alternatives,
                    (provider == Provider::Kimi).then_some(models.nvidia_base_url.as_str()),
                );
                configs.push((
                    format!("after setup with {provider:?}"),
                    serde_json::to_vec(&config).unwrap(),
                ));
                use_setup(&mut config, BOOTSTRAP_BASE_URL, key);
                configs.push((
                    format!("back to Setup from {provider:?}"),
                    serde_json::to_vec(&config).unwrap(),
                ));
            }
        }
        let failures: Vec<String> = configs
            .iter()
            .filter_map(|(name, bytes)| {
                claw_free_testkit::openclaw::validate_config(bytes)
                    .err()
                    .map(|e| format!("{name}: {e}"))
            })
            .collect();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
