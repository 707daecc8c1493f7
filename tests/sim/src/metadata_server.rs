//! The GCE metadata server of each simulated VM, at
//! `/_vm/{project}/{zone}/{instance}/computeMetadata/v1/...`: the `Metadata-Flavor`
//! check, directory listings, `recursive=true`, `alt=json|text`, ETags,
//! `wait_for_change` long polls, and guest-attribute writes.

use crate::http::{percent_encode, Req};
use crate::state::{Instance, VmKey, World};
use crate::Sim;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The longest guest-attribute value GCE stores.
pub const MAX_GUEST_ATTRIBUTE_VALUE: usize = 256;

/// The VM's metadata as a tree, with GCE's hyphenated path names.
pub fn tree(world: &World, inst: &Instance) -> Value {
    let key = &inst.key;
    let number = world
        .projects
        .get(&key.project)
        .map(|p| p.number.clone())
        .unwrap_or_default();
    let attributes: Map<String, Value> = inst
        .metadata
        .items
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let mut guest: Map<String, Value> = Map::new();
    for ((ns, k), v) in &inst.guest_attributes {
        guest
            .entry(ns.clone())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .map(|o| o.insert(k.clone(), json!(v)));
    }
    let host = inst.internal_ip.rsplit('.').next().unwrap_or("2");
    json!({
        "instance": {
            "attributes": attributes,
            "cpu-platform": "Intel Broadwell",
            "description": inst.description,
            "guest-attributes": guest,
            "hostname": format!("{}.{}.c.{}.internal", key.instance, key.zone, key.project),
            "id": inst.id.parse::<u64>().unwrap_or(0),
            "image": "",
            "machine-type": format!("projects/{number}/machineTypes/{}", inst.machine_type),
            "maintenance-event": "NONE",
            "name": key.instance,
            "service-accounts": crate::service_accounts::metadata_tree(inst),
            "network-interfaces": [{
                "access-configs": if inst.has_external_ip {
                    json!([{ "external-ip": inst.external_ip.clone().unwrap_or_default(), "type": "ONE_TO_ONE_NAT" }])
                } else { json!([]) },
                "gateway": "10.128.0.1",
                "ip": inst.internal_ip,
                "mac": format!("42:01:0a:80:00:{:02x}", host.parse::<u8>().unwrap_or(2)),
                "mtu": 1460,
                "network": format!("projects/{number}/networks/{}", inst.network),
                "subnetmask": "255.255.240.0",
            }],
            "tags": inst.tags.get("items").cloned().unwrap_or_else(|| json!([])),
            "zone": format!("projects/{number}/zones/{}", key.zone),
        },
        "project": {
            "attributes": {},
            "numeric-project-id": number.parse::<u64>().unwrap_or(0),
            "project-id": key.project,
        },
    })
}

/// `hyphen-names` → `camelNames`, as GCE renders recursive JSON; user keys stay as they are.
fn camel_case(value: &Value, keep_keys: bool) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let user_level = !keep_keys && (k == "attributes" || k == "guest-attributes");
                    let name = if keep_keys { k.clone() } else { camel(k) };
                    (name, camel_case(v, user_level))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| camel_case(v, false)).collect()),
        other => other.clone(),
    }
}

fn camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '-' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn etag(node: &Value) -> String {
    let digest = Sha256::digest(node.to_string().as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn find<'v>(root: &'v Value, path: &[String]) -> Option<&'v Value> {
    let mut node = root;
    for part in path {
        node = match node {
            Value::Object(map) => map.get(part)?,
            Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(node)
}

fn plain(status: StatusCode, body: impl Into<String>) -> Response {
    let mut response = (status, body.into()).into_response();
    let headers = response.headers_mut();
    headers.insert("metadata-flavor", HeaderValue::from_static("Google"));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// How a value is asked for.
struct View {
    recursive: bool,
    alt: Alt,
    /// Under `attributes/`: the keys are the user's and keep their spelling.
    user_keys: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Alt {
    Default,
    Json,
    Text,
}

fn render(node: &Value, view: &View, dir_request: bool) -> (String, &'static str) {
    let container = node.is_object() || node.is_array();
    let json_type = "application/json";
    let text_type = "application/text";
    if container && (view.recursive || view.alt == Alt::Json && !dir_request) {
        if view.alt == Alt::Text {
            let mut lines = Vec::new();
            flatten(node, "", &mut lines);
            return (lines.join("\n"), text_type);
        }
        return (camel_case(node, view.user_keys).to_string(), json_type);
    }
    if container {
        let names: Vec<String> = match node {
            Value::Object(map) => map.iter().map(|(k, v)| entry(k.clone(), v)).collect(),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| entry(i.to_string(), v))
                .collect(),
            _ => Vec::new(),
        };
        if view.alt == Alt::Json {
            return (json!(names).to_string(), json_type);
        }
        return (names.join("\n"), text_type);
    }
    let text = match node {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if view.alt == Alt::Json {
        (node.to_string(), json_type)
    } else {
        (text, text_type)
    }
}

/// A directory listing's line for the child `name`: a trailing `/` marks a directory.
fn entry(name: String, child: &Value) -> String {
    if child.is_object() || child.is_array() {
        format!("{name}/")
    } else {
        name
    }
}

fn flatten(node: &Value, prefix: &str, out: &mut Vec<String>) {
    match node {
        Value::Object(map) => map
            .iter()
            .for_each(|(k, v)| flatten(v, &format!("{prefix}/{k}"), out)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| flatten(v, &format!("{prefix}/{i}"), out)),
        Value::String(s) => out.push(format!("{} {s}", prefix.trim_start_matches('/'))),
        other => out.push(format!("{} {other}", prefix.trim_start_matches('/'))),
    }
}

/// The current node at `path` and its ETag; `None` when the VM or the path is gone.
fn current(sim: &Sim, key: &VmKey, path: &[String]) -> Result<(Value, String), Box<Response>> {
    let world = sim.world();
    if world.metadata_server.down {
        return Err(Box::new(plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "metadata server unavailable",
        )));
    }
    let inst = world
        .instances
        .get(key)
        .ok_or_else(|| Box::new(plain(StatusCode::NOT_FOUND, "VM not found")))?;
    let root = tree(&world, inst);
    let node = find(&root, path)
        .cloned()
        .ok_or_else(|| Box::new(not_found_page()))?;
    let tag = etag(&node);
    Ok((node, tag))
}

fn not_found_page() -> Response {
    let mut r = crate::http::html(
        StatusCode::NOT_FOUND,
        "<!DOCTYPE html><html lang=en><title>Error 404 (Not Found)!!1</title><p><b>404.</b> That's an error.<p>The requested URL was not found on this server.</html>".into(),
    );
    r.headers_mut()
        .insert("metadata-flavor", HeaderValue::from_static("Google"));
    r
}

/// Every request under `computeMetadata/v1/` (`rest` is the path after it).
pub async fn handle(
    sim: &Sim,
    req: &Req,
    key: VmKey,
    rest: &[String],
    base_path: &str,
) -> Response {
    let (down, delay) = {
        let world = sim.world();
        (world.metadata_server.down, world.metadata_server.delay_ms)
    };
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if down {
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "metadata server unavailable",
        );
    }
    if req.header("metadata-flavor") != Some("Google") {
        return plain(
            StatusCode::FORBIDDEN,
            "Missing required header \"Metadata-Flavor\": \"Google\". Requests to the metadata server must include it.",
        );
    }
    if req.header("x-forwarded-for").is_some() {
        return plain(
            StatusCode::FORBIDDEN,
            "Requests with X-Forwarded-For are refused.",
        );
    }
    let dir_request = rest.last().is_some_and(|s| s.is_empty());
    let path: Vec<String> = rest.iter().filter(|s| !s.is_empty()).cloned().collect();
    let parts: Vec<&str> = path.iter().map(String::as_str).collect();
    match parts.as_slice() {
        ["instance", "service-accounts", alias, "token"] if req.method == Method::GET => {
            return match crate::service_accounts::metadata_token(&mut sim.world(), &key, alias) {
                Some(token) => crate::http::ok_json(&token),
                None => not_found_page(),
            };
        }
        ["instance", "service-accounts", alias, "identity"] if req.method == Method::GET => {
            let world = sim.world();
            let Some(inst) = world.instances.get(&key) else {
                return not_found_page();
            };
            let audience = req.param("audience");
            let format = req.param("format");
            return match crate::identity::token(&world, inst, alias, audience, format) {
                Ok(token) => plain(StatusCode::OK, token),
                Err(crate::identity::Refusal::NotFound) => not_found_page(),
                Err(crate::identity::Refusal::BadRequest(why)) => {
                    plain(StatusCode::BAD_REQUEST, why)
                }
            };
        }
        _ => {}
    }
    if req.method == Method::PUT {
        return put_guest_attribute(sim, req, &key, &path);
    }
    if req.method != Method::GET {
        return plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "Only GET (and PUT for guest attributes) are allowed.",
        );
    }
    let unknown = req.unknown_params(&[
        "recursive",
        "alt",
        "wait_for_change",
        "last_etag",
        "timeout_sec",
    ]);
    if !unknown.is_empty() {
        return plain(StatusCode::BAD_REQUEST, format!("Unknown query parameter: {}. Known: recursive, alt, wait_for_change, last_etag, timeout_sec.", unknown[0]));
    }
    let flag = |name| match req.param(name) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(format!("{name} must be true or false, not {other:?}")),
    };
    let (recursive, wait) = match (flag("recursive"), flag("wait_for_change")) {
        (Ok(r), Ok(w)) => (r, w),
        (Err(why), _) | (_, Err(why)) => return plain(StatusCode::BAD_REQUEST, why),
    };
    let alt = match req.param("alt") {
        None => Alt::Default,
        Some("json") => Alt::Json,
        Some("text") => Alt::Text,
        Some(other) => {
            return plain(
                StatusCode::BAD_REQUEST,
                format!("alt must be json or text, not {other:?}"),
            )
        }
    };
    let timeout = match req.param("timeout_sec") {
        None => None,
        Some(t) => match t.parse::<u64>() {
            Ok(secs) if secs > 0 => Some(Duration::from_secs(secs)),
            _ => {
                return plain(
                    StatusCode::BAD_REQUEST,
                    format!("timeout_sec must be a positive whole number of seconds, not {t:?}"),
                )
            }
        },
    };
    let view = View {
        recursive,
        user_keys: path
            .iter()
            .any(|p| p == "attributes" || p == "guest-attributes"),
        alt: if recursive && alt == Alt::Default {
            Alt::Json
        } else {
            alt
        },
    };

    let (mut node, mut tag) = match current(sim, &key, &path) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    if (node.is_object() || node.is_array()) && !dir_request && !recursive && alt != Alt::Json {
        // GCE redirects a directory asked for without its slash.
        let query = req
            .query
            .iter()
            .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut location = format!("{base_path}/");
        for part in &path {
            location.push_str(part);
            location.push('/');
        }
        if !query.is_empty() {
            location.push('?');
            location.push_str(&query);
        }
        let mut r = crate::http::redirect(&location);
        *r.status_mut() = StatusCode::MOVED_PERMANENTLY;
        r.headers_mut()
            .insert("metadata-flavor", HeaderValue::from_static("Google"));
        return r;
    }
    if wait {
        let baseline = req
            .param("last_etag")
            .map(str::to_string)
            .unwrap_or_else(|| tag.clone());
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        while tag == baseline {
            let changed = sim.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            // Re-read after registering, so a change in between is not missed.
            match current(sim, &key, &path) {
                Ok((n, t)) => {
                    node = n;
                    tag = t;
                }
                Err(response) => return *response,
            }
            if tag != baseline {
                break;
            }
            match deadline {
                Some(deadline) => {
                    if tokio::time::timeout_at(deadline, changed).await.is_err() {
                        break;
                    }
                }
                None => changed.await,
            }
            match current(sim, &key, &path) {
                Ok((n, t)) => {
                    node = n;
                    tag = t;
                }
                Err(response) => return *response,
            }
        }
    }
    let (body, content_type) = render(&node, &view, dir_request);
    let mut response = plain(StatusCode::OK, body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&tag) {
        headers.insert(header::ETAG, v);
    }
    response
}

fn is_guest_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn put_guest_attribute(sim: &Sim, req: &Req, key: &VmKey, path: &[String]) -> Response {
    let [instance, guest, ns, attr] = path else {
        return plain(
            StatusCode::BAD_REQUEST,
            "PUT only works on instance/guest-attributes/<namespace>/<key>.",
        );
    };
    if instance != "instance" || guest != "guest-attributes" {
        return plain(
            StatusCode::BAD_REQUEST,
            "PUT only works on instance/guest-attributes/<namespace>/<key>.",
        );
    }
    if !is_guest_name(ns) || !is_guest_name(attr) {
        return plain(
            StatusCode::BAD_REQUEST,
            "Guest attribute namespaces and keys are 1 to 64 letters, digits, '-' or '_'.",
        );
    }
    let Ok(value) = std::str::from_utf8(&req.body) else {
        return plain(
            StatusCode::BAD_REQUEST,
            "Guest attribute values must be UTF-8 text.",
        );
    };
    if value.len() > MAX_GUEST_ATTRIBUTE_VALUE {
        return plain(
            StatusCode::BAD_REQUEST,
            format!("Guest attribute values are at most {MAX_GUEST_ATTRIBUTE_VALUE} bytes."),
        );
    }
    match set_guest_attribute(&mut sim.world(), key, ns, attr, value) {
        Ok(()) => {}
        Err(response) => return *response,
    }
    sim.changed.notify_waiters();
    plain(StatusCode::OK, "")
}

/// Stores a guest attribute as the VM's PUT would (also used by the built-in stand-in).
pub fn set_guest_attribute(
    world: &mut World,
    key: &VmKey,
    ns: &str,
    attr: &str,
    value: &str,
) -> Result<(), Box<Response>> {
    let inst = world
        .instances
        .get_mut(key)
        .ok_or_else(|| Box::new(plain(StatusCode::NOT_FOUND, "VM not found")))?;
    if !inst.metadata.guest_attributes_enabled() {
        return Err(Box::new(plain(
            StatusCode::FORBIDDEN,
            "Guest attributes endpoint access is disabled: set instance metadata enable-guest-attributes=TRUE.",
        )));
    }
    inst.guest_attributes
        .insert((ns.to_string(), attr.to_string()), value.to_string());
    inst.guest_attribute_writes
        .record(format!("{ns}/{attr}"), value.to_string());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recursive_json_uses_camel_case_but_keeps_user_keys() {
        let v = json!({"network-interfaces": [{"access-configs": []}], "attributes": {"enable-oslogin": "TRUE"}});
        let c = camel_case(&v, false);
        assert!(c.get("networkInterfaces").unwrap()[0]
            .get("accessConfigs")
            .is_some());
        assert_eq!(c["attributes"]["enable-oslogin"], "TRUE");
    }

    #[test]
    fn listings_mark_directories() {
        let v = json!({"a": "1", "b": {"c": "2"}});
        let view = View {
            recursive: false,
            alt: Alt::Default,
            user_keys: false,
        };
        assert_eq!(render(&v, &view, true).0, "a\nb/");
        let flat = View {
            recursive: true,
            alt: Alt::Text,
            user_keys: false,
        };
        assert_eq!(render(&v, &flat, true).0, "a 1\nb/c 2");
    }
}
