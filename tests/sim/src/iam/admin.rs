//! The admin routes of simulated IAM under `/_admin/iam/` (tests only): read a project's
//! IAM state back, and ask what STS would decide for a token's claims at a provider.

use super::condition::{allows, map_attributes};
use crate::http::{json, ok_json, Req};
use crate::Sim;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json as j, Value};
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Exchange {
    /// `projects/{number}/locations/global/workloadIdentityPools/{pool}/providers/{id}`.
    provider: String,
    claims: Value,
}

pub fn handle(sim: &Sim, req: &Req, path: &[&str]) -> Response {
    let result: Result<Value, (StatusCode, String)> = match (&req.method, path) {
        (&Method::GET, ["projects", p]) => dump(sim, p),
        (&Method::POST, ["sts-check"]) => serde_json::from_slice::<Exchange>(&req.body)
            .map_err(|e| (StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
            .and_then(|x| check(sim, &x)),
        _ => Err((
            StatusCode::NOT_FOUND,
            format!(
                "no admin route {} /_admin/iam/{}",
                req.method,
                path.join("/")
            ),
        )),
    };
    match result {
        Ok(v) => ok_json(&v),
        Err((status, error)) => json(status, &j!({ "error": error })),
    }
}

fn dump(sim: &Sim, project: &str) -> Result<Value, (StatusCode, String)> {
    let world = sim.world();
    let p = world
        .projects
        .get(project)
        .ok_or((StatusCode::NOT_FOUND, format!("no project {project}")))?;
    let iam = &world.iam;
    let pools = names_in(&iam.pools, project);
    let providers: Vec<Value> = iam
        .providers
        .iter()
        .filter(|((id, _, _), _)| id == project)
        .map(|((_, pool, id), prov)| {
            j!({
                "pool": pool, "id": id, "issuerUri": prov.issuer_uri,
                "attributeMapping": prov.attribute_mapping,
                "attributeCondition": prov.attribute_condition,
            })
        })
        .collect();
    let accounts: Vec<Value> = iam
        .accounts
        .values()
        .filter(|a| a.project_id == project)
        .map(|a| j!({ "email": a.email, "policy": a.policy }))
        .collect();
    let enabled = names_in(&iam.enabled, project);
    Ok(j!({
        "number": p.number,
        "enabledServices": enabled,
        "pools": pools,
        "providers": providers,
        "serviceAccounts": accounts,
        "policy": iam.project_policy(p),
    }))
}

/// The names of `project`'s entries in a table keyed by project and name.
fn names_in<'t, V>(table: &'t BTreeMap<(String, String), V>, project: &str) -> Vec<&'t String> {
    table
        .keys()
        .filter(|(id, _)| id == project)
        .map(|(_, name)| name)
        .collect()
}

/// The mapping and condition of a provider applied to `claims`.
fn check(sim: &Sim, x: &Exchange) -> Result<Value, (StatusCode, String)> {
    let world = sim.world();
    let bad = |m: String| (StatusCode::BAD_REQUEST, m);
    let rest = x
        .provider
        .strip_prefix("projects/")
        .ok_or_else(|| bad("provider: expected projects/…".into()))?;
    let parts: Vec<&str> = rest.split('/').collect();
    let [number, "locations", "global", "workloadIdentityPools", pool, "providers", id] =
        parts.as_slice()
    else {
        return Err(bad("provider: expected a provider's full name".into()));
    };
    let project = world
        .projects
        .values()
        .find(|p| p.number == *number)
        .ok_or_else(|| bad(format!("no project number {number}")))?;
    let provider = world
        .iam
        .providers
        .get(&(project.project_id.clone(), pool.to_string(), id.to_string()))
        .ok_or_else(|| bad(format!("no provider {}", x.provider)))?;
    let attributes = map_attributes(&provider.attribute_mapping, &x.claims).map_err(bad)?;
    let allowed = match &provider.attribute_condition {
        None => true,
        Some(c) => allows(c, &x.claims, &attributes).map_err(bad)?,
    };
    Ok(j!({ "allowed": allowed, "attributes": attributes }))
}
