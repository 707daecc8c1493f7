//! The labels that mark a VM as a claw.free bot. The bot list finds bots by
//! [`MANAGED`] alone, so a user's other VMs are never listed, touched or deleted.

/// `claw-free=bot` on every VM claw.free creates.
pub const MANAGED: &str = "claw-free";
pub const MANAGED_VALUE: &str = "bot";
/// The bot's name slug (a valid label value: lowercase letters, digits, `-`).
pub const BOT: &str = "claw-free-bot";

/// The `aggregatedList` filter that selects claw.free bots.
pub fn managed_filter() -> String {
    format!("labels.{MANAGED}={MANAGED_VALUE}")
}
