//! Google as the signer of instance identity tokens: the JWT a VM's metadata server
//! answers `instance/service-accounts/{alias}/identity?audience=...[&format=full]`
//! with, RS256 by a key the simulator holds as Google (the fixture
//! `tests/fixtures/google_identity_private_key.pem`), and that key published as Google
//! publishes its own, a JWK set at `/oauth2/v3/certs`.
//!
//! As on GCE: the VM needs a service account (else 404), `audience` is required (400),
//! tokens last an hour, and only `format=full` carries the `google.compute_engine`
//! claims naming the VM.

use crate::clock::now_secs;
use crate::state::{Instance, World};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};
use sha2::Sha256;
use std::sync::OnceLock;

const GOOGLE_PEM: &str = include_str!("../../fixtures/google_identity_private_key.pem");
/// The key id the simulator's Google signs with.
pub const KID: &str = "claw-free-sim-google-1";
pub const ISSUER: &str = "https://accounts.google.com";
/// How long an identity token lives (Google's: an hour).
pub const LIFETIME_SECS: u64 = 3600;

fn key() -> &'static rsa::RsaPrivateKey {
    static KEY: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| rsa::RsaPrivateKey::from_pkcs1_pem(GOOGLE_PEM).expect("the fixture key"))
}

/// `GET /oauth2/v3/certs`: Google's JWK set.
pub fn certs() -> Value {
    let public = key().to_public_key();
    json!({"keys": [{
        "kid": KID,
        "kty": "RSA",
        "alg": "RS256",
        "use": "sig",
        "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
    }]})
}

/// Why the metadata server gives no token.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No service account, or not this alias: GCE's 404 page.
    NotFound,
    /// GCE's 400 text.
    BadRequest(&'static str),
}

/// The identity token for `inst`, as its metadata server signs it.
pub fn token(
    world: &World,
    inst: &Instance,
    alias: &str,
    audience: Option<&str>,
    format: Option<&str>,
) -> Result<String, Refusal> {
    let (email, _) = crate::service_accounts::attached(inst).ok_or(Refusal::NotFound)?;
    if alias != "default" && alias != email {
        return Err(Refusal::NotFound);
    }
    let audience = audience
        .filter(|a| !a.is_empty())
        .ok_or(Refusal::BadRequest("non-empty audience parameter required"))?;
    let full = match format {
        None | Some("standard") => false,
        Some("full") => true,
        Some(_) => return Err(Refusal::BadRequest("invalid format parameter")),
    };
    let now = now_secs();
    // Google's subject is the service account's unique numeric id.
    let subject = numeric_id(&email);
    let mut claims = json!({
        "iss": ISSUER,
        "aud": audience,
        "azp": subject,
        "sub": subject,
        "email": email,
        "email_verified": true,
        "iat": now,
        "exp": now + LIFETIME_SECS,
    });
    if full {
        let number = world
            .projects
            .get(&inst.key.project)
            .and_then(|p| p.number.parse::<u64>().ok())
            .unwrap_or(0);
        claims["google"] = json!({"compute_engine": {
            "instance_creation_timestamp": inst.created_ms / 1000,
            "instance_id": inst.id,
            "instance_name": inst.key.instance,
            "project_id": inst.key.project,
            "project_number": number,
            "zone": inst.key.zone,
        }});
    }
    Ok(sign(
        &json!({"alg": "RS256", "kid": KID, "typ": "JWT"}),
        &claims,
    ))
}

/// A stable 21-digit id for a service account, as Google's unique ids look.
fn numeric_id(email: &str) -> String {
    use sha2::Digest;
    let digest = Sha256::digest(email.as_bytes());
    let mut id = String::from("1");
    for byte in digest.iter().take(20) {
        id.push(char::from(b'0' + byte % 10));
    }
    id
}

fn sign(header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = rsa::pkcs1v15::SigningKey::<Sha256>::new(key().clone())
        .sign(input.as_bytes())
        .to_vec();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}
