//! The bot list and bot management (issue 6). Being written.
pub mod api;
