//! The GitHub App's JWT: what the Worker signs to act as the App (`GET /app`, minting
//! installation tokens). RS256 over `header.claims`, `iat` a minute in the past (clock
//! drift), `exp` nine minutes ahead (GitHub refuses more than ten), `iss` the App's id.
//!
//! The App's private key arrives as the PEM GitHub hands out (PKCS#1, `BEGIN RSA
//! PRIVATE KEY`) or as PKCS#8; Web Crypto imports only PKCS#8, so a PKCS#1 key is
//! wrapped here once, without parsing the key itself. The signature is made through
//! the [`Rs256`] port, so that on Workers it can be Web Crypto's RSASSA-PKCS1-v1_5 and
//! the Wasm carries no RSA code; natively it is the `rsa` crate's
//! (`native_rs256`).

use crate::ports::PortError;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

/// How long before "now" the JWT says it was issued (GitHub's advice for clock drift).
pub const BACKDATE_SECS: u64 = 60;
/// How long after "now" it expires; GitHub refuses an `exp` more than ten minutes out.
pub const LIFETIME_SECS: u64 = 540;

/// RSASSA-PKCS1-v1_5 with SHA-256: signing with a PKCS#8 DER key (the App's JWT), and
/// verifying with a public key given as a JWK's base64url `n` and `e` (Google's
/// instance identity tokens, whose keys Google publishes as a JWK set).
#[allow(async_fn_in_trait)]
pub trait Rs256 {
    async fn sign(&self, pkcs8_der: &[u8], message: &[u8]) -> Result<Vec<u8>, PortError>;
    /// Whether `signature` is the key's over `message`; an error only when the key
    /// itself is unusable.
    async fn verify(
        &self,
        n: &str,
        e: &str,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, PortError>;
}

/// The App's private key as PKCS#8 DER. Its `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct AppKey(Vec<u8>);

impl std::fmt::Debug for AppKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppKey(redacted)")
    }
}

/// rsaEncryption's AlgorithmIdentifier: OID 1.2.840.113549.1.1.1 with NULL parameters.
const RSA_ALGORITHM: [u8; 15] = [
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];

impl AppKey {
    /// From the PEM in the Worker's secret (`\n` escapes accepted, as some secret
    /// stores flatten newlines).
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        let pem = pem.replace("\\n", "\n");
        let (label, body) = pem_body(&pem)?;
        let der = STANDARD
            .decode(body)
            .map_err(|_| "the App's private key is not valid PEM (base64)".to_string())?;
        match label.as_str() {
            "RSA PRIVATE KEY" => Ok(Self(pkcs1_to_pkcs8(&der)?)),
            "PRIVATE KEY" => {
                if der.first() != Some(&0x30) {
                    return Err("the App's private key is not DER".into());
                }
                Ok(Self(der))
            }
            other => Err(format!(
                "the App's private key must be an RSA private key PEM, not {other}"
            )),
        }
    }

    pub fn pkcs8_der(&self) -> &[u8] {
        &self.0
    }
}

/// The label and base64 body of the first PEM block.
fn pem_body(pem: &str) -> Result<(String, String), String> {
    let bad = || "the App's private key is not a PEM block".to_string();
    let start = pem.find("-----BEGIN ").ok_or_else(bad)?;
    let rest = &pem[start + "-----BEGIN ".len()..];
    let (label, rest) = rest.split_once("-----").ok_or_else(bad)?;
    let end = format!("-----END {label}-----");
    let (body, _) = rest.split_once(&end).ok_or_else(bad)?;
    let body: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    Ok((label.to_string(), body))
}

/// DER's length octets.
fn der_length(len: usize) -> Vec<u8> {
    if len < 0x80 {
        return vec![len as u8];
    }
    let bytes: Vec<u8> = len
        .to_be_bytes()
        .iter()
        .copied()
        .skip_while(|b| *b == 0)
        .collect();
    let mut out = vec![0x80 | bytes.len() as u8];
    out.extend(bytes);
    out
}

/// `PrivateKeyInfo { version 0, rsaEncryption, OCTET STRING pkcs1 }`.
fn pkcs1_to_pkcs8(pkcs1: &[u8]) -> Result<Vec<u8>, String> {
    if pkcs1.first() != Some(&0x30) || pkcs1.len() < 64 {
        return Err("the App's private key is not a PKCS#1 RSA key".into());
    }
    let mut inner = vec![0x02, 0x01, 0x00];
    inner.extend_from_slice(&RSA_ALGORITHM);
    inner.push(0x04);
    inner.extend(der_length(pkcs1.len()));
    inner.extend_from_slice(pkcs1);
    let mut out = vec![0x30];
    out.extend(der_length(inner.len()));
    out.extend(inner);
    Ok(out)
}

/// `base64url(header).base64url(claims)` for the App at `now` (unix seconds).
pub fn signing_input(app_id: u64, now: u64) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = serde_json::json!({
        "iat": now.saturating_sub(BACKDATE_SECS),
        "exp": now + LIFETIME_SECS,
        "iss": app_id,
    });
    format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()))
}

/// A signed App JWT.
pub async fn app_jwt(
    signer: &impl Rs256,
    key: &AppKey,
    app_id: u64,
    now: u64,
) -> Result<String, PortError> {
    let input = signing_input(app_id, now);
    let signature = signer.sign(key.pkcs8_der(), input.as_bytes()).await?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::testing::TestPlatform;
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::signature::Verifier;
    use sha2::Sha256;

    /// The GitHub App key the simulator's tests register (PKCS#1, as GitHub gives it).
    pub const FIXTURE_PEM: &str = include_str!("../../tests/fixtures/github_app_private_key.pem");

    #[test]
    fn a_pkcs1_key_is_wrapped_into_the_same_pkcs8_key() {
        let key = AppKey::from_pem(FIXTURE_PEM).unwrap();
        let original = rsa::RsaPrivateKey::from_pkcs1_pem(FIXTURE_PEM).unwrap();
        let wrapped = rsa::RsaPrivateKey::from_pkcs8_der(key.pkcs8_der()).unwrap();
        assert_eq!(original, wrapped);
        // A flattened secret reads the same; the key never shows in a log.
        let flat = FIXTURE_PEM.replace('\n', "\\n");
        assert_eq!(AppKey::from_pem(&flat).unwrap(), key);
        assert_eq!(format!("{key:?}"), "AppKey(redacted)");
        for bad in [
            "",
            "hello",
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        ] {
            assert!(AppKey::from_pem(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_jwt_verifies_with_the_apps_public_key_and_lives_under_ten_minutes() {
        let key = AppKey::from_pem(FIXTURE_PEM).unwrap();
        let now = 1_764_000_000;
        let jwt = crate::testing::run(app_jwt(&TestPlatform::new(), &key, 123456, now)).unwrap();
        let (input, signature) = jwt.rsplit_once('.').unwrap();
        let public = rsa::RsaPrivateKey::from_pkcs1_pem(FIXTURE_PEM)
            .unwrap()
            .to_public_key();
        let verifier = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(public);
        let signature = rsa::pkcs1v15::Signature::try_from(
            URL_SAFE_NO_PAD.decode(signature).unwrap().as_slice(),
        )
        .unwrap();
        verifier.verify(input.as_bytes(), &signature).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(input.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["iss"], 123456);
        assert_eq!(claims["iat"], now - 60);
        assert!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap() <= 600);
    }
}
