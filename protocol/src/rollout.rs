//! GitHub mode's rollout contract: the instance-metadata key that names the NixOS system
//! a VM should run, and the guest attributes with which the VM reports the rollout.
//!
//! CI (or the Worker's "Roll back") writes [`METADATA_KEY`] = `{"path", "rev"}` (plus
//! `"rollback": true` for a roll back); the agent fetches, switches, checks health and
//! answers in [`GUEST_ROLLOUT`] = `<rev> <state>`, [`GUEST_SYSTEM`] = the running rev
//! and [`GUEST_PREVIOUS`] = the system a roll back returns to.
//! The path is later handed to shell commands, so its type admits nothing a shell or
//! a path could misread.

use std::fmt;

use crate::guest::clean_reason;

/// Instance metadata: the system to run, a [`SystemRef`] as JSON.
pub const METADATA_KEY: &str = "openclaw-system";
/// Guest attribute: the latest rollout, a [`RolloutReport`] (`<rev> <state>`).
pub const GUEST_ROLLOUT: &str = "rollout";
/// Guest attribute: the git revision of the system the VM runs and boots.
pub const GUEST_SYSTEM: &str = "system";
/// Guest attribute: the last good system before that one, a [`SystemRef`] as JSON
/// (never a roll back): what a "Roll back" points the VM at.
pub const GUEST_PREVIOUS: &str = "previous-system";

/// The Nix store every system path lives in.
pub const STORE_DIR: &str = "/nix/store";
/// Nix's base-32 alphabet (no e, o, u, t), the characters of a store path's hash.
const NIX_BASE32: &str = "0123456789abcdfghijklmnpqrsvwxyz";
/// The longest name after the hash that Nix allows.
const MAX_NAME: usize = 211;

/// A top-level store path, `/nix/store/<32 base-32 chars>-<name>`: no `..`, no further
/// `/`, no space and nothing a shell expands.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StorePath(String);

impl StorePath {
    pub fn parse(value: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "a system path is {STORE_DIR}/<32-character hash>-<name>; got {:?}",
                value.chars().take(80).collect::<String>()
            )
        };
        let rest = value
            .strip_prefix(STORE_DIR)
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(bad)?;
        let (hash, name) = rest.split_at_checked(32).ok_or_else(bad)?;
        let name = name.strip_prefix('-').ok_or_else(bad)?;
        let hash_ok = hash.chars().all(|c| NIX_BASE32.contains(c));
        let name_ok = (1..=MAX_NAME).contains(&name.len())
            && !name.starts_with('.')
            && !name.contains("..")
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | '_'));
        if hash_ok && name_ok {
            Ok(Self(value.to_string()))
        } else {
            Err(bad())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 32-character hash part, unique per path.
    pub fn hash(&self) -> &str {
        &self.0[STORE_DIR.len() + 1..STORE_DIR.len() + 33]
    }
}

impl fmt::Display for StorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The binary cache in the owner's bucket, in the layout Nix's HTTP binary caches use:
/// [`CACHE_INFO`] at the top, `<hash>.narinfo` per store path (signed with the
/// repository's cache key) and the archives under `nar/`. These are the only object
/// names the VM's substituter asks the bucket for.
pub mod cache {
    use super::NIX_BASE32;

    /// The cache's description (`StoreDir: /nix/store`, ...).
    pub const CACHE_INFO: &str = "nix-cache-info";

    /// The narinfo object of a store path's hash.
    pub fn narinfo(hash: &str) -> String {
        format!("{hash}.narinfo")
    }

    /// Whether `name` is an object of the layout: [`CACHE_INFO`], `<hash>.narinfo`, or
    /// `nar/<base-32 file hash>.nar[.xz|.zst|.bz2]`.
    pub fn is_object(name: &str) -> bool {
        let base32 =
            |s: &str| !s.is_empty() && s.len() <= 64 && s.chars().all(|c| NIX_BASE32.contains(c));
        if name == CACHE_INFO {
            return true;
        }
        if let Some(hash) = name.strip_suffix(".narinfo") {
            return hash.len() == 32 && base32(hash);
        }
        let Some(file) = name.strip_prefix("nar/") else {
            return false;
        };
        let stem = [".nar.xz", ".nar.zst", ".nar.bz2", ".nar"]
            .iter()
            .find_map(|ext| file.strip_suffix(ext));
        stem.is_some_and(|h| h.len() >= 32 && base32(h))
    }

    /// Cloud Storage's bucket names: 3 to 63 lowercase letters, digits, `-`, `_` and
    /// `.`, beginning and ending with a letter or digit.
    pub fn is_bucket_name(name: &str) -> bool {
        let edge =
            |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        (3..=63).contains(&name.len())
            && name.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')
            })
            && edge(name.chars().next())
            && edge(name.chars().last())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn only_the_layout_is_served() {
            for good in [
                "nix-cache-info",
                "0c8ylyd3r4hc1cq8iv3b3ywqbnnv5hb6.narinfo",
                "nar/0m1kml21mbl3di6yj9h523p173qwjhcxlxjwvxa8dg9drk6iy149.nar",
                "nar/0m1kml21mbl3di6yj9h523p173qwjhcxlxjwvxa8dg9drk6iy149.nar.xz",
            ] {
                assert!(is_object(good), "{good}");
            }
            for bad in [
                "",
                "nar/",
                "x.narinfo",
                "0c8ylyd3r4hc1cq8iv3b3ywqbnnv5hbe.narinfo",
                "../0c8ylyd3r4hc1cq8iv3b3ywqbnnv5hb6.narinfo",
                "nar/../nix-cache-info",
                "nar/0m1kml21mbl3di6yj9h523p173qwjhcxlxjwvxa8dg9drk6iy149.tar",
                "log/0c8ylyd3r4hc1cq8iv3b3ywqbnnv5hb6-x.drv",
                "secrets.json",
            ] {
                assert!(!is_object(bad), "{bad}");
            }
            assert!(is_bucket_name("claw-cache-1"));
            for bad in ["ab", "Claw", "-a-", "a/b", "a?b", &"a".repeat(64)] {
                assert!(!is_bucket_name(bad), "{bad}");
            }
        }
    }
}

/// A git revision: 7 to 40 hexadecimal characters, kept in lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rev(String);

impl Rev {
    pub fn parse(value: &str) -> Result<Self, String> {
        if (7..=40).contains(&value.len()) && value.chars().all(|c| c.is_ascii_hexdigit()) {
            Ok(Self(value.to_ascii_lowercase()))
        } else {
            Err(format!(
                "a revision is 7 to 40 hexadecimal characters; got {:?}",
                value.chars().take(50).collect::<String>()
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Rev {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The value of [`METADATA_KEY`]: which system to run, from which revision, and whether
/// it is a roll back (never fetched: accepted only if the path is already on the VM).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SystemRef {
    pub path: StorePath,
    pub rev: Rev,
    pub rollback: bool,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    path: String,
    rev: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    rollback: bool,
}

impl SystemRef {
    /// Parses the metadata value (JSON); the error is for a person to read.
    pub fn parse(value: &str) -> Result<Self, String> {
        let wire: Wire = serde_json::from_str(value)
            .map_err(|_| format!("{METADATA_KEY} must be JSON {{\"path\": ..., \"rev\": ...}}"))?;
        Ok(Self {
            path: StorePath::parse(&wire.path)?,
            rev: Rev::parse(&wire.rev)?,
            rollback: wire.rollback,
        })
    }

    /// The metadata value, as CI and the Worker write it.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&Wire {
            path: self.path.0.clone(),
            rev: self.rev.0.clone(),
            rollback: self.rollback,
        })
        .expect("strings serialize")
    }
}

/// Where a rollout is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutState {
    /// Copying the system's closure onto the VM.
    Fetching,
    /// Activating it (`switch-to-configuration test`).
    Switching,
    /// Running it, waiting for the health gate.
    Checking,
    /// Healthy and the boot default.
    Done,
    /// The previous system runs again; the reason is for a person to read.
    RolledBack(String),
    /// Not attempted (a bad value, a roll back to a system not on the VM); nothing changed.
    Refused(String),
}

impl RolloutState {
    /// Whether the rollout has ended.
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Done | Self::RolledBack(_) | Self::Refused(_))
    }

    pub fn parse(value: &str) -> Option<Self> {
        Some(match value.trim() {
            "fetching" => Self::Fetching,
            "switching" => Self::Switching,
            "checking" => Self::Checking,
            "done" => Self::Done,
            other => match other.split_once(':')? {
                ("rolled-back", reason) => Self::RolledBack(clean_reason(reason)),
                ("refused", reason) => Self::Refused(clean_reason(reason)),
                _ => return None,
            },
        })
    }
}

impl fmt::Display for RolloutState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fetching => f.write_str("fetching"),
            Self::Switching => f.write_str("switching"),
            Self::Checking => f.write_str("checking"),
            Self::Done => f.write_str("done"),
            Self::RolledBack(reason) => write!(f, "rolled-back:{}", clean_reason(reason)),
            Self::Refused(reason) => write!(f, "refused:{}", clean_reason(reason)),
        }
    }
}

/// The value of [`GUEST_ROLLOUT`]: `<rev> <state>`, with `-` for the revision of a
/// metadata value too malformed to name one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutReport {
    pub rev: Option<Rev>,
    pub state: RolloutState,
}

impl RolloutReport {
    pub fn parse(value: &str) -> Option<Self> {
        let (rev, state) = value.trim().split_once(' ')?;
        Some(Self {
            rev: match rev {
                "-" => None,
                rev => Some(Rev::parse(rev).ok()?),
            },
            state: RolloutState::parse(state)?,
        })
    }
}

impl fmt::Display for RolloutReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.rev {
            Some(rev) => write!(f, "{rev} {}", self.state),
            None => write!(f, "- {}", self.state),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "/nix/store/0c8ylyd3r4hc1cq8iv3b3ywqbnnv5hb6-nixos-system-bot-25.11";

    #[test]
    fn store_paths() {
        let path = StorePath::parse(PATH).unwrap();
        assert_eq!(path.hash(), "0c8ylyd3r4hc1cq8iv3b3ywqbnnv5hb6");
        for bad in [
            "",
            "nixos-system",
            "/nix/store",
            "/nix/store/",
            "/tmp/store/0c8ylyd3r4hc1cq8iv3b3ywqbnnv5hb6-x",
            "/nix/store/0c8ylyd3r4hc1cq8iv3b3ywqbnnv5hb6",
            "/nix/store/0c8ylyd3r4hc1cq8iv3b3ywqbnnv5hb6-",
            "/nix/store/0c8ylyd3r4hc1cq8iv3b3ywqbnnv5hbe-x",
            "/nix/store/0c8ylyd3r4hc1cq8iv3b3ywqbnnv5hb-x",
            "/nix/store/0c8ylyd3r4hc1cq8iv3b3ywqbnnv5hb6-a/../../etc",
            "/nix/store/0c8ylyd3r4hc1cq8iv3b3ywqbnnv5hb6-a..b",
            "/nix/store/0c8ylyd3r4hc1cq8iv3b3ywqbnnv5hb6-.x",
            "/nix/store/0c8ylyd3r4hc1cq8iv3b3ywqbnnv5hb6-a b",
            "/nix/store/0c8ylyd3r4hc1cq8iv3b3ywqbnnv5hb6-a;rm",
            "/nix/store/0c8ylyd3r4hc1cq8iv3b3ywqbnnv5hb6-a$(x)",
            "/nix/store/0c8ylyd3r4hc1cq8iv3b3ywqbnnv5hb6-a?",
            "/nix/store/0c8ylyd3r4hc1cq8iv3b3ywqbnnv5hb6-é",
            "//nix/store/0c8ylyd3r4hc1cq8iv3b3ywqbnnv5hb6-x",
        ] {
            assert!(StorePath::parse(bad).is_err(), "{bad:?}");
        }
        let long = format!(
            "/nix/store/0c8ylyd3r4hc1cq8iv3b3ywqbnnv5hb6-{}",
            "a".repeat(212)
        );
        assert!(StorePath::parse(&long).is_err());
    }

    #[test]
    fn revisions() {
        assert_eq!(Rev::parse("ABCDEF0").unwrap().as_str(), "abcdef0");
        assert!(Rev::parse(&"a".repeat(40)).is_ok());
        for bad in ["", "abcdef", "abcdefg", &"a".repeat(41), "abc def0", "main"] {
            assert!(Rev::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn system_refs_round_trip_and_reject_bad_values() {
        let value = format!(r#"{{"path":"{PATH}","rev":"0123abc"}}"#);
        let system = SystemRef::parse(&value).unwrap();
        assert!(!system.rollback);
        assert_eq!(system.to_json(), value);
        let back = SystemRef {
            rollback: true,
            ..system
        };
        assert_eq!(SystemRef::parse(&back.to_json()).unwrap(), back);
        for (bad, says) in [
            ("nope", "must be JSON"),
            (r#"{"path":"/nix/store/x","rev":"0123abc"}"#, "system path"),
            (&format!(r#"{{"path":"{PATH}","rev":"HEAD"}}"#), "revision"),
            (&format!(r#"{{"path":"{PATH}"}}"#), "must be JSON"),
            (
                &format!(r#"{{"path":"{PATH}","rev":"0123abc","x":1}}"#),
                "must be JSON",
            ),
        ] {
            let err = SystemRef::parse(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn reports_round_trip() {
        let states = [
            RolloutState::Fetching,
            RolloutState::Switching,
            RolloutState::Checking,
            RolloutState::Done,
            RolloutState::RolledBack("openclaw-gateway.service is failed".into()),
            RolloutState::Refused("not on this VM".into()),
        ];
        crate::assert_round_trips(
            states.map(|state| RolloutReport {
                rev: Some(Rev::parse("0123abc").unwrap()),
                state,
            }),
            RolloutReport::parse,
        );
        let bad = RolloutReport::parse("- refused:not JSON").unwrap();
        assert_eq!(bad.rev, None);
        assert!(bad.state.is_final());
        assert!(!RolloutState::Checking.is_final());
        assert_eq!(RolloutReport::parse("0123abc sleeping"), None);
        let long = RolloutState::RolledBack(format!("a\nb{}", "x".repeat(500))).to_string();
        assert!(!long.contains('\n') && long.len() <= "rolled-back:".len() + 200);
    }
}
