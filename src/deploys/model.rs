//! The deploy record kept in KV (`deploy:<id>`) and the status view the page polls.
//!
//! The record holds everything the state machine needs to take the next step without
//! the session: where the VM is, which Google operation is running, and the owner's
//! access token sealed to this record (context `deploy:<id>`). It never holds a
//! plaintext token or secret.
//!
//! The record keeps only what cannot be read again from Google: which call comes next,
//! when the VM started running, how it ended, the Telegram token until it reached the
//! VM. How far the agent has come (configuring, starting) is read from the VM at every
//! poll and shown, never stored ([`DeployRecord::settled`]), so a poll writes KV only
//! when one of those facts changes, and two tabs that write the same facts converge.

use crate::config::Config;
use crate::crypto::Sealed;
use crate::error::Action;
use crate::google::compute::InstanceRef;
use crate::types::Invalid;
use crate::types::{BotName, ProjectId, Provider, Region, TelegramUserId, VmName, Zone};
use serde::{Deserialize, Serialize};

/// Where a deploy is. Each phase names what the next status poll asks Google.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "camelCase")]
pub enum Phase {
    /// The Compute Engine API is off in the project and is being turned on.
    Enabling { step: EnableStep },
    /// The instance insert is to be sent, at the record's zone and VM name.
    Inserting,
    /// An insert answered that the VM name exists: an earlier attempt of this deploy
    /// may have created it, or another VM holds the name. The next poll looks.
    CheckingName,
    /// The insert was accepted; the instance is looked at until it runs.
    Creating { operation: String },
    /// The instance could not be found while it was being created: the insert's
    /// operation says whether it failed, and why.
    CheckingOperation { operation: String },
    /// The VM exists; waiting for it to run and for the agent's first report.
    Booting,
    /// The agent is configuring; `waiting_for_secret` while it waits for the first token.
    Configuring { waiting_for_secret: bool },
    /// OpenClaw was started; waiting for its first healthy answer.
    Starting,
    /// The VM published `setup=ready`.
    Done,
    /// The deploy stopped. `logs` when the VM exists and its serial output may say why.
    Failed {
        message: String,
        action: Option<Action>,
        logs: bool,
    },
}

impl Phase {
    /// The `status` the page knows (docs/CONTRACTS.md section 1).
    pub fn status(&self) -> &'static str {
        self.shown().0
    }

    /// The step as a person reads it.
    pub fn label(&self) -> &'static str {
        self.shown().1
    }

    /// What the page shows of this phase, side by side: its status and its step.
    fn shown(&self) -> (&'static str, &'static str) {
        match self {
            Self::Enabling { .. } => ("enabling", "Turning on the Compute Engine API"),
            Self::Inserting
            | Self::CheckingName
            | Self::Creating { .. }
            | Self::CheckingOperation { .. } => ("creating", "Creating the VM"),
            Self::Booting => ("booting", "Booting the VM"),
            Self::Configuring {
                waiting_for_secret: true,
            } => ("configuring", "Waiting for the Telegram token"),
            Self::Configuring { .. } => ("configuring", "Receiving the Telegram token"),
            Self::Starting => ("starting", "Starting OpenClaw"),
            Self::Done => ("done", "Ready"),
            Self::Failed { .. } => ("error", "The deploy stopped"),
        }
    }

    pub fn is_finished(&self) -> bool {
        matches!(self, Self::Done | Self::Failed { .. })
    }

    /// How long the page should wait before its next poll: about the time in which
    /// Google or the VM can move this phase on. A poll sooner than that is answered
    /// from the page's own copy (see [`super::tag`]) and costs neither KV nor Google.
    /// `None` once finished: nothing changes any more.
    pub fn poll_interval_ms(&self) -> Option<u64> {
        match self {
            Self::Enabling { .. } => Some(3000),
            Self::Inserting
            | Self::CheckingName
            | Self::Creating { .. }
            | Self::CheckingOperation { .. }
            | Self::Booting
            | Self::Configuring { .. }
            | Self::Starting => Some(2000),
            Self::Done | Self::Failed { .. } => None,
        }
    }
}

/// How far turning on the Compute Engine API has come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EnableStep {
    /// Service Usage is to be asked.
    Request,
    /// Service Usage's operation is running.
    Operation(String),
    /// Service Usage is done; Compute may take a moment to notice.
    Propagating,
}

/// `deploy:<id>` in KV.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeployRecord {
    pub id: String,
    /// The owner's Google `sub`.
    pub owner: String,
    /// The starting session's non-secret id, for limits on what is done with the deploy;
    /// until `session_expires_at` its cookie also shows the deploy without a session read.
    pub session_digest: String,
    #[serde(default)]
    pub session_expires_at: u64,
    pub project: ProjectId,
    pub region: Region,
    pub zone: Zone,
    pub vm_name: VmName,
    pub bot_name: BotName,
    pub provider: Provider,
    /// The Telegram user the bot answers, if the person gave one.
    #[serde(default)]
    pub telegram_owner: Option<TelegramUserId>,
    pub phase: Phase,
    /// The owner's Google access token, sealed with context `deploy:<id>`.
    pub token: Sealed,
    /// The Telegram token given with the start (the original page's way), sealed with
    /// context `deploy-telegram:<id>`, until a poll delivered it to the VM's key; then
    /// erased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telegram_token: Option<Sealed>,
    /// Unix seconds.
    pub created_at: u64,
    pub updated_at: u64,
    /// When the current phase began (bounds how long Compute may take to switch on).
    pub phase_since: u64,
    /// When the VM was first seen `RUNNING`; the readiness deadline counts from here.
    pub running_since: Option<u64>,
    pub finished_at: Option<u64>,
    pub ip: Option<String>,
    /// The last secret version this deploy delivered.
    pub secret_version: Option<u64>,
    /// Why the VM could not apply a secret, as it reported it.
    pub secret_error: Option<String>,
}

/// An `Idempotency-Key` header: the page's one key per deploy attempt. Only its
/// digest is used, to derive the deploy's id (see `flow::start`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    digest: String,
}

/// The longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 200;

impl IdempotencyKey {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        let value = value.trim();
        if value.is_empty() || value.len() > MAX_IDEMPOTENCY_KEY {
            return Err(Invalid::new(format!(
                "The Idempotency-Key header must be 1 to {MAX_IDEMPOTENCY_KEY} characters."
            )));
        }
        Ok(Self {
            digest: crate::crypto::sha256_hex(value),
        })
    }

    /// The key's SHA-256 (hex): what a deploy's derived id is made from.
    pub fn digest(&self) -> &str {
        &self.digest
    }
}

/// A deployment id: 128 random bits as 32 lowercase hex characters.
pub fn is_deployment_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The secret of the `__Host-deploy` cookie given to the browser that started deploy `id`
/// (so it keeps following its deploy when its session is gone). Derived from the id
/// under the sealing key, so it is stored nowhere and every start of the same deploy
/// hands out the same one.
pub fn viewer_secret(key: &crate::crypto::SealingKey, id: &str) -> String {
    crate::crypto::mac_hex(key, "deploy-viewer", id)[..32].to_string()
}

/// The sealing context of a deploy record's Telegram token.
pub fn telegram_context(id: &str) -> String {
    format!("deploy-telegram:{id}")
}

/// The `Set-Cookie` value of the viewer cookie (`__Host-deploy`, path `/`): the
/// deploy it binds is inside the value, `<id>.<secret>`.
pub fn viewer_cookie(id: &str, secret: &str) -> String {
    crate::cookies::set(
        crate::cookies::DEPLOY,
        &format!("{id}.{secret}"),
        crate::store::DEPLOY_TTL,
    )
}

/// The sealing context of a deploy record's token.
pub fn token_context(id: &str) -> String {
    format!("deploy:{id}")
}

impl DeployRecord {
    pub fn instance(&self) -> InstanceRef {
        InstanceRef {
            project: self.project.clone(),
            zone: self.zone.clone(),
            name: self.vm_name.clone(),
        }
    }

    /// The record as it is kept: the agent's progress between the VM running and
    /// `ready` (configuring, starting) and its last secret error are read from the VM
    /// at every poll, so they are kept as `Booting` and nothing.
    pub fn settled(&self) -> DeployRecord {
        let mut settled = self.clone();
        if matches!(self.phase, Phase::Configuring { .. } | Phase::Starting) {
            settled.phase = Phase::Booting;
        }
        settled.secret_error = None;
        settled
    }

    /// Whether `self` (after a poll) holds a fact `stored` lacks, so it must be written:
    /// the time of the last change, and the start of a phase kept as the same one, are
    /// not facts of their own.
    pub fn differs_from(&self, stored: &DeployRecord) -> bool {
        let (mut now, before) = (self.settled(), stored.settled());
        now.updated_at = before.updated_at;
        if std::mem::discriminant(&now.phase) == std::mem::discriminant(&before.phase) {
            now.phase_since = before.phase_since;
        }
        now != before
    }

    /// Moves to `phase`, keeping the timestamps that depend on it right.
    pub fn enter(&mut self, phase: Phase, now: u64) {
        if phase != self.phase {
            if std::mem::discriminant(&phase) != std::mem::discriminant(&self.phase) {
                self.phase_since = now;
            }
            if phase.is_finished() {
                self.finished_at = Some(now);
            }
            self.phase = phase;
        }
    }

    /// The status view (docs/CONTRACTS.md section 1); `retrying` when this poll met a
    /// transient Google failure.
    pub fn view(&self, config: &Config, now: u64, retrying: bool) -> StatusView {
        let end = self.finished_at.unwrap_or(now);
        let (error, error_action, logs) = match &self.phase {
            Phase::Failed {
                message,
                action,
                logs,
            } => (Some(message.clone()), action.clone(), *logs),
            _ => (None, None, false),
        };
        let vm_may_exist = !matches!(
            self.phase,
            Phase::Enabling { .. } | Phase::Inserting | Phase::CheckingName
        );
        let retry_after_ms =
            self.phase
                .poll_interval_ms()
                .map(|ms| if retrying { ms + 1000 } else { ms });
        StatusView {
            status: self.phase.status(),
            label: self.phase.label(),
            deployment_id: self.id.clone(),
            project_id: self.project.to_string(),
            region: self.region.as_str(),
            zone: self.zone.to_string(),
            vm_name: self.vm_name.to_string(),
            bot_name: self.bot_name.display().to_string(),
            provider: self.provider.as_str(),
            ip: self.ip.clone(),
            waiting_for_secret: matches!(
                self.phase,
                Phase::Configuring {
                    waiting_for_secret: true
                }
            ),
            secret_version: self.secret_version,
            secret_error: self.secret_error.clone(),
            retrying: retrying && !self.phase.is_finished(),
            started_at: self.created_at,
            elapsed_seconds: end.saturating_sub(self.created_at),
            ready_deadline_seconds: config.limits.ready_timeout_secs,
            running_since: self.running_since,
            error,
            error_action,
            logs_url: (logs || (vm_may_exist && !self.phase.is_finished()))
                .then(|| format!("/api/deploy/{}/logs", self.id)),
            console_url: vm_may_exist.then(|| self.instance().console_url(config)),
            chat_url: matches!(self.phase, Phase::Done)
                .then(|| config.endpoints.chat_url())
                .flatten(),
            retry_after_ms,
        }
    }
}

/// `GET /api/deploy/:id`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusView {
    pub status: &'static str,
    pub label: &'static str,
    pub deployment_id: String,
    pub project_id: String,
    pub region: &'static str,
    pub zone: String,
    pub vm_name: String,
    pub bot_name: String,
    pub provider: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    pub waiting_for_secret: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_error: Option<String>,
    pub retrying: bool,
    pub started_at: u64,
    pub elapsed_seconds: u64,
    pub ready_deadline_seconds: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running_since: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_action: Option<Action>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logs_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console_url: Option<String>,
    /// Where to chat with the bot once it is done, when that is a page (see
    /// `Endpoints::chat_url`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_url: Option<String>,
    /// When to poll next, in milliseconds; absent once the deploy is finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}
