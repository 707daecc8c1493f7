//! Linking a bot to its GitHub repository, once the App's installation is proven the
//! person's: the typed record and its pure machine ([`model`]), each step against
//! Google and GitHub ([`run`]), and the begin, status and resume flows ([`flow`]).

pub mod flow;
pub mod model;
pub mod run;

#[cfg(test)]
mod tests;
