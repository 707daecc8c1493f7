//! GitHub mode's Worker side, grown piece by piece: the GitHub App's JWT
//! ([`app_jwt`], signed through its `Rs256` port), the libsodium sealed box
//! GitHub takes secrets in ([`sealed_box`]), the cache's Nix signing key ([`nix_key`]),
//! GitHub's REST calls linking makes ([`client`]), the App's configuration ([`config`]),
//! and what linking creates in the owner's
//! project and repository, as data ([`plan`]), and the start of linking a bot
//! ([`link_start`]: to the App's install page), then the setup redirect and the App's
//! user authorization proving the installation is the person's ([`authorize`]), and the
//! link itself: the repository and the Google side of CI, step by step ([`link`]); and
//! the short-lived token a linked bot's VM gets to propose changes to its own
//! repository ([`vm_token`]).

pub mod app_jwt;
pub mod authorize;
pub mod client;
pub mod config;
pub mod link;
pub mod link_start;
pub mod nix_key;
pub mod plan;
pub mod sealed_box;
pub mod vm_token;
