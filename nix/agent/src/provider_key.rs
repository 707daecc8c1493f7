//! The bootstrap provider's API key: 32 random bytes as hex, made once at first
//! boot in a root-only file. The provider reads it from there; OpenClaw gets it in
//! its configuration (this provider's `apiKey`), which reaches the gateway only as
//! its own systemd credential. Any other local user can reach the provider on
//! loopback, but not read the key.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

const KEY_BYTES: usize = 32;

/// The key in `path`, made there first if there is none. Two runs at once agree:
/// the file is created exclusively, and the loser reads the winner's key.
pub fn load_or_create(path: &Path) -> io::Result<String> {
    if let Some(key) = read(path)? {
        return Ok(key);
    }
    let mut bytes = [0u8; KEY_BYTES];
    fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    let key: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut file) => {
            file.write_all(format!("{key}\n").as_bytes())?;
            file.sync_all()?;
            Ok(key)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            read(path)?.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "empty key file"))
        }
        Err(e) => Err(e),
    }
}

fn read(path: &Path) -> io::Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => Ok(Some(text.trim().to_string())),
        // A file left empty by a crash between create and write is made again.
        Ok(_) => {
            fs::remove_file(path)?;
            Ok(None)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_root_only_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("setup-provider.key");
        let key = load_or_create(&path).unwrap();
        assert_eq!(key.len(), 64);
        assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(crate::fsutil::mode(&path), 0o600);
        assert_eq!(load_or_create(&path).unwrap(), key, "kept across runs");
        fs::write(&path, "").unwrap();
        let again = load_or_create(&path).unwrap();
        assert_ne!(again, key, "an empty file is made again");
    }
}
