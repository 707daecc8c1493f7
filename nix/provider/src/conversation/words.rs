//! Matching a person's short answers: yes and no, a number from a list, a provider
//! named by any of its aliases.

use claw_free_protocol::provider::Provider;

/// A user message, normalised for matching short answers.
pub(super) struct Words(String);

impl Words {
    pub(super) fn of(message: &str) -> Self {
        let lowered = message.trim().to_lowercase();
        let cleaned: String = lowered
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || c == '\'' {
                    c
                } else {
                    ' '
                }
            })
            .collect();
        Self(cleaned.split_whitespace().collect::<Vec<_>>().join(" "))
    }

    /// True when the whole message is one of `answers`, or starts with one of the
    /// longer ones (so "yes please" is a yes, but "no" inside a sentence is not).
    pub(super) fn is_any(&self, answers: &[&str]) -> bool {
        answers
            .iter()
            .any(|a| self.0 == *a || (a.len() > 1 && self.0.starts_with(&format!("{a} "))))
    }

    /// The provider at the number the message is, in `options` as they were listed.
    pub(super) fn numbered_choice(&self, options: &[Provider]) -> Option<Provider> {
        let index: usize = self.0.parse().ok()?;
        options.get(index.checked_sub(1)?).copied()
    }

    /// The provider named in the message (by name or alias), among `options`.
    pub(super) fn provider(&self, options: &[Provider]) -> Option<Provider> {
        let aliases = |p: Provider| p.facts().aliases;
        options.iter().copied().find(|p| {
            self.0.split(' ').any(|w| aliases(*p).contains(&w))
                || aliases(*p).contains(&self.0.as_str())
        })
    }
}
