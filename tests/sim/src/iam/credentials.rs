//! IAM Credentials' `generateAccessToken`, the second half of keyless CI: a caller (a
//! federated identity from STS, a person or another service account) gets a short-lived
//! token for a service account only if the account's or its project's policy grants it
//! `iam.serviceAccounts.getAccessToken` (`roles/iam.workloadIdentityUser` for a
//! principal set, `roles/iam.serviceAccountTokenCreator`), with Google's 403 otherwise.

use super::policy::{Member, Policy};
use super::sts::Federated;
use super::{body, IAM_CREDENTIALS};
use crate::clock::{now_ms, rfc3339_utc};
use crate::errors::{ApiResult, GoogleError};
use crate::http::{ok_json, Req};
use crate::oauth::SCOPE_CLOUD_PLATFORM;
use crate::service_accounts::{caller, mint, Principal};
use crate::Sim;
use claw_free_protocol::google::ApiError;
use serde::Deserialize;
use serde_json::json;

const PERMISSION: &str = "iam.serviceAccounts.getAccessToken";
/// The roles that carry [`PERMISSION`].
const ROLES: &[&str] = &[
    "roles/owner",
    "roles/iam.workloadIdentityUser",
    "roles/iam.serviceAccountTokenCreator",
];
/// The longest lifetime Google grants without an organization policy exception.
const MAX_LIFETIME_SECS: u64 = 3600;

/// Who asks: a federated identity or an ordinary principal.
enum Asker {
    Federated(Federated),
    Principal(Principal),
}

impl Asker {
    fn named_in(&self, policy: &Policy) -> bool {
        policy
            .bindings
            .iter()
            .filter(|b| ROLES.contains(&b.role.as_str()))
            .flat_map(|b| &b.members)
            .any(|m| match self {
                Self::Federated(f) => Member::parse(m).is_ok_and(|m| f.is(&m)),
                Self::Principal(p) => *m == p.member(),
            })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Ask {
    #[serde(default)]
    scope: Vec<String>,
    #[serde(default)]
    lifetime: Option<String>,
    #[serde(default)]
    delegates: Vec<String>,
}

fn denied() -> GoogleError {
    ApiError::new(
        403,
        "forbidden",
        format!("Permission '{PERMISSION}' denied on resource (or it may not exist)."),
    )
    .with_status("PERMISSION_DENIED")
    .with_error_info(
        "IAM_PERMISSION_DENIED",
        "iam.googleapis.com",
        json!({ "permission": PERMISSION }),
    )
    .into()
}

/// `POST /v1/projects/-/serviceAccounts/{email}:generateAccessToken`.
pub fn generate_access_token(sim: &Sim, req: &Req, email: &str) -> ApiResult {
    let mut world = sim.world();
    let federated = req
        .bearer()
        .and_then(|t| world.iam.federated.get(t))
        .filter(|f| f.expires_ms > now_ms())
        .cloned();
    let asker = match federated {
        Some(f) => Asker::Federated(f),
        None => Asker::Principal(caller(
            &world,
            req,
            IAM_CREDENTIALS,
            &[SCOPE_CLOUD_PLATFORM],
        )?),
    };
    let account = world.iam.accounts.get(email).cloned().ok_or_else(denied)?;
    let project = world
        .projects
        .get(&account.project_id)
        .cloned()
        .ok_or_else(denied)?;
    super::require_enabled(&world, &project, IAM_CREDENTIALS)?;
    if !asker.named_in(&account.policy) && !asker.named_in(&world.iam.project_policy(&project)) {
        return Err(denied());
    }
    let ask: Ask = body(req)?;
    if !ask.delegates.is_empty() {
        return Err(ApiError::new(
            400,
            "badRequest",
            "Delegation chains are not served by the simulator.",
        )
        .into());
    }
    if ask.scope.is_empty() {
        return Err(ApiError::new(400, "badRequest", "Scope required.").into());
    }
    if let Some(lifetime) = &ask.lifetime {
        let secs = lifetime
            .strip_suffix('s')
            .and_then(|s| s.parse::<u64>().ok())
            .filter(|s| (1..=MAX_LIFETIME_SECS).contains(s));
        if secs.is_none() {
            return Err(ApiError::new(
                400,
                "badRequest",
                format!("Invalid value for \"lifetime\": {lifetime:?}. The lifetime must be between 1s and 3600s."),
            )
            .into());
        }
    }
    let (token, ttl) = mint(&mut world, email, ask.scope);
    Ok(ok_json(&json!({
        "accessToken": token,
        "expireTime": rfc3339_utc(now_ms() + ttl * 1000),
    })))
}
