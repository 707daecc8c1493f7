//! The VM's SSH host ed25519 key as an age identity: its public half is the recipient
//! the Worker encrypts secrets to, its private half decrypts them.

use std::fs;
use std::io::BufReader;
use std::path::Path;
use std::str::FromStr;

/// What goes wrong with a ciphertext, in words the Worker can show a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecryptFailure {
    /// Valid age, but for another key (an older VM, another bot).
    NotForThisVm,
    /// Not an age file at all, or damaged.
    Malformed,
    /// Decrypted to nothing.
    Empty,
}

impl DecryptFailure {
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotForThisVm => "the secret is not encrypted to this VM's key",
            Self::Malformed => "the secret is not a valid age ciphertext",
            Self::Empty => "the secret is empty",
        }
    }
}

pub struct HostKey {
    identity: age::ssh::Identity,
    /// `ssh-ed25519 AAAA...`, without the comment.
    recipient: String,
}

impl HostKey {
    /// Loads the private key and its `.pub`, and proves they belong together by a round
    /// trip, so the VM never publishes a recipient it cannot decrypt for.
    pub fn load(private: &Path, public: &Path) -> Result<Self, String> {
        let public_text = fs::read_to_string(public).map_err(|e| {
            format!(
                "cannot read the host public key {}: {}",
                public.display(),
                e.kind()
            )
        })?;
        let recipient = parse_recipient(&public_text)?;
        let file = fs::File::open(private).map_err(|e| {
            format!(
                "cannot read the host key {}: {}",
                private.display(),
                e.kind()
            )
        })?;
        let identity =
            age::ssh::Identity::from_buffer(BufReader::new(file), None).map_err(|_| {
                format!(
                    "the host key {} is not an SSH private key",
                    private.display()
                )
            })?;
        match identity {
            age::ssh::Identity::Unencrypted(_) => {}
            age::ssh::Identity::Encrypted(_) => {
                return Err("the host key is passphrase-protected".to_string())
            }
            age::ssh::Identity::Unsupported(_) => {
                return Err("the host key's type is not supported".to_string())
            }
        }
        let key = Self {
            identity,
            recipient,
        };
        let probe = key.encrypt_to_self(b"claw.free")?;
        match key.decrypt(&probe) {
            Ok(plain) if plain == b"claw.free" => Ok(key),
            _ => Err("the host key and its .pub do not belong together".to_string()),
        }
    }

    /// The value of the `openclaw/recipient` guest attribute.
    pub fn recipient(&self) -> &str {
        &self.recipient
    }

    /// Decrypts an armored (or binary) age ciphertext.
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>, DecryptFailure> {
        let plain = age::decrypt(&self.identity, ciphertext).map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => DecryptFailure::NotForThisVm,
            _ => DecryptFailure::Malformed,
        })?;
        if plain.is_empty() {
            return Err(DecryptFailure::Empty);
        }
        Ok(plain)
    }

    fn encrypt_to_self(&self, plaintext: &[u8]) -> Result<Vec<u8>, String> {
        let recipient = age::ssh::Recipient::from_str(&self.recipient)
            .map_err(|_| "the host public key is not a valid recipient".to_string())?;
        age::encrypt(&recipient, plaintext)
            .map_err(|_| "cannot encrypt to the host key".to_string())
    }
}

/// `ssh-ed25519 <base64> [comment]` → `ssh-ed25519 <base64>`; any other type is refused,
/// because the contract promises an ed25519 recipient.
pub fn parse_recipient(public_key_line: &str) -> Result<String, String> {
    let mut fields = public_key_line.split_whitespace();
    match (fields.next(), fields.next()) {
        (Some("ssh-ed25519"), Some(key)) => {
            let recipient = format!("ssh-ed25519 {key}");
            age::ssh::Recipient::from_str(&recipient)
                .map_err(|_| "the host public key is not a valid ssh-ed25519 key".to_string())?;
            Ok(recipient)
        }
        (Some(other), Some(_)) => Err(format!("the host key must be ssh-ed25519, not {other}")),
        _ => Err("the host public key file is not an SSH public key".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::process::Command;

    fn keygen(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let private = dir.join(name);
        let status = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f"])
            .arg(&private)
            .status()
            .expect("ssh-keygen");
        assert!(status.success());
        let public = private.with_extension("pub");
        (private, public)
    }

    #[test]
    fn decrypts_its_own_secrets_and_names_what_is_wrong_with_others() {
        let dir = tempfile::tempdir().unwrap();
        let (private, public) = keygen(dir.path(), "host");
        let key = HostKey::load(&private, &public).unwrap();
        let to_me = age::ssh::Recipient::from_str(key.recipient()).unwrap();
        let armored = age::encrypt_and_armor(&to_me, b"123:abc").unwrap();
        assert_eq!(key.decrypt(armored.as_bytes()).unwrap(), b"123:abc");
        let empty = age::encrypt_and_armor(&to_me, b"").unwrap();
        assert_eq!(key.decrypt(empty.as_bytes()), Err(DecryptFailure::Empty));
        assert_eq!(key.decrypt(b"not age"), Err(DecryptFailure::Malformed));

        let (_, other_public) = keygen(dir.path(), "other");
        let other = parse_recipient(&fs::read_to_string(&other_public).unwrap()).unwrap();
        let to_other = age::ssh::Recipient::from_str(&other).unwrap();
        let foreign = age::encrypt_and_armor(&to_other, b"123:abc").unwrap();
        assert_eq!(
            key.decrypt(foreign.as_bytes()),
            Err(DecryptFailure::NotForThisVm)
        );

        // A .pub that is not the private key's half is refused before it is published.
        let err = HostKey::load(&private, &other_public).err().unwrap();
        assert!(err.contains("do not belong together"), "{err}");
        let err = HostKey::load(&dir.path().join("missing"), &public)
            .err()
            .unwrap();
        assert!(err.contains("cannot read the host key"), "{err}");
    }

    #[test]
    fn recipient_drops_the_comment_and_refuses_other_types() {
        let key = "AAAAC3NzaC1lZDI1NTE5AAAAIFqomO+suQyTAozYsPObElavkPIQnzXTQb/jzhG3HN9m";
        assert_eq!(
            parse_recipient(&format!("ssh-ed25519 {key} root@vm\n")).unwrap(),
            format!("ssh-ed25519 {key}")
        );
        assert!(parse_recipient("ssh-rsa AAAAB3Nza x")
            .unwrap_err()
            .contains("ssh-ed25519"));
        assert!(parse_recipient("ssh-ed25519 notbase64!").is_err());
        assert!(parse_recipient("").is_err());
    }
}
