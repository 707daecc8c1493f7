//! A small in-memory Google (Service Usage and Compute) for native tests of the deploy
//! and bot flows: it answers with Google's JSON shapes, keeps instances, operations
//! and guest attributes, and fails on request.

use crate::http::{Method, OutboundRequest, OutboundResponse};
use crate::testing::{reply, TestPlatform};
use claw_free_protocol::google::ApiError as GoogleError;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// Compute's answer in a project where its API is off.
fn compute_disabled() -> OutboundResponse {
    reply(
        403,
        serde_json::to_value(GoogleError::service_disabled(
            "123",
            "compute.googleapis.com",
        ))
        .unwrap(),
    )
}

pub const TEST_TOKEN: &str = "ya29.test-access-token-0123456789";

#[derive(Debug, Clone)]
pub struct FakeVm {
    pub status: String,
    pub labels: BTreeMap<String, String>,
    pub created: String,
    pub metadata: Vec<(String, String)>,
    pub fingerprint: u32,
    pub guest: BTreeMap<String, String>,
    pub serial: String,
    /// The service account it runs as, and its scopes.
    pub service_account: Option<(String, Vec<String>)>,
    /// Its own IAM policy (`instances.getIamPolicy`).
    pub iam_policy: Value,
}

#[derive(Debug, Default)]
pub struct State {
    /// Projects where Compute is off until enabled.
    pub disabled: BTreeSet<String>,
    /// How many `operations.get` an enable takes.
    pub enable_polls: u32,
    pub enable_ops: BTreeMap<String, u32>,
    /// Zones with no e2-micro left (insert refused at once).
    pub exhausted_at_insert: BTreeSet<String>,
    /// Zones whose insert operation ends in ZONE_RESOURCE_POOL_EXHAUSTED.
    pub exhausted_in_operation: BTreeSet<String>,
    /// An error code every insert operation ends with.
    pub operation_error: Option<String>,
    /// How many `zoneOperations.get` an insert takes.
    pub insert_polls: u32,
    /// operation name → (polls left, error code, project/zone/instance).
    pub zone_ops: BTreeMap<String, (u32, Option<String>, String)>,
    /// "project/zone/name" → VM.
    pub vms: BTreeMap<String, FakeVm>,
    /// One-off failures: (URL fragment, HTTP status, reason), first match used once.
    pub faults: Vec<(String, u16, String)>,
    /// Projects whose aggregated list always fails.
    pub broken_projects: BTreeSet<String>,
    pub token_expired: bool,
    pub counter: u32,
    /// Telegram bots (`getMe`): token → (first name, username).
    pub telegram_bots: BTreeMap<String, (String, String)>,
    /// Answers requests the fake does not model (another service's fake), first.
    pub other: Option<Other>,
}

/// How another fake answers: `None` lets this one answer.
pub type OtherAnswer = dyn Fn(&OutboundRequest) -> Option<OutboundResponse>;

/// Another fake consulted before this one.
#[derive(Clone)]
pub struct Other(pub Rc<OtherAnswer>);

impl std::fmt::Debug for Other {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Other")
    }
}

impl FakeVm {
    pub fn bot(status: &str) -> Self {
        Self {
            status: status.into(),
            labels: [("claw-free", "bot"), ("claw-free-bot", "my-bot")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            created: "2025-11-24T08:00:00.000-08:00".into(),
            metadata: vec![("BOT_NAME".into(), "My Bot".into())],
            fingerprint: 0,
            guest: BTreeMap::new(),
            serial: "NixOS booting\nclawfree-agent: setup done\n".into(),
            service_account: None,
            iam_policy: json!({"etag": "BwE", "bindings": []}),
        }
    }
}

pub type Google = Rc<RefCell<State>>;

/// Installs the fake as `p`'s HTTP responder.
pub fn install(p: &TestPlatform) -> Google {
    let google: Google = Rc::new(RefCell::new(State {
        insert_polls: 1,
        enable_polls: 1,
        ..State::default()
    }));
    let handle = google.clone();
    p.respond(move |req| answer(&mut handle.borrow_mut(), req));
    google
}

fn error(status: u16, reason: &str, message: &str) -> OutboundResponse {
    reply(
        status,
        serde_json::to_value(GoogleError::new(status, reason, message)).unwrap(),
    )
}

fn render_vm(key: &str, vm: &FakeVm) -> Value {
    let parts: Vec<&str> = key.split('/').collect();
    let (project, zone, name) = (parts[0], parts[1], parts[2]);
    let base = format!("https://www.googleapis.com/compute/v1/projects/{project}/zones/{zone}");
    json!({
        "kind": "compute#instance",
        "name": name,
        "status": vm.status,
        "zone": base,
        "machineType": format!("{base}/machineTypes/e2-micro"),
        "creationTimestamp": vm.created,
        "labels": vm.labels,
        "id": "8412345678901234567",
        "networkInterfaces": [{"accessConfigs": [{"type": "ONE_TO_ONE_NAT", "natIP": "34.1.2.3"}]}],
        "serviceAccounts": vm.service_account.iter()
            .map(|(email, scopes)| json!({"email": email, "scopes": scopes}))
            .collect::<Vec<_>>(),
        "metadata": {
            "fingerprint": format!("fp-{}", vm.fingerprint),
            "items": vm.metadata.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>(),
        },
    })
}

fn answer(s: &mut State, req: &OutboundRequest) -> OutboundResponse {
    if let Some(answered) = s.other.clone().and_then(|other| (other.0)(req)) {
        return answered;
    }
    if let Some(rest) = req.url.strip_prefix("http://sim.test/bot") {
        return match rest
            .strip_suffix("/getMe")
            .and_then(|t| s.telegram_bots.get(t))
        {
            Some((first_name, username)) => reply(
                200,
                json!({"ok": true, "result": {"id": 7, "is_bot": true, "first_name": first_name, "username": username}}),
            ),
            None => reply(
                401,
                json!({"ok": false, "error_code": 401, "description": "Unauthorized"}),
            ),
        };
    }
    let auth = req
        .headers
        .iter()
        .any(|(k, v)| k == "authorization" && v == &format!("Bearer {TEST_TOKEN}"));
    if !auth || s.token_expired {
        return error(
            401,
            "authError",
            "Request had invalid authentication credentials.",
        );
    }
    if let Some(at) = s
        .faults
        .iter()
        .position(|(f, _, _)| req.url.contains(f.as_str()))
    {
        let (_, status, reason) = s.faults.remove(at);
        return error(status, &reason, "injected failure");
    }
    let path = req
        .url
        .strip_prefix("http://sim.test")
        .unwrap_or(&req.url)
        .to_string();
    let (path, _query) = path.split_once('?').unwrap_or((&path, ""));
    let seg: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    s.counter += 1;
    match (req.method, seg.as_slice()) {
        (Method::Post, ["v1", "projects", project, "services", service])
            if service.ends_with(":enable") =>
        {
            let name = format!("operations/acf.p2-{}", s.counter);
            s.enable_ops.insert(name.clone(), s.enable_polls);
            s.disabled.remove(*project);
            reply(200, json!({"name": name, "metadata": {}}))
        }
        (Method::Get, ["v1", "operations", name]) => {
            let name = format!("operations/{name}");
            let Some(left) = s.enable_ops.get_mut(&name) else {
                return error(404, "notFound", "no such operation");
            };
            *left = left.saturating_sub(1);
            if *left == 0 {
                reply(200, json!({"name": name, "done": true, "response": {}}))
            } else {
                reply(200, json!({"name": name, "metadata": {}}))
            }
        }
        (Method::Post, ["compute", "v1", "projects", project, "zones", zone, "instances"]) => {
            if s.disabled.contains(*project) {
                return compute_disabled();
            }
            if s.exhausted_at_insert.contains(*zone) {
                return error(
                    503,
                    "ZONE_RESOURCE_POOL_EXHAUSTED",
                    "The zone does not have enough resources.",
                );
            }
            let body: Value =
                serde_json::from_slice(req.body.as_deref().unwrap_or_default()).unwrap();
            let name = body["name"].as_str().unwrap().to_string();
            let key = format!("{project}/{zone}/{name}");
            if s.vms.contains_key(&key) {
                return error(
                    409,
                    "alreadyExists",
                    &format!("The resource '{name}' already exists"),
                );
            }
            let op = format!("operation-{}", s.counter);
            let error_code = if s.exhausted_in_operation.contains(*zone) {
                Some("ZONE_RESOURCE_POOL_EXHAUSTED".to_string())
            } else {
                s.operation_error.clone()
            };
            if error_code.is_none() {
                let mut vm = FakeVm::bot("PROVISIONING");
                vm.labels = serde_json::from_value(body["labels"].clone()).unwrap();
                vm.created = "2025-11-24T08:00:00.000-08:00".into();
                vm.metadata = crate::testing::metadata_items(&body["metadata"]["items"]);
                s.vms.insert(key.clone(), vm);
            }
            s.zone_ops
                .insert(op.clone(), (s.insert_polls, error_code, key));
            reply(
                200,
                json!({"kind": "compute#operation", "name": op, "status": "PENDING"}),
            )
        }
        (Method::Get, ["compute", "v1", "projects", _, "zones", _, "operations", op]) => {
            let Some((left, error_code, key)) = s.zone_ops.get_mut(*op) else {
                return error(404, "notFound", "no such operation");
            };
            *left = left.saturating_sub(1);
            if *left > 0 {
                return reply(200, json!({"name": op, "status": "RUNNING"}));
            }
            let body = match error_code {
                Some(code) => {
                    json!({"name": op, "status": "DONE", "error": {"errors": [{"code": code, "message": "operation failed"}]}})
                }
                None => json!({"name": op, "status": "DONE"}),
            };
            if error_code.is_none() {
                let key = key.clone();
                if let Some(vm) = s.vms.get_mut(&key) {
                    if vm.status == "PROVISIONING" {
                        vm.status = "RUNNING".into();
                    }
                }
            }
            reply(200, body)
        }
        (Method::Get, ["compute", "v1", "projects", project, "aggregated", "instances"]) => {
            if s.broken_projects.contains(*project) {
                return error(
                    403,
                    "forbidden",
                    "Required 'compute.instances.list' permission",
                );
            }
            if s.disabled.contains(*project) {
                return compute_disabled();
            }
            let mut items: BTreeMap<String, Vec<Value>> = BTreeMap::new();
            for (key, vm) in s
                .vms
                .iter()
                .filter(|(k, _)| k.starts_with(&format!("{project}/")))
            {
                let zone = key.split('/').nth(1).unwrap();
                items
                    .entry(format!("zones/{zone}"))
                    .or_default()
                    .push(render_vm(key, vm));
            }
            let items: serde_json::Map<String, Value> = items
                .into_iter()
                .map(|(k, v)| (k, json!({"instances": v})))
                .collect();
            reply(200, json!({"items": items}))
        }
        (
            method,
            ["compute", "v1", "projects", project, "zones", zone, "instances", name, rest @ ..],
        ) => {
            let key = format!("{project}/{zone}/{name}");
            if method == Method::Get && rest.is_empty() {
                // Being created: each look moves the insert's operation on, and the
                // instance runs when it is done, as on Google.
                let provisioning = s
                    .vms
                    .get(&key)
                    .is_some_and(|vm| vm.status == "PROVISIONING");
                let op = s
                    .zone_ops
                    .values_mut()
                    .find(|(_, e, k)| *k == key && e.is_none());
                if let (true, Some((left, _, _))) = (provisioning, op) {
                    *left = left.saturating_sub(1);
                    if *left == 0 {
                        if let Some(vm) = s.vms.get_mut(&key) {
                            vm.status = "RUNNING".into();
                        }
                    }
                }
            }
            let Some(vm) = s.vms.get_mut(&key) else {
                return error(
                    404,
                    "notFound",
                    &format!("The resource '{name}' was not found"),
                );
            };
            match (method, rest) {
                (Method::Get, []) => reply(200, render_vm(&key, vm)),
                (Method::Delete, []) => {
                    s.vms.remove(&key);
                    reply(
                        200,
                        json!({"name": "operation-delete", "status": "RUNNING"}),
                    )
                }
                (Method::Get, ["getGuestAttributes"]) => {
                    if vm.guest.is_empty() {
                        return error(404, "notFound", "The resource 'openclaw/' was not found");
                    }
                    let items: Vec<Value> = vm
                        .guest
                        .iter()
                        .map(|(k, v)| json!({"namespace": "openclaw", "key": k, "value": v}))
                        .collect();
                    reply(
                        200,
                        json!({"queryPath": "openclaw/", "queryValue": {"items": items}}),
                    )
                }
                (Method::Post, ["setMetadata"]) => {
                    let body: Value =
                        serde_json::from_slice(req.body.as_deref().unwrap_or_default()).unwrap();
                    if body["fingerprint"] != format!("fp-{}", vm.fingerprint).as_str() {
                        return error(
                            412,
                            "conditionNotMet",
                            "Supplied fingerprint does not match current metadata fingerprint.",
                        );
                    }
                    vm.fingerprint += 1;
                    vm.metadata = crate::testing::metadata_items(&body["items"]);
                    reply(200, json!({"name": "operation-meta", "status": "RUNNING"}))
                }
                (Method::Post, ["stop"]) => {
                    vm.status = "TERMINATED".into();
                    reply(200, json!({"name": "operation-stop", "status": "RUNNING"}))
                }
                (Method::Post, ["start"]) => {
                    vm.status = "RUNNING".into();
                    reply(200, json!({"name": "operation-start", "status": "RUNNING"}))
                }
                (Method::Post, ["setServiceAccount"]) => {
                    if vm.status != "TERMINATED" {
                        return error(
                            400,
                            "resourceNotReady",
                            &format!("The instance '{name}' must be stopped to change its service account."),
                        );
                    }
                    let body: Value =
                        serde_json::from_slice(req.body.as_deref().unwrap_or_default()).unwrap();
                    let scopes = body["scopes"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|s| s.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default();
                    vm.service_account =
                        Some((body["email"].as_str().unwrap_or("").into(), scopes));
                    reply(200, json!({"name": "operation-sa", "status": "RUNNING"}))
                }
                (Method::Get, ["getIamPolicy"]) => reply(200, vm.iam_policy.clone()),
                (Method::Post, ["setIamPolicy"]) => {
                    let body: Value =
                        serde_json::from_slice(req.body.as_deref().unwrap_or_default()).unwrap();
                    if body["policy"]["etag"] != vm.iam_policy["etag"] {
                        return error(412, "conditionNotMet", "etag mismatch");
                    }
                    let mut policy = body["policy"].clone();
                    policy["etag"] =
                        json!(format!("{}x", vm.iam_policy["etag"].as_str().unwrap_or("")));
                    vm.iam_policy = policy.clone();
                    reply(200, policy)
                }
                (Method::Get, ["serialPort"]) => reply(
                    200,
                    json!({"contents": vm.serial, "start": "0", "next": "100"}),
                ),
                _ => error(400, "invalid", "unexpected call"),
            }
        }
        _ => error(400, "invalid", &format!("the fake has no {path}")),
    }
}
