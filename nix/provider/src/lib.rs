//! claw.free's bootstrap provider ("claw.free Setup", an OpenAI-compatible chat model
//! that connects the user's real LLM from Telegram) and the `clawfree` management
//! command of the bot's own agent. Both run on the user's 1 GB VM, so everything is
//! synchronous, small and frugal.
//!
//! Pure core: [`conversation`], [`keys`], [`sse`], the JSON edits of [`openclaw`].
//! Thin edge: [`api`] (HTTP), [`setup`] (runs the conversation's actions),
//! [`children`] and [`login`] (processes), [`store`] (disk), [`skill`] (`clawfree`),
//! [`agent_link`] (secrets handed to the VM agent).

pub mod access;
pub mod agent_link;
pub mod api;
pub mod children;
pub mod config;
pub mod conversation;
pub mod keys;
pub mod local_http;
pub mod login;
pub mod openclaw;
pub mod setup;
pub mod skill;
pub mod sse;
pub mod store;
pub mod system;
pub mod turn;
