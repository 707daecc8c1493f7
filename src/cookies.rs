//! The Worker's cookies: their names, their `Set-Cookie` lines, and the sealed state
//! of a flow under way.
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

use crate::app::App;
use crate::crypto::{self, Sealed};
use crate::error::ApiError;
use crate::http::{Request, Response};
use crate::ports::Platform;
use crate::store::SIGNIN_TTL;
use serde::de::DeserializeOwned;
use serde::Serialize;

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

/// A flow that a browser carries between redirects (a sign-in, a GitHub link): its
/// state, sealed under `context` (so one flow's cookie never opens as another's), in
/// cookie `name`, for [`SIGNIN_TTL`].
pub struct SealedFlow {
    pub name: &'static str,
    pub context: &'static str,
}

impl SealedFlow {
    /// A redirect to `url` that leaves `state` with the browser; `refused` says why the
    /// flow cannot go on should it not seal.
    pub fn redirect<P: Platform>(
        &self,
        app: &App<'_, P>,
        url: &str,
        state: &impl Serialize,
        refused: &str,
    ) -> Result<Response, ApiError> {
        match serde_json::to_string(state) {
            Ok(plain) => self.redirect_sealing(app, url, &plain),
            Err(_) => Err(ApiError::Unavailable(refused.into())),
        }
    }

    /// The state this browser carries, if its cookie opens and the state's
    /// `created_at` is no more than [`SIGNIN_TTL`] ago.
    pub fn read<P: Platform, T: DeserializeOwned>(
        &self,
        app: &App<'_, P>,
        request: &Request,
        created_at: impl Fn(&T) -> u64,
    ) -> Option<T> {
        let state: T = serde_json::from_str(&self.open(app, request)?).ok()?;
        let created = created_at(&state);
        let fresh = created + SIGNIN_TTL >= app.now() && created <= app.now();
        fresh.then_some(state)
    }

    // The halves that do not depend on the state's type, once in the bundle.

    fn redirect_sealing<P: Platform>(
        &self,
        app: &App<'_, P>,
        url: &str,
        plain: &str,
    ) -> Result<Response, ApiError> {
        let sealed = crypto::seal(&app.config.sealing_key, app.platform, self.context, plain)?;
        Ok(Response::redirect(url)
            .with_header("set-cookie", set(self.name, sealed.as_str(), SIGNIN_TTL)))
    }

    fn open<P: Platform>(&self, app: &App<'_, P>, request: &Request) -> Option<String> {
        let sealed = request.cookie(self.name)?;
        let key = &app.config.sealing_key;
        crypto::open(key, self.context, &Sealed::from_text(&sealed)).ok()
    }
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
