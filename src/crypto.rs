//! The Worker's cryptography: sealing access tokens for KV (AES-256-GCM), random
//! identifiers, PKCE, digests, and age encryption of secrets to a VM's host key.
//!
//! A sealed value is bound to its record by associated data (`session:<owner>`,
//! `deploy:<id>`), so a ciphertext copied into another record does not open.

use crate::ports::{PortError, Random};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use sha2::{Digest, Sha256};

const SEALED_PREFIX: &str = "v1.";
const NONCE_LEN: usize = 12;

/// The AES-256-GCM key from the `SESSION_KEY` Worker secret.
#[derive(Clone)]
pub struct SealingKey([u8; 32]);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(..)")
    }
}

impl SealingKey {
    pub fn from_base64(value: &str) -> Result<Self, String> {
        let bytes = STANDARD
            .decode(value.trim())
            .map_err(|_| "SESSION_KEY must be base64".to_string())?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "SESSION_KEY must be 32 bytes of base64".to_string())?;
        Ok(Self(key))
    }
}

/// A value sealed for KV: `v1.<base64url(nonce || ciphertext)>`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Sealed(String);

impl Sealed {
    /// The sealed text, as stored or sent in a cookie (base64url and `.` only).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Sealed text received back (a cookie): it still has to open.
    pub fn from_text(text: &str) -> Self {
        Self(text.to_string())
    }
}

/// A sealed value did not open: tampered, moved to another record, or sealed under
/// another key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenError;

pub fn seal(
    key: &SealingKey,
    random: &impl Random,
    context: &str,
    plaintext: &str,
) -> Result<Sealed, PortError> {
    let mut nonce = [0u8; NONCE_LEN];
    random.fill(&mut nonce)?;
    let cipher = Aes256Gcm::new((&key.0).into());
    let ciphertext = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext.as_bytes(),
                aad: context.as_bytes(),
            },
        )
        .map_err(|_| PortError("sealing failed".into()))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ciphertext);
    Ok(Sealed(format!(
        "{SEALED_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(out)
    )))
}

pub fn open(key: &SealingKey, context: &str, sealed: &Sealed) -> Result<String, OpenError> {
    let raw = sealed.0.strip_prefix(SEALED_PREFIX).ok_or(OpenError)?;
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| OpenError)?;
    if bytes.len() <= NONCE_LEN {
        return Err(OpenError);
    }
    let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
    let plaintext = Aes256Gcm::new((&key.0).into())
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: context.as_bytes(),
            },
        )
        .map_err(|_| OpenError)?;
    String::from_utf8(plaintext).map_err(|_| OpenError)
}

/// `n` random bytes as lowercase hex (a 128-bit id is `random_hex(r, 16)`).
pub fn random_hex(random: &impl Random, n: usize) -> Result<String, PortError> {
    let mut bytes = vec![0u8; n];
    random.fill(&mut bytes)?;
    Ok(hex(&bytes))
}

/// A random URL-safe token of `n` bytes (OAuth state, PKCE verifier).
pub fn random_token(random: &impl Random, n: usize) -> Result<String, PortError> {
    let mut bytes = vec![0u8; n];
    random.fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The PKCE S256 challenge of a verifier.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// HMAC-SHA-256 (RFC 2104) of `message` under the sealing key: values the Worker
/// can derive again later instead of storing them.
pub fn hmac_sha256(key: &SealingKey, message: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key.0).expect("HMAC takes any key length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// [`hmac_sha256`] of `message` for one `purpose`, as lowercase hex: values the Worker
/// can recompute but nobody else can forge (derived ids, a deploy's viewer secret, the
/// tags of status answers). `purpose` keeps the uses apart.
pub fn mac_hex(key: &SealingKey, purpose: &str, message: &str) -> String {
    let input = [purpose.as_bytes(), b"\0", message.as_bytes()].concat();
    hex(&hmac_sha256(key, &input))
}

/// Compares two strings in time that does not depend on where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Whether `value` has the shape of the secrets claw.free hands out in cookies
/// ([`random_hex`] of 16 bytes).
pub fn is_secret_shaped(value: &str) -> bool {
    value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// SHA-256 as hex: how cookie secrets and addresses appear in KV keys.
pub fn sha256_hex(value: &str) -> String {
    hex(&Sha256::digest(value.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Encrypts `plaintext` with age to an `ssh-ed25519` recipient, armored: a standard
/// age file that the `age` CLI, agenix and the VM agent all read
/// (see [`crate::age_format`]).
pub fn age_encrypt(
    random: &impl Random,
    recipient: &str,
    plaintext: &[u8],
) -> Result<String, String> {
    crate::age_format::encrypt_armored(random, recipient, plaintext)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{development_key, SeededRandom};

    #[test]
    fn sealed_values_open_only_in_their_context() {
        let random = SeededRandom::new(1);
        let sealed = seal(&development_key(), &random, "session:alice", "ya29.token").unwrap();
        assert!(!sealed.0.contains("ya29"));
        assert_eq!(
            open(&development_key(), "session:alice", &sealed).unwrap(),
            "ya29.token"
        );
        assert_eq!(
            open(&development_key(), "session:mallory", &sealed),
            Err(OpenError)
        );
        let other_key = SealingKey::from_base64(&STANDARD.encode([7u8; 32])).unwrap();
        assert_eq!(open(&other_key, "session:alice", &sealed), Err(OpenError));
    }

    #[test]
    fn tampered_values_are_refused() {
        let random = SeededRandom::new(2);
        let sealed = seal(&development_key(), &random, "ctx", "secret").unwrap();
        let mut bytes = sealed.0.clone().into_bytes();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let tampered = Sealed(String::from_utf8(bytes).unwrap());
        assert_eq!(open(&development_key(), "ctx", &tampered), Err(OpenError));
        assert_eq!(
            open(&development_key(), "ctx", &Sealed("v1.".into())),
            Err(OpenError)
        );
        assert_eq!(
            open(&development_key(), "ctx", &Sealed("plain".into())),
            Err(OpenError)
        );
    }

    #[test]
    fn nonces_differ_between_seals() {
        let random = SeededRandom::new(3);
        let a = seal(&development_key(), &random, "c", "same").unwrap();
        let b = seal(&development_key(), &random, "c", "same").unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64() {
        assert!(SealingKey::from_base64("not base64!").is_err());
        assert!(SealingKey::from_base64(&STANDARD.encode([1u8; 16])).is_err());
    }

    #[test]
    fn pkce_challenge_is_unpadded_base64url_sha256() {
        // Computed independently: printf %s VERIFIER | openssl dgst -sha256 -binary | base64url
        assert_eq!(
            pkce_challenge("claw-free-pkce-verifier-0123456789-abcdefghijklmnop"),
            "2ic0D9WUWxIAnqnVPnFEMXooh24pUzFk_GRaF7cSKh4"
        );
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // RFC 4231 test case 2's message under a 32-byte key of 0x0b..: checked
        // against Python's hmac module (hmac.new(b"\x0b" * 32, b"what do ya want for nothing?", "sha256")).
        let key = SealingKey([0x0b; 32]);
        let mac = hmac_sha256(&key, b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac),
            "c3f2649c34ea24e4d62a2c7e868bbea0233c9d4c2cc300794db76aa18d6822d8"
        );
    }
}
