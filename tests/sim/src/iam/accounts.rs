//! Service accounts (create, get, list, their IAM policy) and the project's IAM policy
//! through Resource Manager, with the member checks both share.

use super::policy::{accept, Member, Policy, Resource, SetRequest};
use super::{body, caller_and_project, ServiceAccount, CRM, IAM};
use crate::clock::random_digits;
use crate::errors::{ApiResult, GoogleError};
use crate::http::{ok_json, Req};
use crate::state::World;
use crate::Sim;
use claw_free_protocol::google::ApiError;
use serde::Deserialize;
use serde_json::{json, Value};

const EMAIL_DOMAIN: &str = ".iam.gserviceaccount.com";

pub fn render(sa: &ServiceAccount) -> Value {
    json!({
        "name": format!("projects/{}/serviceAccounts/{}", sa.project_id, sa.email),
        "projectId": sa.project_id,
        "uniqueId": sa.unique_id,
        "email": sa.email,
        "displayName": sa.display_name,
        "description": sa.description,
        "etag": "MDEwMjE5MjA=",
        "oauth2ClientId": sa.unique_id,
    })
}

/// Google's rule for an account id: 6 to 30 of `[a-z0-9-]`, starting with a letter and
/// not ending with a hyphen.
fn valid_account_id(id: &str) -> bool {
    (6..=30).contains(&id.len())
        && id.as_bytes()[0].is_ascii_lowercase()
        && !id.ends_with('-')
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateRequest {
    account_id: String,
    #[serde(default)]
    service_account: Option<AccountFields>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AccountFields {
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    description: String,
}

/// `POST /v1/projects/{p}/serviceAccounts`.
pub fn create(sim: &Sim, req: &Req, project: &str) -> ApiResult {
    let mut world = sim.world();
    let (_, project) = caller_and_project(&world, req, project, "iam.serviceAccounts.create", IAM)?;
    let asked: CreateRequest = body(req)?;
    if !valid_account_id(&asked.account_id) {
        return Err(ApiError::new(
            400,
            "badRequest",
            format!(
                "Invalid value at 'account_id' (TYPE_STRING), \"{}\"",
                asked.account_id
            ),
        )
        .into());
    }
    let email = format!("{}@{}{EMAIL_DOMAIN}", asked.account_id, project.project_id);
    if world.iam.accounts.contains_key(&email) {
        return Err(ApiError::new(
            409,
            "alreadyExists",
            format!(
                "Service account {} already exists within project projects/{}.",
                asked.account_id, project.project_id
            ),
        )
        .into());
    }
    let fields = asked.service_account.unwrap_or_default();
    let sa = ServiceAccount {
        project_id: project.project_id.clone(),
        email: email.clone(),
        unique_id: random_digits(21),
        display_name: fields.display_name,
        description: fields.description,
        policy: Policy::empty(),
    };
    let rendered = render(&sa);
    world.iam.accounts.insert(email, sa);
    Ok(ok_json(&rendered))
}

fn unknown_account() -> GoogleError {
    ApiError::new(404, "notFound", "Unknown service account").into()
}

/// The account `email` (or unique id) of `project`.
fn find<'w>(
    world: &'w World,
    project_id: &str,
    key: &str,
) -> Result<&'w ServiceAccount, GoogleError> {
    world
        .iam
        .accounts
        .values()
        .find(|a| (a.email == key || a.unique_id == key) && a.project_id == project_id)
        .ok_or_else(unknown_account)
}

/// `GET /v1/projects/{p}/serviceAccounts/{email}` (`-` for the project works too).
pub fn get(sim: &Sim, req: &Req, project: &str, key: &str) -> ApiResult {
    let world = sim.world();
    let project = resolve_dash(&world, project, key);
    let (_, project) = caller_and_project(&world, req, &project, "iam.serviceAccounts.get", IAM)?;
    Ok(ok_json(&render(find(&world, &project.project_id, key)?)))
}

/// `projects/-/serviceAccounts/{email}` names the project through the email.
fn resolve_dash(world: &World, project: &str, key: &str) -> String {
    if project != "-" {
        return project.to_string();
    }
    world
        .iam
        .accounts
        .values()
        .find(|a| a.email == key || a.unique_id == key)
        .map(|a| a.project_id.clone())
        .unwrap_or_else(|| "-".into())
}

/// `GET /v1/projects/{p}/serviceAccounts`.
pub fn list(sim: &Sim, req: &Req, project: &str) -> ApiResult {
    let world = sim.world();
    let (_, project) = caller_and_project(&world, req, project, "iam.serviceAccounts.list", IAM)?;
    let accounts: Vec<Value> = world
        .iam
        .accounts
        .values()
        .filter(|a| a.project_id == project.project_id)
        .map(render)
        .collect();
    if accounts.is_empty() {
        return Ok(ok_json(&json!({})));
    }
    Ok(ok_json(&json!({ "accounts": accounts })))
}

/// Members that name simulated things must exist: service accounts of simulated
/// projects, and Workload Identity pools.
pub fn member_exists(world: &World, member: &Member) -> Result<(), GoogleError> {
    match member {
        Member::ServiceAccount(email) => {
            let in_sim = email
                .strip_suffix(EMAIL_DOMAIN)
                .and_then(|rest| rest.split_once('@'))
                .is_some_and(|(_, project)| world.projects.contains_key(project));
            if in_sim && !world.iam.accounts.contains_key(email) {
                return Err(ApiError::new(
                    400,
                    "badRequest",
                    format!("Service account {email} does not exist."),
                )
                .into());
            }
            Ok(())
        }
        Member::PrincipalSet {
            project_number,
            pool,
            ..
        }
        | Member::Principal {
            project_number,
            pool,
            ..
        } => {
            let exists = world
                .projects
                .values()
                .find(|p| &p.number == project_number)
                .is_some_and(|p| {
                    world
                        .iam
                        .pools
                        .contains_key(&(p.project_id.clone(), pool.clone()))
                });
            if exists {
                Ok(())
            } else {
                Err(ApiError::new(
                    400,
                    "badRequest",
                    format!("Identity Pool does not exist (projects/{project_number}/locations/global/workloadIdentityPools/{pool})."),
                )
                .into())
            }
        }
        _ => Ok(()),
    }
}

/// `POST /v1/projects/{p}/serviceAccounts/{email}:getIamPolicy` or `:setIamPolicy`.
pub fn account_policy(sim: &Sim, req: &Req, project: &str, key: &str, set: bool) -> ApiResult {
    let mut world = sim.world();
    let project = resolve_dash(&world, project, key);
    let permission = if set {
        "iam.serviceAccounts.setIamPolicy"
    } else {
        "iam.serviceAccounts.getIamPolicy"
    };
    let (_, project) = caller_and_project(&world, req, &project, permission, IAM)?;
    let sa = find(&world, &project.project_id, key)?.clone();
    if !set {
        return Ok(ok_json(&sa.policy));
    }
    let asked: SetRequest = body(req)?;
    let _ = asked.update_mask;
    let policy = accept(asked.policy, Resource::ServiceAccount, &sa.policy, |m| {
        member_exists(&world, m)
    })?;
    if let Some(a) = world.iam.accounts.get_mut(&sa.email) {
        a.policy = policy.clone();
    }
    Ok(ok_json(&policy))
}

/// `POST /v{1,3}/projects/{p}:getIamPolicy` or `:setIamPolicy` (Resource Manager).
pub fn project_policy(sim: &Sim, req: &Req, project: &str, set: bool) -> ApiResult {
    let mut world = sim.world();
    let project = project.strip_prefix("projects/").unwrap_or(project);
    let permission = if set {
        "resourcemanager.projects.setIamPolicy"
    } else {
        "resourcemanager.projects.getIamPolicy"
    };
    let (_, project) = caller_and_project(&world, req, project, permission, CRM)?;
    let current = world.iam.project_policy(&project);
    if !set {
        let _: Value = body(req)?;
        return Ok(ok_json(&current));
    }
    let asked: SetRequest = body(req)?;
    let owner = format!("user:{}", project.owner_email);
    let policy = accept(asked.policy, Resource::Project, &current, |m| {
        member_exists(&world, m)
    })?;
    if !policy.grants("roles/owner", &owner) {
        // The simulator's projects have one owner; removing them would lock the test out.
        return Err(ApiError::new(
            400,
            "badRequest",
            "The policy must keep the project's owner.",
        )
        .into());
    }
    world
        .iam
        .project_policies
        .insert(project.project_id.clone(), policy.clone());
    Ok(ok_json(&policy))
}
