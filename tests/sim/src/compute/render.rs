//! An instance as Google returns it.

use super::*;

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
