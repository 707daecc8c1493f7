//! The body of `instances.insert`, checked field by field as Google checks it, with
//! Google's own error wording; the metadata and label rules setMetadata shares.

use super::*;

/// What a valid insert body describes.
pub(super) struct NewInstance {
    pub(super) name: String,
    pub(super) machine_type: String,
    pub(super) description: String,
    pub(super) disks: Vec<Value>,
    pub(super) nic: NetworkInterface,
    pub(super) metadata: Vec<(String, String)>,
    pub(super) labels: BTreeMap<String, String>,
    pub(super) tags: Value,
    pub(super) service_accounts: Value,
    pub(super) scheduling: Value,
    pub(super) shielded: Value,
}

/// How Google states its resource-name rule in errors.
pub(super) const NAME_RULE: &str =
    "Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'";

pub(super) fn field_error(field: &str, value: &Value, why: &str) -> GoogleError {
    let shown = match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    invalid(format!(
        "Invalid value for field 'resource.{field}': '{shown}'. {why}"
    ))
}

pub(super) fn as_str<'v>(value: &'v Value, field: &str) -> Result<&'v str, GoogleError> {
    value.as_str().ok_or_else(|| {
        bad_json(format!(
            "Invalid value at 'resource.{field}' ({}), expected a string",
            type_name(value)
        ))
    })
}

pub(super) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "TYPE_BOOL",
        Value::Number(_) => "TYPE_NUMBER",
        Value::String(_) => "TYPE_STRING",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

pub(super) fn parse_insert(
    project: &str,
    zone: &str,
    body: &Value,
) -> Result<NewInstance, GoogleError> {
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

pub(super) fn parse_machine_type(
    project: &str,
    zone: &str,
    value: &Value,
) -> Result<String, GoogleError> {
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
pub(super) struct NetworkInterface {
    pub(super) network: String,
    pub(super) subnetwork: String,
    /// The external IP's network tier, when the interface has one.
    pub(super) external_tier: Option<String>,
}

pub(super) const NIC: &str = "networkInterfaces[0]";

pub(super) fn parse_network(
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
        network: network_ref(nic, "network", |r| parse_network_ref(project, r))?,
        subnetwork: network_ref(nic, "subnetwork", |r| {
            parse_subnetwork_ref(project, zone, r)
        })?,
        external_tier: parse_access_configs(nic.get("accessConfigs"))?,
    })
}

/// A NIC's reference to a network resource, as given: the field it came from, its
/// value, and the resource path it names (with the project, when it names one).
struct NetworkRef<'v> {
    field: String,
    value: &'v Value,
    project: Option<&'v str>,
    path: &'v str,
}

impl NetworkRef<'_> {
    fn in_project(&self, project: &str) -> bool {
        self.project.is_none_or(|p| p == project)
    }

    fn invalid(&self, why: &str) -> GoogleError {
        field_error(&self.field, self.value, why)
    }
}

/// The NIC's `key` reference: absent or null, the `default` resource (a project has no
/// other); otherwise a resource path, which `parse` resolves.
fn network_ref(
    nic: &Value,
    key: &str,
    parse: impl FnOnce(NetworkRef) -> Result<String, GoogleError>,
) -> Result<String, GoogleError> {
    let Some(value) = nic.get(key).filter(|v| !v.is_null()) else {
        return Ok("default".into());
    };
    let field = format!("{NIC}.{key}");
    let (project, path) = resource_path(as_str(value, &field)?);
    parse(NetworkRef {
        field,
        value,
        project,
        path,
    })
}

/// `network`: the project's `default` network (the only one it has).
fn parse_network_ref(project: &str, r: NetworkRef) -> Result<String, GoogleError> {
    match r.path.strip_prefix("global/networks/") {
        Some("default") if r.in_project(project) => Ok("default".into()),
        Some(name) if r.in_project(project) => Err(not_found(&format!(
            "projects/{project}/global/networks/{name}"
        ))),
        _ => Err(r.invalid("Must be a URL to a network, such as global/networks/default.")),
    }
}

/// `subnetwork`: the `default` subnetwork of the zone's region.
fn parse_subnetwork_ref(project: &str, zone: &str, r: NetworkRef) -> Result<String, GoogleError> {
    let parts: Vec<&str> = r.path.split('/').collect();
    match parts.as_slice() {
        ["regions", region, "subnetworks", name] => {
            let own_region = region_of(zone);
            if *region != own_region {
                let why = format!("Subnetwork region '{region}' does not match the instance region '{own_region}'.");
                return Err(r.invalid(&why));
            }
            if *name != "default" {
                return Err(not_found(&format!(
                    "projects/{project}/regions/{region}/subnetworks/{name}"
                )));
            }
            Ok((*name).to_string())
        }
        _ => Err(r.invalid(
            "Must be a URL to a subnetwork, such as regions/us-central1/subnetworks/default.",
        )),
    }
}

/// `accessConfigs`: at most one `ONE_TO_ONE_NAT`; returns its network tier.
pub(super) fn parse_access_configs(value: Option<&Value>) -> Result<Option<String>, GoogleError> {
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

pub(super) fn parse_disks(
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
pub(super) fn disk_size(params: &Value, field: &str) -> Result<u64, GoogleError> {
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
pub(super) fn check_disk_type(params: &Value, field: &str, zone: &str) -> Result<(), GoogleError> {
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
pub(super) fn disk_name(
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
pub(super) fn image_license(project: &str, image: &str) -> String {
    let (named, _) = resource_path(image);
    let image_project = named.unwrap_or(project);
    format!("{API_BASE}/projects/{image_project}/global/licenses/{image_project}")
}

/// A source image: `projects/{p}/global/images/{name}` or `.../images/family/{family}`.
pub(super) fn check_image(text: &str) -> Result<(), &'static str> {
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

pub(super) const MAX_METADATA_VALUE: usize = 256 * 1024;
pub(super) const MAX_METADATA_TOTAL: usize = 512 * 1024;

pub(super) fn is_valid_metadata_key(key: &str) -> bool {
    (1..=128).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `metadata` of an insert or a setMetadata body: `{items: [{key, value}], fingerprint?}`.
pub(super) fn parse_metadata(value: &Value) -> Result<Vec<(String, String)>, GoogleError> {
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

pub(super) fn parse_labels(value: &Value) -> Result<BTreeMap<String, String>, GoogleError> {
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
