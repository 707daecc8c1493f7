//! The Compute methods the Worker calls, each answering as Google does: access
//! checks, the operation it starts, the instance's new state.

use super::*;

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
    let user = access(
        &world,
        req,
        project,
        "compute.instances.create",
        &resource,
        None,
    )?;
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
    let k = VmKey::new(project, zone, &new.name);
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
        world.instances.insert(
            k.clone(),
            Instance {
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
                labels: new.labels,
                metadata: Metadata::new(new.metadata),
                tags: new.tags,
                service_accounts: new.service_accounts,
                scheduling: new.scheduling,
                shielded_instance_config: new.shielded,
                ..Instance::created(k.clone(), id.clone(), internal_ip, now)
            },
        );
    }
    let op = start_operation(
        &mut world,
        ComputeOpKind::Insert,
        &k,
        &id,
        user.email(),
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
pub(super) fn parse_request_id(value: &str) -> Result<String, GoogleError> {
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
pub fn get(sim: &Sim, req: &Req, at: InstancePath) -> ApiResult {
    let (k, world, _) = instance_call(sim, req, at, "compute.instances.get")?;
    Ok(ok_json(&render_instance(instance_ref(&world, &k)?)))
}

/// `DELETE .../instances/{i}`.
pub fn delete(sim: &Sim, req: &Req, at: InstancePath) -> ApiResult {
    let (k, mut world, user) = instance_call(sim, req, at, "compute.instances.delete")?;
    let now = now_ms();
    let boot = world.config.boot_step_ms;
    let inst = instance_mut(&mut world, &k)?;
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
    answer_operation(
        sim,
        world,
        ComputeOpKind::Delete,
        &k,
        user.email(),
        gone_at.saturating_sub(now),
    )
}

/// `POST .../instances/{i}/stop`.
pub fn stop(sim: &Sim, req: &Req, at: InstancePath) -> ApiResult {
    let (k, mut world, user) = instance_call(sim, req, at, "compute.instances.stop")?;
    let done_after = begin_stop(&mut world, &k)?;
    answer_operation(
        sim,
        world,
        ComputeOpKind::Stop,
        &k,
        user.email(),
        done_after,
    )
}

/// Moves an instance to STOPPING (a no-op if it is already stopping or stopped);
/// returns how long until it is TERMINATED.
pub fn begin_stop(world: &mut World, k: &VmKey) -> Result<u64, GoogleError> {
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
    match inst.status {
        InstanceStatus::Terminated => Ok(0),
        InstanceStatus::Stopping => Ok(inst
            .schedule
            .first()
            .map(|(at, _)| at.saturating_sub(now))
            .unwrap_or(0)),
        _ => {
            inst.status = InstanceStatus::Stopping;
            inst.boot_id += 1;
            inst.schedule = vec![(now + boot, Transition::To(InstanceStatus::Terminated))];
            inst.serial.push_line(&format!(
                "[{}] reboot: Power down",
                crate::clock::syslog_time(now)
            ));
            Ok(boot)
        }
    }
}

/// `POST .../instances/{i}/start`.
pub fn start(sim: &Sim, req: &Req, at: InstancePath) -> ApiResult {
    let (k, mut world, user) = instance_call(sim, req, at, "compute.instances.start")?;
    let now = now_ms();
    let boot = world.config.boot_step_ms;
    let inst = instance_mut(&mut world, &k)?;
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
    answer_operation(
        sim,
        world,
        ComputeOpKind::Start,
        &k,
        user.email(),
        done_after,
    )
}

/// `POST .../instances/{i}/setMetadata`: replaces all items; the fingerprint must match.
pub fn set_metadata(sim: &Sim, req: &Req, at: InstancePath) -> ApiResult {
    let (k, mut world, user) = instance_call(sim, req, at, "compute.instances.setMetadata")?;
    let body: Value = serde_json::from_slice(&req.body).map_err(|e| bad_json(format!("{e}")))?;
    let items = parse_metadata(&body)?;
    if let Some((account, _)) = crate::service_accounts::attached(instance_ref(&world, &k)?) {
        iam::check_act_as(&world, &user, &account)?;
    }
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
    answer_change(sim, world, ComputeOpKind::SetMetadata, &k, user.email())
}

/// `GET .../instances/{i}/getGuestAttributes?queryPath=ns/` (or `variableKey=ns/key`).
pub fn get_guest_attributes(sim: &Sim, req: &Req, at: InstancePath) -> ApiResult {
    let (k, world, _) = instance_call(sim, req, at, "compute.instances.getGuestAttributes")?;
    let inst = instance_ref(&world, &k)?;
    let self_link = format!(
        "{}/instances/{}/getGuestAttributes",
        zone_link(at.project, at.zone),
        at.instance
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

/// A numeric query parameter from `low` to `high`, refused in Compute's words.
fn ranged_param<T>(req: &Req, name: &str, low: T, high: T) -> Result<Option<T>, GoogleError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    req.number_param(name, &low..=&high).map_err(|text| {
        invalid(format!(
            "Invalid value for field '{name}': '{text}'. Must be from {low} to {high}."
        ))
    })
}

pub(super) fn guest_attribute_not_found(path: &str) -> GoogleError {
    ApiError::new(
        404,
        "notFound",
        format!("The resource '{path}' of type 'Guest Attribute' was not found."),
    )
    .into()
}

/// `GET .../instances/{i}/serialPort?port=1&start=N`.
pub fn serial_port(sim: &Sim, req: &Req, at: InstancePath) -> ApiResult {
    let (k, world, _) = instance_call(sim, req, at, "compute.instances.getSerialPortOutput")?;
    let port: u8 = ranged_param(req, "port", 1, 4)?.unwrap_or(1);
    let start: i64 = req
        .number_param("start", ..)
        .map_err(|s| invalid(format!("Invalid value for field 'start': '{s}'.")))?
        .unwrap_or(0);
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
        "selfLink": format!(
            "{}/instances/{}/serialPort",
            zone_link(at.project, at.zone),
            at.instance
        ),
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
        None,
    )?;
    let filter = match req.param("filter") {
        None | Some("") => None,
        Some(text) => Some(Filter::parse(text).map_err(|why| {
            invalid(format!("Invalid value for field 'filter': '{text}'. {why}"))
        })?),
    };
    let max_results: usize = ranged_param(req, "maxResults", 1, 500)?.unwrap_or(500);
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
        None,
    )?;
    Ok(ok_json(&get_compute(&world, project, zone, name)?))
}
