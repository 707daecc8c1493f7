//! The admin API under `/_admin/` (tests and benchmarks only): reset, configuration,
//! users, projects, faults, Telegram bots, counters, and direct control of VMs and
//! their metadata servers. Bad input is a 400 `{error}` saying what to fix.

use crate::clock::{now_ms, random_digits};
use crate::compute::{begin_stop, ZONES};
use crate::faults::{Fault, FaultRequest};
use crate::http::{json, ok_json, Req};
use crate::state::{
    Instance, InstanceStatus, Metadata, ProjectSpec, ProjectState, TelegramBot, TelegramUpdate,
    User, VmKey, World,
};
use crate::Sim;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use claw_free_protocol::metadata::ENABLE_GUEST_ATTRIBUTES;
use claw_free_protocol::names::is_valid_resource_name;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json as j, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Why an admin request was refused; sent as 400 `{error}`.
struct Refusal(String);

fn bad(message: impl Into<String>) -> Refusal {
    Refusal(message.into())
}

fn ok() -> Response {
    ok_json(&j!({ "ok": true }))
}

fn body<T: DeserializeOwned>(req: &Req) -> Result<T, Refusal> {
    let bytes: &[u8] = if req.body.is_empty() {
        b"{}"
    } else {
        &req.body
    };
    serde_json::from_slice(bytes).map_err(|e| bad(format!("invalid JSON body: {e}")))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConfigChange {
    auto_approve: Option<bool>,
    token_ttl_secs: Option<u64>,
    operation_step_ms: Option<u64>,
    boot_step_ms: Option<u64>,
    agent_boot_delay_ms: Option<u64>,
    billing_for_new_projects: Option<bool>,
    apps_never_healthy: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProjectRequest {
    project_id: String,
    name: Option<String>,
    owner_email: String,
    compute_enabled: Option<bool>,
    billing_enabled: Option<bool>,
    state: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct VmRef {
    project: String,
    zone: String,
    instance: String,
}

impl VmRef {
    fn key(self) -> VmKey {
        VmKey {
            project: self.project,
            zone: self.zone,
            instance: self.instance,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct VmFault {
    project: String,
    zone: String,
    instance: String,
    never_healthy: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewVm {
    project: String,
    zone: String,
    instance: String,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    run_agent: Option<bool>,
    /// GCE's `serviceAccounts` (`[{email, scopes}]`): whose token the metadata server hands out.
    service_accounts: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MetadataChange {
    project: String,
    zone: String,
    instance: String,
    items: BTreeMap<String, Option<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MetadataServerChange {
    down: Option<bool>,
    delay_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BotRequest {
    token: String,
    username: String,
    first_name: Option<String>,
    #[serde(default)]
    updates: Vec<UpdateRequest>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateRequest {
    from_id: u64,
    first_name: String,
    username: Option<String>,
    #[serde(default)]
    text: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ExpireRequest {
    email: Option<String>,
}

/// Every `/_admin/...` request (`path` is the part after `_admin`).
pub async fn handle(sim: &Arc<Sim>, req: &Req, path: &[String]) -> Response {
    let route: Vec<&str> = path.iter().map(String::as_str).collect();
    let result = match (&req.method, route.as_slice()) {
        (&Method::POST, ["reset"]) => {
            sim.reset();
            Ok(ok())
        }
        (&Method::GET, ["config"]) => Ok(ok_json(&sim.world().config)),
        (&Method::POST, ["config"]) => config(sim, req),
        (&Method::POST, ["users"]) => body::<User>(req).and_then(|user| {
            if user.sub.is_empty() || !user.email.contains('@') {
                return Err(bad("a user needs a sub and an email address"));
            }
            sim.world().upsert_user(user);
            Ok(ok())
        }),
        (&Method::POST, ["projects"]) => project(sim, req),
        (&Method::POST, ["faults"]) => body::<FaultRequest>(req).and_then(|f| {
            let fault = Fault::parse(f).map_err(bad)?;
            sim.world().faults.push(fault);
            Ok(ok())
        }),
        (&Method::DELETE, ["faults"]) => {
            sim.world().faults.clear();
            Ok(ok())
        }
        (&Method::POST, ["vm-faults"]) => body::<VmFault>(req).and_then(|f| {
            let key = VmKey {
                project: f.project,
                zone: f.zone,
                instance: f.instance,
            };
            let mut world = sim.world();
            let inst = world
                .instances
                .get_mut(&key)
                .ok_or_else(|| bad(format!("no VM {key}")))?;
            inst.never_healthy = f.never_healthy.unwrap_or(true);
            Ok(ok())
        }),
        (&Method::POST, ["telegram", "bots"]) => telegram_bot(sim, req),
        (&Method::POST, ["telegram", "messages"]) => telegram_message(sim, req),
        (&Method::POST, ["telegram", "sent"]) => body::<TokenRequest>(req).and_then(|r| {
            let world = sim.world();
            let bot = world
                .telegram
                .get(&r.token)
                .ok_or_else(|| bad("no such bot".to_string()))?;
            Ok(ok_json(&bot.sent))
        }),
        (&Method::GET, ["telegram", "unknown-methods"]) => {
            Ok(ok_json(&sim.world().telegram_unknown_methods))
        }
        (&Method::GET, ["counters"]) => Ok(ok_json(&sim.world().counters)),
        (&Method::GET, ["vms"]) => Ok(list_vms(sim)),
        (&Method::POST, ["vms"]) => create_vm(sim, req),
        (&Method::POST, ["vms", "stop"]) => body::<VmRef>(req).and_then(|r| {
            let key = r.key();
            begin_stop(&mut sim.world(), &key).map_err(|e| bad(e.body.error.message))?;
            sim.halt(&key);
            sim.changed.notify_waiters();
            Ok(ok())
        }),
        (&Method::POST, ["vms", "metadata"]) => change_metadata(sim, req),
        (&Method::POST, ["service-account-tokens"]) => service_account_token(sim, req),
        (&Method::POST, ["tokens", "expire"]) => body::<ExpireRequest>(req).map(|r| {
            let expired = crate::oauth::expire_tokens(&mut sim.world(), r.email.as_deref());
            ok_json(&j!({ "ok": true, "expired": expired }))
        }),
        (&Method::POST, ["metadata-server"]) => body::<MetadataServerChange>(req).map(|c| {
            {
                let mut world = sim.world();
                if let Some(down) = c.down {
                    world.metadata_server.down = down;
                }
                if let Some(delay) = c.delay_ms {
                    world.metadata_server.delay_ms = delay;
                }
            }
            // Waiting long polls end as connections do when the server restarts.
            sim.changed.notify_waiters();
            ok()
        }),
        _ => Ok(json(
            StatusCode::NOT_FOUND,
            &j!({ "error": format!("no admin route {} /_admin/{}", req.method, path.join("/")) }),
        )),
    };
    result
        .unwrap_or_else(|Refusal(message)| json(StatusCode::BAD_REQUEST, &j!({ "error": message })))
}

fn config(sim: &Sim, req: &Req) -> Result<Response, Refusal> {
    let change: ConfigChange = body(req)?;
    if change.token_ttl_secs == Some(0) {
        return Err(bad("tokenTtlSecs must be at least 1"));
    }
    let mut world = sim.world();
    let c = &mut world.config;
    // Each setting the change names replaces the current one; the rest stay.
    macro_rules! apply {
        ($($field:ident),*) => {
            $(if let Some(v) = change.$field {
                c.$field = v;
            })*
        };
    }
    apply!(
        auto_approve,
        token_ttl_secs,
        operation_step_ms,
        boot_step_ms,
        agent_boot_delay_ms,
        billing_for_new_projects,
        apps_never_healthy
    );
    Ok(ok_json(&world.config))
}

fn project(sim: &Sim, req: &Req) -> Result<Response, Refusal> {
    let p: ProjectRequest = body(req)?;
    if !crate::crm::is_valid_project_id(&p.project_id) {
        return Err(bad("projectId must be 6 to 30 lowercase letters, digits or hyphens, starting with a letter"));
    }
    let state = match p.state.as_deref() {
        None => ProjectState::Active,
        Some(s) => {
            ProjectState::parse(s).ok_or_else(|| bad("state must be ACTIVE or DELETE_REQUESTED"))?
        }
    };
    let mut world = sim.world();
    let name = p.name.unwrap_or_else(|| p.project_id.clone());
    let project = world.add_project(ProjectSpec {
        project_id: &p.project_id,
        display_name: &name,
        owner_email: &p.owner_email,
        compute_enabled: p.compute_enabled.unwrap_or(true),
        billing_enabled: p.billing_enabled.unwrap_or(true),
        state,
        ready_at: 0,
    });
    Ok(ok_json(
        &j!({ "ok": true, "projectNumber": project.number }),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TokenRequest {
    token: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MessageRequest {
    token: String,
    from_id: u64,
    first_name: String,
    username: Option<String>,
    text: String,
}

/// A message from a simulated user to a bot: the bot's next `getUpdates` gets it.
fn telegram_message(sim: &Sim, req: &Req) -> Result<Response, Refusal> {
    let m: MessageRequest = body(req)?;
    {
        let mut world = sim.world();
        let bot = world
            .telegram
            .get_mut(&m.token)
            .ok_or_else(|| bad("no such bot".to_string()))?;
        let update_id = bot.next_update_id();
        bot.updates.push(TelegramUpdate {
            update_id,
            from_id: m.from_id,
            first_name: m.first_name,
            username: m.username,
            text: m.text,
            date: crate::clock::now_secs(),
        });
    }
    sim.telegram_changed.notify_waiters();
    Ok(ok())
}

fn telegram_bot(sim: &Sim, req: &Req) -> Result<Response, Refusal> {
    let b: BotRequest = body(req)?;
    if !crate::telegram::is_token_shaped(&b.token) {
        return Err(bad("token must look like a Telegram bot token: <digits>:<30 or more letters, digits, '_' or '-'>"));
    }
    let id: u64 = b
        .token
        .split(':')
        .next()
        .and_then(|id| id.parse().ok())
        .unwrap_or(0);
    let now = crate::clock::now_secs();
    let first_update: u64 = random_digits(8).parse().unwrap_or(10_000_000);
    let updates: Vec<TelegramUpdate> = b
        .updates
        .into_iter()
        .enumerate()
        .map(|(i, u)| TelegramUpdate {
            update_id: first_update + i as u64,
            from_id: u.from_id,
            first_name: u.first_name,
            username: u.username,
            text: u.text,
            date: now,
        })
        .collect();
    sim.world().telegram.insert(
        b.token,
        TelegramBot {
            id,
            first_name: b.first_name.unwrap_or_else(|| b.username.clone()),
            username: b.username,
            next_update: first_update + updates.len() as u64,
            updates,
            sent: Vec::new(),
        },
    );
    sim.telegram_changed.notify_waiters();
    Ok(ok())
}

fn list_vms(sim: &Sim) -> Response {
    let world = sim.world();
    let runners = sim.runners();
    let vms: Vec<Value> = world
        .instances
        .values()
        .map(|inst| {
            let metadata: Map<String, Value> = inst.metadata.items.iter().map(|(k, v)| (k.clone(), j!(v))).collect();
            let guest: Map<String, Value> = inst
                .guest_attributes
                .iter()
                .map(|((ns, k), v)| (format!("{ns}/{k}"), j!(v)))
                .collect();
            j!({
                "project": inst.key.project,
                "zone": inst.key.zone,
                "instance": inst.key.instance,
                "status": inst.status.as_str(),
                "externalIp": inst.external_ip,
                "metadata": metadata,
                "metadataFingerprint": inst.metadata.fingerprint,
                "guestAttributes": guest,
                "guestAttributeWrites": inst.guest_attribute_writes.iter().collect::<Vec<_>>(),
                "root": World::vm_root(&sim.opts.state_dir, &inst.key),
                "agentRunning": runners.contains_key(&inst.key),
                "metadataUrl": format!("{}/_vm/{}/{}/{}", sim.base_url, inst.key.project, inst.key.zone, inst.key.instance),
            })
        })
        .collect();
    ok_json(&j!({ "vms": vms }))
}

fn create_vm(sim: &Arc<Sim>, req: &Req) -> Result<Response, Refusal> {
    let v: NewVm = body(req)?;
    if !is_valid_resource_name(&v.instance) {
        return Err(bad("instance must be a valid GCE name: lowercase letters, digits and '-', starting with a letter"));
    }
    if !ZONES.contains(&v.zone.as_str()) {
        return Err(bad(format!("zone must be one of: {}", ZONES.join(", "))));
    }
    let key = VmKey {
        project: v.project.clone(),
        zone: v.zone.clone(),
        instance: v.instance.clone(),
    };
    let (boot_id, url, id) = {
        let mut world = sim.world();
        if world.instances.contains_key(&key) {
            return Err(bad(format!("VM {key} already exists")));
        }
        if !world.projects.contains_key(&v.project) {
            if !crate::crm::is_valid_project_id(&v.project) {
                return Err(bad("project must be a valid project id"));
            }
            let owner = world
                .users
                .first()
                .map(|u| u.email.clone())
                .unwrap_or_default();
            world.add_project(ProjectSpec::ready(&v.project, &v.project, &owner, true));
        }
        let mut items: Vec<(String, String)> = v.metadata.into_iter().collect();
        if !items.iter().any(|(k, _)| k == ENABLE_GUEST_ATTRIBUTES) {
            items.push((ENABLE_GUEST_ATTRIBUTES.to_string(), "TRUE".to_string()));
        }
        let (internal_ip, external_ip) = world.allocate_ips();
        let now = now_ms();
        world.instances.insert(
            key.clone(),
            Instance {
                status: InstanceStatus::Running,
                external_ip: Some(external_ip),
                metadata: Metadata::new(items),
                service_accounts: v.service_accounts.unwrap_or(Value::Null),
                last_start_ms: Some(now),
                run_agent: v.run_agent.unwrap_or(false),
                boot_id: 1,
                ..Instance::created(key.clone(), random_digits(19), internal_ip, now)
            },
        );
        let id = world
            .instances
            .get(&key)
            .map(|i| i.id.clone())
            .unwrap_or_default();
        (
            1,
            format!(
                "{}/_vm/{}/{}/{}",
                sim.base_url, key.project, key.zone, key.instance
            ),
            id,
        )
    };
    let root = World::vm_root(&sim.opts.state_dir, &key);
    // The host key exists before the call returns, so tests can point an agent at it.
    crate::vm::ensure_host_key(&root, &key.instance)
        .map_err(|e| bad(format!("cannot create the VM's host key: {e}")))?;
    sim.boot(key, boot_id);
    sim.changed.notify_waiters();
    Ok(ok_json(
        &j!({ "ok": true, "metadataUrl": url, "root": root, "id": id }),
    ))
}

/// A token for a service account without the keyless exchange (tests of what an
/// account may do, not of how it got its token).
fn service_account_token(sim: &Sim, req: &Req) -> Result<Response, Refusal> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Ask {
        email: String,
        scopes: Vec<String>,
    }
    let ask: Ask = body(req)?;
    if !ask.email.ends_with(".iam.gserviceaccount.com") {
        return Err(bad(
            "email must be a service account's (…@PROJECT.iam.gserviceaccount.com)",
        ));
    }
    let (token, ttl) = crate::service_accounts::mint(&mut sim.world(), &ask.email, ask.scopes);
    Ok(ok_json(
        &j!({ "access_token": token, "expires_in": ttl, "token_type": "Bearer" }),
    ))
}

fn change_metadata(sim: &Sim, req: &Req) -> Result<Response, Refusal> {
    let change: MetadataChange = body(req)?;
    let key = VmKey {
        project: change.project,
        zone: change.zone,
        instance: change.instance,
    };
    let fingerprint = {
        let mut world = sim.world();
        let inst = world
            .instances
            .get_mut(&key)
            .ok_or_else(|| bad(format!("no VM {key}")))?;
        let mut items = inst.metadata.items.clone();
        for (k, v) in change.items {
            match v {
                Some(value) => match items.iter_mut().find(|(ik, _)| *ik == k) {
                    Some(slot) => slot.1 = value,
                    None => items.push((k, value)),
                },
                None => items.retain(|(ik, _)| *ik != k),
            }
        }
        inst.metadata = Metadata::new(items);
        inst.metadata.fingerprint.clone()
    };
    sim.changed.notify_waiters();
    Ok(ok_json(&j!({ "ok": true, "fingerprint": fingerprint })))
}
