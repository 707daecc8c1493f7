//! Crash-safe file operations: private folders, and files replaced atomically
//! (temporary file, fsync, rename, fsync of the folder), so a reader or a crash never
//! sees half a file.

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of a folder only its owner may enter.
pub const PRIVATE_DIR: u32 = 0o700;
/// Mode of a folder everyone may enter and only its owner may change: the state folder,
/// which holds the unprivileged gateway's own folder (its `HOME`, working and state
/// directory), as the image's tmpfiles rule creates it.
pub const SHARED_DIR: u32 = 0o755;
/// Mode of a file only its owner may read.
pub const PRIVATE_FILE: u32 = 0o600;

/// Creates `path` (and missing parents) and leaves it with exactly `mode`, whatever the
/// umask or a previous run left.
pub fn ensure_dir(path: &Path, mode: u32) -> io::Result<()> {
    if !path.is_dir() {
        // Parents get the usual mode; only the folder itself is private.
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        match DirBuilder::new().mode(mode).create(path) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
    }
    fs::set_permissions(path, Permissions::from_mode(mode))
}

/// Replaces `path` with `contents`, readable only as `mode` allows, atomically.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let dir = parent(path)?;
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        // The mode given to open() is reduced by the umask; set it exactly.
        file.set_permissions(Permissions::from_mode(mode))?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Removes the temporary files a crashed [`write_atomic`] left in `dir` (never those of
/// a write in progress in this process). A missing folder has none.
pub fn remove_stale_temporaries(dir: &Path) -> io::Result<()> {
    let own = format!(".tmp-{}", std::process::id());
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.contains(".tmp-") && !name.ends_with(&own) {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Makes the renames and creations inside `dir` durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Removes `path` and everything under it; a missing path is not an error.
pub fn remove_tree(path: &Path) -> io::Result<()> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// The folder that holds `path`.
pub fn parent(path: &Path) -> io::Result<&Path> {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no parent folder"))
}

/// The permission bits `path` has now, for the tests of what the agent writes.
#[cfg(test)]
pub fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<std::ffi::OsString> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect()
    }

    #[test]
    fn atomic_write_replaces_with_exact_mode_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("p");
        ensure_dir(&private, PRIVATE_DIR).unwrap();
        fs::set_permissions(&private, Permissions::from_mode(0o755)).unwrap();
        ensure_dir(&private, PRIVATE_DIR).unwrap();
        assert_eq!(mode(&private), 0o700);

        let file = private.join("f");
        write_atomic(&file, b"one", PRIVATE_FILE).unwrap();
        write_atomic(&file, b"two", PRIVATE_FILE).unwrap();
        assert_eq!(fs::read(&file).unwrap(), b"two");
        assert_eq!(mode(&file), 0o600);
        assert_eq!(names(&private), vec![std::ffi::OsString::from("f")]);
    }

    #[test]
    fn stale_temporaries_are_removed_and_real_files_kept() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".telegram-token.tmp-1"), b"half").unwrap();
        fs::write(dir.path().join("telegram-token"), b"whole").unwrap();
        remove_stale_temporaries(dir.path()).unwrap();
        assert_eq!(
            names(dir.path()),
            vec![std::ffi::OsString::from("telegram-token")]
        );
        remove_stale_temporaries(&dir.path().join("missing")).unwrap();
    }

    #[test]
    fn write_into_a_missing_folder_fails_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write_atomic(&dir.path().join("nope/f"), b"x", PRIVATE_FILE).is_err());
        remove_tree(&dir.path().join("nope")).unwrap();
    }
}
