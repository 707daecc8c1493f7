//! libsodium's sealed box (`crypto_box_seal`), the only form GitHub accepts a secret
//! in: an ephemeral X25519 key pair, the nonce BLAKE2b-192 of the ephemeral and the
//! recipient's public keys, and XSalsa20-Poly1305 under their shared key. The output is
//! `ephemeral public key ‖ ciphertext`, base64 as GitHub's `encrypted_value`. The
//! ephemeral secret comes from the platform's randomness and is dropped at once, so
//! only the repository's private key (GitHub's) can open it.

use crate::ports::{PortError, Random};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use blake2::digest::consts::U24;
use blake2::{Blake2b, Digest};
use crypto_box::aead::Aead;
use crypto_box::{PublicKey, SalsaBox, SecretKey};

/// A repository's (or environment's) secrets key, as `GET .../secrets/public-key`
/// gives it: 32 bytes, base64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoKey {
    pub key_id: String,
    key: [u8; 32],
}

impl RepoKey {
    /// Parses GitHub's `{key_id, key}`; refuses anything but a 32-byte key.
    pub fn parse(key_id: &str, key_base64: &str) -> Result<Self, String> {
        let bytes = STANDARD
            .decode(key_base64.trim())
            .map_err(|_| "GitHub's public key is not base64".to_string())?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "GitHub's public key is not 32 bytes".to_string())?;
        if key_id.is_empty() || key_id.len() > 100 {
            return Err("GitHub's key id is missing".into());
        }
        Ok(Self {
            key_id: key_id.to_string(),
            key,
        })
    }
}

/// Seals `plaintext` to `to`; the base64 `encrypted_value` GitHub takes.
pub fn seal(random: &impl Random, to: &RepoKey, plaintext: &[u8]) -> Result<String, PortError> {
    let mut ephemeral = [0u8; 32];
    random.fill(&mut ephemeral)?;
    let ephemeral = SecretKey::from(ephemeral);
    let ephemeral_public = ephemeral.public_key();
    let recipient = PublicKey::from(to.key);
    let mut hasher = Blake2b::<U24>::new();
    hasher.update(ephemeral_public.as_bytes());
    hasher.update(recipient.as_bytes());
    let nonce = hasher.finalize();
    let sealed = SalsaBox::new(&recipient, &ephemeral)
        .encrypt(&nonce, plaintext)
        .map_err(|_| PortError("sealing failed".into()))?;
    let mut out = Vec::with_capacity(32 + sealed.len());
    out.extend_from_slice(ephemeral_public.as_bytes());
    out.extend_from_slice(&sealed);
    Ok(STANDARD.encode(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestPlatform;

    #[test]
    fn github_opens_it_with_the_repository_key() {
        let platform = TestPlatform::new();
        let repo = SecretKey::from([7u8; 32]);
        let key = RepoKey::parse(
            "568250167242549743",
            &STANDARD.encode(repo.public_key().as_bytes()),
        )
        .unwrap();
        let sealed = seal(&platform, &key, b"nix-signing-key:secret").unwrap();
        // libsodium's own opener (the crypto_box crate's `unseal`), as GitHub uses it.
        let opened = repo.unseal(&STANDARD.decode(&sealed).unwrap()).unwrap();
        assert_eq!(opened, b"nix-signing-key:secret");
        // A fresh ephemeral key each time: the same secret never seals the same way.
        assert_ne!(
            sealed,
            seal(&platform, &key, b"nix-signing-key:secret").unwrap()
        );
        // Another repository's key cannot open it.
        assert!(SecretKey::from([8u8; 32])
            .unseal(&STANDARD.decode(&sealed).unwrap())
            .is_err());
    }

    #[test]
    fn only_a_32_byte_key_is_taken() {
        assert!(RepoKey::parse("1", &STANDARD.encode([1u8; 31])).is_err());
        assert!(RepoKey::parse("1", "not base64!").is_err());
        assert!(RepoKey::parse("", &STANDARD.encode([1u8; 32])).is_err());
    }
}
