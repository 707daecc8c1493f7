//! Compute Engine v1, the calls the Worker makes: instances insert (with Google's body
//! checks), get, delete, aggregatedList (with filters), setMetadata (fingerprint
//! checked), getGuestAttributes, getSerialPortOutput, stop, start and zoneOperations.get;
//! and how instances move through their states over time.

use crate::clock::{now_ms, random_digits, random_token, rfc3339_pacific};
use crate::endpoint::InstancePath;
use crate::errors::{
    self, bad_json, invalid, not_found, permission_denied, ApiResult, GoogleError,
};
use crate::faults::FaultEffect;
use crate::filter::Filter;
use crate::http::{ok_json, Req};
use crate::oauth::SCOPE_COMPUTE;
use crate::operations::{get_compute, render_compute};
use crate::service_accounts::{caller, Principal};
use crate::state::{
    ComputeOpKind, ComputeOperation, Instance, InstanceStatus, Metadata, OperationFailure,
    SerialLog, Transition, VmKey, World,
};
use crate::Sim;
use claw_free_protocol::google::ApiError;
use claw_free_protocol::names::{is_valid_label_value, is_valid_resource_name};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

mod handlers;
mod iam;
mod insert_body;
mod lifecycle;
mod render;

pub use handlers::*;
pub use iam::{iam_policy, set_service_account};
use insert_body::*;
pub use lifecycle::{advance, Effect};
pub use render::render_instance;

impl Instance {
    /// A VM made at `now`: provisioning, never booted, its firmware's first lines on the
    /// serial port; an e2-micro on the project's default network with a premium-tier
    /// external address, and no labels, metadata, service account, guest attributes or
    /// policy yet. Its creator sets what it asked for.
    pub fn created(key: VmKey, id: String, internal_ip: String, now: u64) -> Self {
        let mut serial = SerialLog::default();
        crate::vm::bios_log(&mut serial, now);
        Self {
            key,
            id,
            created_ms: now,
            status: InstanceStatus::Provisioning,
            schedule: Vec::new(),
            machine_type: "e2-micro".into(),
            description: String::new(),
            disks: Vec::new(),
            network: "default".into(),
            subnetwork: "default".into(),
            has_external_ip: true,
            network_tier: "PREMIUM".into(),
            internal_ip,
            external_ip: None,
            labels: BTreeMap::new(),
            label_fingerprint: random_token(8),
            metadata: Metadata::new(Vec::new()),
            tags: json!({}),
            service_accounts: Value::Null,
            scheduling: json!({}),
            shielded_instance_config: json!({}),
            guest_attributes: BTreeMap::new(),
            guest_attribute_writes: Default::default(),
            serial,
            last_start_ms: None,
            last_stop_ms: None,
            run_agent: true,
            never_healthy: false,
            boot_id: 0,
            standin_secret_version: None,
            iam_policy: crate::iam::policy::Policy::empty(),
        }
    }
}

pub(super) const SERVICE: &str = "compute.googleapis.com";
pub const API_BASE: &str = "https://www.googleapis.com/compute/v1";

/// The zones the simulator offers, each with its region.
pub const ZONES: &[&str] = &[
    "us-central1-a",
    "us-central1-b",
    "us-central1-c",
    "us-central1-f",
    "us-east1-b",
    "us-east1-c",
    "us-east1-d",
    "us-west1-a",
    "us-west1-b",
    "us-west1-c",
    "europe-west1-b",
    "europe-west1-c",
    "europe-west1-d",
    "europe-west4-a",
    "asia-east1-a",
];

pub(super) const MACHINE_TYPES: &[&str] = &[
    "e2-micro",
    "e2-small",
    "e2-medium",
    "e2-standard-2",
    "e2-standard-4",
    "f1-micro",
    "g1-small",
    "n1-standard-1",
    "n2-standard-2",
];

pub(super) const DISK_TYPES: &[&str] = &["pd-standard", "pd-balanced", "pd-ssd"];

/// The instance fields Google accepts in an insert body.
pub(super) const INSTANCE_FIELDS: &[&str] = &[
    "kind",
    "name",
    "description",
    "machineType",
    "disks",
    "networkInterfaces",
    "metadata",
    "labels",
    "tags",
    "serviceAccounts",
    "scheduling",
    "shieldedInstanceConfig",
    "canIpForward",
    "deletionProtection",
    "minCpuPlatform",
    "guestAccelerators",
    "confidentialInstanceConfig",
    "reservationAffinity",
    "displayDevice",
    "advancedMachineFeatures",
    "params",
    "zone",
    "hostname",
    "keyRevocationActionType",
];

pub fn region_of(zone: &str) -> &str {
    zone.rsplit_once('-').map(|(r, _)| r).unwrap_or(zone)
}

/// `https://www.googleapis.com/compute/v1/projects/{project}/{rest}`.
pub fn link(project: &str, rest: &str) -> String {
    format!("{API_BASE}/projects/{project}/{rest}")
}

pub fn zone_link(project: &str, zone: &str) -> String {
    link(project, &format!("zones/{zone}"))
}

/// Strips a full or partial resource URL down to the part after `projects/{project}/`;
/// returns the project it names (if any) and the rest.
pub(super) fn resource_path(value: &str) -> (Option<&str>, &str) {
    let trimmed = value
        .strip_prefix("https://www.googleapis.com/compute/v1/")
        .or_else(|| value.strip_prefix("https://compute.googleapis.com/compute/v1/"))
        .unwrap_or(value);
    match trimmed
        .strip_prefix("projects/")
        .and_then(|r| r.split_once('/'))
    {
        Some((project, rest)) => (Some(project), rest),
        None => (None, trimmed),
    }
}

/// The caller, once it may use `permission` on `resource` of `project`: a valid token,
/// an existing project, a grant (the project's owner, a role in the project's policy,
/// or one in `instance`'s own policy), Compute enabled.
pub(super) fn access(
    world: &World,
    req: &Req,
    project: &str,
    permission: &str,
    resource: &str,
    instance: Option<&VmKey>,
) -> Result<Principal, GoogleError> {
    let who = caller(world, req, SERVICE, &[SCOPE_COMPUTE])?;
    let now = now_ms();
    let p = world
        .projects
        .get(project)
        .filter(|p| p.ready_at <= now)
        .ok_or_else(|| not_found(&format!("projects/{project}")))?;
    let instance_policy = instance
        .and_then(|k| world.instances.get(k))
        .map(|i| &i.iam_policy);
    if !iam::may(world, p, &who, permission, instance_policy) {
        return Err(permission_denied(permission, resource));
    }
    if !p.compute_enabled(now) {
        return Err(ApiError::service_disabled(&p.number, SERVICE).into());
    }
    Ok(who)
}

/// The start of every call on one instance: its key, the world locked, and the
/// caller once [`access`] lets it use `permission` on the instance.
pub(super) fn instance_call<'s>(
    sim: &'s Sim,
    req: &Req,
    at: InstancePath,
    permission: &str,
) -> Result<(VmKey, std::sync::MutexGuard<'s, World>, Principal), GoogleError> {
    let k = at.key();
    let world = sim.world();
    let who = access(
        &world,
        req,
        at.project,
        permission,
        &k.to_string(),
        Some(&k),
    )?;
    Ok((k, world, who))
}

pub(super) fn known_zone(zone: &str) -> Result<(), GoogleError> {
    if ZONES.contains(&zone) {
        Ok(())
    } else {
        Err(invalid(format!(
            "Invalid value for field 'zone': '{zone}'. Unknown zone."
        )))
    }
}

pub(super) fn instance_ref<'w>(world: &'w World, key: &VmKey) -> Result<&'w Instance, GoogleError> {
    world
        .instances
        .get(key)
        .ok_or_else(|| not_found(&key.to_string()))
}

pub(super) fn instance_mut<'w>(
    world: &'w mut World,
    key: &VmKey,
) -> Result<&'w mut Instance, GoogleError> {
    world
        .instances
        .get_mut(key)
        .ok_or_else(|| not_found(&key.to_string()))
}

/// Records a new Compute operation and renders it.
pub(super) fn start_operation(
    world: &mut World,
    kind: ComputeOpKind,
    target: &VmKey,
    target_id: &str,
    user: &str,
    done_after_ms: u64,
    failure: Option<OperationFailure>,
) -> Value {
    let now = now_ms();
    let step = world.config.operation_step_ms;
    let name = format!(
        "operation-{now}-{}-{}",
        random_token(9).to_lowercase().replace('_', "a"),
        random_hex_id()
    );
    let op = ComputeOperation {
        name: name.clone(),
        id: random_digits(19),
        kind,
        target: target.clone(),
        target_id: target_id.to_string(),
        user: user.to_string(),
        insert_ms: now,
        running_at: now + step,
        done_at: now + done_after_ms.max(2 * step),
        failure,
    };
    let rendered = render_compute(&op, now);
    world
        .compute_ops
        .insert((target.project.clone(), target.zone.clone(), name), op);
    rendered
}

/// The answer to a change made at once on instance `k`: a finished operation.
pub(super) fn answer_change(
    sim: &Sim,
    world: std::sync::MutexGuard<'_, World>,
    kind: ComputeOpKind,
    k: &VmKey,
    user: &str,
) -> ApiResult {
    answer_operation(sim, world, kind, k, user, 0)
}

/// The answer to a change on instance `k`: its operation, done after `done_after_ms`.
/// Once the world is released, a VM going down (stopped or deleted) has its programs
/// halted, and whoever waits for a change is woken.
pub(super) fn answer_operation(
    sim: &Sim,
    mut world: std::sync::MutexGuard<'_, World>,
    kind: ComputeOpKind,
    k: &VmKey,
    user: &str,
    done_after_ms: u64,
) -> ApiResult {
    let id = instance_ref(&world, k)?.id.clone();
    let op = start_operation(&mut world, kind, k, &id, user, done_after_ms, None);
    drop(world);
    if matches!(kind, ComputeOpKind::Stop | ComputeOpKind::Delete) {
        sim.halt(k);
    }
    sim.changed.notify_waiters();
    Ok(ok_json(&op))
}

pub(super) fn random_hex_id() -> String {
    crate::clock::random_hex(4)
}
