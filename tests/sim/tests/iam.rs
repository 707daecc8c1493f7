//! Simulated Google IAM as GitHub mode's linking uses it: the IAM API enabled through
//! Service Usage, a Workload Identity pool and a GitHub OIDC provider restricted to one
//! repository and `main` (long-running operations), CI and VM service accounts, the CI
//! account's policy naming the repository's principal set, and the project's policy
//! read-modify-written with etags; Google's errors at each wrong step.

mod common;

use common::{enable_iam_in_demo, signed_in, sim, wait_op, TestSim};
use serde_json::{json, Value};

const POOLS: &str = "/v1/projects/claw-demo/locations/global/workloadIdentityPools";
const ACCOUNTS: &str = "/v1/projects/claw-demo/serviceAccounts";

fn enable_iam(sim: &TestSim, token: &str) {
    enable_iam_in_demo(sim, token);
    let state = sim.get("/v1/projects/claw-demo/services/iam.googleapis.com", token);
    assert_eq!(state.json()["state"], "ENABLED");
}

fn provider_body(condition: Option<&str>) -> Value {
    let mut body = json!({
        "displayName": "GitHub",
        "attributeMapping": {
            "google.subject": "assertion.sub",
            "attribute.repository_id": "assertion.repository_id",
            "attribute.ref": "assertion.ref",
        },
        "oidc": { "issuerUri": "https://token.actions.githubusercontent.com" },
    });
    if let Some(c) = condition {
        body["attributeCondition"] = json!(c);
    }
    body
}

/// Creates the pool and provider and waits for both operations.
fn pool_and_provider(sim: &TestSim, token: &str) {
    let op = sim.post(
        &format!("{POOLS}?workloadIdentityPoolId=claw-free"),
        token,
        json!({ "displayName": "claw.free" }),
    );
    assert_eq!(op.status, 200, "{}", op.body);
    let op = op.json();
    assert!(op["name"]
        .as_str()
        .unwrap()
        .contains("/workloadIdentityPools/claw-free/operations/"));
    let done = wait_op(sim, &format!("/v1/{}", op["name"].as_str().unwrap()), token);
    assert_eq!(done["response"]["state"], "ACTIVE");
    assert_eq!(done["response"]["displayName"], "claw.free");
    assert_eq!(done["response"]["description"], "");
    assert_eq!(done["response"]["disabled"], false);
    let condition = "assertion.repository_id == '42' && assertion.ref == 'refs/heads/main'";
    let op = sim.post(
        &format!("{POOLS}/claw-free/providers?workloadIdentityPoolProviderId=github"),
        token,
        provider_body(Some(condition)),
    );
    assert_eq!(op.status, 200, "{}", op.body);
    wait_op(sim, &format!("/v1/{}", op.text("name")), token);
}

#[test]
fn iam_is_off_until_enabled_and_answers_service_disabled() {
    let (sim, token) = signed_in();
    let r = sim.post(
        &format!("{POOLS}?workloadIdentityPoolId=claw-free"),
        &token,
        json!({}),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let error = claw_free_protocol::google::ApiError::parse(&r.body).unwrap();
    assert_eq!(error.reason(), Some("SERVICE_DISABLED"));
    let state = sim.get("/v1/projects/claw-demo/services/iam.googleapis.com", &token);
    assert_eq!(state.json()["state"], "DISABLED");
    enable_iam(&sim, &token);
    let r = sim.get(ACCOUNTS, &token);
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn a_github_provider_is_restricted_to_one_repository_and_main() {
    let (sim, token) = signed_in();
    enable_iam(&sim, &token);
    let bad_id = sim.post(
        &format!("{POOLS}?workloadIdentityPoolId=gcp-pool"),
        &token,
        json!({}),
    );
    assert_eq!(bad_id.status, 400, "{}", bad_id.body);
    let unknown = sim.post(&format!("{POOLS}?poolId=x"), &token, json!({}));
    assert_eq!(unknown.status, 400);
    pool_and_provider(&sim, &token);
    let again = sim.post(
        &format!("{POOLS}?workloadIdentityPoolId=claw-free"),
        &token,
        json!({}),
    );
    assert_eq!(again.status, 409);
    assert_eq!(again.json()["error"]["status"], "ALREADY_EXISTS");

    // Google refuses a GitHub provider without a condition, and a mapping without a subject.
    let open = sim.post(
        &format!("{POOLS}/claw-free/providers?workloadIdentityPoolProviderId=open"),
        &token,
        provider_body(None),
    );
    assert_eq!(open.status, 400, "{}", open.body);
    let mut no_subject = provider_body(Some("assertion.ref == 'refs/heads/main'"));
    no_subject["attributeMapping"]
        .as_object_mut()
        .unwrap()
        .remove("google.subject");
    let r = sim.post(
        &format!("{POOLS}/claw-free/providers?workloadIdentityPoolProviderId=nosub"),
        &token,
        no_subject,
    );
    assert_eq!(r.status, 400);

    let got = sim
        .get(&format!("{POOLS}/claw-free/providers/github"), &token)
        .json();
    let n = sim.claw_demo_number();
    assert_eq!(
        got["name"],
        format!("projects/{n}/locations/global/workloadIdentityPools/claw-free/providers/github")
    );
    assert_eq!(
        (&got["displayName"], &got["state"], &got["disabled"]),
        (&json!("GitHub"), &json!("ACTIVE"), &json!(false))
    );
    assert_eq!(
        got["oidc"]["issuerUri"],
        "https://token.actions.githubusercontent.com"
    );
    assert_eq!(got["attributeMapping"]["google.subject"], "assertion.sub");

    // What STS would decide: only the repository's main branch gets in.
    let check = |claims: Value| {
        sim.admin(
            "iam/sts-check",
            json!({ "provider": got["name"], "claims": claims }),
        )
        .json()
    };
    let main = check(
        json!({ "sub": "repo:ada/bot:ref:refs/heads/main", "repository_id": "42", "ref": "refs/heads/main" }),
    );
    assert_eq!(main["allowed"], true);
    assert_eq!(main["attributes"]["attribute.repository_id"], "42");
    assert_eq!(
        check(json!({ "sub": "x", "repository_id": "42", "ref": "refs/heads/pr" }))["allowed"],
        false
    );
    assert_eq!(
        check(json!({ "sub": "x", "repository_id": "7", "ref": "refs/heads/main" }))["allowed"],
        false
    );
}

#[test]
fn service_accounts_and_policies_with_etags() {
    let (sim, token) = signed_in();
    enable_iam(&sim, &token);
    pool_and_provider(&sim, &token);
    let n = sim.claw_demo_number();

    let ci = sim.post(
        ACCOUNTS,
        &token,
        json!({ "accountId": "claw-free-ci", "serviceAccount": { "displayName": "claw.free CI" } }),
    );
    assert_eq!(ci.status, 200, "{}", ci.body);
    let ci = ci.text("email");
    assert_eq!(ci, "claw-free-ci@claw-demo.iam.gserviceaccount.com");
    let dup = sim.post(ACCOUNTS, &token, json!({ "accountId": "claw-free-ci" }));
    assert_eq!(dup.status, 409);
    assert_eq!(
        sim.post(ACCOUNTS, &token, json!({ "accountId": "ci" }))
            .status,
        400
    );
    assert_eq!(sim.get(&format!("{ACCOUNTS}/{ci}"), &token).status, 200);
    assert_eq!(
        sim.get(&format!("/v1/projects/-/serviceAccounts/{ci}"), &token)
            .status,
        200
    );
    let missing = sim.get(
        &format!("{ACCOUNTS}/nobody@claw-demo.iam.gserviceaccount.com"),
        &token,
    );
    assert_eq!(missing.status, 404);

    // The CI account may be impersonated by the repository's principal set only.
    let principal = format!("principalSet://iam.googleapis.com/projects/{n}/locations/global/workloadIdentityPools/claw-free/attribute.repository_id/42");
    let set = |body: Value| sim.post(&format!("{ACCOUNTS}/{ci}:setIamPolicy"), &token, body);
    let policy = |member: &str, role: &str, etag: Option<&str>| {
        let mut p = json!({ "policy": { "bindings": [{ "role": role, "members": [member] }] } });
        if let Some(e) = etag {
            p["policy"]["etag"] = json!(e);
        }
        p
    };
    let current = sim
        .post(&format!("{ACCOUNTS}/{ci}:getIamPolicy"), &token, json!({}))
        .json();
    let etag = current["etag"].as_str().unwrap().to_string();
    let ok = set(policy(
        &principal,
        "roles/iam.workloadIdentityUser",
        Some(&etag),
    ));
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_ne!(ok.json()["etag"], etag.as_str());
    let stale = set(policy(
        &principal,
        "roles/iam.workloadIdentityUser",
        Some(&etag),
    ));
    assert_eq!(stale.status, 409);
    assert_eq!(stale.json()["error"]["status"], "ABORTED");
    let by_id = principal.replace(&format!("projects/{n}/"), "projects/claw-demo/");
    assert_eq!(
        set(policy(&by_id, "roles/iam.workloadIdentityUser", None)).status,
        400
    );
    let no_pool = principal.replace("/claw-free/", "/nope/");
    assert_eq!(
        set(policy(&no_pool, "roles/iam.workloadIdentityUser", None)).status,
        400
    );
    assert_eq!(
        set(policy(&principal, "roles/compute.instanceAdmin.v1", None)).status,
        400
    );

    // The project's policy: read, add the CI account with the etag, refuse a stale one.
    let read = sim.post("/v3/projects/claw-demo:getIamPolicy", &token, json!({}));
    assert_eq!(read.status, 200, "{}", read.body);
    let mut project_policy = read.json();
    assert_eq!(project_policy["bindings"][0]["role"], "roles/owner");
    project_policy["bindings"]
        .as_array_mut()
        .unwrap()
        .push(json!({
            "role": "roles/compute.instanceAdmin.v1", "members": [format!("serviceAccount:{ci}")],
        }));
    let written = sim.post(
        "/v3/projects/claw-demo:setIamPolicy",
        &token,
        json!({ "policy": project_policy }),
    );
    assert_eq!(written.status, 200, "{}", written.body);
    let stale = sim.post(
        "/v3/projects/claw-demo:setIamPolicy",
        &token,
        json!({ "policy": project_policy }),
    );
    assert_eq!(stale.status, 409);
    let mut ghost = written.json();
    ghost["bindings"].as_array_mut().unwrap().push(json!({
        "role": "roles/storage.objectViewer", "members": ["serviceAccount:ghost@claw-demo.iam.gserviceaccount.com"],
    }));
    let r = sim.post(
        "/v3/projects/claw-demo:setIamPolicy",
        &token,
        json!({ "policy": ghost }),
    );
    assert_eq!(r.status, 400);
    let dump = sim.admin_get("iam/projects/claw-demo");
    assert_eq!(
        dump["policy"]["bindings"][1]["members"][0],
        format!("serviceAccount:{ci}")
    );
    assert_eq!(
        dump["serviceAccounts"][0]["policy"]["bindings"][0]["members"][0],
        principal
    );
    assert!(sim.counter("crm.projects.setIamPolicy") >= 3);
}

#[test]
fn another_persons_project_is_denied() {
    let sim = sim();
    sim.add_project("bobs-project", "bob@example.com");
    let token = sim.token();
    let r = sim.post("/v3/projects/bobs-project:getIamPolicy", &token, json!({}));
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.json()["error"]["status"], "PERMISSION_DENIED");
    let r = sim.post(
        "/v1/projects/bobs-project/serviceAccounts",
        &token,
        json!({ "accountId": "sneaky-ci" }),
    );
    assert_eq!(r.status, 403);
}
