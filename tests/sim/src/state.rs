//! Everything the simulator remembers, in one `World` behind one lock: users, OAuth
//! codes and tokens, projects, operations, instances, Telegram bots, faults and
//! counters. Handlers lock it briefly and never across an `.await`.

use crate::clock::{now_ms, random_digits, random_token};
use crate::faults::Fault;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;

/// Timing and consent behaviour, changed by `POST /_admin/config`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    pub auto_approve: bool,
    pub token_ttl_secs: u64,
    pub operation_step_ms: u64,
    pub boot_step_ms: u64,
    pub agent_boot_delay_ms: u64,
    /// Whether projects made by `projects.create` have billing (Google's have none).
    pub billing_for_new_projects: bool,
    /// Every VM's app stays unhealthy, also for VMs not created yet: a readiness
    /// timeout set up before the deploy, with no race against the VM's boot.
    pub apps_never_healthy: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            auto_approve: false,
            token_ttl_secs: 3600,
            operation_step_ms: 1000,
            boot_step_ms: 1500,
            agent_boot_delay_ms: 2000,
            billing_for_new_projects: false,
            apps_never_healthy: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub sub: String,
    pub email: String,
    pub name: String,
    pub picture: String,
}

/// A consent page that was shown and not answered yet.
#[derive(Debug, Clone)]
pub struct PendingConsent {
    pub grant: Grant,
    pub redirect_uri: String,
    pub state: Option<String>,
}

/// What a user agreed to: the client, the scopes, the PKCE challenge.
#[derive(Debug, Clone)]
pub struct Grant {
    pub client_id: String,
    pub user_sub: String,
    pub scopes: Vec<String>,
    pub code_challenge: Option<(String, PkceMethod)>,
    pub offline: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkceMethod {
    S256,
    Plain,
}

#[derive(Debug, Clone)]
pub struct AuthCode {
    pub grant: Grant,
    pub redirect_uri: String,
    pub expires_ms: u64,
    pub used: bool,
}

#[derive(Debug, Clone)]
pub struct AccessToken {
    pub user_sub: String,
    pub scopes: Vec<String>,
    pub expires_ms: u64,
    /// The refresh token it came from, so revoking that one revokes this too.
    pub refresh_token: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RefreshToken {
    pub user_sub: String,
    pub client_id: String,
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProjectState {
    Active,
    DeleteRequested,
}

impl ProjectState {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "ACTIVE" => Some(Self::Active),
            "DELETE_REQUESTED" => Some(Self::DeleteRequested),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::DeleteRequested => "DELETE_REQUESTED",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Project {
    pub project_id: String,
    pub number: String,
    pub display_name: String,
    pub owner_email: String,
    pub state: ProjectState,
    pub billing_enabled: bool,
    /// When Compute Engine became (or becomes) enabled; `None` while disabled.
    pub compute_enabled_at: Option<u64>,
    pub created_ms: u64,
    /// Before this time the project is still being created and is invisible.
    pub ready_at: u64,
}

impl Project {
    pub fn compute_enabled(&self, now: u64) -> bool {
        self.compute_enabled_at.is_some_and(|at| at <= now)
    }
}

/// What a new project looks like.
pub struct ProjectSpec<'a> {
    pub project_id: &'a str,
    pub display_name: &'a str,
    pub owner_email: &'a str,
    pub compute_enabled: bool,
    pub billing_enabled: bool,
    pub state: ProjectState,
    /// Until then it is still being created and invisible.
    pub ready_at: u64,
}

impl<'a> ProjectSpec<'a> {
    /// An active project with billing, usable at once.
    pub fn ready(
        project_id: &'a str,
        display_name: &'a str,
        owner_email: &'a str,
        compute_enabled: bool,
    ) -> Self {
        Self {
            project_id,
            display_name,
            owner_email,
            compute_enabled,
            billing_enabled: true,
            state: ProjectState::Active,
            ready_at: 0,
        }
    }
}

/// A Resource Manager or Service Usage long-running operation.
#[derive(Debug, Clone)]
pub struct LongRunningOperation {
    pub name: String,
    pub owner_email: String,
    pub done_at: u64,
    pub metadata: Value,
    /// The `response` once done.
    pub response: Value,
}

/// Where a simulated VM lives: project, zone, instance name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct VmKey {
    pub project: String,
    pub zone: String,
    pub instance: String,
}

impl VmKey {
    pub fn new(project: &str, zone: &str, instance: &str) -> Self {
        Self {
            project: project.to_string(),
            zone: zone.to_string(),
            instance: instance.to_string(),
        }
    }
}

impl std::fmt::Display for VmKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "projects/{}/zones/{}/instances/{}",
            self.project, self.zone, self.instance
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InstanceStatus {
    Provisioning,
    Staging,
    Running,
    Stopping,
    Terminated,
}

impl InstanceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provisioning => "PROVISIONING",
            Self::Staging => "STAGING",
            Self::Running => "RUNNING",
            Self::Stopping => "STOPPING",
            Self::Terminated => "TERMINATED",
        }
    }
}

/// The next thing that happens to an instance by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    To(InstanceStatus),
    Gone,
}

/// Instance metadata: ordered items and the fingerprint `setMetadata` must quote.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    pub items: Vec<(String, String)>,
    pub fingerprint: String,
}

impl Metadata {
    pub fn new(items: Vec<(String, String)>) -> Self {
        Self {
            items,
            fingerprint: random_token(8),
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.items
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn guest_attributes_enabled(&self) -> bool {
        self.get(claw_free_protocol::metadata::ENABLE_GUEST_ATTRIBUTES)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

#[derive(Debug, Clone)]
pub struct Instance {
    pub key: VmKey,
    pub id: String,
    pub created_ms: u64,
    pub status: InstanceStatus,
    /// Pending transitions, each with the time it happens.
    pub schedule: Vec<(u64, Transition)>,
    pub machine_type: String,
    pub description: String,
    pub disks: Vec<Value>,
    pub network: String,
    pub subnetwork: String,
    pub has_external_ip: bool,
    pub network_tier: String,
    pub internal_ip: String,
    /// Assigned while the instance runs, released when it stops (an ephemeral IP).
    pub external_ip: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub label_fingerprint: String,
    pub metadata: Metadata,
    pub tags: Value,
    pub service_accounts: Value,
    pub scheduling: Value,
    pub shielded_instance_config: Value,
    pub guest_attributes: BTreeMap<(String, String), String>,
    /// The latest guest-attribute writes, in order (admin only; Google keeps no history).
    pub guest_attribute_writes: GuestAttributeWrites,
    pub serial: SerialLog,
    pub last_start_ms: Option<u64>,
    pub last_stop_ms: Option<u64>,
    /// Whether booting starts the agent (or the stand-in); admin-made VMs may opt out.
    pub run_agent: bool,
    pub never_healthy: bool,
    /// Bumped at every boot and halt so work scheduled for an older boot stops.
    pub boot_id: u64,
    /// The stand-in's applied secret version (the stand-in cannot decrypt; see `vm`).
    pub standin_secret_version: Option<String>,
    /// The instance's own IAM policy (`instances.getIamPolicy`/`setIamPolicy`).
    pub iam_policy: crate::iam::policy::Policy,
}

/// The recent guest-attribute writes of one VM, numbered in order. Guest attributes
/// outlive a reboot, so a value alone cannot tell a test whether this boot's agent
/// wrote it; the write's number can.
#[derive(Debug, Clone, Default)]
pub struct GuestAttributeWrites {
    next: u64,
    recent: VecDeque<GuestAttributeWrite>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GuestAttributeWrite {
    pub seq: u64,
    /// `namespace/key`.
    pub key: String,
    pub value: String,
}

impl GuestAttributeWrites {
    /// Enough for a test's whole story; older writes are dropped.
    const KEPT: usize = 512;

    pub fn record(&mut self, key: String, value: String) {
        self.next += 1;
        if self.recent.len() == Self::KEPT {
            self.recent.pop_front();
        }
        self.recent.push_back(GuestAttributeWrite {
            seq: self.next,
            key,
            value,
        });
    }

    pub fn iter(&self) -> impl Iterator<Item = &GuestAttributeWrite> {
        self.recent.iter()
    }
}

/// A serial port's output: an append-only text with Google's 1 MiB window.
#[derive(Debug, Clone, Default)]
pub struct SerialLog {
    /// Bytes dropped from the front.
    pub dropped: u64,
    pub text: String,
}

pub const SERIAL_WINDOW: usize = 1024 * 1024;

impl SerialLog {
    pub fn push_line(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push_str("\r\n");
        if self.text.len() > SERIAL_WINDOW {
            let mut cut = self.text.len() - SERIAL_WINDOW;
            while !self.text.is_char_boundary(cut) {
                cut += 1;
            }
            self.text.drain(..cut);
            self.dropped += cut as u64;
        }
    }

    pub fn next(&self) -> u64 {
        self.dropped + self.text.len() as u64
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComputeOpKind {
    Insert,
    Delete,
    SetMetadata,
    Stop,
    Start,
    SetServiceAccount,
}

impl ComputeOpKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Insert => "insert",
            Self::Delete => "delete",
            Self::SetServiceAccount => "setServiceAccount",
            Self::SetMetadata => "setMetadata",
            Self::Stop => "stop",
            Self::Start => "start",
        }
    }
}

/// A failure reported inside a finished Compute operation.
#[derive(Debug, Clone)]
pub struct OperationFailure {
    pub code: String,
    pub message: String,
    pub http_status: u16,
}

#[derive(Debug, Clone)]
pub struct ComputeOperation {
    pub name: String,
    pub id: String,
    pub kind: ComputeOpKind,
    pub target: VmKey,
    pub target_id: String,
    pub user: String,
    pub insert_ms: u64,
    pub running_at: u64,
    pub done_at: u64,
    pub failure: Option<OperationFailure>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TelegramUpdate {
    pub update_id: u64,
    pub from_id: u64,
    pub first_name: String,
    pub username: Option<String>,
    pub text: String,
    pub date: u64,
}

#[derive(Debug, Clone)]
pub struct TelegramBot {
    pub id: u64,
    pub username: String,
    pub first_name: String,
    pub updates: Vec<TelegramUpdate>,
    /// The id the next update gets (confirmed updates are forgotten, ids keep growing).
    pub next_update: u64,
    /// What the bot sent (`sendMessage`), oldest first.
    pub sent: Vec<SentMessage>,
}

impl TelegramBot {
    /// A fresh update id.
    pub fn next_update_id(&mut self) -> u64 {
        self.next_update += 1;
        self.next_update - 1
    }
}

/// A message a bot sent to a chat.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SentMessage {
    pub message_id: u64,
    pub chat_id: i64,
    pub text: String,
}

#[derive(Debug, Clone, Default)]
pub struct MetadataServerMode {
    pub down: bool,
    pub delay_ms: u64,
}

/// The whole simulated world.
#[derive(Debug, Default)]
pub struct World {
    pub config: Config,
    pub users: Vec<User>,
    pub consents: HashMap<String, PendingConsent>,
    pub codes: HashMap<String, AuthCode>,
    pub access_tokens: HashMap<String, AccessToken>,
    pub refresh_tokens: HashMap<String, RefreshToken>,
    pub projects: BTreeMap<String, Project>,
    pub lro: HashMap<String, LongRunningOperation>,
    pub instances: BTreeMap<VmKey, Instance>,
    /// Keyed by (project, zone, operation name).
    pub compute_ops: HashMap<(String, String, String), ComputeOperation>,
    /// Insert `requestId`s seen, per project, with the operation they started.
    pub request_ids: HashMap<(String, String), (String, String, String)>,
    pub faults: Vec<Fault>,
    pub counters: BTreeMap<String, u64>,
    pub telegram: HashMap<String, TelegramBot>,
    /// Bot API methods a client called that the simulator does not serve: a test that
    /// runs a real Telegram client asserts this stays empty.
    pub telegram_unknown_methods: std::collections::BTreeSet<String>,
    pub metadata_server: MetadataServerMode,
    pub github: crate::github::State,
    pub iam: crate::iam::State,
    pub storage: crate::storage::Storage,
    /// GitHub Actions jobs that may ask for OIDC ID tokens.
    pub actions_jobs: crate::github::actions_oidc::Jobs,
    next_ip: u32,
}

/// The user every fresh simulator knows.
pub fn default_user(base_url: &str) -> User {
    User {
        sub: "100000000000000000001".into(),
        email: "ada@example.com".into(),
        name: "Ada Lovelace".into(),
        picture: format!("{base_url}/_static/avatar.svg"),
    }
}

impl World {
    /// A fresh world with the default user and her two projects.
    pub fn seeded(config: Config, base_url: &str) -> Self {
        let mut world = World {
            config,
            ..World::default()
        };
        let ada = default_user(base_url);
        let email = ada.email.clone();
        world.users.push(ada);
        world.add_project(ProjectSpec::ready("claw-demo", "Claw demo", &email, true));
        world.add_project(ProjectSpec::ready(
            "claw-fresh",
            "Claw fresh",
            &email,
            false,
        ));
        world
    }

    /// Adds a project, or replaces the one with the same id (keeping its number).
    pub fn add_project(&mut self, spec: ProjectSpec<'_>) -> &Project {
        let number = self
            .projects
            .get(spec.project_id)
            .map(|p| p.number.clone())
            .unwrap_or_else(|| random_digits(12));
        self.projects.insert(
            spec.project_id.to_string(),
            Project {
                project_id: spec.project_id.to_string(),
                number,
                display_name: spec.display_name.to_string(),
                owner_email: spec.owner_email.to_string(),
                state: spec.state,
                billing_enabled: spec.billing_enabled,
                compute_enabled_at: spec.compute_enabled.then_some(0),
                created_ms: now_ms(),
                ready_at: spec.ready_at,
            },
        );
        &self.projects[spec.project_id]
    }

    pub fn user_by_sub(&self, sub: &str) -> Option<&User> {
        self.users.iter().find(|u| u.sub == sub)
    }

    /// Adds a user, or replaces the one with the same `sub` or email.
    pub fn upsert_user(&mut self, user: User) {
        self.users
            .retain(|u| u.sub != user.sub && u.email != user.email);
        self.users.push(user);
    }

    pub fn count(&mut self, endpoint: &str) {
        *self.counters.entry(endpoint.to_string()).or_default() += 1;
    }

    /// A fresh internal and external address pair, unique in this world.
    pub fn allocate_ips(&mut self) -> (String, String) {
        self.next_ip += 1;
        let n = self.next_ip;
        // .0 and .1 of the subnet are the network and its gateway.
        let host = n + 1;
        (
            format!("10.128.{}.{}", (host >> 8) & 0xff, host & 0xff),
            format!(
                "34.{}.{}.{}",
                100 + (n >> 16 & 0x3f),
                (n >> 8) & 0xff,
                n & 0xff
            ),
        )
    }

    pub fn vm_root(state_dir: &std::path::Path, key: &VmKey) -> PathBuf {
        state_dir
            .join("vms")
            .join(&key.project)
            .join(&key.zone)
            .join(&key.instance)
    }
}
