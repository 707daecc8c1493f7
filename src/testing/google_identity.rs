//! Google as the signer of instance identity tokens, for the tests: a fixture key pair
//! (`tests/fixtures/google_identity_private_key.pem`), its JWK set as Google publishes
//! it, and tokens signed with it (or with another key, to be refused).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};
use sha2::Sha256;

pub const GOOGLE_PEM: &str = include_str!("../../tests/fixtures/google_identity_private_key.pem");
pub const KID: &str = "claw-free-test-google-1";
pub const CERTS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";

fn key(pem: &str) -> rsa::RsaPrivateKey {
    rsa::RsaPrivateKey::from_pkcs1_pem(pem).unwrap()
}

/// Google's published key set, holding the fixture key as [`KID`].
pub fn jwks() -> Value {
    let public = key(GOOGLE_PEM).to_public_key();
    json!({"keys": [{
        "kid": KID, "kty": "RSA", "alg": "RS256", "use": "sig",
        "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
    }]})
}

/// A token over `header` and `claims` signed with the PKCS#1 key `pem`.
pub fn sign_with(pem: &str, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(key(pem));
    let signature = signer.sign(input.as_bytes()).to_vec();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// The claims Google's metadata server puts in a `format=full` token for the VM.
pub fn vm_claims(audience: &str, now: u64, vm: (&str, &str, &str, &str)) -> Value {
    let (project, zone, instance, id) = vm;
    json!({
        "iss": "https://accounts.google.com",
        "aud": audience,
        "azp": "110000000000000000001",
        "sub": "110000000000000000001",
        "iat": now - 10,
        "exp": now + 3590,
        "google": {"compute_engine": {
            "instance_creation_timestamp": now - 86400,
            "instance_id": id,
            "instance_name": instance,
            "project_id": project,
            "project_number": 123456789012u64,
            "zone": zone,
        }},
    })
}

/// A token Google would sign for the VM.
pub fn token(audience: &str, now: u64, vm: (&str, &str, &str, &str)) -> String {
    sign_with(
        GOOGLE_PEM,
        &json!({"alg": "RS256", "kid": KID, "typ": "JWT"}),
        &vm_claims(audience, now, vm),
    )
}
