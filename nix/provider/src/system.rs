//! Facts about the VM that `clawfree status` and the bench report: memory from
//! `/proc/meminfo`, a process's resident memory from `/proc/<pid>/status`, free disk
//! space (`statvfs`) and which NixOS generation is running. Parsers are pure.

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Memory figures in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Memory {
    pub total: u64,
    pub available: u64,
    pub swap_total: u64,
    pub swap_free: u64,
}

/// Parses `/proc/meminfo`.
pub fn parse_meminfo(text: &str) -> Option<Memory> {
    let field = |name: &str| -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    Some(Memory {
        total: field("MemTotal")?,
        available: field("MemAvailable")?,
        swap_total: field("SwapTotal").unwrap_or(0),
        swap_free: field("SwapFree").unwrap_or(0),
    })
}

pub fn memory() -> Result<Memory, String> {
    let text = fs::read_to_string("/proc/meminfo").map_err(|e| format!("/proc/meminfo: {e}"))?;
    parse_meminfo(&text).ok_or_else(|| "/proc/meminfo has no MemTotal/MemAvailable".into())
}

/// The `VmRSS` of a `/proc/<pid>/status` text, in KiB.
pub fn parse_vm_rss(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A process's resident memory in KiB.
pub fn resident_kib(pid: u32) -> Result<u64, String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    parse_vm_rss(&status).ok_or_else(|| format!("/proc/{pid}/status has no VmRSS"))
}

/// Size and free space of a file system, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disk {
    pub total: u64,
    pub available: u64,
}

pub fn disk(path: &Path) -> Result<Disk, String> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| format!("{} contains a NUL byte", path.display()))?;
    // SAFETY: statvfs fills the zeroed struct we own; the path is NUL-terminated.
    let stat = unsafe {
        let mut stat: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c_path.as_ptr(), &mut stat) != 0 {
            return Err(format!(
                "statvfs {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            ));
        }
        stat
    };
    let block = stat.f_frsize as u64;
    Ok(Disk {
        total: stat.f_blocks as u64 * block,
        available: stat.f_bavail as u64 * block,
    })
}

/// The running system: its store path and, when known, its generation number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    pub store_path: PathBuf,
    pub number: Option<u64>,
}

/// The generation whose link points at `store_path`, among a profile's links
/// (`system-12-link` → `/nix/store/...`).
pub fn generation_number(store_path: &Path, links: &[(String, PathBuf)]) -> Option<u64> {
    links
        .iter()
        .filter(|(_, target)| target == store_path)
        .filter_map(|(name, _)| {
            name.strip_prefix("system-")?
                .strip_suffix("-link")?
                .parse()
                .ok()
        })
        .max()
}

/// Where a symlink (such as `/run/current-system`) finally points.
pub fn resolve(link: &Path) -> Result<PathBuf, String> {
    fs::canonicalize(link).map_err(|e| format!("{}: {e}", link.display()))
}

/// The running generation, from `/run/current-system` and the system profile's links.
pub fn current_generation(
    current_system: &Path,
    system_profile: &Path,
) -> Result<Generation, String> {
    let store_path = resolve(current_system)?;
    let dir = system_profile.parent().unwrap_or(Path::new("/"));
    let links: Vec<(String, PathBuf)> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| {
                    let target = fs::canonicalize(e.path()).ok()?;
                    Some((e.file_name().to_string_lossy().into_owned(), target))
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Generation {
        number: generation_number(&store_path, &links),
        store_path,
    })
}

/// KiB or bytes as a short human figure.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_meminfo_and_vm_rss() {
        let m = parse_meminfo("MemTotal:  1000 kB\nMemFree: 10 kB\nMemAvailable:   600 kB\nSwapTotal: 500 kB\nSwapFree: 400 kB\n").unwrap();
        assert_eq!(
            m,
            Memory {
                total: 1000,
                available: 600,
                swap_total: 500,
                swap_free: 400
            }
        );
        assert!(parse_meminfo("nothing").is_none());
        assert_eq!(parse_vm_rss("Name:\tx\nVmRSS:\t    4321 kB\n"), Some(4321));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
    }

    #[test]
    fn finds_the_generation_of_the_running_system() {
        let links = vec![
            ("system".to_string(), PathBuf::from("/nix/store/b-system")),
            (
                "system-11-link".to_string(),
                PathBuf::from("/nix/store/a-system"),
            ),
            (
                "system-12-link".to_string(),
                PathBuf::from("/nix/store/b-system"),
            ),
        ];
        assert_eq!(
            generation_number(Path::new("/nix/store/b-system"), &links),
            Some(12)
        );
        assert_eq!(
            generation_number(Path::new("/nix/store/c-system"), &links),
            None
        );
    }

    #[test]
    fn reads_this_machines_facts() {
        assert!(memory().unwrap().total > 0);
        assert!(resident_kib(std::process::id()).unwrap() > 0);
        let d = disk(Path::new("/")).unwrap();
        assert!(d.total >= d.available && d.total > 0);
        assert_eq!(human_bytes(1536 * 1024), "1.5 MiB");
    }
}
