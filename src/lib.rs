//! claw.free's Worker: the web page's API. It signs a person in with Google, creates
//! an OpenClaw VM in their own project, follows its first boot through guest
//! attributes, hands it secrets encrypted to its own key, and lists and manages bots.
//!
//! The core is plain Rust, compiled and tested natively; it reaches the world only
//! through [`ports`]. The wasm-only `edge` module binds those ports to Workers KV,
//! `fetch`, `Date.now` and Web Crypto, and is the entry point; off wasm32,
//! `native_rs256` does Web Crypto's RS256 with the `rsa` crate.
//!
//! - request handling: [`app`] (entry), [`router`], [`security`], [`cookies`], [`error`], [`http`]
//! - features: [`auth`] and [`sessions`] (sign-in), [`deploys`], [`bots`], [`rollouts`], [`vm`] (a VM's secrets and logs), [`telegram`], [`health`]
//! - Google: [`google`] (OAuth, Resource Manager, Service Usage, Compute)
//! - GitHub: [`github`] (the App's JWT, sealed boxes for secrets)
//! - foundations: [`config`], [`crypto`], [`age_format`] (encryption to a VM's key), [`store`] (KV records), [`limits`], [`types`], [`ports`]

pub mod age_format;
pub mod app;
pub mod auth;
pub mod bots;
pub mod config;
pub mod cookies;
pub mod crypto;
pub mod deploys;
pub mod error;
pub mod github;
pub mod google;
pub mod health;
pub mod http;
pub mod limits;
pub mod ports;
pub mod rollouts;
pub mod router;
pub mod security;
pub mod sessions;
pub mod store;
pub mod telegram;
pub mod types;
pub mod vm;

#[cfg(not(target_arch = "wasm32"))]
pub mod native_rs256;
#[cfg(test)]
pub mod testing;

#[cfg(target_arch = "wasm32")]
mod edge;
