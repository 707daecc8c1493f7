//! What a declarative NixOS configuration fixes for this VM, read from the environment
//! the module gives the agent's units: the provider (`LLM_PROVIDER`), the bot's name
//! (`BOT_NAME`) and the OpenClaw configuration the options render
//! (`CLAWFREE_BASE_CONFIG`, a JSON file). The user's flake is their source of truth, so
//! whatever it declares beats instance metadata (see [`crate::bot_settings`]).

use std::fs;

use claw_free_protocol::metadata as keys;
use claw_free_protocol::provider::Provider;
use serde_json::{Map, Value};

use crate::bot_settings::BotName;

/// The variable naming the rendered base configuration.
pub const BASE_CONFIG_ENV: &str = "CLAWFREE_BASE_CONFIG";
/// The module renders a few kilobytes; anything far larger is not its file.
const MAX_BASE_CONFIG: u64 = 1024 * 1024;

/// The declared settings; each `None` leaves the choice to instance metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Declared {
    pub provider: Option<Provider>,
    pub bot_name: Option<BotName>,
    /// OpenClaw settings written over the agent's own configuration.
    pub base_config: Option<Map<String, Value>>,
}

impl Declared {
    /// Reads the declared settings through `var` (the process environment in
    /// production). An empty variable counts as unset; a bad one is an error, since
    /// the module's types never produce one.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let provider = set(keys::LLM_PROVIDER)
            .map(|p| {
                Provider::parse(p.trim()).map_err(|_| {
                    format!(
                        "the environment's {} is not kimi, claude or openai",
                        keys::LLM_PROVIDER
                    )
                })
            })
            .transpose()?;
        let bot_name = set(keys::BOT_NAME)
            .map(|n| BotName::parse(&n).map_err(|e| format!("the environment's {e}")))
            .transpose()?;
        let base_config = set(BASE_CONFIG_ENV)
            .map(|p| read_base_config(&p))
            .transpose()?;
        Ok(Self {
            provider,
            bot_name,
            base_config,
        })
    }

    /// Whether the base configuration says who may message the bot, in which case
    /// the owner in instance metadata is not applied.
    pub fn fixes_telegram_access(&self) -> bool {
        self.base_config
            .as_ref()
            .and_then(|c| c.get("channels")?.get("telegram")?.as_object())
            .is_some_and(|t| t.contains_key("dmPolicy") || t.contains_key("allowFrom"))
    }
}

fn read_base_config(path: &str) -> Result<Map<String, Value>, String> {
    let what = format!("{BASE_CONFIG_ENV} ({path})");
    let file = fs::File::open(path).map_err(|e| format!("cannot read {what}: {}", e.kind()))?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(file, MAX_BASE_CONFIG + 1),
        &mut bytes,
    )
    .map_err(|e| format!("cannot read {what}: {}", e.kind()))?;
    if bytes.len() as u64 > MAX_BASE_CONFIG {
        return Err(format!("{what} is larger than {MAX_BASE_CONFIG} bytes"));
    }
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(format!("{what} is not a JSON object")),
        Err(_) => Err(format!("{what} is not valid JSON")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(vars: &[(&str, &str)]) -> Result<Declared, String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Declared::from_env(|name| vars.get(name).cloned())
    }

    #[test]
    fn nothing_declared_leaves_everything_to_metadata() {
        assert_eq!(from(&[]).unwrap(), Declared::default());
        assert_eq!(
            from(&[("LLM_PROVIDER", " "), ("BOT_NAME", "")]).unwrap(),
            Declared::default()
        );
    }

    #[test]
    fn declared_values_are_parsed_where_they_enter() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("openclaw.json");
        fs::write(
            &base,
            r#"{"gateway":{"port":1234},"channels":{"telegram":{"dmPolicy":"allowlist","allowFrom":["42"]}}}"#,
        )
        .unwrap();
        let declared = from(&[
            ("LLM_PROVIDER", "kimi"),
            ("BOT_NAME", "Ada"),
            ("CLAWFREE_BASE_CONFIG", base.to_str().unwrap()),
        ])
        .unwrap();
        assert_eq!(declared.provider, Some(Provider::Kimi));
        assert_eq!(declared.bot_name.unwrap().as_str(), "Ada");
        assert_eq!(
            declared.base_config.as_ref().unwrap()["gateway"]["port"],
            1234
        );
        assert!(from(&[("CLAWFREE_BASE_CONFIG", base.to_str().unwrap())])
            .unwrap()
            .fixes_telegram_access());

        fs::write(&base, r#"{"channels":{"telegram":{"enabled":true}}}"#).unwrap();
        assert!(!from(&[("CLAWFREE_BASE_CONFIG", base.to_str().unwrap())])
            .unwrap()
            .fixes_telegram_access());
    }

    #[test]
    fn a_bad_declaration_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("list.json");
        fs::write(&list, "[]").unwrap();
        let broken = dir.path().join("broken.json");
        fs::write(&broken, "{").unwrap();
        let missing = dir.path().join("missing.json");
        for (vars, expected) in [
            (vec![("LLM_PROVIDER", "gpt")], "LLM_PROVIDER is not"),
            (vec![("BOT_NAME", "a\u{1}b")], "BOT_NAME"),
            (
                vec![("CLAWFREE_BASE_CONFIG", list.to_str().unwrap())],
                "not a JSON object",
            ),
            (
                vec![("CLAWFREE_BASE_CONFIG", broken.to_str().unwrap())],
                "not valid JSON",
            ),
            (
                vec![("CLAWFREE_BASE_CONFIG", missing.to_str().unwrap())],
                "cannot read",
            ),
        ] {
            let err = from(&vars).unwrap_err();
            assert!(err.contains(expected), "{vars:?}: {err}");
        }
    }
}
