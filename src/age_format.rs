//! Encryption to a VM's SSH host key in the age format (age-encryption.org/v1), the
//! one direction the Worker needs: an `ssh-ed25519` recipient stanza, the header MAC,
//! the STREAM payload and the ASCII armor, built from the primitives the format names
//! (X25519, HKDF-SHA-256, ChaCha20-Poly1305, HMAC-SHA-256) rather than the whole `age`
//! crate, whose localization and scrypt the Worker would carry for nothing. Its output
//! is standard age: the tests decrypt it with the `age` crate and the `age` CLI, and
//! the VM agent decrypts it with the `age` crate.
//!
//! Randomness comes from the platform ([`Random`]), like every other secret the Worker
//! draws.

use crate::ports::Random;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::ChaCha20Poly1305;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

const VERSION_LINE: &str = "age-encryption.org/v1";
const SSH_ED25519: &str = "ssh-ed25519";
const SSH_ED25519_LABEL: &[u8] = b"age-encryption.org/v1/ssh-ed25519";
/// Plaintext bytes per STREAM chunk.
const CHUNK: usize = 64 * 1024;
const ARMOR_BEGIN: &str = "-----BEGIN AGE ENCRYPTED FILE-----";
const ARMOR_END: &str = "-----END AGE ENCRYPTED FILE-----";
/// Columns of the armor's and the stanza body's base64 lines.
const COLUMNS: usize = 64;

/// An `ssh-ed25519` public key, parsed: its SSH wire encoding (what the stanza's tag
/// and tweak are derived from) and the key as an X25519 (Montgomery) point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshEd25519Recipient {
    ssh_key: Vec<u8>,
    montgomery: [u8; 32],
}

impl SshEd25519Recipient {
    /// Parses `ssh-ed25519 <base64> [comment]`; any other key type is refused.
    pub fn parse(line: &str) -> Result<Self, String> {
        let mut parts = line.split_whitespace();
        if parts.next() != Some(SSH_ED25519) {
            return Err("only ssh-ed25519 keys are accepted".into());
        }
        let ssh_key = parts
            .next()
            .and_then(|b64| STANDARD.decode(b64).ok())
            .ok_or("the key is not base64")?;
        // string "ssh-ed25519", then string of the 32-byte key.
        let mut expected = Vec::with_capacity(51);
        expected.extend_from_slice(&(SSH_ED25519.len() as u32).to_be_bytes());
        expected.extend_from_slice(SSH_ED25519.as_bytes());
        expected.extend_from_slice(&32u32.to_be_bytes());
        if ssh_key.len() != 51 || ssh_key[..19] != expected[..] {
            return Err("not an ssh-ed25519 public key".into());
        }
        let mut point = [0u8; 32];
        point.copy_from_slice(&ssh_key[19..]);
        let edwards = curve25519_dalek::edwards::CompressedEdwardsY(point)
            .decompress()
            .ok_or("not a point on Ed25519")?;
        Ok(Self {
            ssh_key,
            montgomery: edwards.to_montgomery().to_bytes(),
        })
    }

    /// The stanza that wraps `file_key` to this key, with ephemeral secret `ephemeral`:
    /// `-> ssh-ed25519 <tag> <epk>` and the wrapped key.
    fn stanza(&self, file_key: &[u8; 16], ephemeral: [u8; 32]) -> Result<String, String> {
        let epk = x25519_dalek::x25519(ephemeral, x25519_dalek::X25519_BASEPOINT_BYTES);
        let tweak = hkdf(&self.ssh_key, SSH_ED25519_LABEL, &[]);
        let shared = x25519_dalek::x25519(tweak, x25519_dalek::x25519(ephemeral, self.montgomery));
        if shared == [0u8; 32] {
            return Err("the key is of small order".into());
        }
        let mut salt = [0u8; 64];
        salt[..32].copy_from_slice(&epk);
        salt[32..].copy_from_slice(&self.montgomery);
        let wrap_key = hkdf(&salt, SSH_ED25519_LABEL, &shared);
        let body = seal(&wrap_key, &[0u8; 12], file_key)?;
        let tag = &Sha256::digest(&self.ssh_key)[..4];
        Ok(format!(
            "-> {SSH_ED25519} {} {}\n{}\n",
            STANDARD_NO_PAD.encode(tag),
            STANDARD_NO_PAD.encode(epk),
            wrapped(&STANDARD_NO_PAD.encode(body)),
        ))
    }
}

/// HKDF-SHA-256 to 32 bytes.
fn hkdf(salt: &[u8], info: &[u8], ikm: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    hkdf::Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, &mut out)
        .expect("32 bytes is a valid HKDF-SHA-256 length");
    out
}

fn seal(key: &[u8; 32], nonce: &[u8; 12], plaintext: &[u8]) -> Result<Vec<u8>, String> {
    ChaCha20Poly1305::new(key.into())
        .encrypt(nonce.into(), plaintext)
        .map_err(|_| "encryption failed".to_string())
}

/// Base64 text in lines of [`COLUMNS`]; a stanza body whose last line is full gets an
/// empty line after it, as the format requires.
fn wrapped(text: &str) -> String {
    let lines: Vec<&str> = text
        .as_bytes()
        .chunks(COLUMNS)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    let mut out = lines.join("\n");
    if text.len().is_multiple_of(COLUMNS) {
        out.push('\n');
    }
    out
}

/// Encrypts `plaintext` to `recipient` (an `ssh-ed25519` public key line) and armors it.
pub fn encrypt_armored(
    random: &impl Random,
    recipient: &str,
    plaintext: &[u8],
) -> Result<String, String> {
    let recipient = SshEd25519Recipient::parse(recipient)?;
    let mut file_key = [0u8; 16];
    let mut ephemeral = [0u8; 32];
    let mut nonce = [0u8; 16];
    for buf in [&mut file_key[..], &mut ephemeral[..], &mut nonce[..]] {
        random.fill(buf).map_err(|e| e.to_string())?;
    }
    let mut header = format!("{VERSION_LINE}\n");
    header.push_str(&recipient.stanza(&file_key, ephemeral)?);
    header.push_str("---");
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&hkdf(&[], b"header", &file_key))
        .map_err(|_| "MAC key".to_string())?;
    mac.update(header.as_bytes());
    header.push(' ');
    header.push_str(&STANDARD_NO_PAD.encode(mac.finalize().into_bytes()));
    header.push('\n');

    let mut binary = header.into_bytes();
    binary.extend_from_slice(&nonce);
    let payload_key = hkdf(&nonce, b"payload", &file_key);
    let chunks: Vec<&[u8]> = if plaintext.is_empty() {
        vec![&[]]
    } else {
        plaintext.chunks(CHUNK).collect()
    };
    for (counter, chunk) in chunks.iter().enumerate() {
        let mut chunk_nonce = [0u8; 12];
        chunk_nonce[3..11].copy_from_slice(&(counter as u64).to_be_bytes());
        if counter + 1 == chunks.len() {
            chunk_nonce[11] = 1;
        }
        binary.extend_from_slice(&seal(&payload_key, &chunk_nonce, chunk)?);
    }

    let body = STANDARD.encode(binary);
    let mut armored = format!("{ARMOR_BEGIN}\n");
    for line in body.as_bytes().chunks(COLUMNS) {
        armored.push_str(std::str::from_utf8(line).unwrap_or_default());
        armored.push('\n');
    }
    armored.push_str(ARMOR_END);
    armored.push('\n');
    Ok(armored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{SeededRandom, VM_RECIPIENT};
    use std::io::Write;

    /// Decrypted by the full `age` crate, as the VM agent does.
    fn decrypt_with_age_crate(armored: &str) -> Vec<u8> {
        crate::testing::decrypt_on_vm(armored)
    }

    #[test]
    fn the_age_crate_decrypts_every_size_across_chunk_boundaries() {
        let random = SeededRandom::new(7);
        for len in [0, 1, 31, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 5] {
            let plaintext: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let armored = encrypt_armored(&random, VM_RECIPIENT, &plaintext).unwrap();
            assert!(
                armored.starts_with(ARMOR_BEGIN) && armored.ends_with(&format!("{ARMOR_END}\n"))
            );
            assert_eq!(decrypt_with_age_crate(&armored), plaintext, "{len} bytes");
        }
    }

    #[test]
    fn the_age_cli_decrypts_it() {
        let armored = encrypt_armored(
            &SeededRandom::new(9),
            VM_RECIPIENT.trim(),
            b"123456789:for-the-cli",
        )
        .unwrap();
        let key = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/vm_host_ed25519_key"
        );
        let mut child = std::process::Command::new("age")
            .args(["--decrypt", "--identity", key])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("the age CLI (Debian package age, installed by scripts/bootstrap)");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(armored.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "age refused the ciphertext");
        assert_eq!(out.stdout, b"123456789:for-the-cli");
    }

    #[test]
    fn each_encryption_is_fresh_and_hides_the_plaintext() {
        let random = SeededRandom::new(3);
        let a = encrypt_armored(&random, VM_RECIPIENT, b"123456:token").unwrap();
        let b = encrypt_armored(&random, VM_RECIPIENT, b"123456:token").unwrap();
        assert_ne!(a, b);
        assert!(!a.contains("123456:token"));
    }

    #[test]
    fn only_ssh_ed25519_keys_are_accepted() {
        let random = SeededRandom::new(1);
        for bad in [
            "ssh-ed25519 garbage",
            "ssh-ed25519",
            "",
            "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
            "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDE7nIXTGNuaRBN9toI",
            // An ssh-rsa blob under the ssh-ed25519 name.
            "ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQDE7nIXTGNuaRBN9toI",
        ] {
            assert!(encrypt_armored(&random, bad, b"x").is_err(), "{bad}");
        }
    }
}
