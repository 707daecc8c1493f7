//! GitHub mode's Worker side, grown piece by piece: the GitHub App's JWT
//! ([`app_jwt`], signed through Web Crypto on the edge) and the libsodium sealed box
//! GitHub takes secrets in ([`sealed_box`]). The linking flow (installation, the App's
//! user authorization, the repository, and the Google side of CI) builds on these.

pub mod app_jwt;
pub mod sealed_box;
