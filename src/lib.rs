//! claw.free's Worker: the web page's API. It signs a person in with Google, creates
//! an OpenClaw VM in their own project, follows its first boot through guest
//! attributes, hands it secrets encrypted to its own key, and lists and manages bots.
//!
//! The core below is plain Rust, compiled and tested natively; it reaches the world
//! only through [`ports`]. The wasm-only [`edge`] binds those ports to Workers KV and
//! `fetch` and is the entry point.

pub mod config;
pub mod crypto;
pub mod error;
pub mod http;
pub mod ports;
pub mod types;

#[cfg(any(test, feature = "testing"))]
pub mod testing;
