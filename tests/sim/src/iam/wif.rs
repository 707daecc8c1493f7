//! Workload Identity Federation: pools and their OIDC providers under
//! `projects/{p}/locations/global/workloadIdentityPools`, each created by a long-running
//! operation whose name lives under the resource, with Google's checks (id format, a
//! `google.subject` mapping, an attribute condition for GitHub's issuer).

use super::{body, caller_and_project, Described, Pool, Provider, IAM};
use crate::clock::{now_ms, random_hex};
use crate::errors::{invalid, ApiResult, GoogleError};
use crate::http::{ok_json, Req};
use crate::operations::get_lro;
use crate::state::{LongRunningOperation, Project};
use crate::Sim;
use axum::http::Method;
use claw_free_protocol::google::ApiError;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The issuer of GitHub Actions' OIDC tokens; Google requires a condition for it.
pub use crate::github::actions_oidc::ISSUER as GITHUB_ISSUER;

fn pool_name(project: &Project, pool: &str) -> String {
    format!(
        "projects/{}/locations/global/workloadIdentityPools/{pool}",
        project.number
    )
}

fn render_pool(project: &Project, id: &str, pool: &Pool) -> Value {
    pool.about.render(pool_name(project, id))
}

fn render_provider(project: &Project, pool: &str, id: &str, p: &Provider) -> Value {
    let mut body = p
        .about
        .render(format!("{}/providers/{id}", pool_name(project, pool)));
    body["attributeMapping"] = json!(p.attribute_mapping);
    body["oidc"] = json!({ "issuerUri": p.issuer_uri });
    if !p.allowed_audiences.is_empty() {
        body["oidc"]["allowedAudiences"] = json!(p.allowed_audiences);
    }
    if let Some(c) = &p.attribute_condition {
        body["attributeCondition"] = json!(c);
    }
    body
}

/// Pool and provider ids: 4 to 32 of `[a-z0-9-]`, not starting with `gcp-`.
fn valid_id(id: &str) -> bool {
    (4..=32).contains(&id.len())
        && !id.starts_with("gcp-")
        && !id.starts_with('-')
        && !id.ends_with('-')
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn already_exists(what: &str) -> GoogleError {
    ApiError::new(
        409,
        "alreadyExists",
        format!("Requested entity already exists: {what}"),
    )
    .into()
}

fn not_found(what: &str) -> GoogleError {
    ApiError::new(
        404,
        "notFound",
        format!("Requested entity was not found: {what}"),
    )
    .into()
}

/// Starts an operation named under `resource` that finishes after one step.
fn operation(sim: &Sim, owner: &str, resource: &str, response: Value, kind: &str) -> Value {
    let mut world = sim.world();
    let now = now_ms();
    let op = LongRunningOperation {
        name: format!("{resource}/operations/{}", random_hex(16)),
        owner_email: owner.to_string(),
        done_at: now + world.config.operation_step_ms,
        metadata: json!({ "@type": format!("type.googleapis.com/google.iam.v1.{kind}OperationMetadata") }),
        response,
    };
    let rendered = crate::operations::render_lro(&op, now);
    world.lro.insert(op.name.clone(), op);
    rendered
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Oidc {
    issuer_uri: String,
    #[serde(default)]
    allowed_audiences: Vec<String>,
    #[serde(default)]
    jwks_json: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewProvider {
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    disabled: bool,
    #[serde(default)]
    attribute_mapping: BTreeMap<String, String>,
    #[serde(default)]
    attribute_condition: Option<String>,
    oidc: Option<Oidc>,
}

pub fn handle(sim: &Sim, req: &Req, project: &str, rest: &[&str]) -> ApiResult {
    let post = req.method == Method::POST;
    let permission = match (rest, post) {
        ([], true) => "iam.workloadIdentityPools.create",
        ([_, "providers"], true) => "iam.workloadIdentityPoolProviders.create",
        ([_, "providers", ..], _) => "iam.workloadIdentityPoolProviders.get",
        _ => "iam.workloadIdentityPools.get",
    };
    let (user, project) = {
        let world = sim.world();
        caller_and_project(&world, req, project, permission, IAM)?
    };
    match rest {
        [] if post => create_pool(sim, req, &user.email, &project),
        [] => {
            let world = sim.world();
            let pools: Vec<Value> = world
                .iam
                .pools
                .iter()
                .filter(|((p, _), _)| *p == project.project_id)
                .map(|((_, id), pool)| render_pool(&project, id, pool))
                .collect();
            Ok(ok_json(&json!({ "workloadIdentityPools": pools })))
        }
        [pool] => {
            let world = sim.world();
            let found = world
                .iam
                .pools
                .get(&(project.project_id.clone(), pool.to_string()))
                .ok_or_else(|| not_found(&pool_name(&project, pool)))?;
            Ok(ok_json(&render_pool(&project, pool, found)))
        }
        [pool, "providers"] => create_provider(sim, req, &user.email, &project, pool),
        [pool, "providers", id] => {
            let world = sim.world();
            let key = (project.project_id.clone(), pool.to_string(), id.to_string());
            let found = world.iam.providers.get(&key).ok_or_else(|| {
                not_found(&format!("{}/providers/{id}", pool_name(&project, pool)))
            })?;
            Ok(ok_json(&render_provider(&project, pool, id, found)))
        }
        [pool, "operations", op] => {
            let name = format!("{}/operations/{op}", pool_name(&project, pool));
            Ok(ok_json(&get_lro(&sim.world(), &name, &user.email)?))
        }
        [pool, "providers", id, "operations", op] => {
            let name = format!(
                "{}/providers/{id}/operations/{op}",
                pool_name(&project, pool)
            );
            Ok(ok_json(&get_lro(&sim.world(), &name, &user.email)?))
        }
        _ => Err(not_found(&req.segments.join("/"))),
    }
}

/// The new resource's id from query parameter `name`, or Google's 400 (`why` follows
/// the id in the message).
fn new_id(req: &Req, name: &str, what: &str, why: &str) -> Result<String, GoogleError> {
    let id = req.param(name).unwrap_or("").to_string();
    if valid_id(&id) {
        Ok(id)
    } else {
        Err(invalid(format!("Invalid {what} id: \"{id}\".{why}")))
    }
}

fn create_pool(sim: &Sim, req: &Req, owner: &str, project: &Project) -> ApiResult {
    let id = new_id(
        req,
        "workloadIdentityPoolId",
        "workload identity pool",
        " The id must be 4 to 32 lowercase letters, digits or hyphens and must not start with \"gcp-\".",
    )?;
    let pool = Pool { about: body(req)? };
    let key = (project.project_id.clone(), id.clone());
    {
        let mut world = sim.world();
        if world.iam.pools.contains_key(&key) {
            return Err(already_exists(&pool_name(project, &id)));
        }
        world.iam.pools.insert(key, pool.clone());
    }
    let mut response = render_pool(project, &id, &pool);
    response["@type"] = json!("type.googleapis.com/google.iam.v1.WorkloadIdentityPool");
    Ok(ok_json(&operation(
        sim,
        owner,
        &pool_name(project, &id),
        response,
        "WorkloadIdentityPool",
    )))
}

fn check_mapping(mapping: &BTreeMap<String, String>) -> Result<(), GoogleError> {
    if !mapping.contains_key("google.subject") {
        return Err(invalid(
            "The attribute mapping must contain a mapping for google.subject.",
        ));
    }
    for key in mapping.keys() {
        let ok = matches!(
            key.as_str(),
            "google.subject" | "google.groups" | "google.display_name"
        ) || key.strip_prefix("attribute.").is_some_and(|n| {
            !n.is_empty()
                && n.len() <= 100
                && n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        });
        if !ok {
            return Err(invalid(format!("Invalid attribute mapping key: {key}")));
        }
    }
    Ok(())
}

fn create_provider(sim: &Sim, req: &Req, owner: &str, project: &Project, pool: &str) -> ApiResult {
    let id = new_id(
        req,
        "workloadIdentityPoolProviderId",
        "workload identity pool provider",
        "",
    )?;
    let asked: NewProvider = body(req)?;
    let oidc = asked
        .oidc
        .ok_or_else(|| invalid("A provider must have one of oidc, aws or saml."))?;
    let _ = oidc.jwks_json;
    if !oidc.issuer_uri.starts_with("https://") {
        return Err(invalid("The issuer URI must use the https scheme."));
    }
    check_mapping(&asked.attribute_mapping)?;
    let condition = asked.attribute_condition.filter(|c| !c.trim().is_empty());
    if oidc.issuer_uri == GITHUB_ISSUER && condition.is_none() {
        return Err(invalid(
            "The attribute condition must reference one of the provider's claims. For more information, see https://cloud.google.com/iam/docs/workload-identity-federation-with-deployment-pipelines#conditions",
        ));
    }
    let provider = Provider {
        about: Described {
            display_name: asked.display_name,
            description: asked.description,
            disabled: asked.disabled,
        },
        attribute_mapping: asked.attribute_mapping,
        attribute_condition: condition,
        issuer_uri: oidc.issuer_uri,
        allowed_audiences: oidc.allowed_audiences,
    };
    let key = (project.project_id.clone(), pool.to_string(), id.clone());
    let name = format!("{}/providers/{id}", pool_name(project, pool));
    {
        let mut world = sim.world();
        if !world
            .iam
            .pools
            .contains_key(&(project.project_id.clone(), pool.to_string()))
        {
            return Err(not_found(&pool_name(project, pool)));
        }
        if world.iam.providers.contains_key(&key) {
            return Err(already_exists(&name));
        }
        world.iam.providers.insert(key, provider.clone());
    }
    let mut response = render_provider(project, pool, &id, &provider);
    response["@type"] = json!("type.googleapis.com/google.iam.v1.WorkloadIdentityPoolProvider");
    Ok(ok_json(&operation(
        sim,
        owner,
        &name,
        response,
        "WorkloadIdentityPoolProvider",
    )))
}
