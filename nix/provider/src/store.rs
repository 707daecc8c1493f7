//! The stage store: the conversation's [`Session`] in one JSON file under the state
//! directory, replaced atomically (write a temporary file, fsync, rename, fsync the
//! folder), so that a crash leaves either the old stage or the new one and a restart
//! resumes where the user was.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::conversation::Session;

const FILE_NAME: &str = "setup-stage.json";

pub struct StageStore {
    path: PathBuf,
}

impl StageStore {
    /// Opens the store, creating the state directory (0700) when missing.
    pub fn open(state_dir: &Path) -> Result<Self, String> {
        fs::create_dir_all(state_dir)
            .map_err(|e| format!("cannot create {}: {e}", state_dir.display()))?;
        Ok(Self {
            path: state_dir.join(FILE_NAME),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved session; a fresh one when there is none. A file that cannot be read
    /// as a session is set aside (`.corrupt`) rather than trusted or silently lost.
    pub fn load(&self) -> Result<Session, String> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Session::default()),
            Err(e) => return Err(format!("cannot read {}: {e}", self.path.display())),
        };
        match serde_json::from_str(&text) {
            Ok(session) => Ok(session),
            Err(e) => {
                let aside = self.path.with_extension("json.corrupt");
                fs::rename(&self.path, &aside)
                    .map_err(|e| format!("cannot move aside {}: {e}", self.path.display()))?;
                eprintln!(
                    "the saved stage was unreadable ({e}); moved it to {} and started over",
                    aside.display()
                );
                Ok(Session::default())
            }
        }
    }

    pub fn save(&self, session: &Session) -> Result<(), String> {
        let json = serde_json::to_vec_pretty(session).map_err(|e| e.to_string())?;
        write_atomically(&self.path, &json, 0o600, None)
    }

    /// Forgets the conversation (used by `clawfree switch-llm`).
    pub fn reset(&self) -> Result<(), String> {
        self.save(&Session::default())
    }
}

/// Replaces `path` with `bytes` so that readers see the old or the new content, never
/// a mix, even across a crash. The new file gets `mode` and, when given, the owner
/// `(uid, gid)` before it is renamed into place.
pub fn write_atomically(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<(), String> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| format!("{} is not a file path", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let fail = |what: &str, e: std::io::Error| format!("cannot {what} {}: {e}", tmp.display());
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| fail("create", e))?;
    file.write_all(bytes).map_err(|e| fail("write", e))?;
    // The umask may have narrowed the mode at creation.
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| fail("chmod", e))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::fchown(&file, Some(uid), Some(gid)).map_err(|e| fail("chown", e))?;
    }
    file.sync_all().map_err(|e| fail("sync", e))?;
    drop(file);
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        format!("cannot replace {}: {e}", path.display())
    })?;
    // The rename is durable only once the folder itself is synced.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| format!("cannot sync {}: {e}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::Stage;
    use claw_free_protocol::provider::Provider;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cfp-store-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn saves_and_resumes() {
        let dir = temp_dir("resume");
        let store = StageStore::open(&dir).unwrap();
        assert_eq!(store.load().unwrap(), Session::default());
        let session = Session {
            stage: Stage::AwaitingKey {
                provider: Provider::Kimi,
            },
            connected: vec![Provider::Claude],
        };
        store.save(&session).unwrap();
        assert_eq!(StageStore::open(&dir).unwrap().load().unwrap(), session);
        let leftovers: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            leftovers.len(),
            1,
            "no temporary file is left: {leftovers:?}"
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_corrupt_file_is_set_aside() {
        let dir = temp_dir("corrupt");
        let store = StageStore::open(&dir).unwrap();
        fs::write(store.path(), "{not json").unwrap();
        assert_eq!(store.load().unwrap(), Session::default());
        assert!(dir.join("setup-stage.json.corrupt").exists());
        fs::remove_dir_all(dir).unwrap();
    }
}
