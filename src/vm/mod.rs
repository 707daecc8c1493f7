//! Operations on a bot's VM that deploys and the bot list share: handing it secrets
//! encrypted to its own key (and the trust in that key), and reading its serial output.

pub mod logs;
pub mod secrets;
