//! The Worker's cookies: their names and `Set-Cookie` lines.
//!
//! Every name carries the `__Host-` prefix, so browsers accept it only with
//! `Secure`, `Path=/` and no `Domain`: a sibling subdomain or a network attacker
//! (before HSTS is cached) cannot plant a session, a sign-in or a deploy binding
//! for this site. Anything that must be bound to one deploy is bound inside the
//! value, never by a path. All are HttpOnly and SameSite=Lax (the OAuth callback
//! is a top-level navigation from Google and must carry the sign-in cookie).
//!
//! Browsers treat `http://127.0.0.1` and `http://localhost` as secure contexts, so
//! the same cookies work for the development site served over plain http.

/// The session: a random secret whose digest keys `session:<digest>` in KV.
pub const SESSION: &str = "__Host-session";
/// A pending sign-in: the OAuth state, PKCE verifier and choices, sealed.
pub const SIGN_IN: &str = "__Host-signin";
/// The browser that started a deploy: `<deployment id>.<secret>`.
pub const DEPLOY: &str = "__Host-deploy";
/// A link to a GitHub repository under way: state, PKCE verifier, bot and owner, sealed.
pub const GITHUB_LINK: &str = "__Host-github-link";

/// A `Set-Cookie` line that stores `value` under `name` for `max_age` seconds.
pub fn set(name: &str, value: &str, max_age: u64) -> String {
    format!("{name}={value}; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age={max_age}")
}

/// A `Set-Cookie` line that removes `name`.
pub fn clear(name: &str) -> String {
    format!("{name}=; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cookie_meets_the_host_prefix_rules() {
        for name in [SESSION, SIGN_IN, DEPLOY, GITHUB_LINK] {
            assert!(name.starts_with("__Host-"));
            for line in [set(name, "v", 60), clear(name)] {
                assert!(line.contains("; Secure") && line.contains("; Path=/;"));
                assert!(line.contains("HttpOnly") && !line.contains("Domain"));
            }
        }
    }
}
