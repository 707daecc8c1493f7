//! Compute Engine v1, the calls the Worker makes: instances insert (with Google's body
//! checks), get, delete, aggregatedList (with filters), setMetadata (fingerprint
//! checked), getGuestAttributes, getSerialPortOutput, stop, start and zoneOperations.get;
//! and how instances move through their states over time.

use crate::clock::{now_ms, random_digits, random_token, rfc3339_pacific};
use crate::errors::{
    self, bad_json, invalid, not_found, permission_denied, ApiResult, GoogleError,
};
use crate::faults::FaultEffect;
use crate::filter::Filter;
use crate::http::{ok_json, Req};
use crate::oauth::{authenticate, SCOPE_COMPUTE};
use crate::operations::{get_compute, render_compute};
use crate::state::{
    ComputeOpKind, ComputeOperation, Instance, InstanceStatus, Metadata, OperationFailure,
    SerialLog, Transition, User, VmKey, World,
};
use crate::Sim;
use claw_free_protocol::google::ApiError;
use claw_free_protocol::names::{is_valid_label_value, is_valid_resource_name};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

const SERVICE: &str = "compute.googleapis.com";
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

const MACHINE_TYPES: &[&str] = &[
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

const DISK_TYPES: &[&str] = &["pd-standard", "pd-balanced", "pd-ssd"];

/// The instance fields Google accepts in an insert body.
const INSTANCE_FIELDS: &[&str] = &[
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
fn resource_path(value: &str) -> (Option<&str>, &str) {
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

/// The caller, once it may act on `project`: a valid token, an existing project it
/// owns, Compute enabled.
fn access(
    world: &World,
    req: &Req,
    project: &str,
    permission: &str,
    resource: &str,
) -> Result<User, GoogleError> {
    let user = authenticate(world, req, SERVICE, &[SCOPE_COMPUTE])?;
    let now = now_ms();
    let p = world
        .projects
        .get(project)
        .filter(|p| p.ready_at <= now)
        .ok_or_else(|| not_found(&format!("projects/{project}")))?;
    if p.owner_email != user.email {
        return Err(permission_denied(permission, resource));
    }
    if !p.compute_enabled(now) {
        return Err(ApiError::service_disabled(&p.number, SERVICE).into());
    }
    Ok(user)
}

fn known_zone(zone: &str) -> Result<(), GoogleError> {
    if ZONES.contains(&zone) {
        Ok(())
    } else {
        Err(invalid(format!(
            "Invalid value for field 'zone': '{zone}'. Unknown zone."
        )))
    }
}

fn instance_ref<'w>(world: &'w World, key: &VmKey) -> Result<&'w Instance, GoogleError> {
    world
        .instances
        .get(key)
        .ok_or_else(|| not_found(&key.to_string()))
}

fn instance_mut<'w>(world: &'w mut World, key: &VmKey) -> Result<&'w mut Instance, GoogleError> {
    world
        .instances
        .get_mut(key)
        .ok_or_else(|| not_found(&key.to_string()))
}

/// An instance as Google returns it.
pub fn render_instance(inst: &Instance) -> Value {
    let key = &inst.key;
    let zone = zone_link(&key.project, &key.zone);
    let mut access_configs = Vec::new();
    if inst.has_external_ip {
        let mut config = json!({
            "kind": "compute#accessConfig",
            "type": "ONE_TO_ONE_NAT",
            "name": "External NAT",
            "networkTier": inst.network_tier,
        });
        if let Some(ip) = &inst.external_ip {
            config["natIP"] = json!(ip);
        }
        access_configs.push(config);
    }
    let mut nic = json!({
        "kind": "compute#networkInterface",
        "network": link(&key.project, &format!("global/networks/{}", inst.network)),
        "subnetwork": link(&key.project, &format!("regions/{}/subnetworks/{}", region_of(&key.zone), inst.subnetwork)),
        "networkIP": inst.internal_ip,
        "name": "nic0",
        "fingerprint": "ZWRnZS1uaWM=",
        "stackType": "IPV4_ONLY",
    });
    if !access_configs.is_empty() {
        nic["accessConfigs"] = Value::Array(access_configs);
    }
    let metadata_items: Vec<Value> = inst
        .metadata
        .items
        .iter()
        .map(|(k, v)| json!({ "key": k, "value": v }))
        .collect();
    let mut metadata =
        json!({ "kind": "compute#metadata", "fingerprint": inst.metadata.fingerprint });
    if !metadata_items.is_empty() {
        metadata["items"] = Value::Array(metadata_items);
    }
    let mut body = json!({
        "kind": "compute#instance",
        "id": inst.id,
        "creationTimestamp": rfc3339_pacific(inst.created_ms),
        "name": key.instance,
        "description": inst.description,
        "tags": inst.tags,
        "machineType": format!("{zone}/machineTypes/{}", inst.machine_type),
        "status": inst.status.as_str(),
        "zone": zone,
        "canIpForward": false,
        "networkInterfaces": [nic],
        "disks": inst.disks,
        "metadata": metadata,
        "selfLink": format!("{zone}/instances/{}", key.instance),
        "scheduling": inst.scheduling,
        "labelFingerprint": inst.label_fingerprint,
        "startRestricted": false,
        "deletionProtection": false,
        "shieldedInstanceConfig": inst.shielded_instance_config,
        "fingerprint": inst.metadata.fingerprint,
        "lastStartTimestamp": inst.last_start_ms.map(rfc3339_pacific),
        "satisfiesPzi": true,
    });
    if inst.status == InstanceStatus::Running {
        body["cpuPlatform"] = json!("Intel Broadwell");
    }
    if let Some(stop) = inst.last_stop_ms {
        body["lastStopTimestamp"] = json!(rfc3339_pacific(stop));
    }
    if inst.last_start_ms.is_none() {
        body.as_object_mut().map(|o| o.remove("lastStartTimestamp"));
    }
    if !inst.labels.is_empty() {
        body["labels"] = json!(inst.labels);
    }
    if !inst.service_accounts.is_null() {
        body["serviceAccounts"] = inst.service_accounts.clone();
    }
    body
}

/// What a valid insert body describes.
struct NewInstance {
    name: String,
    machine_type: String,
    description: String,
    disks: Vec<Value>,
    nic: NetworkInterface,
    metadata: Vec<(String, String)>,
    labels: BTreeMap<String, String>,
    tags: Value,
    service_accounts: Value,
    scheduling: Value,
    shielded: Value,
}

/// How Google states its resource-name rule in errors.
const NAME_RULE: &str = "Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'";

fn field_error(field: &str, value: &Value, why: &str) -> GoogleError {
    let shown = match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    invalid(format!(
        "Invalid value for field 'resource.{field}': '{shown}'. {why}"
    ))
}

fn as_str<'v>(value: &'v Value, field: &str) -> Result<&'v str, GoogleError> {
    value.as_str().ok_or_else(|| {
        bad_json(format!(
            "Invalid value at 'resource.{field}' ({}), expected a string",
            type_name(value)
        ))
    })
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "TYPE_BOOL",
        Value::Number(_) => "TYPE_NUMBER",
        Value::String(_) => "TYPE_STRING",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

fn parse_insert(project: &str, zone: &str, body: &Value) -> Result<NewInstance, GoogleError> {
    let object = body
        .as_object()
        .ok_or_else(|| bad_json("The request body must be a JSON object (an Instance)."))?;
    if let Some(unknown) = object
        .keys()
        .find(|k| !INSTANCE_FIELDS.contains(&k.as_str()))
    {
        return Err(bad_json(format!(
            "Unknown name {unknown:?} at 'resource': Cannot find field."
        )));
    }
    let get = |k: &str| object.get(k).unwrap_or(&Value::Null);

    let name = get("name");
    if name.is_null() {
        return Err(field_error("name", name, NAME_RULE));
    }
    let name_str = as_str(name, "name")?;
    if !is_valid_resource_name(name_str) {
        return Err(field_error("name", name, NAME_RULE));
    }

    let machine_type = parse_machine_type(project, zone, get("machineType"))?;
    let nic = parse_network(project, zone, get("networkInterfaces"))?;
    let disks = parse_disks(project, zone, name_str, get("disks"))?;
    let metadata = parse_metadata(get("metadata"))?;
    let labels = parse_labels(get("labels"))?;
    let description = match get("description") {
        Value::Null => String::new(),
        other => as_str(other, "description")?.to_string(),
    };
    let mut tags = get("tags").clone();
    if tags.is_null() {
        tags = json!({ "fingerprint": "42WmSpB8rSM=" });
    } else if let Some(o) = tags.as_object_mut() {
        o.insert("fingerprint".into(), json!(random_token(8)));
    }
    let scheduling = match get("scheduling") {
        Value::Null => {
            json!({ "onHostMaintenance": "MIGRATE", "automaticRestart": true, "preemptible": false, "provisioningModel": "STANDARD" })
        }
        other => other.clone(),
    };
    let shielded = match get("shieldedInstanceConfig") {
        Value::Null => {
            json!({ "enableSecureBoot": false, "enableVtpm": true, "enableIntegrityMonitoring": true })
        }
        other => other.clone(),
    };
    Ok(NewInstance {
        name: name_str.to_string(),
        machine_type,
        description,
        disks,
        nic,
        metadata,
        labels,
        tags,
        service_accounts: get("serviceAccounts").clone(),
        scheduling,
        shielded,
    })
}

fn parse_machine_type(project: &str, zone: &str, value: &Value) -> Result<String, GoogleError> {
    if value.is_null() {
        return Err(field_error(
            "machineType",
            value,
            "Machine type must be specified.",
        ));
    }
    let text = as_str(value, "machineType")?;
    let (named_project, rest) = resource_path(text);
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["zones", z, "machineTypes", machine] if named_project.is_none_or(|p| p == project) => {
            if *z != zone {
                let why =
                    format!("Machine type zone '{z}' does not match the instance zone '{zone}'.");
                return Err(field_error("machineType", value, &why));
            }
            if !MACHINE_TYPES.contains(machine) {
                let why =
                    format!("Machine type with name '{machine}' does not exist in zone '{zone}'.");
                return Err(field_error("machineType", value, &why));
            }
            Ok(machine.to_string())
        }
        _ => Err(field_error(
            "machineType",
            value,
            "Must be a URL to a machine type, such as zones/us-central1-a/machineTypes/e2-micro.",
        )),
    }
}

/// The one network interface of an insert body.
struct NetworkInterface {
    network: String,
    subnetwork: String,
    /// The external IP's network tier, when the interface has one.
    external_tier: Option<String>,
}

const NIC: &str = "networkInterfaces[0]";

fn parse_network(
    project: &str,
    zone: &str,
    value: &Value,
) -> Result<NetworkInterface, GoogleError> {
    let nics = value.as_array().filter(|a| !a.is_empty()).ok_or_else(|| {
        field_error(
            "networkInterfaces",
            value,
            "At least one network interface is required.",
        )
    })?;
    if nics.len() > 1 {
        return Err(field_error(
            "networkInterfaces",
            &Value::Null,
            "The simulator's projects have one network; use one interface.",
        ));
    }
    let nic = &nics[0];
    Ok(NetworkInterface {
        network: parse_network_ref(project, nic.get("network"))?,
        subnetwork: parse_subnetwork_ref(project, zone, nic.get("subnetwork"))?,
        external_tier: parse_access_configs(nic.get("accessConfigs"))?,
    })
}

/// `network`: the project's `default` network (the only one it has).
fn parse_network_ref(project: &str, value: Option<&Value>) -> Result<String, GoogleError> {
    let Some(v) = value.filter(|v| !v.is_null()) else {
        return Ok("default".into());
    };
    let field = format!("{NIC}.network");
    let (named_project, rest) = resource_path(as_str(v, &field)?);
    match rest.strip_prefix("global/networks/") {
        Some("default") if named_project.is_none_or(|p| p == project) => Ok("default".into()),
        Some(name) if named_project.is_none_or(|p| p == project) => Err(not_found(&format!(
            "projects/{project}/global/networks/{name}"
        ))),
        _ => Err(field_error(
            &field,
            v,
            "Must be a URL to a network, such as global/networks/default.",
        )),
    }
}

/// `subnetwork`: the `default` subnetwork of the zone's region.
fn parse_subnetwork_ref(
    project: &str,
    zone: &str,
    value: Option<&Value>,
) -> Result<String, GoogleError> {
    let Some(v) = value.filter(|v| !v.is_null()) else {
        return Ok("default".into());
    };
    let field = format!("{NIC}.subnetwork");
    let (_, rest) = resource_path(as_str(v, &field)?);
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["regions", region, "subnetworks", name] => {
            let own_region = region_of(zone);
            if *region != own_region {
                let why = format!("Subnetwork region '{region}' does not match the instance region '{own_region}'.");
                return Err(field_error(&field, v, &why));
            }
            if *name != "default" {
                return Err(not_found(&format!(
                    "projects/{project}/regions/{region}/subnetworks/{name}"
                )));
            }
            Ok((*name).to_string())
        }
        _ => Err(field_error(
            &field,
            v,
            "Must be a URL to a subnetwork, such as regions/us-central1/subnetworks/default.",
        )),
    }
}

/// `accessConfigs`: at most one `ONE_TO_ONE_NAT`; returns its network tier.
fn parse_access_configs(value: Option<&Value>) -> Result<Option<String>, GoogleError> {
    let Some(v) = value.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let field = format!("{NIC}.accessConfigs");
    let configs = v.as_array().ok_or_else(|| {
        bad_json(format!(
            "Invalid value at 'resource.{field}', expected a list"
        ))
    })?;
    match configs.as_slice() {
        [] => Ok(None),
        [config] => {
            let kind = config.get("type").unwrap_or(&Value::Null);
            if !kind.is_null() && kind.as_str() != Some("ONE_TO_ONE_NAT") {
                return Err(field_error(
                    &format!("{field}[0].type"),
                    kind,
                    "Only ONE_TO_ONE_NAT is supported.",
                ));
            }
            match config.get("networkTier") {
                None | Some(Value::Null) => Ok(Some("PREMIUM".into())),
                Some(Value::String(t)) if t == "PREMIUM" || t == "STANDARD" => Ok(Some(t.clone())),
                Some(other) => Err(field_error(
                    &format!("{field}[0].networkTier"),
                    other,
                    "The network tier is PREMIUM or STANDARD.",
                )),
            }
        }
        _ => Err(field_error(
            &field,
            &Value::Null,
            "At most one access config is allowed.",
        )),
    }
}

fn parse_disks(
    project: &str,
    zone: &str,
    instance: &str,
    value: &Value,
) -> Result<Vec<Value>, GoogleError> {
    let disks = value.as_array().filter(|a| !a.is_empty()).ok_or_else(|| {
        invalid("Invalid value for field 'resource.disks': ''. Boot disk must be specified.")
    })?;
    let boot_count = disks
        .iter()
        .filter(|d| d.get("boot") == Some(&json!(true)))
        .count();
    if boot_count > 1 {
        return Err(invalid(
            "Invalid value for field 'resource.disks': ''. Only one boot disk can be specified.",
        ));
    }
    let mut rendered = Vec::new();
    for (index, disk) in disks.iter().enumerate() {
        let field = format!("disks[{index}]");
        let boot = disk.get("boot") == Some(&json!(true)) || (boot_count == 0 && index == 0);
        let params = disk.get("initializeParams").unwrap_or(&Value::Null);
        let image = match (params.get("sourceImage"), disk.get("source")) {
            (Some(image), None) => image,
            (Some(_), Some(_)) => {
                return Err(invalid(format!(
                    "Invalid value for field 'resource.{field}': ''. Source and initializeParams.sourceImage cannot both be specified."
                )))
            }
            (None, Some(_)) => {
                return Err(invalid(format!(
                    "Invalid value for field 'resource.{field}.source': ''. The simulator only creates new disks: use initializeParams.sourceImage."
                )))
            }
            (None, None) => {
                let what = if boot { "Source image must be specified." } else { "A disk needs initializeParams.sourceImage." };
                return Err(invalid(format!(
                    "Invalid value for field 'resource.{field}.initializeParams.sourceImage': ''. {what}"
                )));
            }
        };
        let image_field = format!("{field}.initializeParams.sourceImage");
        let image_text = as_str(image, &image_field)?;
        check_image(image_text).map_err(|why| field_error(&image_field, image, why))?;
        let size_gb = disk_size(params, &field)?;
        check_disk_type(params, &field, zone)?;
        let disk_name = disk_name(params, &field, instance, index)?;
        rendered.push(json!({
            "kind": "compute#attachedDisk",
            "type": "PERSISTENT",
            "mode": "READ_WRITE",
            "source": link(project, &format!("zones/{zone}/disks/{disk_name}")),
            "deviceName": disk.get("deviceName").and_then(Value::as_str).unwrap_or(&disk_name),
            "index": index,
            "boot": boot,
            "autoDelete": disk.get("autoDelete").and_then(Value::as_bool).unwrap_or(true),
            "interface": "SCSI",
            "diskSizeGb": size_gb.to_string(),
            "architecture": "X86_64",
            "licenses": [image_license(project, image_text)],
        }));
    }
    Ok(rendered)
}

/// `diskSizeGb`: a number or a numeric string, 10 GB by default.
fn disk_size(params: &Value, field: &str) -> Result<u64, GoogleError> {
    match params.get("diskSizeGb") {
        None | Some(Value::Null) => Ok(10),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .filter(|n| (10..=65_536).contains(n))
            .ok_or_else(|| {
                field_error(
                    &format!("{field}.initializeParams.diskSizeGb"),
                    v,
                    "Disk size must be a whole number of GB from 10 to 65536.",
                )
            }),
    }
}

/// `diskType`: a disk type of the instance's own zone.
fn check_disk_type(params: &Value, field: &str, zone: &str) -> Result<(), GoogleError> {
    let Some(v) = params.get("diskType").filter(|v| !v.is_null()) else {
        return Ok(());
    };
    let type_field = format!("{field}.initializeParams.diskType");
    let (_, rest) = resource_path(as_str(v, &type_field)?);
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["zones", z, "diskTypes", t] if *z == zone && DISK_TYPES.contains(t) => Ok(()),
        _ => Err(field_error(
            &type_field,
            v,
            &format!(
                "Must be a disk type of zone {zone}, such as zones/{zone}/diskTypes/pd-balanced."
            ),
        )),
    }
}

/// `diskName`, or Google's default: the instance's name (with `-N` for extra disks).
fn disk_name(
    params: &Value,
    field: &str,
    instance: &str,
    index: usize,
) -> Result<String, GoogleError> {
    match params.get("diskName").and_then(Value::as_str) {
        Some(n) if is_valid_resource_name(n) => Ok(n.to_string()),
        Some(n) => Err(field_error(
            &format!("{field}.initializeParams.diskName"),
            &json!(n),
            NAME_RULE,
        )),
        None if index == 0 => Ok(instance.to_string()),
        None => Ok(format!("{instance}-{index}")),
    }
}

/// The license link Google shows for a disk made from `image` (the image's project).
fn image_license(project: &str, image: &str) -> String {
    let (named, _) = resource_path(image);
    let image_project = named.unwrap_or(project);
    format!("{API_BASE}/projects/{image_project}/global/licenses/{image_project}")
}

/// A source image: `projects/{p}/global/images/{name}` or `.../images/family/{family}`.
fn check_image(text: &str) -> Result<(), &'static str> {
    let (_, rest) = resource_path(text);
    let name = rest
        .strip_prefix("global/images/family/")
        .or_else(|| rest.strip_prefix("global/images/"))
        .ok_or("Must be a URL to an image, such as projects/debian-cloud/global/images/family/debian-12.")?;
    if is_valid_resource_name(name) {
        Ok(())
    } else {
        Err("The image name must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'.")
    }
}

const MAX_METADATA_VALUE: usize = 256 * 1024;
const MAX_METADATA_TOTAL: usize = 512 * 1024;

fn is_valid_metadata_key(key: &str) -> bool {
    (1..=128).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `metadata` of an insert or a setMetadata body: `{items: [{key, value}], fingerprint?}`.
fn parse_metadata(value: &Value) -> Result<Vec<(String, String)>, GoogleError> {
    if value.is_null() {
        return Ok(Vec::new());
    }
    let object = value
        .as_object()
        .ok_or_else(|| bad_json("Invalid value at 'resource.metadata', expected an object"))?;
    if let Some(unknown) = object
        .keys()
        .find(|k| !["kind", "items", "fingerprint"].contains(&k.as_str()))
    {
        return Err(bad_json(format!(
            "Unknown name {unknown:?} at 'resource.metadata': Cannot find field."
        )));
    }
    let items = match object.get("items") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(bad_json(
                "Invalid value at 'resource.metadata.items', expected a list",
            ))
        }
    };
    let mut parsed: Vec<(String, String)> = Vec::new();
    let mut total = 0;
    for (i, item) in items.iter().enumerate() {
        let key = item.get("key").and_then(Value::as_str).unwrap_or("");
        if !is_valid_metadata_key(key) {
            return Err(invalid(format!(
                "Invalid value for field 'resource.metadata.items[{i}].key': '{key}'. Must be a match of regex '[a-zA-Z0-9-_]{{1,128}}'"
            )));
        }
        let value = match item.get("value") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => {
                return Err(bad_json(format!(
                    "Invalid value at 'resource.metadata.items[{i}].value', expected a string"
                )))
            }
        };
        if value.len() > MAX_METADATA_VALUE {
            return Err(invalid(format!("Invalid value for field 'resource.metadata.items[{i}].value': ''. Metadata values must be at most 256 KB.")));
        }
        if parsed.iter().any(|(k, _)| k == key) {
            return Err(invalid(format!("Invalid value for field 'resource.metadata': ''. Metadata has duplicate keys: '{key}'.")));
        }
        total += key.len() + value.len();
        parsed.push((key.to_string(), value));
    }
    if total > MAX_METADATA_TOTAL {
        return Err(invalid("Invalid value for field 'resource.metadata': ''. The total size of all metadata must be at most 512 KB."));
    }
    Ok(parsed)
}

fn parse_labels(value: &Value) -> Result<BTreeMap<String, String>, GoogleError> {
    if value.is_null() {
        return Ok(BTreeMap::new());
    }
    let object = value
        .as_object()
        .ok_or_else(|| bad_json("Invalid value at 'resource.labels', expected a map"))?;
    if object.len() > 64 {
        return Err(invalid(
            "Invalid value for field 'resource.labels': ''. At most 64 labels are allowed.",
        ));
    }
    let mut labels = BTreeMap::new();
    for (key, v) in object {
        let key_ok = (1..=63).contains(&key.len())
            && key.starts_with(|c: char| c.is_ascii_lowercase())
            && key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        let v = v.as_str().ok_or_else(|| {
            bad_json(format!(
                "Invalid value at 'resource.labels[{key}]', expected a string"
            ))
        })?;
        if !key_ok {
            return Err(invalid(format!(
                "Invalid value for field 'resource.labels': ''. Invalid label key '{key}'."
            )));
        }
        if !is_valid_label_value(v) {
            return Err(invalid(format!("Invalid value for field 'resource.labels.{key}': '{v}'. Label values are at most 63 lowercase letters, digits, '-' or '_'.")));
        }
        labels.insert(key.clone(), v.to_string());
    }
    Ok(labels)
}

/// Records a new Compute operation and renders it.
fn start_operation(
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

fn random_hex_id() -> String {
    crate::clock::random_hex(4)
}

fn key(project: &str, zone: &str, instance: &str) -> VmKey {
    VmKey {
        project: project.to_string(),
        zone: zone.to_string(),
        instance: instance.to_string(),
    }
}

/// `POST .../zones/{z}/instances`.
pub fn insert(
    sim: &Sim,
    req: &Req,
    project: &str,
    zone: &str,
    fault: Option<FaultEffect>,
) -> ApiResult {
    let resource = format!("projects/{project}/zones/{zone}/instances");
    let mut world = sim.world();
    let user = access(&world, req, project, "compute.instances.create", &resource)?;
    known_zone(zone)?;
    let request_id = req.param("requestId").map(parse_request_id).transpose()?;
    if let Some(id) = &request_id {
        // A retried insert with the same requestId gets the first one's operation.
        let earlier = world
            .request_ids
            .get(&(project.to_string(), id.clone()))
            .cloned();
        if let Some(op_key) = earlier {
            if let Some(op) = world.compute_ops.get(&op_key) {
                return Ok(ok_json(&render_compute(op, now_ms())));
            }
        }
    }
    let body: Value = serde_json::from_slice(&req.body).map_err(|e| bad_json(format!("{e}")))?;
    let new = parse_insert(project, zone, &body)?;
    let k = key(project, zone, &new.name);
    if world.instances.contains_key(&k) {
        return Err(errors::already_exists(&k.to_string()));
    }
    let id = random_digits(19);
    let failure = match fault {
        Some(FaultEffect::FailOperation(mut f)) => {
            f.message = f
                .message
                .replace("{zone}", zone)
                .replace("{region}", region_of(zone));
            Some(f)
        }
        _ => None,
    };
    let now = now_ms();
    let boot = world.config.boot_step_ms;
    if failure.is_none() {
        let (internal_ip, _) = world.allocate_ips();
        let mut serial = SerialLog::default();
        crate::vm::bios_log(&mut serial, now);
        world.instances.insert(
            k.clone(),
            Instance {
                key: k.clone(),
                id: id.clone(),
                created_ms: now,
                status: InstanceStatus::Provisioning,
                schedule: vec![
                    (now + boot, Transition::To(InstanceStatus::Staging)),
                    (now + 2 * boot, Transition::To(InstanceStatus::Running)),
                ],
                machine_type: new.machine_type,
                description: new.description,
                disks: new.disks,
                network: new.nic.network,
                subnetwork: new.nic.subnetwork,
                has_external_ip: new.nic.external_tier.is_some(),
                network_tier: new.nic.external_tier.unwrap_or_default(),
                internal_ip,
                external_ip: None,
                labels: new.labels,
                label_fingerprint: random_token(8),
                metadata: Metadata::new(new.metadata),
                tags: new.tags,
                service_accounts: new.service_accounts,
                scheduling: new.scheduling,
                shielded_instance_config: new.shielded,
                guest_attributes: BTreeMap::new(),
                guest_attribute_writes: Default::default(),
                serial,
                last_start_ms: None,
                last_stop_ms: None,
                run_agent: true,
                never_healthy: false,
                boot_id: 0,
                standin_secret_version: None,
            },
        );
    }
    let op = start_operation(
        &mut world,
        ComputeOpKind::Insert,
        &k,
        &id,
        &user.email,
        0,
        failure,
    );
    if let (Some(request_id), Some(name)) = (request_id, op["name"].as_str()) {
        world.request_ids.insert(
            (project.to_string(), request_id),
            (project.to_string(), zone.to_string(), name.to_string()),
        );
    }
    drop(world);
    sim.changed.notify_waiters();
    Ok(ok_json(&op))
}

/// `requestId`: a non-zero UUID, as Google requires.
fn parse_request_id(value: &str) -> Result<String, GoogleError> {
    let groups: Vec<&str> = value.split('-').collect();
    let shaped = groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()));
    if shaped && value.bytes().any(|b| b.is_ascii_hexdigit() && b != b'0') {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(invalid(format!(
            "Invalid value for field 'requestId': '{value}'. The request id must be a valid UUID with the exception that zero UUID is not supported."
        )))
    }
}

/// `GET .../instances/{i}`.
pub fn get(sim: &Sim, req: &Req, project: &str, zone: &str, instance: &str) -> ApiResult {
    let k = key(project, zone, instance);
    let world = sim.world();
    access(
        &world,
        req,
        project,
        "compute.instances.get",
        &k.to_string(),
    )?;
    Ok(ok_json(&render_instance(instance_ref(&world, &k)?)))
}

/// `DELETE .../instances/{i}`.
pub fn delete(sim: &Sim, req: &Req, project: &str, zone: &str, instance: &str) -> ApiResult {
    let k = key(project, zone, instance);
    let mut world = sim.world();
    let user = access(
        &world,
        req,
        project,
        "compute.instances.delete",
        &k.to_string(),
    )?;
    let now = now_ms();
    let boot = world.config.boot_step_ms;
    let inst = instance_mut(&mut world, &k)?;
    let id = inst.id.clone();
    let gone_at = match inst.schedule.iter().find(|(_, t)| *t == Transition::Gone) {
        Some((at, _)) => *at,
        None => {
            let was_up = inst.status != InstanceStatus::Terminated;
            inst.status = InstanceStatus::Stopping;
            inst.boot_id += 1;
            let at = now + if was_up { boot } else { boot / 2 };
            inst.schedule = vec![(at, Transition::Gone)];
            at
        }
    };
    let op = start_operation(
        &mut world,
        ComputeOpKind::Delete,
        &k,
        &id,
        &user.email,
        gone_at.saturating_sub(now),
        None,
    );
    drop(world);
    sim.halt(&k);
    sim.changed.notify_waiters();
    Ok(ok_json(&op))
}

/// `POST .../instances/{i}/stop`.
pub fn stop(sim: &Sim, req: &Req, project: &str, zone: &str, instance: &str) -> ApiResult {
    let k = key(project, zone, instance);
    let mut world = sim.world();
    let user = access(
        &world,
        req,
        project,
        "compute.instances.stop",
        &k.to_string(),
    )?;
    let (id, done_after) = begin_stop(&mut world, &k)?;
    let op = start_operation(
        &mut world,
        ComputeOpKind::Stop,
        &k,
        &id,
        &user.email,
        done_after,
        None,
    );
    drop(world);
    sim.halt(&k);
    sim.changed.notify_waiters();
    Ok(ok_json(&op))
}

/// Moves an instance to STOPPING (a no-op if it is already stopping or stopped);
/// returns its id and how long until it is TERMINATED.
pub fn begin_stop(world: &mut World, k: &VmKey) -> Result<(String, u64), GoogleError> {
    let now = now_ms();
    let boot = world.config.boot_step_ms;
    let inst = instance_mut(world, k)?;
    if inst.schedule.iter().any(|(_, t)| *t == Transition::Gone) {
        return Err(ApiError::new(
            400,
            "resourceNotReady",
            format!("The resource '{k}' is not ready"),
        )
        .into());
    }
    let id = inst.id.clone();
    match inst.status {
        InstanceStatus::Terminated => Ok((id, 0)),
        InstanceStatus::Stopping => Ok((
            id,
            inst.schedule
                .first()
                .map(|(at, _)| at.saturating_sub(now))
                .unwrap_or(0),
        )),
        _ => {
            inst.status = InstanceStatus::Stopping;
            inst.boot_id += 1;
            inst.schedule = vec![(now + boot, Transition::To(InstanceStatus::Terminated))];
            inst.serial.push_line(&format!(
                "[{}] reboot: Power down",
                crate::clock::syslog_time(now)
            ));
            Ok((id, boot))
        }
    }
}

/// `POST .../instances/{i}/start`.
pub fn start(sim: &Sim, req: &Req, project: &str, zone: &str, instance: &str) -> ApiResult {
    let k = key(project, zone, instance);
    let mut world = sim.world();
    let user = access(
        &world,
        req,
        project,
        "compute.instances.start",
        &k.to_string(),
    )?;
    let now = now_ms();
    let boot = world.config.boot_step_ms;
    let inst = instance_mut(&mut world, &k)?;
    let id = inst.id.clone();
    let done_after = match inst.status {
        InstanceStatus::Terminated => {
            inst.status = InstanceStatus::Staging;
            inst.serial = SerialLog::default();
            crate::vm::bios_log(&mut inst.serial, now);
            inst.schedule = vec![(now + boot, Transition::To(InstanceStatus::Running))];
            boot
        }
        InstanceStatus::Stopping => {
            return Err(ApiError::new(
                400,
                "resourceNotReady",
                format!("The resource '{k}' is not ready"),
            )
            .into())
        }
        _ => 0,
    };
    let op = start_operation(
        &mut world,
        ComputeOpKind::Start,
        &k,
        &id,
        &user.email,
        done_after,
        None,
    );
    drop(world);
    sim.changed.notify_waiters();
    Ok(ok_json(&op))
}

/// `POST .../instances/{i}/setMetadata`: replaces all items; the fingerprint must match.
pub fn set_metadata(sim: &Sim, req: &Req, project: &str, zone: &str, instance: &str) -> ApiResult {
    let k = key(project, zone, instance);
    let mut world = sim.world();
    let user = access(
        &world,
        req,
        project,
        "compute.instances.setMetadata",
        &k.to_string(),
    )?;
    let body: Value = serde_json::from_slice(&req.body).map_err(|e| bad_json(format!("{e}")))?;
    let items = parse_metadata(&body)?;
    let inst = instance_mut(&mut world, &k)?;
    match body.get("fingerprint").and_then(Value::as_str) {
        None => {
            return Err(invalid(
                "Invalid value for field 'metadata.fingerprint': ''. Supplied fingerprint does not match current metadata fingerprint.",
            ))
        }
        Some(f) if f != inst.metadata.fingerprint => {
            return Err(ApiError::new(
                412,
                "conditionNotMet",
                "Supplied fingerprint does not match current metadata fingerprint.",
            )
            .with_status("FAILED_PRECONDITION")
            .into())
        }
        Some(_) => {}
    }
    inst.metadata = Metadata::new(items);
    let id = inst.id.clone();
    let op = start_operation(
        &mut world,
        ComputeOpKind::SetMetadata,
        &k,
        &id,
        &user.email,
        0,
        None,
    );
    drop(world);
    sim.changed.notify_waiters();
    Ok(ok_json(&op))
}

/// `GET .../instances/{i}/getGuestAttributes?queryPath=ns/` (or `variableKey=ns/key`).
pub fn get_guest_attributes(
    sim: &Sim,
    req: &Req,
    project: &str,
    zone: &str,
    instance: &str,
) -> ApiResult {
    let k = key(project, zone, instance);
    let world = sim.world();
    access(
        &world,
        req,
        project,
        "compute.instances.getGuestAttributes",
        &k.to_string(),
    )?;
    let inst = instance_ref(&world, &k)?;
    let self_link = format!(
        "{}/instances/{instance}/getGuestAttributes",
        zone_link(project, zone)
    );
    if let Some(variable) = req.param("variableKey") {
        let (ns, attr) = variable.split_once('/').ok_or_else(|| {
            invalid(format!(
                "Invalid value for field 'variableKey': '{variable}'. Use <namespace>/<key>."
            ))
        })?;
        let value = inst
            .guest_attributes
            .get(&(ns.to_string(), attr.to_string()))
            .ok_or_else(|| guest_attribute_not_found(variable))?;
        return Ok(ok_json(&json!({
            "kind": "compute#guestAttributes",
            "variableKey": variable,
            "variableValue": value,
            "selfLink": self_link,
        })));
    }
    let query = req.param("queryPath").unwrap_or("");
    let (ns, prefix) = query.split_once('/').unwrap_or((query, ""));
    let items: Vec<Value> = inst
        .guest_attributes
        .iter()
        .filter(|((n, key), _)| (ns.is_empty() || n == ns) && key.starts_with(prefix))
        .map(|((n, key), value)| json!({ "namespace": n, "key": key, "value": value }))
        .collect();
    if items.is_empty() {
        return Err(guest_attribute_not_found(query));
    }
    Ok(ok_json(&json!({
        "kind": "compute#guestAttributes",
        "queryPath": query,
        "queryValue": { "items": items },
        "selfLink": self_link,
    })))
}

fn guest_attribute_not_found(path: &str) -> GoogleError {
    ApiError::new(
        404,
        "notFound",
        format!("The resource '{path}' of type 'Guest Attribute' was not found."),
    )
    .into()
}

/// `GET .../instances/{i}/serialPort?port=1&start=N`.
pub fn serial_port(sim: &Sim, req: &Req, project: &str, zone: &str, instance: &str) -> ApiResult {
    let k = key(project, zone, instance);
    let world = sim.world();
    access(
        &world,
        req,
        project,
        "compute.instances.getSerialPortOutput",
        &k.to_string(),
    )?;
    let port: u8 = match req.param("port") {
        None => 1,
        Some(p) => p
            .parse()
            .ok()
            .filter(|n| (1..=4).contains(n))
            .ok_or_else(|| {
                invalid(format!(
                    "Invalid value for field 'port': '{p}'. Must be from 1 to 4."
                ))
            })?,
    };
    let start: i64 = match req.param("start") {
        None => 0,
        Some(s) => s
            .parse()
            .map_err(|_| invalid(format!("Invalid value for field 'start': '{s}'.")))?,
    };
    let inst = instance_ref(&world, &k)?;
    let log = &inst.serial;
    let (contents, from) = if port != 1 {
        (String::new(), 0)
    } else {
        let next = log.next() as i64;
        // Negative starts count back from the end; starts before the window are moved up.
        let wanted = if start < 0 { next + start } else { start };
        let from = wanted.clamp(log.dropped as i64, next) as u64;
        let mut offset = (from - log.dropped) as usize;
        while !log.text.is_char_boundary(offset) {
            offset += 1;
        }
        (log.text[offset..].to_string(), log.dropped + offset as u64)
    };
    let next = if port == 1 { log.next() } else { 0 };
    Ok(ok_json(&json!({
        "kind": "compute#serialPortOutput",
        "contents": contents,
        "start": from.to_string(),
        "next": next.to_string(),
        "selfLink": format!("{}/instances/{instance}/serialPort", zone_link(project, zone)),
    })))
}

/// `GET /compute/v1/projects/{p}/aggregated/instances`.
pub fn aggregated_list(sim: &Sim, req: &Req, project: &str) -> ApiResult {
    let world = sim.world();
    access(
        &world,
        req,
        project,
        "compute.instances.list",
        &format!("projects/{project}"),
    )?;
    let filter = match req.param("filter") {
        None | Some("") => None,
        Some(text) => Some(Filter::parse(text).map_err(|why| {
            invalid(format!("Invalid value for field 'filter': '{text}'. {why}"))
        })?),
    };
    let max_results: usize = match req.param("maxResults") {
        None => 500,
        Some(m) => m
            .parse()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| {
                invalid(format!(
                    "Invalid value for field 'maxResults': '{m}'. Must be from 1 to 500."
                ))
            })?,
    };
    let offset: usize = match req.param("pageToken") {
        None | Some("") => 0,
        Some(t) => t
            .parse()
            .map_err(|_| invalid(format!("Invalid value for field 'pageToken': '{t}'.")))?,
    };
    let matching: Vec<(&str, Value)> = world
        .instances
        .values()
        .filter(|i| i.key.project == project)
        .map(|i| (i.key.zone.as_str(), render_instance(i)))
        .filter(|(_, rendered)| filter.as_ref().is_none_or(|f| f.matches(rendered)))
        .collect();
    let page = matching.iter().skip(offset).take(max_results);
    let mut items = Map::new();
    for zone in ZONES {
        let scope = format!("zones/{zone}");
        let instances: Vec<Value> = page
            .clone()
            .filter(|(z, _)| z == zone)
            .map(|(_, v)| v.clone())
            .collect();
        let entry = if instances.is_empty() {
            json!({ "warning": {
                "code": "NO_RESULTS_ON_PAGE",
                "message": format!("There are no results for scope '{scope}' on this page."),
                "data": [{ "key": "scope", "value": scope }],
            }})
        } else {
            json!({ "instances": instances })
        };
        items.insert(scope, entry);
    }
    let mut body = json!({
        "kind": "compute#instanceAggregatedList",
        "id": format!("projects/{project}/aggregated/instances"),
        "items": items,
        "selfLink": link(project, "aggregated/instances"),
    });
    if offset + max_results < matching.len() {
        body["nextPageToken"] = json!((offset + max_results).to_string());
    }
    Ok(ok_json(&body))
}

/// `GET .../zones/{z}/operations/{op}`.
pub fn zone_operation(sim: &Sim, req: &Req, project: &str, zone: &str, name: &str) -> ApiResult {
    let world = sim.world();
    access(
        &world,
        req,
        project,
        "compute.zoneOperations.get",
        &format!("projects/{project}/zones/{zone}/operations/{name}"),
    )?;
    Ok(ok_json(&get_compute(&world, project, zone, name)?))
}

/// Something the VM layer must do after the world moved on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// The instance reached RUNNING: boot its OS (and agent).
    Boot(VmKey, u64),
    /// The instance is gone: remove its disk.
    Destroyed(VmKey),
}

/// Applies every scheduled transition that is due at `now`.
pub fn advance(world: &mut World, now: u64) -> Vec<Effect> {
    let mut effects = Vec::new();
    let mut gone = Vec::new();
    for inst in world.instances.values_mut() {
        while let Some(&(at, transition)) = inst.schedule.first() {
            if at > now {
                break;
            }
            inst.schedule.remove(0);
            match transition {
                Transition::Gone => gone.push(inst.key.clone()),
                Transition::To(status) => {
                    inst.status = status;
                    match status {
                        InstanceStatus::Running => {
                            inst.last_start_ms = Some(at);
                            inst.boot_id += 1;
                            effects.push(Effect::Boot(inst.key.clone(), inst.boot_id));
                        }
                        InstanceStatus::Terminated => {
                            inst.last_stop_ms = Some(at);
                            inst.external_ip = None;
                            inst.guest_attributes.clear();
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    let mut boots = Vec::new();
    for effect in &effects {
        if let Effect::Boot(k, _) = effect {
            boots.push(k.clone());
        }
    }
    for k in boots {
        let has_external = world.instances.get(&k).is_some_and(|i| i.has_external_ip);
        if has_external {
            let (_, external) = world.allocate_ips();
            if let Some(inst) = world.instances.get_mut(&k) {
                inst.external_ip = Some(external);
            }
        }
    }
    for k in gone {
        world.instances.remove(&k);
        effects.push(Effect::Destroyed(k));
    }
    effects
}
