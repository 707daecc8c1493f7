//! The Google side of linking, made with the Worker's own calls
//! (`claw_free::google::iam`) from its plan (`claw_free::github::plan`) in simulated
//! IAM: the APIs enabled, the pool, the provider restricted to the repository and
//! `main`, the two service accounts and their grants, all twice (linking again changes
//! nothing). Then what STS would decide for GitHub tokens: the repository's `main` gets
//! in, as the principal set the CI account trusts; another branch or another repository
//! (even one of the same name) does not.

mod common;
mod worker_ports;

use claw_free::github::plan::{
    Resource, Target, CI_ACCOUNT_ID, POOL_ID, PROVIDER_ID, SERVICES, VM_ACCOUNT_ID,
};
use claw_free::google::iam::{Created, Iam, IamApis};
use claw_free::google::{AccessToken, Bearer};
use common::{sim, TestSim};
use serde_json::json;
use worker_ports::{block_on, Native};

/// Follows an operation until it is done.
fn wait(sim: &TestSim, apis: &Iam<Native>, name: &str, service_usage: bool) {
    sim.wait_for(10, || {
        let op = if service_usage {
            block_on(apis.enable_operation(name))
        } else {
            block_on(apis.operation(name))
        }
        .unwrap();
        assert!(op.error.is_none(), "{name}: {:?}", op.error);
        op.done.then_some(())
    });
}

fn link(sim: &TestSim, apis: &Iam<Native>, target: &Target) {
    for service in SERVICES {
        let op = block_on(apis.enable(service)).unwrap();
        if !op.done {
            wait(sim, apis, &op.name, true);
        }
    }
    if let Created::Started(op) = block_on(apis.create_pool(POOL_ID)).unwrap() {
        wait(sim, apis, &op.name, false);
    }
    let body = target.provider_body();
    if let Created::Started(op) =
        block_on(apis.create_provider(POOL_ID, PROVIDER_ID, &body)).unwrap()
    {
        wait(sim, apis, &op.name, false);
    }
    for id in [CI_ACCOUNT_ID, VM_ACCOUNT_ID] {
        block_on(apis.create_service_account(id, "claw.free")).unwrap();
    }
    for grant in target.grants() {
        if let Resource::ServiceAccount(email) = &grant.resource {
            block_on(apis.grant_on_service_account(email, grant.role, &grant.member)).unwrap();
        }
    }
}

#[test]
fn the_plan_lets_only_the_repositorys_main_branch_act_as_ci() {
    let sim = sim();
    let token = AccessToken::new(sim.token());
    let http = Native::new();
    let target = sim.claw_demo_target(987654, "ada-lovelace/my-bot");
    let apis = Bearer::new(&http, &token).iam(
        IamApis {
            iam: sim.url.clone(),
            crm: sim.url.clone(),
            serviceusage: sim.url.clone(),
        },
        &target.project_id,
    );
    assert!(target.names_are_valid());
    link(&sim, &apis, &target);
    let first = sim.admin_get("iam/projects/claw-demo");
    link(&sim, &apis, &target);
    let again = sim.admin_get("iam/projects/claw-demo");
    assert_eq!(first["serviceAccounts"].as_array().unwrap().len(), 2);
    for account in 0..2 {
        assert_eq!(
            first["serviceAccounts"][account]["policy"]["bindings"],
            again["serviceAccounts"][account]["policy"]["bindings"],
            "linking again adds nothing"
        );
    }
    // A grant on the project keeps its owner (read-modify-write, not overwrite).
    let ci = format!("serviceAccount:{}", target.ci_account());
    block_on(apis.grant_on_project("roles/compute.viewer", &ci)).unwrap();
    let policy = &sim.admin_get("iam/projects/claw-demo")["policy"];
    assert_eq!(policy["bindings"][0]["members"][0], "user:ada@example.com");
    assert_eq!(policy["bindings"][1]["members"][0], ci.as_str());

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
        "principalSet://iam.googleapis.com/{}/attribute.repository_id/{}",
        target.pool_name(),
        main["attributes"]["attribute.repository_id"]
            .as_str()
            .unwrap()
    );
    let ci_account = again["serviceAccounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["email"] == target.ci_account().as_str())
        .unwrap()
        .clone();
    assert_eq!(
        ci_account["policy"]["bindings"][0]["role"],
        "roles/iam.workloadIdentityUser"
    );
    assert_eq!(
        ci_account["policy"]["bindings"][0]["members"],
        json!([principal])
    );
    for denied in [
        json!({ "sub": "x", "repository_id": "987654", "ref": "refs/heads/feature" }),
        json!({ "sub": "x", "repository_id": "987654", "ref": "refs/pull/1/merge" }),
        json!({ "sub": "repo:ada/bot:ref:refs/heads/main", "repository_id": "111", "ref": "refs/heads/main" }),
    ] {
        assert_eq!(check(denied.clone())["allowed"], false, "{denied}");
    }
}
