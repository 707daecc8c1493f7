//! Google IAM as linking calls it: enabling the APIs GitHub mode needs (Service Usage),
//! the Workload Identity pool and provider (long-running operations), service accounts,
//! and adding one binding to a service account's or the project's IAM policy by
//! read-modify-write with the policy's etag (Google's 409 on a concurrent change is
//! answered by reading again). Creating what exists already is success, so linking
//! can run again after a failure midway.

use super::longrunning::Operation;
use super::{Bearer, GoogleFailure};
use crate::http::{encode, OutboundRequest};
use crate::ports::HttpClient;
use serde_json::{json, Value};

/// Where the IAM API and its neighbours are (`https://iam.googleapis.com`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IamApis {
    pub iam: String,
    pub crm: String,
    pub serviceusage: String,
}

/// How many times a policy change is read and written again after a concurrent one.
const POLICY_ATTEMPTS: u32 = 4;

/// Whether a create found the resource already there.
#[derive(Debug, Clone)]
pub enum Created {
    /// Google started (or finished) creating it: follow the operation.
    Started(Operation),
    Existed,
}

fn created(result: Result<Operation, GoogleFailure>) -> Result<Created, GoogleFailure> {
    match result {
        Ok(op) => Ok(Created::Started(op)),
        Err(GoogleFailure::AlreadyExists) => Ok(Created::Existed),
        Err(other) => Err(other),
    }
}

/// IAM's calls (and its neighbours') at [`IamApis`] about one project, with the
/// caller's token: `bearer.iam(apis, project)`.
pub struct Iam<'a, H> {
    bearer: Bearer<'a, H>,
    apis: IamApis,
    project: &'a str,
}

impl<'a, H: HttpClient> Bearer<'a, H> {
    pub fn iam(self, apis: IamApis, project: &'a str) -> Iam<'a, H> {
        Iam {
            bearer: self,
            apis,
            project,
        }
    }
}

impl<H: HttpClient> Iam<'_, H> {
    /// Service Usage `services.enable` for one service.
    pub async fn enable(&self, service: &str) -> Result<Operation, GoogleFailure> {
        self.bearer
            .enable(&self.apis.serviceusage, self.project, service)
            .await
    }

    /// A Service Usage operation.
    pub async fn enable_operation(&self, name: &str) -> Result<Operation, GoogleFailure> {
        self.bearer
            .operation(&self.apis.serviceusage, "v1", name)
            .await
    }

    fn pools(&self) -> String {
        format!(
            "{}/v1/projects/{}/locations/global/workloadIdentityPools",
            self.apis.iam,
            encode(self.project)
        )
    }

    pub async fn create_pool(&self, pool: &str) -> Result<Created, GoogleFailure> {
        let url = format!("{}?workloadIdentityPoolId={}", self.pools(), encode(pool));
        let body = json!({ "displayName": "claw.free", "description": "GitHub Actions of claw.free bots" });
        created(self.bearer.post_json(url, &body).await)
    }

    pub async fn create_provider(
        &self,
        pool: &str,
        provider: &str,
        body: &Value,
    ) -> Result<Created, GoogleFailure> {
        let url = format!(
            "{}/{}/providers?workloadIdentityPoolProviderId={}",
            self.pools(),
            encode(pool),
            encode(provider)
        );
        created(self.bearer.post_json(url, body).await)
    }

    /// An IAM operation, by its full name (`projects/…/operations/…`).
    pub async fn operation(&self, name: &str) -> Result<Operation, GoogleFailure> {
        let path: Vec<String> = name.split('/').map(encode).collect();
        let url = format!("{}/v1/{}", self.apis.iam, path.join("/"));
        self.bearer.get_json(url).await
    }

    /// Creates service account `account_id`; `Ok(false)` when it existed.
    pub async fn create_service_account(
        &self,
        account_id: &str,
        display_name: &str,
    ) -> Result<bool, GoogleFailure> {
        let url = format!(
            "{}/v1/projects/{}/serviceAccounts",
            self.apis.iam,
            encode(self.project)
        );
        let body =
            json!({ "accountId": account_id, "serviceAccount": { "displayName": display_name } });
        match self.bearer.post_json::<Value>(url, &body).await {
            Ok(_) => Ok(true),
            Err(GoogleFailure::AlreadyExists) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// Grants `role` to `member` on service account `email`.
    pub async fn grant_on_service_account(
        &self,
        email: &str,
        role: &str,
        member: &str,
    ) -> Result<(), GoogleFailure> {
        let resource = format!(
            "{}/v1/projects/{}/serviceAccounts/{}",
            self.apis.iam,
            encode(self.project),
            encode(email)
        );
        self.bearer.grant(&resource, role, member).await
    }

    /// Grants `role` to `member` on the project (Resource Manager v3).
    pub async fn grant_on_project(&self, role: &str, member: &str) -> Result<(), GoogleFailure> {
        let resource = format!("{}/v3/projects/{}", self.apis.crm, encode(self.project));
        self.bearer.grant(&resource, role, member).await
    }
}

/// Adds `member` to the unconditional binding of `role` in `policy`, Google's JSON as read
/// (every other binding and field kept verbatim); `Ok(false)` when it was there.
fn add_member(policy: &mut Value, role: &str, member: &str) -> Result<bool, GoogleFailure> {
    let unreadable = GoogleFailure::unreadable;
    let bindings = policy
        .as_object_mut()
        .ok_or_else(unreadable)?
        .entry("bindings")
        .or_insert_with(|| json!([]))
        .as_array_mut()
        .ok_or_else(unreadable)?;
    let unconditional = bindings
        .iter_mut()
        .find(|b| b["role"] == role && b.get("condition").is_none_or(Value::is_null));
    match unconditional.and_then(Value::as_object_mut) {
        Some(binding) => {
            let members = binding
                .entry("members")
                .or_insert_with(|| json!([]))
                .as_array_mut()
                .ok_or_else(unreadable)?;
            if members.iter().any(|m| m == member) {
                return Ok(false);
            }
            members.push(json!(member));
        }
        None => bindings.push(json!({ "role": role, "members": [member] })),
    }
    Ok(true)
}

/// `setIamPolicy` as IAM, Resource Manager and Compute take it: `{policy}`, POSTed.
pub(super) fn set_iam_policy(url: String, policy: &Value) -> OutboundRequest {
    OutboundRequest::post_json(url, &json!({ "policy": policy }))
}

impl<H: HttpClient> Bearer<'_, H> {
    /// Read-modify-write of the policy of `resource` (a URL without the method), in the
    /// dialect of IAM and Resource Manager (`:getIamPolicy` and `:setIamPolicy`, both
    /// POST).
    async fn grant(&self, resource: &str, role: &str, member: &str) -> Result<(), GoogleFailure> {
        self.grant_with(
            || OutboundRequest::post_json(format!("{resource}:getIamPolicy"), &json!({})),
            |policy| set_iam_policy(format!("{resource}:setIamPolicy"), policy),
            role,
            member,
        )
        .await
    }

    /// Read-modify-write of a policy: `read` builds the request that reads it, `write`
    /// the one that writes it back (with the etag read, so a concurrent change is
    /// refused and read again: 409 in IAM's dialect, 412 in Storage's and Compute's).
    pub(super) async fn grant_with(
        &self,
        read: impl Fn() -> OutboundRequest,
        write: impl Fn(&Value) -> OutboundRequest,
        role: &str,
        member: &str,
    ) -> Result<(), GoogleFailure> {
        let mut attempt = 1;
        loop {
            let mut policy: Value = self.send(read()).await?;
            if !add_member(&mut policy, role, member)? {
                return Ok(());
            }
            match self.send::<Value>(write(&policy)).await {
                Ok(_) => return Ok(()),
                Err(GoogleFailure::AlreadyExists | GoogleFailure::FingerprintMismatch)
                    if attempt < POLICY_ATTEMPTS =>
                {
                    attempt += 1
                }
                Err(other) => return Err(other),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_joins_the_roles_binding_once_and_the_rest_is_kept() {
        let mut policy = json!({
            "version": 1, "etag": "BwX",
            "bindings": [
                { "role": "roles/owner", "members": ["user:ada@example.com"] },
                { "role": "roles/viewer", "members": ["user:b@example.com"], "condition": { "title": "t", "expression": "true" } },
            ],
        });
        assert!(add_member(
            &mut policy,
            "roles/viewer",
            "serviceAccount:ci@p.iam.gserviceaccount.com"
        )
        .unwrap());
        assert!(!add_member(
            &mut policy,
            "roles/viewer",
            "serviceAccount:ci@p.iam.gserviceaccount.com"
        )
        .unwrap());
        assert!(add_member(&mut policy, "roles/owner", "user:c@example.com").unwrap());
        let written = serde_json::to_value(&policy).unwrap();
        assert_eq!(written["version"], 1);
        assert_eq!(written["etag"], "BwX");
        assert_eq!(
            written["bindings"][0]["members"],
            json!(["user:ada@example.com", "user:c@example.com"])
        );
        assert_eq!(
            written["bindings"][1]["condition"]["title"], "t",
            "a conditional binding is left alone"
        );
        assert_eq!(
            written["bindings"][2]["members"],
            json!(["serviceAccount:ci@p.iam.gserviceaccount.com"])
        );
    }
}
