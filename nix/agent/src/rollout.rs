//! GitHub mode's rollouts, the pure part: what the agent has written down about them
//! (the last good system and the rollout journal) and what to do about a requested
//! system or a journal found at start. The commands, the health gate and the metadata
//! loop are in [`crate::rollout_runner`].
//!
//! The order of steps is the safety argument: the new system is activated with
//! `switch-to-configuration test` (gone after a reset), checked, and only then made the
//! boot default; each step is journalled before it starts, so an agent killed midway
//! finds the step on restart and reverts (or, past the health gate, finishes).

use claw_free_protocol::rollout::{Rev, RolloutState, StorePath, SystemRef};
use serde::{Deserialize, Serialize};

/// A system known to have passed the health gate (or the one the VM booted from its
/// image, whose revision is not known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Good {
    pub path: StorePath,
    pub rev: Option<Rev>,
}

/// Where a journalled rollout is. Each step is written before it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Fetching,
    Switching,
    Checking,
    /// Healthy; making it the boot default.
    MakingDefault,
    /// The rollout ended; nothing left to do.
    Ended(RolloutState),
}

impl Step {
    fn to_wire(&self) -> String {
        match self {
            Self::Fetching => "fetching".into(),
            Self::Switching => "switching".into(),
            Self::Checking => "checking".into(),
            Self::MakingDefault => "making-default".into(),
            Self::Ended(state) => state.to_string(),
        }
    }

    fn from_wire(value: &str) -> Option<Self> {
        Some(match value {
            "making-default" => Self::MakingDefault,
            other => match RolloutState::parse(other)? {
                RolloutState::Fetching => Self::Fetching,
                RolloutState::Switching => Self::Switching,
                RolloutState::Checking => Self::Checking,
                ended => Self::Ended(ended),
            },
        })
    }

    /// The state the guest attribute reports for this step.
    pub fn reported(&self) -> RolloutState {
        match self {
            Self::Fetching => RolloutState::Fetching,
            Self::Switching => RolloutState::Switching,
            Self::Checking | Self::MakingDefault => RolloutState::Checking,
            Self::Ended(state) => state.clone(),
        }
    }
}

/// The rollout in progress, or the last one: kept in the state folder, replaced
/// atomically at every step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Journal {
    pub target: SystemRef,
    /// What ran before; `None` when nothing was known to return to.
    pub previous: Option<Good>,
    pub step: Step,
}

#[derive(Serialize, Deserialize)]
struct GoodWire {
    path: String,
    rev: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct JournalWire {
    /// The metadata value, exactly as [`SystemRef::to_json`] writes it.
    target: String,
    previous: Option<GoodWire>,
    step: String,
}

impl Good {
    fn to_wire(&self) -> GoodWire {
        GoodWire {
            path: self.path.to_string(),
            rev: self.rev.as_ref().map(Rev::to_string),
        }
    }

    fn from_wire(wire: GoodWire) -> Option<Self> {
        Some(Self {
            path: StorePath::parse(&wire.path).ok()?,
            rev: match wire.rev {
                Some(rev) => Some(Rev::parse(&rev).ok()?),
                None => None,
            },
        })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.to_wire()).expect("strings serialize")
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::from_wire(serde_json::from_str(text).ok()?)
    }
}

impl From<&SystemRef> for Good {
    fn from(system: &SystemRef) -> Self {
        Self {
            path: system.path.clone(),
            rev: Some(system.rev.clone()),
        }
    }
}

impl Journal {
    pub fn to_json(&self) -> String {
        serde_json::to_string(&JournalWire {
            target: self.target.to_json(),
            previous: self.previous.as_ref().map(Good::to_wire),
            step: self.step.to_wire(),
        })
        .expect("strings serialize")
    }

    /// `None` for a journal this version cannot read (it is then treated as absent:
    /// the boot default was never changed before the health gate, so nothing is lost).
    pub fn parse(text: &str) -> Option<Self> {
        let wire: JournalWire = serde_json::from_str(text).ok()?;
        Some(Self {
            target: SystemRef::parse(&wire.target).ok()?,
            previous: match wire.previous {
                Some(good) => Some(Good::from_wire(good)?),
                None => None,
            },
            step: Step::from_wire(&wire.step)?,
        })
    }
}

/// What to do with a journal found when the agent starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// No rollout was interrupted.
    Nothing,
    /// Interrupted before the health gate passed: return to the previous system.
    /// `reactivate` is false when nothing had been activated yet.
    Revert { reason: String, reactivate: bool },
    /// Interrupted while making a healthy system the boot default: do it again.
    FinishDefault,
}

pub fn resume(journal: Option<&Journal>) -> Resume {
    let Some(journal) = journal else {
        return Resume::Nothing;
    };
    let interrupted = |what: &str, reactivate| Resume::Revert {
        reason: format!("the agent stopped while {what}; the previous system runs again"),
        reactivate,
    };
    match journal.step {
        Step::Ended(_) => Resume::Nothing,
        Step::Fetching => interrupted("fetching the system", false),
        Step::Switching => interrupted("activating the system", true),
        Step::Checking => interrupted("checking the system's health", true),
        Step::MakingDefault => Resume::FinishDefault,
    }
}

/// What to do about the value of `openclaw-system`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Nothing asked, or this exact request was already handled (whatever its outcome:
    /// a failed system is not retried until CI names another one).
    Nothing,
    /// A value that cannot be a system: report it and change nothing.
    Refuse {
        rev: Option<Rev>,
        reason: String,
    },
    Roll(SystemRef),
}

/// `value` is the metadata value, `last` the journal of the last rollout.
pub fn plan(value: Option<&str>, last: Option<&Journal>) -> Plan {
    let Some(value) = value else {
        return Plan::Nothing;
    };
    match SystemRef::parse(value) {
        Ok(system) if last.is_some_and(|j| j.target == system) => Plan::Nothing,
        Ok(system) => Plan::Roll(system),
        Err(reason) => Plan::Refuse {
            rev: rev_of_malformed(value),
            reason,
        },
    }
}

/// The revision a malformed value names, if it names a valid one, so the report can
/// still say which CI run it answers.
fn rev_of_malformed(value: &str) -> Option<Rev> {
    let json: serde_json::Value = serde_json::from_str(value).ok()?;
    Rev::parse(json.get("rev")?.as_str()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn system(n: u8, rev: &str) -> SystemRef {
        SystemRef {
            path: StorePath::parse(&format!("/nix/store/{}-gen-{n}", n.to_string().repeat(32)))
                .unwrap(),
            rev: Rev::parse(rev).unwrap(),
            rollback: false,
        }
    }

    fn journal(step: Step) -> Journal {
        let previous = system(1, "1111111");
        Journal {
            target: system(2, "2222222"),
            previous: Some(Good {
                rev: None,
                ..Good::from(&previous)
            }),
            step,
        }
    }

    #[test]
    fn journals_round_trip() {
        for step in [
            Step::Fetching,
            Step::Switching,
            Step::Checking,
            Step::MakingDefault,
            Step::Ended(RolloutState::Done),
            Step::Ended(RolloutState::RolledBack("unit failed".into())),
            Step::Ended(RolloutState::Refused("not on this VM".into())),
        ] {
            let j = journal(step);
            assert_eq!(Journal::parse(&j.to_json()), Some(j));
        }
        assert_eq!(Journal::parse("{}"), None);
        assert_eq!(Journal::parse("half a fi"), None);
        let good = Good::from(&system(3, "abcdef0"));
        assert_eq!(Good::parse(&good.to_json()), Some(good));
    }

    #[test]
    fn an_interrupted_rollout_reverts_before_the_gate_and_finishes_after_it() {
        assert_eq!(resume(None), Resume::Nothing);
        assert_eq!(
            resume(Some(&journal(Step::Ended(RolloutState::Done)))),
            Resume::Nothing
        );
        let Resume::Revert { reactivate, reason } = resume(Some(&journal(Step::Fetching))) else {
            panic!("a rollout stopped while fetching reverts")
        };
        assert!(!reactivate, "nothing was activated yet");
        assert!(reason.contains("fetching"), "{reason}");
        for step in [Step::Switching, Step::Checking] {
            assert!(matches!(
                resume(Some(&journal(step))),
                Resume::Revert {
                    reactivate: true,
                    ..
                }
            ));
        }
        assert_eq!(
            resume(Some(&journal(Step::MakingDefault))),
            Resume::FinishDefault
        );
    }

    #[test]
    fn each_request_is_handled_once() {
        let b = system(2, "2222222");
        assert_eq!(plan(None, None), Plan::Nothing);
        assert_eq!(plan(Some(&b.to_json()), None), Plan::Roll(b.clone()));
        let handled = journal(Step::Ended(RolloutState::RolledBack("x".into())));
        assert_eq!(plan(Some(&b.to_json()), Some(&handled)), Plan::Nothing);
        // The same system asked as a roll back is a new request.
        let back = SystemRef {
            rollback: true,
            ..b
        };
        assert_eq!(
            plan(Some(&back.to_json()), Some(&handled)),
            Plan::Roll(back)
        );
        let Plan::Refuse { rev, reason } = plan(
            Some(r#"{"path":"/etc/passwd","rev":"abcdef0"}"#),
            Some(&handled),
        ) else {
            panic!("a bad path is refused")
        };
        assert_eq!(rev.unwrap().as_str(), "abcdef0");
        assert!(reason.contains("system path"));
        assert!(matches!(
            plan(Some("not json"), None),
            Plan::Refuse { rev: None, .. }
        ));
    }
}
