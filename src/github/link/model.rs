//! The `github-link:<project>/<zone>/<vm>` record and its pure machine: the steps of
//! linking in order, what each outcome does to the record, and the view the page polls.
//! Nothing secret is kept: installation tokens are minted when a step needs one, and the
//! owner's Google token comes from the session at each poll.

use crate::error::Action;
use crate::types::{ProjectId, VmName, Zone};
use serde::{Deserialize, Serialize};

/// The steps of a link, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    Repository,
    Project,
    Apis,
    Pool,
    Provider,
    Accounts,
    Bucket,
    Grants,
    VmAccount,
    SigningKey,
    Variables,
    Files,
    Protection,
    Metadata,
}

impl Step {
    pub const ALL: [Step; 14] = [
        Self::Repository,
        Self::Project,
        Self::Apis,
        Self::Pool,
        Self::Provider,
        Self::Accounts,
        Self::Bucket,
        Self::Grants,
        Self::VmAccount,
        Self::SigningKey,
        Self::Variables,
        Self::Files,
        Self::Protection,
        Self::Metadata,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Self::Repository => "repository",
            Self::Project => "project",
            Self::Apis => "apis",
            Self::Pool => "pool",
            Self::Provider => "provider",
            Self::Accounts => "accounts",
            Self::Bucket => "bucket",
            Self::Grants => "grants",
            Self::VmAccount => "vm-account",
            Self::SigningKey => "signing-key",
            Self::Variables => "variables",
            Self::Files => "files",
            Self::Protection => "protection",
            Self::Metadata => "metadata",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Repository => "Reach your repository",
            Self::Project => "Read your Google Cloud project",
            Self::Apis => "Turn on the Google APIs CI needs",
            Self::Pool => "Create the Workload Identity pool",
            Self::Provider => "Trust your repository's main branch",
            Self::Accounts => "Create the CI and VM service accounts",
            Self::Bucket => "Create the private cache bucket",
            Self::Grants => "Grant CI and the VM their roles",
            Self::VmAccount => "Give the VM its account (the VM restarts once)",
            Self::SigningKey => "Store the cache's signing key in GitHub",
            Self::Variables => "Write the workflow's variables",
            Self::Files => "Commit claw-free.json and the VM's key",
            Self::Protection => "Require pull requests on main",
            Self::Metadata => "Mark the bot as linked",
        }
    }

    pub fn next(self) -> Option<Step> {
        let i = Self::ALL.iter().position(|s| *s == self)?;
        Self::ALL.get(i + 1).copied()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    Linking,
    Linked,
    Failed,
}

/// The repository being linked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoRef {
    pub id: u64,
    pub full_name: String,
    pub url: String,
}

/// One link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRecord {
    /// The Google account (`sub`) that started it: the only one that sees or moves it.
    pub owner: String,
    pub project: ProjectId,
    pub zone: Zone,
    pub vm: VmName,
    pub installation: u64,
    pub repository: RepoRef,
    pub state: LinkState,
    pub step: Step,
    /// Google operations the current step waits for.
    #[serde(default)]
    pub waiting: Vec<String>,
    /// What the current step is doing now, when it takes several polls.
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub project_number: Option<String>,
    #[serde(default)]
    pub instance_id: Option<String>,
    /// The cache's public key (the signing key itself is never kept).
    #[serde(default)]
    pub cache_public_key: Option<String>,
    /// GitHub would not protect `main` (a private repository of an account without
    /// GitHub Pro). The link goes on, since CI and rollouts need no protection; the
    /// Worker then mints the bot no token to propose changes until `main` is protected.
    #[serde(default)]
    pub main_unprotected: bool,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub action: Option<Action>,
    pub created_at: u64,
    pub updated_at: u64,
}

/// What performing the current step came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The step is complete: on to the next (facts it learned are already recorded).
    Done,
    /// The step goes on at the next poll (an operation, a VM stopping), saying what.
    Wait {
        operations: Vec<String>,
        note: Option<String>,
    },
    /// Google or GitHub failed for now: the same step runs again at the next poll.
    Transient,
    /// The step cannot succeed as things are: the link stops with a sentence.
    Failed {
        message: String,
        action: Option<Action>,
    },
}

/// The protection step's label when GitHub would not protect `main`.
pub const UNPROTECTED_LABEL: &str = "Require pull requests on main: GitHub allows it on a private repository only with GitHub Pro, so the bot cannot propose changes until you make the repository public or upgrade, and protect main";

/// How long the page waits before the next poll.
pub const POLL_MS: u64 = 2000;
/// After a transient failure.
pub const RETRY_MS: u64 = 5000;

impl LinkRecord {
    /// A link of `repository` for the bot, started now by `owner`, at its first step.
    pub fn start(
        owner: String,
        (project, zone, vm): (ProjectId, Zone, VmName),
        installation: u64,
        repository: RepoRef,
        now: u64,
    ) -> Self {
        Self {
            owner,
            project,
            zone,
            vm,
            installation,
            repository,
            state: LinkState::Linking,
            step: Step::Repository,
            waiting: Vec::new(),
            note: None,
            project_number: None,
            instance_id: None,
            cache_public_key: None,
            main_unprotected: false,
            error: None,
            action: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Moves the record by the outcome of its current step; whether it was transient.
    pub fn apply(&mut self, outcome: Outcome, now: u64) -> bool {
        if self.state != LinkState::Linking {
            return false;
        }
        self.updated_at = now;
        match outcome {
            Outcome::Done => {
                self.waiting.clear();
                self.note = None;
                match self.step.next() {
                    Some(next) => self.step = next,
                    None => self.state = LinkState::Linked,
                }
                false
            }
            Outcome::Wait { operations, note } => {
                self.waiting = operations;
                self.note = note;
                false
            }
            Outcome::Transient => true,
            Outcome::Failed { message, action } => {
                self.state = LinkState::Failed;
                self.waiting.clear();
                self.note = None;
                self.error = Some(message);
                self.action = action;
                false
            }
        }
    }

    /// A failed link runs again from the step that failed; `false` for any other.
    pub fn resume(&mut self, now: u64) -> bool {
        if self.state != LinkState::Failed {
            return false;
        }
        self.state = LinkState::Linking;
        self.error = None;
        self.action = None;
        self.updated_at = now;
        true
    }

    pub fn view(&self, retrying: bool) -> LinkView {
        let position = Step::ALL.iter().position(|s| *s == self.step).unwrap_or(0);
        let steps = Step::ALL
            .iter()
            .enumerate()
            .map(|(i, step)| {
                let state = match (self.state, i.cmp(&position)) {
                    (LinkState::Linked, _) | (_, std::cmp::Ordering::Less) => "done",
                    (LinkState::Failed, std::cmp::Ordering::Equal) => "failed",
                    (LinkState::Linking, std::cmp::Ordering::Equal) => "running",
                    _ => "pending",
                };
                let label = match (&self.note, i == position, self.state) {
                    (Some(note), true, LinkState::Linking) => format!("{} ({note})", step.label()),
                    _ if *step == Step::Protection && self.main_unprotected => {
                        UNPROTECTED_LABEL.to_string()
                    }
                    _ => step.label().to_string(),
                };
                StepView {
                    id: step.id(),
                    label,
                    state,
                }
            })
            .collect();
        LinkView {
            state: self.state,
            step: self.step.id(),
            steps,
            repository: RepoView {
                full_name: self.repository.full_name.clone(),
                url: self.repository.url.clone(),
            },
            error: self.error.clone(),
            error_action: self.action.clone(),
            retry_after_ms: match (self.state, retrying) {
                (LinkState::Linking, true) => Some(RETRY_MS),
                (LinkState::Linking, false) => Some(POLL_MS),
                _ => None,
            },
        }
    }
}

/// The status route's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkView {
    pub state: LinkState,
    pub step: &'static str,
    pub steps: Vec<StepView>,
    pub repository: RepoView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_action: Option<Action>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl LinkView {
    /// A finished link, as the bot's metadata records it once its record is gone.
    pub fn linked(full_name: String, url: String) -> Self {
        Self {
            state: LinkState::Linked,
            step: Step::Metadata.id(),
            steps: Step::ALL
                .iter()
                .map(|step| StepView {
                    id: step.id(),
                    label: step.label().to_string(),
                    state: "done",
                })
                .collect(),
            repository: RepoView { full_name, url },
            error: None,
            error_action: None,
            retry_after_ms: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepView {
    pub id: &'static str,
    pub label: String,
    pub state: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RepoView {
    pub full_name: String,
    pub url: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn record() -> LinkRecord {
        LinkRecord::start(
            "sub-alice".into(),
            (
                ProjectId::parse("claw-demo").unwrap(),
                Zone::parse("us-central1-a").unwrap(),
                VmName::parse("my-bot-010203").unwrap(),
            ),
            7,
            RepoRef {
                id: 42,
                full_name: "ada-lovelace/my-bot".into(),
                url: "https://github.com/ada-lovelace/my-bot".into(),
            },
            1,
        )
    }

    #[test]
    fn every_step_done_in_order_ends_linked() {
        let mut r = record();
        let mut seen = vec![r.step];
        while r.state == LinkState::Linking {
            assert!(!r.apply(Outcome::Done, 2));
            if r.state == LinkState::Linking {
                seen.push(r.step);
            }
        }
        assert_eq!(seen, Step::ALL.to_vec());
        assert_eq!(r.state, LinkState::Linked);
        let view = serde_json::to_value(r.view(false)).unwrap();
        assert_eq!(view["state"], "linked");
        assert!(view["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["state"] == "done"));
        assert!(view.get("retryAfterMs").is_none());
        // Once linked, nothing moves it.
        assert!(!r.apply(
            Outcome::Failed {
                message: "x".into(),
                action: None
            },
            3
        ));
        assert_eq!(r.state, LinkState::Linked);
    }

    #[test]
    fn a_wait_keeps_the_step_a_transient_failure_retries_and_a_failure_resumes_there() {
        let mut r = record();
        r.apply(Outcome::Done, 2);
        r.apply(Outcome::Done, 2);
        assert_eq!(r.step, Step::Apis);
        r.apply(
            Outcome::Wait {
                operations: vec!["operations/op-1".into()],
                note: Some("enabling".into()),
            },
            3,
        );
        assert_eq!((r.step, r.waiting.len()), (Step::Apis, 1));
        let view = serde_json::to_value(r.view(false)).unwrap();
        assert_eq!(view["step"], "apis");
        assert_eq!(view["steps"][2]["state"], "running");
        assert!(view["steps"][2]["label"]
            .as_str()
            .unwrap()
            .contains("enabling"));
        assert_eq!(view["steps"][3]["state"], "pending");
        assert_eq!(view["retryAfterMs"], POLL_MS);
        assert!(r.apply(Outcome::Transient, 4));
        assert_eq!(r.view(true).retry_after_ms, Some(RETRY_MS));
        assert_eq!(r.step, Step::Apis);

        r.apply(
            Outcome::Failed {
                message: "The IAM API is off.".into(),
                action: Some(Action {
                    label: "Enable".into(),
                    url: "https://console.cloud.google.com/x".into(),
                }),
            },
            5,
        );
        let view = serde_json::to_value(r.view(false)).unwrap();
        assert_eq!(view["state"], "failed");
        assert_eq!(view["steps"][2]["state"], "failed");
        assert_eq!(view["error"], "The IAM API is off.");
        assert_eq!(
            view["errorAction"],
            json!({"label": "Enable", "url": "https://console.cloud.google.com/x"})
        );
        assert!(r.waiting.is_empty());
        assert!(r.resume(6));
        assert_eq!(
            (r.state, r.step, r.error.clone()),
            (LinkState::Linking, Step::Apis, None)
        );
        assert!(!r.resume(7), "only a failed link resumes");
    }

    #[test]
    fn the_record_holds_nothing_secret_and_round_trips() {
        let r = record();
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<LinkRecord>(&text).unwrap(), r);
        for secret in ["ghs_", "ghu_", "ya29.", "token"] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}
