//! Google's instance identity tokens: the JWT a VM's metadata server signs as Google
//! (`instance/service-accounts/default/identity?audience=...&format=full`), which proves
//! to the Worker which VM is calling. Only Google can sign one for a given VM, and the
//! audience binds it to this site, so a token a VM sent elsewhere is useless here.
//!
//! Checked: RS256 by one of Google's published keys (a JWK set at a configurable
//! URL, fetched and kept per isolate), `iss` Google's, `aud` exactly the site's origin,
//! not expired (nor issued in the future), and the `google.compute_engine` claims,
//! which become a [`VmIdentity`]. The signature is checked through the [`Rs256`] port:
//! Web Crypto on Workers, the `rsa` crate in the tests.

use crate::github::app_jwt::Rs256;
use crate::http::OutboundRequest;
use crate::ports::{Clock, HttpClient};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use claw_free_protocol::names::is_valid_resource_name;
use serde::Deserialize;
use std::cell::RefCell;

/// Where Google publishes the keys its identity tokens are signed with (a JWK set).
pub const GOOGLE_CERTS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";
/// The issuer of instance identity tokens.
pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";
/// How long fetched keys are trusted before they are fetched again. Google rotates
/// its keys over days and publishes the next one well before using it.
const KEYS_TTL_SECS: u64 = 3600;
/// A token signed with a key not (yet) in the cached set fetches the set again, but
/// no more often than this, so garbage tokens cannot make the Worker hammer Google.
const REFETCH_AFTER_SECS: u64 = 60;
/// Clock skew allowed between Google and the Worker on `iat`.
const SKEW_SECS: u64 = 60;
/// A longer header or claims part is not Google's.
const MAX_TOKEN_BYTES: usize = 4096;

/// The VM an identity token was signed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmIdentity {
    pub project: String,
    pub zone: String,
    pub instance: String,
    /// GCE's numeric id: a re-created VM of the same name has another.
    pub instance_id: String,
}

/// Why a token was refused. None of these says more than the caller already knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityError {
    /// Not a JWT, not RS256, or claims of the wrong shape.
    Malformed,
    /// Signed by a key Google does not publish, or the signature does not match.
    BadSignature,
    WrongIssuer,
    WrongAudience,
    Expired,
    /// A valid Google token, but not a VM's (`format=full` carries the VM's claims).
    NotAVm,
    /// Google's keys could not be fetched: try again later.
    KeysUnavailable(String),
}

impl IdentityError {
    pub fn message(&self) -> &'static str {
        match self {
            Self::Malformed => "The identity token is not a Google instance identity token.",
            Self::BadSignature => "The identity token's signature is not Google's.",
            Self::WrongIssuer => "The identity token was not issued by Google.",
            Self::WrongAudience => "The identity token was made for another site.",
            Self::Expired => "The identity token has expired.",
            Self::NotAVm => {
                "The identity token names no VM (ask the metadata server with format=full)."
            }
            Self::KeysUnavailable(_) => "Google's keys could not be fetched. Try again shortly.",
        }
    }
}

/// One of Google's published RSA keys.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Jwk {
    pub kid: String,
    pub n: String,
    pub e: String,
    #[serde(default)]
    pub alg: Option<String>,
    #[serde(default)]
    pub kty: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

impl Jwks {
    /// The set's text; keys other than RSA for RS256 are left out.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let mut set: Jwks =
            serde_json::from_slice(body).map_err(|e| format!("Google's keys: {e}"))?;
        set.keys.retain(|k| {
            k.kty.as_deref().is_none_or(|t| t == "RSA")
                && k.alg.as_deref().is_none_or(|a| a == "RS256")
        });
        Ok(set)
    }

    fn key(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid == kid)
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: String,
}

#[derive(Deserialize)]
struct ComputeEngine {
    project_id: String,
    zone: String,
    instance_name: String,
    instance_id: String,
}

#[derive(Deserialize)]
struct GoogleClaims {
    compute_engine: ComputeEngine,
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    exp: u64,
    iat: u64,
    #[serde(default)]
    google: Option<GoogleClaims>,
}

fn part<T: serde::de::DeserializeOwned>(b64: &str) -> Result<T, IdentityError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|_| IdentityError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| IdentityError::Malformed)
}

/// Verifies `token` against `keys` for `audience` at `now` (unix seconds).
pub async fn verify_with(
    rs256: &impl Rs256,
    keys: &Jwks,
    token: &str,
    audience: &str,
    now: u64,
) -> Result<VmIdentity, IdentityError> {
    let (header, claims, signature) = split(token)?;
    let head: Header = part(header)?;
    if head.alg != "RS256" {
        return Err(IdentityError::Malformed);
    }
    let claims_value: Claims = part(claims)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| IdentityError::Malformed)?;
    let key = keys.key(&head.kid).ok_or(IdentityError::BadSignature)?;
    let message = format!("{header}.{claims}");
    let valid = rs256
        .verify(&key.n, &key.e, message.as_bytes(), &signature)
        .await
        .map_err(|_| IdentityError::BadSignature)?;
    if !valid {
        return Err(IdentityError::BadSignature);
    }
    check_claims(claims_value, audience, now)
}

fn split(token: &str) -> Result<(&str, &str, &str), IdentityError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(IdentityError::Malformed);
    }
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(c), Some(s), None) if !h.is_empty() && !c.is_empty() && !s.is_empty() => {
            Ok((h, c, s))
        }
        _ => Err(IdentityError::Malformed),
    }
}

fn check_claims(claims: Claims, audience: &str, now: u64) -> Result<VmIdentity, IdentityError> {
    // Google writes its issuer with and without the scheme.
    if claims.iss != GOOGLE_ISSUER && claims.iss != "accounts.google.com" {
        return Err(IdentityError::WrongIssuer);
    }
    if claims.aud != audience {
        return Err(IdentityError::WrongAudience);
    }
    if claims.exp <= now || claims.iat > now + SKEW_SECS {
        return Err(IdentityError::Expired);
    }
    let vm = claims.google.ok_or(IdentityError::NotAVm)?.compute_engine;
    let id_ok = !vm.instance_id.is_empty()
        && vm.instance_id.len() <= 20
        && vm.instance_id.bytes().all(|b| b.is_ascii_digit());
    let names_ok = [&vm.project_id, &vm.zone, &vm.instance_name]
        .iter()
        .all(|n| is_valid_resource_name(n));
    if !(id_ok && names_ok) {
        return Err(IdentityError::Malformed);
    }
    Ok(VmIdentity {
        project: vm.project_id,
        zone: vm.zone,
        instance: vm.instance_name,
        instance_id: vm.instance_id,
    })
}

/// The `kid` a token names, if it has a readable header.
fn kid_of(token: &str) -> Option<String> {
    let (header, _, _) = split(token).ok()?;
    part::<Header>(header).ok().map(|h| h.kid)
}

/// Google's keys as this isolate last fetched them: the URL, when, and the set.
struct Cached {
    url: String,
    fetched_at: u64,
    keys: Jwks,
}

thread_local! {
    // Per isolate on Workers (one thread); per test thread natively.
    static KEYS: RefCell<Option<Cached>> = const { RefCell::new(None) };
}

fn cached(url: &str) -> Option<(u64, Jwks)> {
    KEYS.with(|k| {
        k.borrow()
            .as_ref()
            .filter(|c| c.url == url)
            .map(|c| (c.fetched_at, c.keys.clone()))
    })
}

async fn fetch_keys(
    platform: &(impl HttpClient + Clock),
    url: &str,
) -> Result<Jwks, IdentityError> {
    let response = platform
        .send(OutboundRequest::get(url.to_string()))
        .await
        .map_err(|e| IdentityError::KeysUnavailable(e.0))?;
    if !response.is_success() {
        return Err(IdentityError::KeysUnavailable(format!(
            "{url} answered {}",
            response.status
        )));
    }
    let keys = Jwks::parse(&response.body).map_err(IdentityError::KeysUnavailable)?;
    let now = platform.now_secs();
    KEYS.with(|k| {
        *k.borrow_mut() = Some(Cached {
            url: url.to_string(),
            fetched_at: now,
            keys: keys.clone(),
        })
    });
    Ok(keys)
}

/// Verifies `token` with Google's keys from `certs_url`, fetched when none are cached,
/// when the cache is an hour old, or (at most once a minute) when the token names a
/// key the cache does not hold.
pub async fn verify(
    platform: &(impl HttpClient + Clock + Rs256),
    certs_url: &str,
    token: &str,
    audience: &str,
) -> Result<VmIdentity, IdentityError> {
    let now = platform.now_secs();
    let kid = kid_of(token).ok_or(IdentityError::Malformed)?;
    let keys = match cached(certs_url) {
        Some((at, keys)) if now < at + KEYS_TTL_SECS => {
            if keys.key(&kid).is_none() && now >= at + REFETCH_AFTER_SECS {
                fetch_keys(platform, certs_url).await?
            } else {
                keys
            }
        }
        _ => fetch_keys(platform, certs_url).await?,
    };
    verify_with(platform, &keys, token, audience, now).await
}

#[cfg(test)]
mod tests;
