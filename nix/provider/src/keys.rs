//! Credentials the user pastes into the chat: which provider a pasted value belongs to,
//! whether it is an API key or a subscription token, and a holder that never prints it.
//!
//! Checks are by prefix (Anthropic `sk-ant-`, OpenAI `sk-`, NVIDIA `nvapi-`), so a key
//! pasted for the wrong provider is caught before anything is stored. No error message
//! here ever contains the pasted text.

use std::fmt;

use claw_free_protocol::provider::Provider;

/// A secret value. It has no `Display`, its `Debug` is redacted, and its memory is
/// overwritten when dropped, so it cannot end up in a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The value, for the one place that hands it over (a child's stdin).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        // Best effort: overwrite the bytes so a freed page does not keep the key.
        // SAFETY: zero bytes keep the string valid UTF-8, and each pointer comes from a
        // live `&mut u8`; volatile so the stores are kept although the string is freed next.
        unsafe {
            for b in self.0.as_bytes_mut().iter_mut() {
                std::ptr::write_volatile(b, 0);
            }
        }
    }
}

/// How OpenClaw receives a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialKind {
    /// A subscription token (Claude's `sk-ant-oat...` setup-token).
    Token,
    /// A pay-as-you-go API key.
    ApiKey,
}

/// A checked credential for one provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub provider: Provider,
    pub kind: CredentialKind,
    pub secret: Secret,
}

/// Why a pasted value was refused. Messages name what was expected, never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// Nothing that looks like a key at all.
    NotAKey { expected_prefix: &'static str },
    /// A key, but for another provider.
    WrongProvider { belongs_to: Provider },
}

impl KeyError {
    pub fn explain(&self, wanted: Provider) -> String {
        match self {
            Self::NotAKey { expected_prefix } => format!(
                "That doesn't look like a {} API key: it should start with `{expected_prefix}` and be a single line without spaces.",
                wanted.display_name()
            ),
            Self::WrongProvider { belongs_to } => format!(
                "That looks like a {} key, but we're connecting {} right now.",
                belongs_to.display_name(),
                wanted.display_name()
            ),
        }
    }
}

/// Real keys are far longer; this only rejects obvious fragments.
const MIN_KEY_LEN: usize = 20;
const MAX_KEY_LEN: usize = 512;

/// The prefix a provider's API keys start with.
pub fn expected_prefix(provider: Provider) -> &'static str {
    provider.facts().key_prefix
}

/// The provider a key-shaped word belongs to, judged by its prefix: the longest
/// matching one, so an Anthropic `sk-ant-` key is not taken for OpenAI's `sk-`.
fn owner_of(word: &str) -> Option<Provider> {
    Provider::ALL
        .into_iter()
        .filter(|p| word.starts_with(expected_prefix(*p)))
        .max_by_key(|p| expected_prefix(*p).len())
}

/// What a subscription token of `provider` starts with, when its sign-in prints one.
fn token_prefix(provider: Provider) -> Option<&'static str> {
    provider.facts().subscription.as_ref()?.token_prefix
}

fn is_key_shaped(word: &str) -> bool {
    (MIN_KEY_LEN..=MAX_KEY_LEN).contains(&word.len())
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// True when a message looks like a pasted credential of any provider, so that the
/// conversation treats it as one even in a stage that did not ask for it.
pub fn looks_like_key(message: &str) -> bool {
    let word = message.trim();
    owner_of(word).is_some() && is_key_shaped(word)
}

/// Checks a pasted message as a credential for `provider`.
pub fn parse_pasted(provider: Provider, message: &str) -> Result<Credential, KeyError> {
    let word = message.trim();
    let expected_prefix = expected_prefix(provider);
    if !is_key_shaped(word) {
        return Err(KeyError::NotAKey { expected_prefix });
    }
    match owner_of(word) {
        Some(owner) if owner == provider => {}
        Some(belongs_to) => return Err(KeyError::WrongProvider { belongs_to }),
        None => return Err(KeyError::NotAKey { expected_prefix }),
    }
    let kind = if token_prefix(provider).is_some_and(|t| word.starts_with(t)) {
        CredentialKind::Token
    } else {
        CredentialKind::ApiKey
    };
    Ok(Credential {
        provider,
        kind,
        secret: Secret::new(word.to_string()),
    })
}

/// Finds Claude's setup-token in `claude setup-token`'s output.
pub fn find_setup_token(output: &str) -> Option<Secret> {
    output
        .split(|c: char| c.is_whitespace() || c == '"' || c == '\'')
        .find(|w| {
            token_prefix(Provider::Claude).is_some_and(|t| w.starts_with(t)) && is_key_shaped(w)
        })
        .map(|w| Secret::new(w.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANT_KEY: &str = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123";
    const ANT_TOKEN: &str = "sk-ant-oat01-abcdefghijklmnopqrstuvwxyz0123";
    const OPENAI_KEY: &str = "sk-proj-abcdefghijklmnopqrstuvwxyz0123";
    const NV_KEY: &str = "nvapi-abcdefghijklmnopqrstuvwxyz0123";

    #[test]
    fn accepts_each_providers_key_by_prefix() {
        let c = parse_pasted(Provider::Claude, &format!("  {ANT_KEY}\n")).unwrap();
        assert_eq!(
            (c.kind, c.secret.expose()),
            (CredentialKind::ApiKey, ANT_KEY)
        );
        let c = parse_pasted(Provider::Openai, OPENAI_KEY).unwrap();
        assert_eq!(c.kind, CredentialKind::ApiKey);
        let c = parse_pasted(Provider::Kimi, NV_KEY).unwrap();
        assert_eq!(c.provider, Provider::Kimi);
    }

    #[test]
    fn a_claude_setup_token_is_a_token_not_a_key() {
        let c = parse_pasted(Provider::Claude, ANT_TOKEN).unwrap();
        assert_eq!(c.kind, CredentialKind::Token);
    }

    #[test]
    fn an_anthropic_key_is_not_an_openai_key() {
        assert_eq!(
            parse_pasted(Provider::Openai, ANT_KEY),
            Err(KeyError::WrongProvider {
                belongs_to: Provider::Claude
            })
        );
        assert_eq!(
            parse_pasted(Provider::Kimi, OPENAI_KEY),
            Err(KeyError::WrongProvider {
                belongs_to: Provider::Openai
            })
        );
    }

    #[test]
    fn refuses_fragments_spaces_and_prose_without_echoing_them() {
        for bad in [
            "sk-ant-",
            "hello there",
            "nvapi-abc def ghi jkl mno pqr",
            "",
            "sk-ant-é-aaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            let err = parse_pasted(Provider::Kimi, bad).unwrap_err();
            let text = err.explain(Provider::Kimi);
            assert!(text.contains("nvapi-"), "{text}");
            if !bad.is_empty() {
                assert!(!text.contains(bad), "the message must not echo the input");
            }
        }
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let c = parse_pasted(Provider::Kimi, NV_KEY).unwrap();
        assert!(!format!("{c:?}").contains("abcdefghij"));
    }

    #[test]
    fn finds_the_setup_token_in_cli_output() {
        let out = format!(
            "Paste code here\n\u{1b}[32m✓\u{1b}[0m Your token:\n\n{ANT_TOKEN}\n\nStore it safely."
        );
        assert_eq!(find_setup_token(&out).unwrap().expose(), ANT_TOKEN);
        assert!(find_setup_token("no token, error 401").is_none());
    }

    #[test]
    fn looks_like_key_only_for_key_shaped_messages() {
        assert!(looks_like_key(NV_KEY));
        assert!(!looks_like_key("sk- is the prefix, right?"));
    }
}
