//! Who may do what to an instance: the roles Compute knows and the permissions each
//! carries, granted in the project's policy or the instance's own
//! (`instances.getIamPolicy`/`setIamPolicy`, with etags); `actAs` on the service account
//! an instance runs as; and `instances.setServiceAccount`, which Google allows only on a
//! stopped instance.

use super::*;
use crate::iam::accounts::member_exists;
use crate::iam::body;
use crate::iam::policy::{accept, Policy, Resource};
use crate::state::Project;
use serde::Deserialize;

/// The permissions Compute's predefined roles carry on instances here.
fn role_allows(role: &str, permission: &str) -> bool {
    match role {
        "roles/owner" => true,
        "roles/editor" => !permission.ends_with(".setIamPolicy"),
        "roles/viewer" | "roles/compute.viewer" => matches!(
            permission,
            "compute.instances.get"
                | "compute.instances.list"
                | "compute.instances.getGuestAttributes"
                | "compute.zoneOperations.get"
        ),
        "roles/compute.instanceAdmin.v1" => {
            permission.starts_with("compute.instances.")
                || permission.starts_with("compute.zoneOperations.")
        }
        _ => false,
    }
}

fn holds(policy: &Policy, member: &str, permission: &str) -> bool {
    policy
        .bindings
        .iter()
        .any(|b| b.members.iter().any(|m| m == member) && role_allows(&b.role, permission))
}

/// Whether `who` holds `permission` through the project's policy (where the project's
/// owner is) or, on one instance, through its own policy.
pub(super) fn may(
    world: &World,
    project: &Project,
    who: &Principal,
    permission: &str,
    instance: Option<&Policy>,
) -> bool {
    let member = who.member();
    holds(&world.iam.project_policy(project), &member, permission)
        || instance.is_some_and(|p| holds(p, &member, permission))
}

/// `iam.serviceAccounts.actAs` on `email`, which changing what a VM running as that
/// account does requires: granted by `roles/iam.serviceAccountUser` (or owner or editor)
/// on the account or its project. Google's 403 otherwise.
pub(super) fn check_act_as(world: &World, who: &Principal, email: &str) -> Result<(), GoogleError> {
    const ROLES: &[&str] = &[
        "roles/owner",
        "roles/editor",
        "roles/iam.serviceAccountUser",
    ];
    let member = who.member();
    let grants = |policy: &Policy| ROLES.iter().any(|role| policy.grants(role, &member));
    let project = email
        .strip_suffix(".iam.gserviceaccount.com")
        .and_then(|rest| rest.split_once('@'))
        .and_then(|(_, id)| world.projects.get(id));
    let on_account = world
        .iam
        .accounts
        .get(email)
        .is_some_and(|a| grants(&a.policy));
    let on_project = project.is_some_and(|p| grants(&world.iam.project_policy(p)));
    if on_account || on_project {
        return Ok(());
    }
    let owner = project.map_or("-", |p| p.project_id.as_str());
    Err(permission_denied(
        "iam.serviceAccounts.actAs",
        &format!("projects/{owner}/serviceAccounts/{email}"),
    ))
}

/// The body of `instances.setIamPolicy` (a `ZoneSetPolicyRequest`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetPolicyRequest {
    policy: Policy,
    #[serde(default)]
    bindings: Option<Value>,
    #[serde(default)]
    etag: Option<String>,
}

/// `GET .../instances/{i}/getIamPolicy`, or with `set` `POST .../setIamPolicy`, which
/// replaces the policy and refuses a stale etag.
pub fn iam_policy(sim: &Sim, req: &Req, at: InstancePath, set: bool) -> ApiResult {
    let permission = if set {
        "compute.instances.setIamPolicy"
    } else {
        "compute.instances.getIamPolicy"
    };
    let (k, mut world, _) = instance_call(sim, req, at, permission)?;
    let current = instance_ref(&world, &k)?.iam_policy.clone();
    if !set {
        return Ok(ok_json(&current));
    }
    let asked: SetPolicyRequest = body(req)?;
    let _ = (asked.bindings, asked.etag);
    let policy = accept(asked.policy, Resource::Instance, &current, |m| {
        member_exists(&world, m)
    })?;
    instance_mut(&mut world, &k)?.iam_policy = policy.clone();
    Ok(ok_json(&policy))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetServiceAccountRequest {
    #[serde(default)]
    email: String,
    #[serde(default)]
    scopes: Vec<String>,
}

/// `POST .../instances/{i}/setServiceAccount`: the account (and scopes) a stopped
/// instance runs as; an empty email and no scopes remove it. The caller must be able to
/// act as the new account.
pub fn set_service_account(sim: &Sim, req: &Req, at: InstancePath) -> ApiResult {
    let (k, mut world, who) = instance_call(sim, req, at, "compute.instances.setServiceAccount")?;
    let asked: SetServiceAccountRequest =
        serde_json::from_slice(&req.body).map_err(|e| bad_json(format!("{e}")))?;
    let status = instance_ref(&world, &k)?.status;
    if status != InstanceStatus::Terminated {
        return Err(ApiError::new(
            400,
            "resourceNotReady",
            format!(
                "The instance '{}' must be stopped to change its service account (it is {}).",
                at.instance,
                status.as_str()
            ),
        )
        .into());
    }
    let email = if asked.email == "default" {
        let number = world
            .projects
            .get(at.project)
            .map(|p| p.number.clone())
            .unwrap_or_default();
        format!("{number}-compute@developer.gserviceaccount.com")
    } else {
        asked.email
    };
    let accounts = if email.is_empty() {
        if !asked.scopes.is_empty() {
            return Err(invalid(
                "Invalid value for field 'resource.scopes': scopes need a service account.",
            ));
        }
        Value::Null
    } else {
        member_exists(
            &world,
            &crate::iam::policy::Member::ServiceAccount(email.clone()),
        )?;
        check_act_as(&world, &who, &email)?;
        json!([{ "email": email, "scopes": asked.scopes }])
    };
    instance_mut(&mut world, &k)?.service_accounts = accounts;
    answer_change(
        sim,
        world,
        ComputeOpKind::SetServiceAccount,
        &k,
        who.email(),
    )
}
