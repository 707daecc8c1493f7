//! Google IAM in the simulator: Workload Identity pools and OIDC providers (created
//! through long-running operations), service accounts and their IAM policies, and the
//! project's IAM policy through Resource Manager (`:getIamPolicy` / `:setIamPolicy` with
//! etags). The IAM, IAM Credentials and STS APIs start disabled in every project, as in
//! a new Google project, and answer Google's SERVICE_DISABLED until Service Usage
//! enables them. Only the project's owner may call any of it here.

pub mod accounts;
pub mod admin;
pub mod condition;
pub mod credentials;
pub mod policy;
pub mod sts;
pub mod wif;

use crate::clock::now_ms;
use crate::errors::GoogleError;
use crate::http::Req;
use crate::oauth::{authenticate, SCOPE_CLOUD_PLATFORM};
use crate::state::{Project, User, World};
use claw_free_protocol::google::ApiError;
use policy::Policy;
use serde_json::json;
use std::collections::BTreeMap;

pub const IAM: &str = "iam.googleapis.com";
pub const IAM_CREDENTIALS: &str = "iamcredentials.googleapis.com";
pub const STS: &str = "sts.googleapis.com";
pub const CRM: &str = "cloudresourcemanager.googleapis.com";

/// Services that are off in a new project until enabled (besides Compute, which
/// Service Usage tracks on the project itself).
pub const OFF_BY_DEFAULT: &[&str] = &[IAM, IAM_CREDENTIALS, STS];

/// What a pool and each of its providers have alike, as their creation asks for them:
/// a name for people, a description, and whether it is disabled (then it exchanges no
/// token).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Described {
    pub display_name: String,
    pub description: String,
    pub disabled: bool,
}

impl Described {
    /// The resource `name` as IAM shows it: these fields, and its state.
    pub fn render(&self, name: String) -> serde_json::Value {
        json!({
            "name": name,
            "displayName": self.display_name,
            "description": self.description,
            "state": "ACTIVE",
            "disabled": self.disabled,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Pool {
    pub about: Described,
}

#[derive(Debug, Clone)]
pub struct Provider {
    pub about: Described,
    pub attribute_mapping: BTreeMap<String, String>,
    pub attribute_condition: Option<String>,
    pub issuer_uri: String,
    pub allowed_audiences: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ServiceAccount {
    pub project_id: String,
    pub email: String,
    pub unique_id: String,
    pub display_name: String,
    pub description: String,
    pub policy: Policy,
}

/// Everything IAM remembers, keyed by project id.
#[derive(Debug, Default)]
pub struct State {
    /// When an off-by-default service became (or becomes) enabled, by (project, service).
    pub enabled: BTreeMap<(String, String), u64>,
    pub pools: BTreeMap<(String, String), Pool>,
    /// By (project, pool, provider).
    pub providers: BTreeMap<(String, String, String), Provider>,
    /// By email.
    pub accounts: BTreeMap<String, ServiceAccount>,
    /// Projects whose policy was read or set; others hold only their owner.
    pub project_policies: BTreeMap<String, Policy>,
    /// STS's federated tokens, by token.
    pub federated: BTreeMap<String, sts::Federated>,
}

impl State {
    /// When `service` is enabled in `project` (`None`: disabled); services that are not
    /// off by default are always on.
    pub fn enabled_at(&self, project: &str, service: &str) -> Option<u64> {
        if OFF_BY_DEFAULT.contains(&service) {
            self.enabled
                .get(&(project.to_string(), service.to_string()))
                .copied()
        } else {
            Some(0)
        }
    }

    /// The project's policy; a project nobody changed has its owner alone.
    pub fn project_policy(&self, project: &Project) -> Policy {
        self.project_policies
            .get(&project.project_id)
            .cloned()
            .unwrap_or_else(|| {
                Policy::empty()
                    .with_binding("roles/owner", &format!("user:{}", project.owner_email))
            })
    }
}

/// The project (by id or number) if it exists and the caller owns it; Google's 403
/// "denied on resource (or it may not exist)" otherwise.
pub fn owned_project(
    world: &World,
    project: &str,
    user: &User,
    permission: &str,
    service: &str,
) -> Result<Project, GoogleError> {
    let now = now_ms();
    world
        .projects
        .values()
        .find(|p| (p.project_id == project || p.number == project) && p.ready_at <= now)
        .filter(|p| p.owner_email == user.email)
        .cloned()
        .ok_or_else(|| {
            ApiError::new(
                403,
                "forbidden",
                format!("Permission '{permission}' denied on resource (or it may not exist)."),
            )
            .with_error_info(
                "IAM_PERMISSION_DENIED",
                service,
                json!({ "permission": permission }),
            )
            .into()
        })
}

/// Google's 403 `SERVICE_DISABLED` unless the IAM-family `service` (IAM, STS, IAM
/// Credentials) is enabled in `project` by now.
pub fn require_enabled(world: &World, project: &Project, service: &str) -> Result<(), GoogleError> {
    let enabled = world
        .iam
        .enabled_at(&project.project_id, service)
        .is_some_and(|at| at <= now_ms());
    if enabled {
        Ok(())
    } else {
        Err(ApiError::service_disabled(&project.number, service).into())
    }
}

/// The caller and its project, once the service is enabled there.
pub fn caller_and_project(
    world: &World,
    req: &Req,
    project: &str,
    permission: &str,
    service: &str,
) -> Result<(User, Project), GoogleError> {
    let user = authenticate(world, req, service, &[SCOPE_CLOUD_PLATFORM])?;
    let project = owned_project(world, project, &user, permission, service)?;
    require_enabled(world, &project, service)?;
    Ok((user, project))
}

/// The JSON body of a request, or Google's 400.
pub fn body<T: serde::de::DeserializeOwned>(req: &Req) -> Result<T, GoogleError> {
    let bytes: &[u8] = if req.body.is_empty() {
        b"{}"
    } else {
        &req.body
    };
    serde_json::from_slice(bytes).map_err(|e| crate::errors::bad_json(e.to_string()))
}
