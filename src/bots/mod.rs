//! The bot list and bot management: every claw.free bot in the session's
//! projects with its health, deleting a stopped bot, rotating its Telegram token and
//! reading its serial output.
//!
//! - [`model`]: a bot as the list shows it, and its health light.
//! - [`service`]: the flows over Compute (and [`crate::secrets`] for rotation).
//! - [`api`]: the HTTP handlers.

pub mod api;
pub mod model;
pub mod service;

#[cfg(test)]
mod tests;
