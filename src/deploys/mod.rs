//! Deploys: from one click to a healthy bot (issue 5).
//!
//! - [`model`]: the `deploy:<id>` record, its phases and the status view.
//! - [`machine`]: the pure state machine (next Google call, and what its answer means).
//! - [`flow`]: start, status poll, first secret and serial output, over the platform.
//! - [`api`]: the HTTP handlers.

pub mod api;
pub mod flow;
pub mod machine;
pub mod model;

#[cfg(test)]
pub(crate) mod fake_google;
