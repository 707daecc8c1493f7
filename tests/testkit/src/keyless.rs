//! GitHub mode's Google side, as the Worker's linking makes it, and CI's keyless token,
//! as a GitHub Actions job gets it, both against the simulator and both derived from
//! the Worker's own plan ([`claw_free::github::plan::Target`]), so a test meets the
//! grants linking really makes.
//!
//! Each suite's simulator handle is a [`Google`] by naming its base URL.

use claw_free::github::plan::{
    Resource, Target, CI_ACCOUNT_ID, POOL_ID, PROVIDER_ID, SERVICES, VM_ACCOUNT_ID,
};
use serde_json::{json, Value};
use std::sync::OnceLock;
use std::time::Duration;

/// The plan the helpers here derive everything from.
pub use claw_free::github::plan;

const CLOUD: &str = "https://www.googleapis.com/auth/cloud-platform";

/// The simulator as the helpers here reach it: its base URL, and one HTTP call to it
/// (its status and JSON body, `null` when not JSON; any status is an answer).
pub trait Google {
    /// The simulator's base URL (`http://127.0.0.1:PORT`).
    fn base(&self) -> String;

    fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
        let agent = AGENT.get_or_init(|| {
            ureq::Agent::new_with_config(
                ureq::Agent::config_builder()
                    .proxy(None)
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(10)))
                    .build(),
            )
        });
        let url = format!("{}{path}", self.base());
        let auth = token.map(|t| format!("Bearer {t}"));
        let response = match method {
            "GET" => with_auth(agent.get(&url), &auth).call(),
            _ => {
                let request = if method == "PUT" {
                    agent.put(&url)
                } else {
                    agent.post(&url)
                };
                with_auth(request, &auth)
                    .header("Content-Type", "application/json")
                    .send(body.unwrap_or(Value::Null).to_string())
            }
        };
        let mut response = response.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

fn with_auth<B>(
    request: ureq::RequestBuilder<B>,
    auth: &Option<String>,
) -> ureq::RequestBuilder<B> {
    match auth {
        Some(a) => request.header("Authorization", a),
        None => request,
    }
}

fn ok(what: &str, (status, body): (u16, Value)) -> Value {
    assert_eq!(status, 200, "{what}: {body}");
    body
}

/// Follows a long-running operation until it is done.
fn wait_done(g: &dyn Google, token: &str, name: &str) {
    crate::wait_for(name, std::time::Duration::from_secs(20), || {
        let op = ok(
            name,
            g.call("GET", &format!("/v1/{name}"), Some(token), None),
        );
        assert!(op.get("error").is_none(), "{name}: {op}");
        (op["done"] == true).then_some(())
    });
}

/// The target of a bot VM `instance` of `project`, linked to the simulated repository
/// `repository` (`owner/name`), with the project's number and the repository's id read
/// back from the simulator.
pub fn target(
    g: &dyn Google,
    project: &str,
    zone: &str,
    instance: &str,
    repository: &str,
) -> Target {
    let number = ok(
        "the project's number",
        g.call(
            "GET",
            &format!("/_admin/iam/projects/{project}"),
            None,
            None,
        ),
    )["number"]
        .as_str()
        .expect("a project number")
        .to_string();
    let repository_id = ok(
        "the repository's id",
        g.call(
            "GET",
            &format!("/_admin/github/repos/{repository}"),
            None,
            None,
        ),
    )["id"]
        .as_u64()
        .expect("a repository id");
    Target {
        project_id: project.into(),
        project_number: number,
        zone: zone.into(),
        instance: instance.into(),
        repository_id,
        repository: repository.into(),
    }
}

/// What linking makes, with the owner's token: the APIs enabled, the pool and its
/// provider, CI's and the VM's accounts, the cache bucket, and every grant of the plan.
/// The VM itself must exist (running as [`Target::vm_account`]).
pub fn link(g: &dyn Google, owner: &str, target: &Target) {
    let project = &target.project_id;
    for service in SERVICES {
        let op = ok(
            service,
            g.call(
                "POST",
                &format!("/v1/projects/{project}/services/{service}:enable"),
                Some(owner),
                Some(json!({})),
            ),
        );
        if op["done"] != true {
            wait_done(g, owner, op["name"].as_str().expect("an operation name"));
        }
    }
    let pools = format!("/v1/projects/{project}/locations/global/workloadIdentityPools");
    for (path, body) in [
        (
            format!("{pools}?workloadIdentityPoolId={POOL_ID}"),
            json!({}),
        ),
        (
            format!("{pools}/{POOL_ID}/providers?workloadIdentityPoolProviderId={PROVIDER_ID}"),
            target.provider_body(),
        ),
    ] {
        let op = ok(&path, g.call("POST", &path, Some(owner), Some(body)));
        wait_done(g, owner, op["name"].as_str().expect("an operation name"));
    }
    for id in [CI_ACCOUNT_ID, VM_ACCOUNT_ID] {
        ok(
            id,
            g.call(
                "POST",
                &format!("/v1/projects/{project}/serviceAccounts"),
                Some(owner),
                Some(json!({ "accountId": id })),
            ),
        );
    }
    ok(
        "the bucket",
        g.call(
            "POST",
            &format!("/storage/v1/b?project={project}"),
            Some(owner),
            Some(json!({
                "name": target.bucket(),
                "iamConfiguration": {
                    "uniformBucketLevelAccess": { "enabled": true },
                    "publicAccessPrevention": "enforced",
                },
            })),
        ),
    );
    for grant in target.grants() {
        change_policy(g, owner, target, &grant.resource, |p| {
            with_binding(p, grant.role, &grant.member)
        });
    }
}

/// Read-modify-writes the policy of one of the plan's resources with `change`.
pub fn change_policy(
    g: &dyn Google,
    owner: &str,
    target: &Target,
    resource: &Resource,
    change: impl FnOnce(Value) -> Value,
) {
    let (current, method, write, wrap) = match resource {
        Resource::ServiceAccount(email) => {
            let base = format!("/v1/projects/{}/serviceAccounts/{email}", target.project_id);
            let read = g.call(
                "POST",
                &format!("{base}:getIamPolicy"),
                Some(owner),
                Some(json!({})),
            );
            (read, "POST", format!("{base}:setIamPolicy"), true)
        }
        Resource::Bucket(bucket) => {
            let path = format!("/storage/v1/b/{bucket}/iam");
            (g.call("GET", &path, Some(owner), None), "PUT", path, false)
        }
        Resource::Instance => {
            let base = format!(
                "/compute/v1/projects/{}/zones/{}/instances/{}",
                target.project_id, target.zone, target.instance
            );
            let read = g.call("GET", &format!("{base}/getIamPolicy"), Some(owner), None);
            (read, "POST", format!("{base}/setIamPolicy"), true)
        }
    };
    let changed = change(ok("the current policy", current));
    let body = if wrap {
        json!({ "policy": changed })
    } else {
        changed
    };
    ok(&write, g.call(method, &write, Some(owner), Some(body)));
}

/// `policy` with `member` alone in `role` (Google's and Cloud Storage's shapes).
pub fn with_binding(policy: Value, role: &str, member: &str) -> Value {
    let mut policy = without_role(policy, role);
    if let Some(bindings) = policy["bindings"].as_array_mut() {
        bindings.push(json!({ "role": role, "members": [member] }));
    }
    policy
}

/// `policy` without any binding of `role`.
pub fn without_role(mut policy: Value, role: &str) -> Value {
    let bindings: Vec<Value> = policy["bindings"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|b| b["role"] != role)
        .collect();
    policy["bindings"] = Value::Array(bindings);
    policy
}

/// The audience `google-github-actions/auth` asks GitHub for: the provider's full URL.
pub fn audience(target: &Target) -> String {
    format!("https://iam.googleapis.com/{}", target.provider_name())
}

/// A job of `repository` (`owner/name`) on `git_ref` asks GitHub for an ID token for
/// `audience`, with the request URL and token its runner's environment holds.
pub fn id_token(g: &dyn Google, repository: &str, git_ref: &str, audience: &str) -> String {
    let job = ok(
        "a job",
        g.call(
            "POST",
            "/_admin/github/actions/jobs",
            None,
            Some(json!({ "repository": repository, "ref": git_ref })),
        ),
    );
    let url = job["requestUrl"].as_str().expect("a request URL");
    let path = url
        .strip_prefix(&g.base())
        .expect("the simulator's own URL");
    let token = job["requestToken"].as_str().expect("a request token");
    ok(
        "the ID token",
        g.call(
            "GET",
            &format!("{path}&audience={audience}"),
            Some(token),
            None,
        ),
    )["value"]
        .as_str()
        .expect("a JWT")
        .to_string()
}

/// STS's token exchange of `subject_token` at the target's provider.
pub fn exchange(g: &dyn Google, target: &Target, subject_token: &str) -> (u16, Value) {
    g.call(
        "POST",
        "/v1/token",
        None,
        Some(json!({
            "audience": format!("//iam.googleapis.com/{}", target.provider_name()),
            "grantType": "urn:ietf:params:oauth:grant-type:token-exchange",
            "requestedTokenType": "urn:ietf:params:oauth:token-type:access_token",
            "scope": CLOUD,
            "subjectTokenType": "urn:ietf:params:oauth:token-type:jwt",
            "subjectToken": subject_token,
        })),
    )
}

/// CI's access token as `google-github-actions/auth` gets it for a job of `repository`
/// on `git_ref`: ID token, STS exchange, then `generateAccessToken` for CI's account;
/// or the first refusal (status and body).
pub fn ci_token(
    g: &dyn Google,
    target: &Target,
    repository: &str,
    git_ref: &str,
) -> Result<String, (u16, Value)> {
    let jwt = id_token(g, repository, git_ref, &audience(target));
    let (status, sts) = exchange(g, target, &jwt);
    if status != 200 {
        return Err((status, sts));
    }
    let federated = sts["access_token"].as_str().expect("a federated token");
    let (status, answer) = g.call(
        "POST",
        &format!(
            "/v1/projects/-/serviceAccounts/{}:generateAccessToken",
            target.ci_account()
        ),
        Some(federated),
        Some(json!({ "scope": [CLOUD], "lifetime": "3600s" })),
    );
    if status != 200 {
        return Err((status, answer));
    }
    Ok(answer["accessToken"]
        .as_str()
        .expect("an access token")
        .to_string())
}
