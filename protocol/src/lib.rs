//! The wire contract between the three programs of claw.free that never share memory:
//! the Worker (in Cloudflare), the agent (on the user's VM) and the Google simulator
//! (in tests). Each format here is written by one side and read by another, so it is
//! defined once and both directions are tested together.
//!
//! - [`guest`]: the `openclaw/` guest attributes the agent publishes and the Worker reads.
//! - [`metadata`]: the instance metadata keys the Worker sets and the agent reads.
//! - [`labels`]: the labels that mark a VM as a claw.free bot.
//! - [`provider`]: the LLM providers a bot can start with.
//! - [`google`]: Google's JSON error envelopes, as the simulator writes them and the
//!   Worker parses them.
//! - [`names`]: Google Compute Engine's resource-name rule.
//! - [`rollout`]: GitHub mode's system to run (metadata) and the rollout's report
//!   (guest attributes).

pub mod google;
pub mod guest;
pub mod labels;
pub mod metadata;
pub mod names;
pub mod provider;
pub mod rollout;

/// Asserts that each of `values`, written out, reads back as itself: what every value
/// here that one side writes and another parses must do.
#[cfg(test)]
fn assert_round_trips<T>(values: impl IntoIterator<Item = T>, parse: impl Fn(&str) -> Option<T>)
where
    T: std::fmt::Display + std::fmt::Debug + PartialEq,
{
    for value in values {
        assert_eq!(parse(&value.to_string()), Some(value));
    }
}
