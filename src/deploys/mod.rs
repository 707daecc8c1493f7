//! Deploys: from one click to a healthy bot.
//!
//! - [`model`]: the `deploy:<id>` record, its phases and the status view.
//! - [`machine`]: the pure state machine (next Google call, and what its answer means).
//! - [`flow`]: start, status poll, first secret and serial output, over the platform.
//! - [`tag`]: conditional polls (`ETag`/`If-None-Match`) answered without KV or Google.
//! - [`api`]: the HTTP handlers.

pub mod api;
pub mod flow;
pub mod machine;
pub mod model;
pub mod tag;
