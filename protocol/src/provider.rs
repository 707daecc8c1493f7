//! The LLM providers a bot can start with, and every fact about each in one
//! table ([`Provider::facts`]): adding a provider is a variant and its entry.
//! The VM's Nix modules read the same facts from `nix/providers.json`, which a
//! test keeps equal to the table (the flake cannot read outside `nix/`).

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Kimi K2.5 through NVIDIA's OpenAI-compatible endpoint.
    Kimi,
    /// Anthropic's Claude.
    Claude,
    /// OpenAI.
    Openai,
}

impl Provider {
    pub const ALL: [Provider; 3] = [Provider::Kimi, Provider::Claude, Provider::Openai];

    pub fn parse(value: &str) -> Result<Self, String> {
        match value {
            "kimi" => Ok(Self::Kimi),
            "claude" => Ok(Self::Claude),
            "openai" => Ok(Self::Openai),
            _ => Err("provider must be one of kimi, claude or openai".to_string()),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kimi => "kimi",
            Self::Claude => "claude",
            Self::Openai => "openai",
        }
    }

    /// The name a person recognises.
    pub fn display_name(self) -> &'static str {
        self.facts().display_name
    }

    /// Everything claw.free knows about the provider.
    pub fn facts(self) -> &'static ProviderFacts {
        match self {
            Self::Kimi => &KIMI,
            Self::Claude => &CLAUDE,
            Self::Openai => &OPENAI,
        }
    }
}

/// What the page, the bootstrap provider and the image need to know about one
/// provider.
#[derive(Debug, PartialEq, Eq, serde::Serialize)]
pub struct ProviderFacts {
    pub display_name: &'static str,
    /// One line for the list the Setup conversation offers.
    pub blurb: &'static str,
    /// Words a person may answer with to choose it (lowercase).
    pub aliases: &'static [&'static str],
    /// OpenClaw's own id for the provider (`models.providers.<id>`).
    pub openclaw_id: &'static str,
    /// What every API key of the provider starts with.
    pub key_prefix: &'static str,
    /// Where a person creates an API key.
    pub key_url: &'static str,
    /// A sentence added when asking for the key, or empty.
    pub key_note: &'static str,
    /// The environment variable OpenClaw reads the API key from.
    pub key_variable: &'static str,
    /// Signing in with a subscription instead of a key, when the provider has it.
    pub subscription: Option<Subscription>,
}

/// A subscription sign-in, driven through the provider's own CLI.
#[derive(Debug, PartialEq, Eq, serde::Serialize)]
pub struct Subscription {
    /// The plan, as the sentence "Sign in with ..." ends.
    pub plan: &'static str,
    /// The CLI's arguments that start the sign-in.
    pub login_args: &'static [&'static str],
    /// What the token the sign-in prints starts with, when it prints one.
    pub token_prefix: Option<&'static str>,
}

const KIMI: ProviderFacts = ProviderFacts {
    display_name: "Kimi (via NVIDIA)",
    blurb: "Kimi K2.5 through NVIDIA, free with an NVIDIA API key",
    aliases: &["kimi", "nvidia", "moonshot"],
    openclaw_id: "nvidia",
    key_prefix: "nvapi-",
    key_url: "https://build.nvidia.com/settings/api-keys",
    key_note: "Kimi K2.5 runs on NVIDIA's API, free of charge.",
    key_variable: "NVIDIA_API_KEY",
    subscription: None,
};

const CLAUDE: ProviderFacts = ProviderFacts {
    display_name: "Claude",
    blurb: "Anthropic's Claude, with a Claude subscription or an API key",
    aliases: &["claude", "anthropic"],
    openclaw_id: "anthropic",
    key_prefix: "sk-ant-",
    key_url: "https://console.anthropic.com/settings/keys",
    key_note: "",
    key_variable: "ANTHROPIC_API_KEY",
    subscription: Some(Subscription {
        plan: "your Claude subscription (Pro or Max)",
        login_args: &["setup-token"],
        token_prefix: Some("sk-ant-oat"),
    }),
};

const OPENAI: ProviderFacts = ProviderFacts {
    display_name: "OpenAI",
    blurb: "OpenAI's GPT, with a ChatGPT subscription or an API key",
    aliases: &["openai", "chatgpt", "gpt", "codex", "open ai"],
    openclaw_id: "openai",
    key_prefix: "sk-",
    key_url: "https://platform.openai.com/api-keys",
    key_note: "",
    key_variable: "OPENAI_API_KEY",
    subscription: Some(Subscription {
        plan: "your ChatGPT subscription (Plus or Pro)",
        login_args: &["login", "--device-auth"],
        token_prefix: None,
    }),
};

/// The table as `nix/providers.json` holds it: each provider's facts with its
/// id, in the order of [`Provider::ALL`] (the order a person is offered them).
pub fn facts_json() -> String {
    let table: Vec<serde_json::Value> = Provider::ALL
        .iter()
        .map(|p| {
            let mut entry = serde_json::to_value(p.facts()).expect("the facts are plain data");
            entry["id"] = serde_json::Value::from(p.as_str());
            entry
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&table).expect("the facts are plain data");
    text.push('\n');
    text
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_provider_and_nothing_else() {
        for p in Provider::ALL {
            assert_eq!(Provider::parse(p.as_str()), Ok(p));
        }
        assert!(Provider::parse("Claude").is_err());
        assert!(Provider::parse("").is_err());
    }

    /// The Nix modules read `providers.json`; it must be the table, not a copy
    /// that drifted. `CLAW_FREE_WRITE_PROVIDERS_JSON=1` rewrites it.
    #[test]
    fn providers_json_is_the_table() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../nix/providers.json");
        let expected = facts_json();
        if std::env::var_os("CLAW_FREE_WRITE_PROVIDERS_JSON").is_some() {
            std::fs::write(&path, &expected).unwrap();
        }
        let actual = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            actual,
            expected,
            "{} differs from Provider::facts: run CLAW_FREE_WRITE_PROVIDERS_JSON=1 cargo test -p claw-free-protocol",
            path.display()
        );
    }

    /// A pasted key is told apart by its prefix, so no two providers share one.
    #[test]
    fn key_prefixes_are_distinct() {
        for a in Provider::ALL {
            for b in Provider::ALL {
                if a != b {
                    assert_ne!(a.facts().key_prefix, b.facts().key_prefix);
                }
            }
        }
    }
}
