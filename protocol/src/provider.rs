//! The LLM providers a bot can start with.

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
        match self {
            Self::Kimi => "Kimi (via NVIDIA)",
            Self::Claude => "Claude",
            Self::Openai => "OpenAI",
        }
    }
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
}
