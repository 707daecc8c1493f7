//! A fake of what linking talks to besides Compute and Service Usage: GitHub's REST
//! calls (installation tokens, the repository, its environment, key and secret,
//! Actions variables, files, branch protection), IAM (the Workload Identity pool and
//! provider as long-running operations, service accounts and their policies), Cloud
//! Storage (the bucket and its policy) and Resource Manager's project read. It plugs
//! into the fake Google as its `other`, answers in each service's shapes, keeps what
//! was written, and fails on request.

use super::fake_google::{Google, Other};
use super::reply;
use crate::http::{Method, OutboundRequest, OutboundResponse};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

pub const PROJECT_NUMBER: &str = "123456789012";
pub const REPO: &str = "alice/my-bot";
pub const REPO_ID: u64 = 42;
const GITHUB: &str = "https://api.github.com";
const IAM: &str = "https://iam.googleapis.com";
const STORAGE: &str = "https://storage.googleapis.com";

#[derive(Debug, Default)]
pub struct LinkWorld {
    /// Installation tokens minted, and the bodies asked with.
    pub token_requests: Vec<Value>,
    pub files: BTreeMap<String, String>,
    pub environments: BTreeSet<String>,
    pub secrets: BTreeMap<String, Value>,
    pub variables: BTreeMap<String, String>,
    pub protection: Option<Value>,
    pub pools: BTreeSet<String>,
    pub providers: BTreeMap<String, Value>,
    /// Operation name → polls before it is done.
    pub operations: BTreeMap<String, u32>,
    /// How many polls a new operation takes beyond the first (0 by default).
    pub operation_delay: u32,
    pub accounts: BTreeSet<String>,
    /// Policy by resource (service account email or bucket).
    pub policies: BTreeMap<String, Value>,
    /// Bucket name → its body, as created.
    pub buckets: BTreeMap<String, Value>,
    /// A bucket of this name belongs to another project.
    pub foreign_bucket: Option<String>,
    /// One-off failures: (URL fragment, method, status, body), the first match used once.
    pub faults: Vec<(String, Method, u16, Value)>,
}

pub type Link = Rc<RefCell<LinkWorld>>;

/// Google's error body for `status` with `reason`.
pub fn google_error(status: u16, reason: &str, message: &str) -> Value {
    serde_json::to_value(claw_free_protocol::google::ApiError::new(
        status, reason, message,
    ))
    .unwrap_or_default()
}

/// Plugs the fake into `google`.
pub fn install(google: &Google) -> Link {
    let world: Link = Rc::new(RefCell::new(LinkWorld::default()));
    let handle = world.clone();
    google.borrow_mut().other = Some(Other(Rc::new(move |req| {
        answer(&mut handle.borrow_mut(), req)
    })));
    world
}

fn body(req: &OutboundRequest) -> Value {
    serde_json::from_slice(req.body.as_deref().unwrap_or_default()).unwrap_or(Value::Null)
}

fn answer(w: &mut LinkWorld, req: &OutboundRequest) -> Option<OutboundResponse> {
    let ours = [GITHUB, IAM, STORAGE, "http://sim.test/v3/projects/"]
        .iter()
        .any(|base| req.url.starts_with(base));
    if !ours {
        return None;
    }
    if let Some(at) = w
        .faults
        .iter()
        .position(|(f, m, _, _)| req.url.contains(f.as_str()) && *m == req.method)
    {
        let (_, _, status, body) = w.faults.remove(at);
        return Some(reply(status, body));
    }
    let (path, _) = req.url.split_once('?').unwrap_or((&req.url, ""));
    Some(if let Some(rest) = path.strip_prefix(GITHUB) {
        github(w, req, rest)
    } else if let Some(rest) = path.strip_prefix(IAM) {
        iam(w, req, rest)
    } else if let Some(rest) = path.strip_prefix(STORAGE) {
        storage(w, req, rest)
    } else {
        reply(
            200,
            json!({"name": format!("projects/{PROJECT_NUMBER}"), "projectId": "claw-demo"}),
        )
    })
}

fn github(w: &mut LinkWorld, req: &OutboundRequest, path: &str) -> OutboundResponse {
    let repo = format!("/repos/{REPO}");
    let not_found = || reply(404, json!({"message": "Not Found"}));
    if path.starts_with("/app/installations/") && path.ends_with("/access_tokens") {
        w.token_requests.push(body(req));
        return reply(
            201,
            json!({"token": format!("ghs_fake{}", w.token_requests.len())}),
        );
    }
    let Some(rest) = path.strip_prefix(&repo) else {
        return not_found();
    };
    let seg: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    match (req.method, seg.as_slice()) {
        (Method::Get, [""]) => reply(
            200,
            json!({"id": REPO_ID, "full_name": REPO, "private": true, "default_branch": "main"}),
        ),
        (Method::Put, ["environments", env]) => {
            w.environments.insert(env.to_string());
            reply(200, json!({"name": env}))
        }
        (Method::Get, ["environments", env, "secrets", "public-key"])
            if w.environments.contains(*env) =>
        {
            reply(
                200,
                json!({"key_id": "568250167242549743", "key": "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk="}),
            )
        }
        (Method::Put, ["environments", env, "secrets", name]) if w.environments.contains(*env) => {
            w.secrets.insert(name.to_string(), body(req));
            reply(201, json!({}))
        }
        (Method::Post, ["actions", "variables"]) => {
            let b = body(req);
            let name = b["name"].as_str().unwrap_or_default().to_string();
            if w.variables.contains_key(&name) {
                return reply(
                    409,
                    json!({"message": "Already exists - Variable already exists"}),
                );
            }
            w.variables
                .insert(name, b["value"].as_str().unwrap_or_default().into());
            reply(201, json!({}))
        }
        (Method::Patch, ["actions", "variables", name]) => {
            w.variables.insert(
                name.to_string(),
                body(req)["value"].as_str().unwrap_or_default().into(),
            );
            reply(204, json!({}))
        }
        (method, ["contents", path @ ..]) => {
            let path = path.join("/");
            match method {
                Method::Get => match w.files.get(&path) {
                    Some(text) => reply(200, json!({"sha": format!("sha-{}", text.len())})),
                    None => not_found(),
                },
                _ => {
                    let b = body(req);
                    let expected = w.files.get(&path).map(|t| format!("sha-{}", t.len()));
                    if b["sha"].as_str().map(str::to_string) != expected {
                        return reply(409, json!({"message": "sha does not match"}));
                    }
                    use base64::Engine;
                    let content = base64::engine::general_purpose::STANDARD
                        .decode(b["content"].as_str().unwrap_or_default())
                        .unwrap_or_default();
                    w.files
                        .insert(path, String::from_utf8(content).unwrap_or_default());
                    reply(201, json!({}))
                }
            }
        }
        (Method::Put, ["branches", "main", "protection"]) => {
            w.protection = Some(body(req));
            reply(200, json!({}))
        }
        _ => not_found(),
    }
}

fn iam(w: &mut LinkWorld, req: &OutboundRequest, path: &str) -> OutboundResponse {
    let pools = "/v1/projects/claw-demo/locations/global/workloadIdentityPools";
    let query = req.url.split_once('?').map(|(_, q)| q).unwrap_or("");
    let id = query.split('=').nth(1).unwrap_or_default().to_string();
    let exists = || {
        reply(
            409,
            google_error(409, "alreadyExists", "Requested entity already exists"),
        )
    };
    let operation = |w: &mut LinkWorld, of: &str| {
        let name = format!("projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/{of}/operations/op-{}", w.operations.len());
        w.operations.insert(name.clone(), 1 + w.operation_delay);
        reply(200, json!({"name": name, "done": false}))
    };
    if path == pools && req.method == Method::Post {
        if !w.pools.insert(id.clone()) {
            return exists();
        }
        return operation(w, &id);
    }
    if let Some(pool) = path
        .strip_prefix(&format!("{pools}/"))
        .and_then(|r| r.strip_suffix("/providers"))
    {
        if w.providers.contains_key(&id) {
            return exists();
        }
        w.providers.insert(id.clone(), body(req));
        return operation(w, &format!("{pool}/providers/{id}"));
    }
    if let Some(name) = path
        .strip_prefix("/v1/")
        .filter(|n| n.contains("/operations/"))
    {
        let Some(left) = w.operations.get_mut(name) else {
            return reply(404, google_error(404, "notFound", "no such operation"));
        };
        *left = left.saturating_sub(1);
        return reply(200, json!({"name": name, "done": *left == 0}));
    }
    if path == "/v1/projects/claw-demo/serviceAccounts" {
        let account = body(req)["accountId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if !w.accounts.insert(account.clone()) {
            return exists();
        }
        return reply(
            200,
            json!({"email": format!("{account}@claw-demo.iam.gserviceaccount.com")}),
        );
    }
    if let Some(rest) = path.strip_prefix("/v1/projects/claw-demo/serviceAccounts/") {
        let decoded: String = form_urlencoded::parse(format!("x={rest}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        if let Some((email, method)) = decoded.split_once(':') {
            return policy(
                w,
                email,
                method == "setIamPolicy",
                body(req)["policy"].clone(),
            );
        }
    }
    reply(404, google_error(404, "notFound", "unknown IAM path"))
}

fn policy(w: &mut LinkWorld, resource: &str, set: bool, new: Value) -> OutboundResponse {
    let current = w
        .policies
        .entry(resource.to_string())
        .or_insert_with(|| json!({"etag": "e0", "bindings": []}));
    if !set {
        return reply(200, current.clone());
    }
    if new["etag"] != current["etag"] {
        return reply(
            409,
            google_error(409, "aborted", "concurrent policy change"),
        );
    }
    let mut stored = new;
    stored["etag"] = json!(format!("{}+", current["etag"].as_str().unwrap_or("")));
    *current = stored.clone();
    reply(200, stored)
}

fn storage(w: &mut LinkWorld, req: &OutboundRequest, path: &str) -> OutboundResponse {
    if path == "/storage/v1/b" && req.method == Method::Post {
        let b = body(req);
        let name = b["name"].as_str().unwrap_or_default().to_string();
        if w.buckets.contains_key(&name) || w.foreign_bucket.as_deref() == Some(&name) {
            return reply(409, google_error(409, "conflict", "bucket exists"));
        }
        w.buckets.insert(name, b.clone());
        return reply(200, b);
    }
    let Some(rest) = path.strip_prefix("/storage/v1/b/") else {
        return reply(404, google_error(404, "notFound", "unknown Storage path"));
    };
    match rest.split_once('/') {
        None => {
            let number = if w.buckets.contains_key(rest) {
                PROJECT_NUMBER
            } else {
                "999"
            };
            reply(200, json!({"name": rest, "projectNumber": number}))
        }
        Some((bucket, "iam")) => {
            let new = body(req);
            let set = req.method == Method::Put;
            let response = policy(w, bucket, set, new);
            if response.status == 409 {
                reply(412, google_error(412, "conditionNotMet", "etag mismatch"))
            } else {
                response
            }
        }
        Some(_) => reply(404, google_error(404, "notFound", "unknown Storage path")),
    }
}
