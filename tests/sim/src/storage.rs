//! Cloud Storage's JSON API, the part a Nix binary cache in a bucket needs: buckets
//! (insert with uniform bucket-level access and public access prevention, get), bucket
//! IAM policies (get, set with an etag), media uploads and resumable uploads (a session
//! URI, `Content-Range` chunks in multiples of 256 KiB, `308` with `Range` until the
//! last), object metadata and `alt=media` downloads, and listings by prefix. Permissions come from the bucket's policy (and
//! ownership of its project), errors in Cloud Storage's own words.

use crate::clock::{now_ms, random_digits, rfc3339_utc};
use crate::errors::{ApiResult, GoogleError};
use crate::http::{ok_json, percent_encode, Req};
use crate::oauth::SCOPE_READ_ONLY;
use crate::service_accounts::{caller, Principal};
use crate::state::World;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use claw_free_protocol::google::ApiError;
use claw_free_protocol::rollout::cache;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

const SERVICE: &str = "storage.googleapis.com";
pub const SCOPE_READ: &str = "https://www.googleapis.com/auth/devstorage.read_only";
pub const SCOPE_WRITE: &str = "https://www.googleapis.com/auth/devstorage.read_write";
pub const SCOPE_FULL: &str = "https://www.googleapis.com/auth/devstorage.full_control";
/// The most objects one listing page returns.
const MAX_PAGE: usize = 1000;

/// Every bucket, by name (bucket names are global), and the open resumable uploads.
#[derive(Debug, Default)]
pub struct Storage {
    buckets: BTreeMap<String, Bucket>,
    /// By `upload_id`.
    uploads: BTreeMap<String, Session>,
}

/// A resumable upload under way: what was asked at its start and the bytes persisted.
#[derive(Debug)]
struct Session {
    bucket: String,
    object: String,
    content_type: String,
    if_generation_match: Option<String>,
    data: Vec<u8>,
}

/// Every chunk but the last is a multiple of this, as Cloud Storage requires.
pub const CHUNK_GRANULARITY: usize = 256 * 1024;

#[derive(Debug)]
struct Bucket {
    name: String,
    project: String,
    project_number: String,
    location: String,
    created_ms: u64,
    uniform_access: bool,
    public_access_prevention: String,
    bindings: Vec<Binding>,
    policy_version: u64,
    objects: BTreeMap<String, Object>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Binding {
    role: String,
    members: Vec<String>,
}

#[derive(Debug)]
struct Object {
    data: Vec<u8>,
    content_type: String,
    generation: String,
    updated_ms: u64,
}

fn error(code: u16, reason: &str, message: impl Into<String>) -> GoogleError {
    ApiError::new(code, reason, message).into()
}

fn no_bucket() -> GoogleError {
    error(404, "notFound", "The specified bucket does not exist.")
}

/// What each predefined role grants on a bucket and its objects.
fn role_permissions(role: &str) -> &'static [&'static str] {
    match role {
        "roles/storage.objectViewer" => &["storage.objects.get", "storage.objects.list"],
        "roles/storage.objectCreator" => &["storage.objects.create"],
        "roles/storage.objectAdmin" => &[
            "storage.objects.get",
            "storage.objects.list",
            "storage.objects.create",
            "storage.objects.delete",
        ],
        "roles/storage.legacyBucketReader" => &["storage.buckets.get", "storage.objects.list"],
        "roles/storage.admin" => &[
            "storage.buckets.get",
            "storage.buckets.getIamPolicy",
            "storage.buckets.setIamPolicy",
            "storage.objects.get",
            "storage.objects.list",
            "storage.objects.create",
            "storage.objects.delete",
        ],
        _ => &[],
    }
}

const KNOWN_ROLES: &[&str] = &[
    "roles/storage.objectViewer",
    "roles/storage.objectCreator",
    "roles/storage.objectAdmin",
    "roles/storage.legacyBucketReader",
    "roles/storage.admin",
];

/// Whether `who` holds `permission` on `bucket`: the project's owner holds every one
/// (as `roles/owner` does), anyone else what the bucket's bindings grant.
fn allowed(world: &World, bucket: &Bucket, who: &Principal, permission: &str) -> bool {
    let owner = matches!(who, Principal::User(email)
        if world.projects.get(&bucket.project).is_some_and(|p| &p.owner_email == email));
    let member = who.member();
    owner
        || bucket
            .bindings
            .iter()
            .any(|b| b.members.contains(&member) && role_permissions(&b.role).contains(&permission))
}

/// Cloud Storage's 403, which names the caller and the permission it lacks.
fn denied(who: &Principal, permission: &str, what: &str) -> GoogleError {
    error(
        403,
        "forbidden",
        format!(
            "{} does not have {permission} access to the Google Cloud Storage {what}. \
             Permission '{permission}' denied on resource (or it may not exist).",
            who.email()
        ),
    )
}

/// The bucket, if `who` may use `permission` on it. A caller without the permission
/// learns nothing of whether the bucket exists unless it may see it.
fn bucket_for<'w>(
    world: &'w World,
    who: &Principal,
    name: &str,
    permission: &str,
    what: &str,
) -> Result<&'w Bucket, GoogleError> {
    let bucket = world.storage.buckets.get(name).ok_or_else(no_bucket)?;
    if !allowed(world, bucket, who, permission) {
        return Err(denied(who, permission, what));
    }
    Ok(bucket)
}

fn read_scopes() -> [&'static str; 4] {
    [SCOPE_READ, SCOPE_WRITE, SCOPE_FULL, SCOPE_READ_ONLY]
}

fn check_params(req: &Req, known: &[&str]) -> Result<(), GoogleError> {
    crate::errors::check_params(req, known)
}

/// Bucket names: the shape the protocol states (which the VM's substituter also
/// checks), and never an IP-address look-alike or a `goog` prefix or `google` inside.
fn valid_bucket_name(name: &str) -> bool {
    cache::is_bucket_name(name)
        && !name.starts_with("goog")
        && !name.contains("google")
        && name.parse::<std::net::Ipv4Addr>().is_err()
}

/// Object names: 1 to 1024 bytes of UTF-8, no carriage return or line feed, not `.` or `..`.
fn valid_object_name(name: &str) -> bool {
    (1..=1024).contains(&name.len())
        && !name.contains(['\r', '\n'])
        && name != "."
        && name != ".."
        && !name.starts_with(".well-known/acme-challenge/")
}

/// `POST /storage/v1/b?project=`.
pub fn insert_bucket(world: &mut World, req: &Req) -> ApiResult {
    check_params(
        req,
        &[
            "project",
            "predefinedAcl",
            "predefinedDefaultObjectAcl",
            "projection",
        ],
    )?;
    let who = caller(world, req, SERVICE, &[SCOPE_FULL, SCOPE_WRITE])?;
    let project_id = req
        .param("project")
        .ok_or_else(|| error(400, "required", "Required parameter: project"))?;
    let body: Value = serde_json::from_slice(&req.body)
        .map_err(|e| error(400, "parseError", format!("Parse Error: {e}")))?;
    let Some(object) = body.as_object() else {
        return Err(error(400, "parseError", "Parse Error"));
    };
    let name = object.get("name").and_then(Value::as_str).unwrap_or("");
    if name.is_empty() {
        return Err(error(400, "required", "Required"));
    }
    if !valid_bucket_name(name) {
        return Err(error(
            400,
            "invalid",
            "Invalid bucket name: '".to_string()
                + &name.chars().take(100).collect::<String>()
                + "'",
        ));
    }
    let project = world
        .projects
        .get(project_id)
        .filter(|p| matches!(who, Principal::User(ref e) if &p.owner_email == e));
    let Some(project) = project else {
        return Err(error(
            403,
            "forbidden",
            format!(
                "{} does not have storage.buckets.create access to the Google Cloud project. \
                 Permission 'storage.buckets.create' denied on resource (or it may not exist).",
                who.email()
            ),
        ));
    };
    if let Some(existing) = world.storage.buckets.get(name) {
        let message = if existing.project == project.project_id {
            "Your previous request to create the named bucket succeeded and you already own it."
        } else {
            "The requested bucket name is not available. The bucket namespace is shared by all \
             users of the system. Please select a different name and try again."
        };
        return Err(error(409, "conflict", message));
    }
    let iam = body.get("iamConfiguration");
    let uniform_access = iam
        .and_then(|c| c.pointer("/uniformBucketLevelAccess/enabled"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let public_access_prevention = match iam.and_then(|c| c.get("publicAccessPrevention")) {
        None => "inherited".to_string(),
        Some(Value::String(p)) if p == "enforced" || p == "inherited" => p.clone(),
        Some(_) => {
            return Err(error(
                400,
                "invalid",
                "Invalid argument: publicAccessPrevention must be 'enforced' or 'inherited'.",
            ))
        }
    };
    let location = body
        .get("location")
        .and_then(Value::as_str)
        .unwrap_or("US")
        .to_ascii_uppercase();
    let bucket = Bucket {
        name: name.to_string(),
        project: project.project_id.clone(),
        project_number: project.number.clone(),
        location,
        created_ms: now_ms(),
        uniform_access,
        public_access_prevention,
        // What a new bucket's policy holds: the project's own roles.
        bindings: vec![
            Binding {
                role: "roles/storage.legacyBucketOwner".into(),
                members: vec![format!("projectOwner:{}", project.project_id)],
            },
            Binding {
                role: "roles/storage.legacyBucketReader".into(),
                members: vec![format!("projectViewer:{}", project.project_id)],
            },
        ],
        policy_version: 1,
        objects: BTreeMap::new(),
    };
    let answer = bucket_json(&bucket);
    world.storage.buckets.insert(name.to_string(), bucket);
    Ok(ok_json(&answer))
}

fn bucket_json(b: &Bucket) -> Value {
    let created = rfc3339_utc(b.created_ms);
    json!({
        "kind": "storage#bucket",
        "selfLink": format!("https://www.googleapis.com/storage/v1/b/{}", b.name),
        "id": b.name,
        "name": b.name,
        "projectNumber": b.project_number,
        "metageneration": "1",
        "location": b.location,
        "storageClass": "STANDARD",
        "etag": "CAE=",
        "timeCreated": created,
        "updated": created,
        "iamConfiguration": {
            "bucketPolicyOnly": { "enabled": b.uniform_access },
            "uniformBucketLevelAccess": { "enabled": b.uniform_access },
            "publicAccessPrevention": b.public_access_prevention,
        },
        "locationType": "region",
    })
}

/// `GET /storage/v1/b/{bucket}`.
pub fn get_bucket(world: &World, req: &Req, name: &str) -> ApiResult {
    check_params(req, &["projection"])?;
    let who = caller(world, req, SERVICE, &read_scopes())?;
    let bucket = bucket_for(world, &who, name, "storage.buckets.get", "bucket")?;
    Ok(ok_json(&bucket_json(bucket)))
}

fn policy_json(b: &Bucket) -> Value {
    json!({
        "kind": "storage#policy",
        "resourceId": format!("projects/_/buckets/{}", b.name),
        "version": 1,
        "etag": policy_etag(b),
        "bindings": b.bindings,
    })
}

fn policy_etag(b: &Bucket) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b.policy_version.to_be_bytes())
}

/// `GET /storage/v1/b/{bucket}/iam`.
pub fn get_policy(world: &World, req: &Req, name: &str) -> ApiResult {
    check_params(req, &["optionsRequestedPolicyVersion"])?;
    let who = caller(world, req, SERVICE, &read_scopes())?;
    let bucket = bucket_for(world, &who, name, "storage.buckets.getIamPolicy", "bucket")?;
    Ok(ok_json(&policy_json(bucket)))
}

/// `PUT /storage/v1/b/{bucket}/iam`: replaces the bindings; an `etag` that is not the
/// current one is a 412, so two writers cannot lose each other's changes.
pub fn set_policy(world: &mut World, req: &Req, name: &str) -> ApiResult {
    check_params(req, &[])?;
    let who = caller(world, req, SERVICE, &[SCOPE_FULL])?;
    bucket_for(world, &who, name, "storage.buckets.setIamPolicy", "bucket")?;
    #[derive(serde::Deserialize)]
    struct Policy {
        bindings: Vec<Binding>,
        etag: Option<String>,
    }
    let policy: Policy = serde_json::from_slice(&req.body)
        .map_err(|e| error(400, "invalid", format!("Invalid argument: {e}")))?;
    for binding in &policy.bindings {
        let legacy = binding.role.starts_with("roles/storage.legacy");
        if !legacy && !KNOWN_ROLES.contains(&binding.role.as_str()) {
            return Err(error(
                400,
                "invalid",
                format!("Role {} is not supported for this resource.", binding.role),
            ));
        }
        for member in &binding.members {
            let ok = [
                "user:",
                "serviceAccount:",
                "group:",
                "projectOwner:",
                "projectViewer:",
                "projectEditor:",
            ]
            .iter()
            .any(|p| member.strip_prefix(p).is_some_and(|rest| !rest.is_empty()));
            if !ok || member == "allUsers" || member == "allAuthenticatedUsers" {
                return Err(error(
                    400,
                    "invalid",
                    format!("Invalid argument: member {member:?} is not valid here."),
                ));
            }
        }
    }
    let bucket = world.storage.buckets.get_mut(name).ok_or_else(no_bucket)?;
    if policy.etag.is_some_and(|e| e != policy_etag(bucket)) {
        return Err(error(412, "conditionNotMet", "Precondition Failed"));
    }
    bucket.bindings = policy.bindings;
    bucket.policy_version += 1;
    Ok(ok_json(&policy_json(bucket)))
}

fn object_json(b: &Bucket, name: &str, o: &Object) -> Value {
    let encoded = percent_encode(name);
    let hash = Sha256::digest(&o.data);
    json!({
        "kind": "storage#object",
        "id": format!("{}/{}/{}", b.name, name, o.generation),
        "selfLink": format!("https://www.googleapis.com/storage/v1/b/{}/o/{encoded}", b.name),
        "mediaLink": format!("https://storage.googleapis.com/download/storage/v1/b/{}/o/{encoded}?generation={}&alt=media", b.name, o.generation),
        "name": name,
        "bucket": b.name,
        "generation": o.generation,
        "metageneration": "1",
        "contentType": o.content_type,
        "storageClass": "STANDARD",
        "size": o.data.len().to_string(),
        "etag": format!("{:x}", hash)[..16].to_string(),
        "timeCreated": rfc3339_utc(o.updated_ms),
        "updated": rfc3339_utc(o.updated_ms),
    })
}

/// `POST /upload/storage/v1/b/{bucket}/o?uploadType=media&name=` (the body is the
/// object) or `?uploadType=resumable` (starts a session), and `PUT` on a session URI
/// (`...&upload_id=`) with a chunk or a status query.
pub fn upload(world: &mut World, req: &Req, name: &str, base_url: &str) -> ApiResult {
    if req.method == axum::http::Method::PUT {
        return resume(world, req, name);
    }
    check_params(
        req,
        &[
            "name",
            "ifGenerationMatch",
            "contentEncoding",
            "predefinedAcl",
            "projection",
        ],
    )?;
    let who = caller(world, req, SERVICE, &[SCOPE_WRITE, SCOPE_FULL])?;
    let resumable = match req.param("uploadType") {
        Some("media") => false,
        Some("resumable") => true,
        Some(other) => {
            return Err(error(
                400,
                "invalid",
                format!("Invalid upload type {other:?}: only media and resumable uploads are served here."),
            ))
        }
        None => return Err(error(400, "required", "Upload requests must include an uploadType URL parameter and a URL path beginning with /upload/")),
    };
    // A resumable upload may name its object in the JSON metadata body instead.
    let metadata: Option<Value> = if resumable && !req.body.is_empty() {
        Some(
            serde_json::from_slice(&req.body)
                .map_err(|e| error(400, "parseError", format!("Parse Error: {e}")))?,
        )
    } else {
        None
    };
    let object = req
        .param("name")
        .or_else(|| metadata.as_ref().and_then(|m| m["name"].as_str()))
        .filter(|n| !n.is_empty())
        .ok_or_else(|| error(400, "required", "Required"))?
        .to_string();
    let object = object.as_str();
    if !valid_object_name(object) {
        return Err(error(400, "invalid", "The object name is not valid."));
    }
    let bucket = bucket_for(world, &who, name, "storage.objects.create", "object")?;
    let exists = bucket.objects.contains_key(object);
    if exists && !allowed(world, bucket, &who, "storage.objects.delete") {
        return Err(denied(&who, "storage.objects.delete", "object"));
    }
    let if_generation_match = req.param("ifGenerationMatch").map(str::to_string);
    check_generation(bucket, object, if_generation_match.as_deref())?;
    if resumable {
        let content_type = req
            .header("x-upload-content-type")
            .or_else(|| metadata.as_ref().and_then(|m| m["contentType"].as_str()))
            .unwrap_or("application/octet-stream")
            .to_string();
        let upload_id = format!("ADPycd{}", crate::clock::random_token(48));
        world.storage.uploads.insert(
            upload_id.clone(),
            Session {
                bucket: name.to_string(),
                object: object.to_string(),
                content_type,
                if_generation_match,
                data: Vec::new(),
            },
        );
        let location = format!(
            "{base_url}/upload/storage/v1/b/{name}/o?uploadType=resumable&name={}&upload_id={upload_id}",
            percent_encode(object)
        );
        let mut response = StatusCode::OK.into_response();
        if let Ok(value) = HeaderValue::from_str(&location) {
            response.headers_mut().insert(header::LOCATION, value);
        }
        return Ok(response);
    }
    let content_type = req
        .header("content-type")
        .unwrap_or("application/octet-stream")
        .to_string();
    let answer = store(world, name, object, req.body.to_vec(), content_type)?;
    Ok(ok_json(&answer))
}

/// `ifGenerationMatch`: the object's current generation (`0`: it must not exist).
fn check_generation(
    bucket: &Bucket,
    object: &str,
    wanted: Option<&str>,
) -> Result<(), GoogleError> {
    let Some(wanted) = wanted else {
        return Ok(());
    };
    let current = bucket
        .objects
        .get(object)
        .map_or("0", |o| o.generation.as_str());
    if wanted != current {
        return Err(error(
            412,
            "conditionNotMet",
            "At least one of the pre-conditions you specified did not hold.",
        ));
    }
    Ok(())
}

/// Writes an object (a new generation) and answers its metadata.
fn store(
    world: &mut World,
    bucket: &str,
    object: &str,
    data: Vec<u8>,
    content_type: String,
) -> Result<Value, GoogleError> {
    let bucket = world
        .storage
        .buckets
        .get_mut(bucket)
        .ok_or_else(no_bucket)?;
    let stored = Object {
        data,
        content_type,
        generation: format!("17{}", random_digits(14)),
        updated_ms: now_ms(),
    };
    let answer = object_json(bucket, object, &stored);
    bucket.objects.insert(object.to_string(), stored);
    Ok(answer)
}

/// `Content-Range` of a resumable chunk: `bytes FIRST-LAST/TOTAL`, `bytes */TOTAL`
/// (a status query), with `*` for a total not yet known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ContentRange {
    /// The first and last byte of this chunk; `None` for a status query.
    span: Option<(u64, u64)>,
    total: Option<u64>,
}

impl ContentRange {
    fn parse(value: &str) -> Option<Self> {
        let (span, total) = value.strip_prefix("bytes ")?.split_once('/')?;
        let total = match total {
            "*" => None,
            t => Some(t.parse().ok()?),
        };
        let span = match span {
            "*" => None,
            s => {
                let (first, last) = s.split_once('-')?;
                let (first, last): (u64, u64) = (first.parse().ok()?, last.parse().ok()?);
                if last < first {
                    return None;
                }
                Some((first, last))
            }
        };
        Some(Self { span, total })
    }
}

/// Cloud Storage's `308 Resume Incomplete`, with `Range` once bytes are persisted.
fn incomplete(persisted: usize) -> axum::response::Response {
    let mut response = StatusCode::PERMANENT_REDIRECT.into_response();
    if persisted > 0 {
        if let Ok(value) = HeaderValue::from_str(&format!("bytes=0-{}", persisted - 1)) {
            response.headers_mut().insert(header::RANGE, value);
        }
    }
    response
}

/// `PUT` on a session URI: a chunk (or the whole object), or a status query.
fn resume(world: &mut World, req: &Req, bucket: &str) -> ApiResult {
    check_params(req, &["name", "upload_id"])?;
    let upload_id = req
        .param("upload_id")
        .ok_or_else(|| error(400, "required", "Required parameter: upload_id"))?;
    let session = world
        .storage
        .uploads
        .get_mut(upload_id)
        .filter(|s| s.bucket == bucket)
        .ok_or_else(|| error(404, "notFound", "No such upload session."))?;
    let range = match req.header("content-range") {
        // No Content-Range: the body is the whole object.
        None => ContentRange {
            span: (!req.body.is_empty()).then(|| (0, req.body.len() as u64 - 1)),
            total: Some(req.body.len() as u64),
        },
        Some(value) => ContentRange::parse(value).ok_or_else(|| {
            error(
                400,
                "invalid",
                format!("Invalid Content-Range header: {value:?}"),
            )
        })?,
    };
    let persisted = session.data.len() as u64;
    if let Some((first, last)) = range.span {
        if last - first + 1 != req.body.len() as u64 {
            return Err(error(
                400,
                "invalid",
                "The Content-Range does not match the number of bytes in the request body.",
            ));
        }
        if first > persisted {
            return Err(error(
                400,
                "invalid",
                format!("Invalid request. The upload starts at byte {first}, but only {persisted} byte(s) were persisted."),
            ));
        }
        let is_last = range.total == Some(last + 1);
        if !is_last && (last + 1) % CHUNK_GRANULARITY as u64 != 0 {
            return Err(error(
                400,
                "invalid",
                format!("Invalid request. The chunk size must be a multiple of {CHUNK_GRANULARITY} bytes, except for the last chunk."),
            ));
        }
        // Bytes already persisted are skipped, as when a client resends after a 308.
        let skip = (persisted - first) as usize;
        if skip < req.body.len() {
            session.data.extend_from_slice(&req.body[skip..]);
        }
    }
    let complete = range.total.is_some_and(|t| t == session.data.len() as u64);
    if let Some(total) = range.total {
        if (session.data.len() as u64) > total {
            return Err(error(
                400,
                "invalid",
                "The upload is longer than the total the Content-Range declares.",
            ));
        }
    }
    if !complete {
        return Ok(incomplete(session.data.len()));
    }
    let Some(session) = world.storage.uploads.remove(upload_id) else {
        return Err(error(404, "notFound", "No such upload session."));
    };
    let target = world
        .storage
        .buckets
        .get(&session.bucket)
        .ok_or_else(no_bucket)?;
    check_generation(
        target,
        &session.object,
        session.if_generation_match.as_deref(),
    )?;
    let answer = store(
        world,
        &session.bucket,
        &session.object,
        session.data,
        session.content_type,
    )?;
    Ok(ok_json(&answer))
}

/// `GET /storage/v1/b/{bucket}/o/{object}`: metadata, or the bytes with `alt=media`.
pub fn get_object(world: &World, req: &Req, name: &str, object: &str) -> ApiResult {
    check_params(req, &["generation", "projection"])?;
    let who = caller(world, req, SERVICE, &read_scopes())?;
    let bucket = bucket_for(world, &who, name, "storage.objects.get", "object")?;
    let stored = bucket
        .objects
        .get(object)
        .ok_or_else(|| error(404, "notFound", format!("No such object: {name}/{object}")))?;
    if req.param("alt") != Some("media") {
        return Ok(ok_json(&object_json(bucket, object, stored)));
    }
    let mut response = (StatusCode::OK, stored.data.clone()).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&stored.content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    if let Ok(value) = HeaderValue::from_str(&stored.generation) {
        headers.insert("x-goog-generation", value);
    }
    Ok(response)
}

/// `GET /storage/v1/b/{bucket}/o?prefix=`: names in order, a page at a time.
pub fn list_objects(world: &World, req: &Req, name: &str) -> ApiResult {
    check_params(
        req,
        &[
            "prefix",
            "maxResults",
            "pageToken",
            "delimiter",
            "projection",
            "versions",
        ],
    )?;
    let who = caller(world, req, SERVICE, &read_scopes())?;
    let bucket = bucket_for(world, &who, name, "storage.objects.list", "bucket")?;
    let prefix = req.param("prefix").unwrap_or("");
    let max = match req.param("maxResults") {
        None => MAX_PAGE,
        Some(n) => n
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .map(|n| n.min(MAX_PAGE))
            .ok_or_else(|| {
                error(
                    400,
                    "invalid",
                    format!("Invalid value for maxResults: {n:?}"),
                )
            })?,
    };
    let after = req.param("pageToken").unwrap_or("");
    let mut matching = bucket
        .objects
        .iter()
        .filter(|(n, _)| n.starts_with(prefix) && n.as_str() > after);
    let items: Vec<Value> = matching
        .by_ref()
        .take(max)
        .map(|(n, o)| object_json(bucket, n, o))
        .collect();
    let mut answer = json!({ "kind": "storage#objects" });
    if !items.is_empty() {
        answer["items"] = Value::Array(items.clone());
    }
    if matching.next().is_some() {
        if let Some(last) = items.last().and_then(|i| i["name"].as_str()) {
            answer["nextPageToken"] = json!(last);
        }
    }
    Ok(ok_json(&answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_cloud_storage_rules() {
        for good in ["abc", "claw-cache-123", "a.b_c", &"a".repeat(63)] {
            assert!(valid_bucket_name(good), "{good}");
        }
        for bad in [
            "ab",
            "Abc",
            "-abc",
            "abc-",
            "goog-x",
            "my-google-x",
            "1.2.3.4",
            &"a".repeat(64),
            "a b",
        ] {
            assert!(!valid_bucket_name(bad), "{bad}");
        }
        assert!(valid_object_name("nar/x.nar"));
        assert!(!valid_object_name("a\nb") && !valid_object_name("..") && !valid_object_name(""));
    }
}
