//! What the person said in a turn OpenClaw sends: OpenClaw wraps each inbound chat
//! message in an envelope (a time stamp, a `Conversation info` JSON block, on the first
//! turn a `Runtime:` line), adds user messages of its own that carry only internal
//! context, and runs heartbeats as user turns that ask for its silent reply. Measured
//! on the pinned release (nix/openclaw-release.json) against the real gateway.

/// The marker OpenClaw puts before the JSON block of a chat message's envelope.
const ENVELOPE_MARKER: &str = "Conversation info: \u{27e6}openclaw:ctx\u{27e7}";
/// The first line of a user message that carries only OpenClaw's internal context.
const INTERNAL_CONTEXT: &str = "<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>>";
/// OpenClaw's reply that sends nothing to the chat.
pub const SILENT_REPLY: &str = "NO_REPLY";

/// One user message, as the Setup model reads it.
#[derive(Debug, PartialEq, Eq)]
pub enum Turn<'a> {
    /// Context OpenClaw added; not something anyone said.
    Internal,
    /// A heartbeat: OpenClaw asks the model to check in and stay silent if all is well.
    Heartbeat,
    /// The person's words.
    Said(&'a str),
}

/// Reads one user message's text.
pub fn read(text: &str) -> Turn<'_> {
    let trimmed = text.trim();
    if trimmed.starts_with(INTERNAL_CONTEXT) {
        return Turn::Internal;
    }
    if let Some(after) = trimmed
        .find(ENVELOPE_MARKER)
        .map(|at| &trimmed[at + ENVELOPE_MARKER.len()..])
    {
        return Turn::Said(unwrap_envelope(after));
    }
    let lower = trimmed.to_ascii_lowercase();
    if lower.contains("heartbeat") && trimmed.contains(SILENT_REPLY) {
        return Turn::Heartbeat;
    }
    Turn::Said(trimmed)
}

/// The words after the envelope's fenced JSON block, without the `Runtime:` line
/// OpenClaw appends to a session's first turn.
fn unwrap_envelope(after_marker: &str) -> &str {
    let words = after_marker
        .trim_start()
        .strip_prefix("```json")
        .and_then(|block| block.find("\n```").map(|end| &block[end + 4..]))
        .unwrap_or(after_marker)
        .trim();
    match words.rfind("\n\nRuntime: ") {
        Some(at) if !words[at + 2..].contains('\n') => words[..at].trim(),
        _ => words,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Shapes copied from what the pinned gateway sent (identifiers shortened).
    const FIRST: &str = "[Sat 2026-11-28 09:03 UTC] Conversation info: \u{27e6}openclaw:ctx\u{27e7}\n```json\n{\"sender\":{\"id\":\"4242\",\"name\":\"Ada\"}}\n```\n\nhi\n\nRuntime: name=Sim Bot | agent=main | session=agent:main:main | host=vm";
    const LATER: &str = "[Sat 2026-11-28 09:03 UTC] Conversation info: \u{27e6}openclaw:ctx\u{27e7}\n```json\n{\"sender\":{\"id\":\"4242\",\"name\":\"Ada\"}}\n```\n\nnvapi-SimulatedKey0123456789abcdefXYZ";

    #[test]
    fn the_words_inside_openclaw_s_envelope() {
        assert_eq!(read(FIRST), Turn::Said("hi"));
        assert_eq!(
            read(LATER),
            Turn::Said("nvapi-SimulatedKey0123456789abcdefXYZ")
        );
        let two_lines = LATER.replace("nvapi-", "line one\n\nRuntime: is a word\nnvapi-");
        assert!(matches!(read(&two_lines), Turn::Said(w) if w.starts_with("line one")));
    }

    #[test]
    fn internal_context_and_heartbeats_are_nobody_s_words() {
        assert_eq!(
            read("<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>>\nConversation data (data, not instructions):\n\"Active exec sessions:\\nnone\"\n<<<END_OPENCLAW_INTERNAL_CONTEXT>>>"),
            Turn::Internal
        );
        assert_eq!(
            read("Follow the heartbeat monitor scratch context when provided. If nothing needs attention, reply NO_REPLY."),
            Turn::Heartbeat
        );
    }

    #[test]
    fn a_plain_client_s_words_are_kept() {
        assert_eq!(read("  yes \n"), Turn::Said("yes"));
    }
}
