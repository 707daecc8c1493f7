//! The cache's Nix signing key, made once at link time: Ed25519 in Nix's own text
//! format (`name:base64(seed ‖ public key)` for the secret, `name:base64(public key)`
//! for the public half, as `nix key generate-secret` writes them). The secret goes
//! sealed into the repository's environment and is then forgotten; the public half goes
//! into `claw-free.json`, where the VM's substituter trusts it.

use crate::ports::{PortError, Random};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// A key pair. Its `Debug` shows only the public half.
pub struct NixKeyPair {
    secret: String,
    public: String,
}

impl std::fmt::Debug for NixKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NixKeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// Nix key names: what its tools accept in `name:key` (no colon, no space).
fn valid_name(name: &str) -> bool {
    (1..=100).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

impl NixKeyPair {
    pub fn generate(random: &impl Random, name: &str) -> Result<Self, PortError> {
        if !valid_name(name) {
            return Err(PortError(format!("{name:?} is not a Nix key name")));
        }
        let mut seed = [0u8; 32];
        random.fill(&mut seed)?;
        let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
        let public = signing.verifying_key().to_bytes();
        let mut secret = Vec::with_capacity(64);
        secret.extend_from_slice(&seed);
        secret.extend_from_slice(&public);
        Ok(Self {
            secret: format!("{name}:{}", STANDARD.encode(&secret)),
            public: format!("{name}:{}", STANDARD.encode(public)),
        })
    }

    /// The secret key, to be sealed for the repository and then dropped.
    pub fn expose_secret(&self) -> &str {
        &self.secret
    }

    /// The public key (`trusted-public-keys`).
    pub fn public(&self) -> &str {
        &self.public
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestPlatform;
    use std::io::Write;
    use std::process::{Command, Stdio};

    #[test]
    fn nix_reads_the_secret_key_and_derives_the_same_public_key() {
        let pair = NixKeyPair::generate(&TestPlatform::new(), "claw-cache-claw-demo-1").unwrap();
        assert!(pair.public().starts_with("claw-cache-claw-demo-1:"));
        assert!(!format!("{pair:?}").contains(pair.expose_secret()));
        // The real `nix` (scripts/bootstrap installs it) is the judge of the format.
        let cache = std::env::temp_dir().join(format!("claw-free-nix-key-{}", std::process::id()));
        let mut child = Command::new("nix")
            .args([
                "--extra-experimental-features",
                "nix-command",
                "key",
                "convert-secret-to-public",
            ])
            .env("NIX_CONFIG", "build-users-group =")
            .env("XDG_CACHE_HOME", &cache)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("nix is installed (scripts/bootstrap)");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(pair.expose_secret().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let _ = std::fs::remove_dir_all(&cache);
        assert!(out.status.success());
        assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), pair.public());
    }

    /// Nix takes the public half from the secret as written, so its derivation is
    /// checked against OpenSSL's own Ed25519 from the seed.
    #[test]
    fn the_public_key_is_the_seeds_as_openssl_derives_it() {
        let pair = NixKeyPair::generate(&TestPlatform::new(), "k-1").unwrap();
        let secret = STANDARD
            .decode(pair.expose_secret().split_once(':').unwrap().1)
            .unwrap();
        // PKCS#8 of an Ed25519 seed (RFC 8410).
        let mut der = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        der.extend_from_slice(&secret[..32]);
        let mut child = Command::new("openssl")
            .args(["pkey", "-inform", "DER", "-pubout", "-outform", "DER"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("openssl is installed");
        child.stdin.take().unwrap().write_all(&der).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let public = STANDARD.encode(&out.stdout[out.stdout.len() - 32..]);
        assert_eq!(pair.public(), format!("k-1:{public}"));
    }

    #[test]
    fn names_nix_cannot_read_are_refused() {
        for bad in ["", "a:b", "a b", &"x".repeat(101)] {
            assert!(
                NixKeyPair::generate(&TestPlatform::new(), bad).is_err(),
                "{bad:?}"
            );
        }
    }
}
