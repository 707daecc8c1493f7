//! IAM policies, the one shape shared by projects and service accounts: bindings of a
//! role to members, an etag that makes read-modify-write safe (a stale etag is Google's
//! 409 ABORTED), and the checks Google makes on what is bound (roles the resource
//! supports, members that exist).

use crate::clock::random_token;
use crate::errors::GoogleError;
use claw_free_protocol::google::ApiError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Binding {
    pub role: String,
    #[serde(default)]
    pub members: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default)]
    pub version: i32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bindings: Vec<Binding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        rename = "auditConfigs"
    )]
    pub audit_configs: Vec<serde_json::Value>,
}

impl Policy {
    /// An empty policy with a fresh etag (Google's `ACAB` for a policy never set).
    pub fn empty() -> Self {
        Self {
            version: 1,
            bindings: Vec::new(),
            etag: Some("ACAB".into()),
            audit_configs: Vec::new(),
        }
    }

    pub fn with_binding(mut self, role: &str, member: &str) -> Self {
        self.bindings.push(Binding {
            role: role.into(),
            members: vec![member.into()],
            condition: None,
        });
        self
    }

    /// Whether `member` holds `role`.
    pub fn grants(&self, role: &str, member: &str) -> bool {
        self.bindings
            .iter()
            .any(|b| b.role == role && b.members.iter().any(|m| m == member))
    }
}

/// The body of `setIamPolicy`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SetRequest {
    pub policy: Policy,
    #[serde(default)]
    pub update_mask: Option<String>,
}

/// Which roles a kind of resource accepts in its policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Project,
    ServiceAccount,
    /// A Compute instance.
    Instance,
}

/// Predefined roles the simulator knows; any other `roles/…` name does not exist.
const KNOWN_ROLES: &[&str] = &[
    "roles/owner",
    "roles/editor",
    "roles/viewer",
    "roles/iam.workloadIdentityUser",
    "roles/iam.serviceAccountUser",
    "roles/iam.serviceAccountTokenCreator",
    "roles/iam.serviceAccountAdmin",
    "roles/iam.workloadIdentityPoolAdmin",
    "roles/compute.instanceAdmin.v1",
    "roles/compute.viewer",
    "roles/compute.osAdminLogin",
    "roles/storage.admin",
    "roles/storage.objectAdmin",
    "roles/storage.objectCreator",
    "roles/storage.objectViewer",
    "roles/logging.logWriter",
];

/// Checks a role against the resource; Google's 400 otherwise.
pub fn check_role(role: &str, resource: Resource) -> Result<(), GoogleError> {
    if !KNOWN_ROLES.contains(&role) {
        return Err(ApiError::new(
            400,
            "badRequest",
            format!("Role {role} does not exist in the resource's hierarchy."),
        )
        .into());
    }
    let supported = match resource {
        Resource::Project => true,
        Resource::ServiceAccount => {
            role.starts_with("roles/iam.")
                || matches!(role, "roles/owner" | "roles/editor" | "roles/viewer")
        }
        Resource::Instance => {
            role.starts_with("roles/compute.")
                || matches!(role, "roles/owner" | "roles/editor" | "roles/viewer")
        }
    };
    if !supported {
        return Err(ApiError::new(
            400,
            "badRequest",
            format!("Role {role} is not supported for this resource."),
        )
        .into());
    }
    Ok(())
}

/// A member's kind, parsed from its prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Member {
    User(String),
    ServiceAccount(String),
    Group(String),
    Domain(String),
    /// `principalSet://iam.googleapis.com/projects/{number}/locations/global/workloadIdentityPools/{pool}/…`
    PrincipalSet {
        project_number: String,
        pool: String,
        /// What follows the pool: `attribute.repository_id/123`, `*`, `group/…`.
        selector: String,
    },
    Principal {
        project_number: String,
        pool: String,
        subject: String,
    },
}

fn invalid_member(member: &str) -> GoogleError {
    ApiError::new(400, "badRequest", format!("Invalid principal: {member}")).into()
}

impl Member {
    pub fn parse(member: &str) -> Result<Self, GoogleError> {
        let bad = || invalid_member(member);
        let (kind, rest) = member.split_once(':').ok_or_else(bad)?;
        if rest.is_empty() {
            return Err(bad());
        }
        Ok(match kind {
            "user" => Self::User(rest.into()),
            "serviceAccount" => Self::ServiceAccount(rest.into()),
            "group" => Self::Group(rest.into()),
            "domain" => Self::Domain(rest.into()),
            "principalSet" | "principal" => {
                let path = rest
                    .strip_prefix("//iam.googleapis.com/projects/")
                    .ok_or_else(bad)?;
                let (number, path) = path.split_once('/').ok_or_else(bad)?;
                if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
                    // Workload Identity principals name the project by number only.
                    return Err(bad());
                }
                let path = path
                    .strip_prefix("locations/global/workloadIdentityPools/")
                    .ok_or_else(bad)?;
                let (pool, selector) = path.split_once('/').ok_or_else(bad)?;
                if kind == "principal" {
                    let subject = selector.strip_prefix("subject/").ok_or_else(bad)?;
                    Self::Principal {
                        project_number: number.into(),
                        pool: pool.into(),
                        subject: subject.into(),
                    }
                } else {
                    let valid = selector == "*"
                        || selector
                            .strip_prefix("attribute.")
                            .and_then(|s| s.split_once('/'))
                            .is_some_and(|(name, value)| !name.is_empty() && !value.is_empty())
                        || selector
                            .strip_prefix("group/")
                            .is_some_and(|g| !g.is_empty());
                    if !valid {
                        return Err(bad());
                    }
                    Self::PrincipalSet {
                        project_number: number.into(),
                        pool: pool.into(),
                        selector: selector.into(),
                    }
                }
            }
            _ => return Err(bad()),
        })
    }
}

/// Checks every binding with `exists` answering for members that name simulated
/// resources; drops empty bindings; gives the policy a new etag.
pub fn accept(
    mut policy: Policy,
    resource: Resource,
    current: &Policy,
    exists: impl Fn(&Member) -> Result<(), GoogleError>,
) -> Result<Policy, GoogleError> {
    if let Some(given) = &policy.etag {
        if Some(given) != current.etag.as_ref() {
            return Err(ApiError::new(
                409,
                "aborted",
                "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.",
            )
            .with_status("ABORTED")
            .into());
        }
    }
    for binding in &policy.bindings {
        check_role(&binding.role, resource)?;
        for member in &binding.members {
            exists(&Member::parse(member)?)?;
        }
    }
    policy.bindings.retain(|b| !b.members.is_empty());
    policy.etag = Some(format!("Bw{}", random_token(6)));
    if policy.version == 0 {
        policy.version = 1;
    }
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_parse_like_google_names_them() {
        let m = Member::parse("principalSet://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/claw/attribute.repository_id/42").unwrap();
        assert_eq!(
            m,
            Member::PrincipalSet {
                project_number: "123".into(),
                pool: "claw".into(),
                selector: "attribute.repository_id/42".into()
            }
        );
        for bad in [
            "principalSet://iam.googleapis.com/projects/claw-demo/locations/global/workloadIdentityPools/claw/*",
            "principalSet://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/claw/attribute.x",
            "someone@example.com",
            "robot:x",
            "user:",
        ] {
            assert!(Member::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn roles_depend_on_the_resource() {
        assert!(check_role("roles/iam.workloadIdentityUser", Resource::ServiceAccount).is_ok());
        assert!(check_role("roles/compute.instanceAdmin.v1", Resource::ServiceAccount).is_err());
        assert!(check_role("roles/compute.instanceAdmin.v1", Resource::Project).is_ok());
        assert!(check_role("roles/wizard", Resource::Project).is_err());
    }
}
