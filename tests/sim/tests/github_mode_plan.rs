//! The Worker's GitHub-mode plan (`claw_free::github::plan`) created in simulated IAM
//! the way linking creates it: the pool, the provider restricted to the repository and
//! `main`, the two service accounts and their grants. Then what STS would decide for
//! GitHub tokens: the repository's `main` gets in, as the principal set the CI account
//! trusts; another branch or another repository (even one of the same name) does not.

mod common;

use claw_free::github::plan::{
    Resource, Target, CI_ACCOUNT_ID, POOL_ID, PROVIDER_ID, VM_ACCOUNT_ID,
};
use common::{sim, wait_op};
use serde_json::json;

#[test]
fn the_plan_lets_only_the_repositorys_main_branch_act_as_ci() {
    let sim = sim();
    let token = sim.token();
    let number = sim.admin_get("iam/projects/claw-demo")["number"]
        .as_str()
        .unwrap()
        .to_string();
    let target = Target {
        project_id: "claw-demo".into(),
        project_number: number,
        zone: "us-central1-a".into(),
        instance: "my-bot-010203".into(),
        repository_id: 987654,
    };
    assert!(target.names_are_valid());
    let op = sim.post(
        "/v1/projects/claw-demo/services/iam.googleapis.com:enable",
        &token,
        json!({}),
    );
    wait_op(
        &sim,
        &format!("/v1/{}", op.json()["name"].as_str().unwrap()),
        &token,
    );

    let pools = "/v1/projects/claw-demo/locations/global/workloadIdentityPools";
    let op = sim.post(
        &format!("{pools}?workloadIdentityPoolId={POOL_ID}"),
        &token,
        json!({ "displayName": "claw.free" }),
    );
    assert_eq!(op.status, 200, "{}", op.body);
    let done = wait_op(
        &sim,
        &format!("/v1/{}", op.json()["name"].as_str().unwrap()),
        &token,
    );
    assert_eq!(done["response"]["name"], target.pool_name());
    let op = sim.post(
        &format!("{pools}/{POOL_ID}/providers?workloadIdentityPoolProviderId={PROVIDER_ID}"),
        &token,
        target.provider_body(),
    );
    assert_eq!(op.status, 200, "{}", op.body);
    let done = wait_op(
        &sim,
        &format!("/v1/{}", op.json()["name"].as_str().unwrap()),
        &token,
    );
    assert_eq!(done["response"]["name"], target.provider_name());

    for id in [CI_ACCOUNT_ID, VM_ACCOUNT_ID] {
        let r = sim.post(
            "/v1/projects/claw-demo/serviceAccounts",
            &token,
            json!({ "accountId": id }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_eq!(
        sim.get(
            &format!(
                "/v1/projects/claw-demo/serviceAccounts/{}",
                target.ci_account()
            ),
            &token
        )
        .status,
        200
    );
    // The grants on service accounts (bucket and instance grants go to Storage and Compute).
    for grant in target.grants() {
        let Resource::ServiceAccount(email) = &grant.resource else {
            continue;
        };
        let path = format!("/v1/projects/claw-demo/serviceAccounts/{email}");
        let mut policy = sim
            .post(&format!("{path}:getIamPolicy"), &token, json!({}))
            .json();
        policy["bindings"] = json!([{ "role": grant.role, "members": [grant.member] }]);
        let r = sim.post(
            &format!("{path}:setIamPolicy"),
            &token,
            json!({ "policy": policy }),
        );
        assert_eq!(r.status, 200, "{} {}", grant.role, r.body);
    }

    let check = |claims: serde_json::Value| {
        sim.admin(
            "iam/sts-check",
            json!({ "provider": target.provider_name(), "claims": claims }),
        )
        .json()
    };
    let main = check(
        json!({ "sub": "repo:ada/bot:ref:refs/heads/main", "repository_id": "987654", "ref": "refs/heads/main" }),
    );
    assert_eq!(main["allowed"], true, "{main}");
    // The token's attribute is exactly what the CI account's principal set names.
    let principal = format!(
        "{}/attribute.repository_id/{}",
        target.pool_name(),
        main["attributes"]["attribute.repository_id"]
            .as_str()
            .unwrap()
    );
    let dump = sim.admin_get("iam/projects/claw-demo");
    let ci = dump["serviceAccounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["email"] == target.ci_account().as_str())
        .unwrap()
        .clone();
    assert_eq!(
        ci["policy"]["bindings"][0]["members"][0],
        format!("principalSet://iam.googleapis.com/{principal}")
    );
    for denied in [
        json!({ "sub": "x", "repository_id": "987654", "ref": "refs/heads/feature" }),
        json!({ "sub": "x", "repository_id": "987654", "ref": "refs/pull/1/merge" }),
        json!({ "sub": "repo:ada/bot:ref:refs/heads/main", "repository_id": "111", "ref": "refs/heads/main" }),
    ] {
        assert_eq!(check(denied.clone())["allowed"], false, "{denied}");
    }
}
