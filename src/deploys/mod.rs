//! Deploys: from one click to a healthy bot (issue 5). Being written.
pub mod api;
