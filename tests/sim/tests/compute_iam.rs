//! Compute's access control as GitHub mode relies on it: `setServiceAccount` only on a
//! stopped instance, after which the instance and its metadata server name the new
//! account; the instance's own IAM policy (etags, roles Compute accepts) that lets a
//! service account act on that one instance and no other; and `actAs` on the VM's
//! account, without which its metadata cannot change.

mod common;

use common::{enable_iam_in_demo, signed_in, TestSim, ZONE};
use serde_json::{json, Value};

const READ_ONLY: &str = "https://www.googleapis.com/auth/devstorage.read_only";
const CLOUD: &str = "https://www.googleapis.com/auth/cloud-platform";

/// A service account of claw-demo, created through IAM; its email.
/// A simulator whose signed-in owner has the IAM API on in `claw-demo`.
fn demo_with_iam() -> (TestSim, String) {
    let (sim, owner) = signed_in();
    enable_iam_in_demo(&sim, &owner);
    (sim, owner)
}

fn account(sim: &TestSim, token: &str, id: &str) -> String {
    let r = sim.post(
        "/v1/projects/claw-demo/serviceAccounts",
        token,
        json!({ "accountId": id }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.text("email")
}

/// A token for a service account (as an exchange would give one).
fn account_token(sim: &TestSim, email: &str) -> String {
    sim.admin(
        "service-account-tokens",
        json!({ "email": email, "scopes": [CLOUD] }),
    )
    .json()["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

fn status(sim: &TestSim, token: &str, name: &str) -> Value {
    sim.instance_get(token, name, "").json()["status"].clone()
}

fn stop(sim: &TestSim, token: &str, name: &str) {
    let r = sim.post(&format!("{ZONE}/instances/{name}/stop"), token, json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    sim.wait_for(10, || {
        (status(sim, token, name) == "TERMINATED").then_some(())
    });
}

#[test]
fn a_stopped_instance_changes_its_service_account_and_the_metadata_server_follows() {
    let (sim, owner) = demo_with_iam();
    let email = account(&sim, &owner, "bot-vm-account");
    sim.insert_vm(&owner, "bot");
    let path = format!("{ZONE}/instances/bot/setServiceAccount");
    let ask = json!({ "email": email, "scopes": [READ_ONLY] });

    // Google refuses while the instance runs.
    let running = sim.post(&path, &owner, ask.clone());
    assert_eq!(running.status, 400, "{}", running.body);
    let error = running.json()["error"].clone();
    assert_eq!(error["errors"][0]["reason"], "resourceNotReady", "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("must be stopped"),
        "{error}"
    );

    stop(&sim, &owner, "bot");
    // An account that does not exist in the project is refused.
    let ghost = sim.post(
        &path,
        &owner,
        json!({ "email": "ghost-account@claw-demo.iam.gserviceaccount.com", "scopes": [] }),
    );
    assert_eq!(ghost.status, 400, "{}", ghost.body);
    assert!(ghost.body.contains("does not exist"), "{}", ghost.body);

    let op = sim.post(&path, &owner, ask);
    assert_eq!(op.status, 200, "{}", op.body);
    assert_eq!(op.json()["operationType"], "setServiceAccount");
    let vm = sim.instance_get(&owner, "bot", "").json();
    assert_eq!(
        vm["serviceAccounts"],
        json!([{ "email": email, "scopes": [READ_ONLY] }])
    );
    assert_eq!(sim.counter("compute.instances.setServiceAccount"), 3);

    // Started again, its metadata server hands out the new account's tokens, whose
    // scopes are the ones set: enough to read storage, not to call Compute.
    let r = sim.post(&format!("{ZONE}/instances/bot/start"), &owner, json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    sim.wait_for(10, || {
        (status(&sim, &owner, "bot") == "RUNNING").then_some(())
    });
    let vm_path = "claw-demo/us-central1-a/bot";
    let named = sim.metadata(vm_path, "instance/service-accounts/default/email");
    assert_eq!(named.body, email);
    let token = sim.metadata(vm_path, "instance/service-accounts/default/token");
    assert_eq!(token.status, 200, "{}", token.body);
    let token = token.text("access_token");
    let compute = sim.instance_get(&token, "bot", "");
    assert_eq!(compute.status, 403, "{}", compute.body);
    assert!(
        compute.body.contains("ACCESS_TOKEN_SCOPE_INSUFFICIENT"),
        "{}",
        compute.body
    );

    // Removed (stopped again): no account, no token.
    stop(&sim, &owner, "bot");
    let r = sim.post(&path, &owner, json!({ "email": "", "scopes": [] }));
    assert_eq!(r.status, 200, "{}", r.body);
    let vm = sim.instance_get(&owner, "bot", "").json();
    assert!(vm.get("serviceAccounts").is_none(), "{vm}");
}

#[test]
fn an_instance_policy_lets_a_service_account_act_on_that_instance_alone() {
    let (sim, owner) = demo_with_iam();
    let ci = account(&sim, &owner, "bot-ci-account");
    let vm_account = account(&sim, &owner, "bot-vm-account");
    sim.insert_vm(&owner, "bot");
    sim.insert_vm(&owner, "other");
    stop(&sim, &owner, "bot");
    let r = sim.post(
        &format!("{ZONE}/instances/bot/setServiceAccount"),
        &owner,
        json!({ "email": vm_account, "scopes": [READ_ONLY] }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let ci_token = account_token(&sim, &ci);

    // Without a grant, CI may not even read the instance: Compute's 403.
    let denied = sim.instance_get(&ci_token, "bot", "");
    assert_eq!(denied.status, 403, "{}", denied.body);
    assert_eq!(
        denied.json()["error"]["message"],
        "Required 'compute.instances.get' permission for 'projects/claw-demo/zones/us-central1-a/instances/bot'"
    );

    // The instance's policy as Google answers a new one, then read-modify-written.
    let policy_path = format!("{ZONE}/instances/bot/getIamPolicy");
    let empty = sim.get(&policy_path, &owner);
    assert_eq!(empty.status, 200, "{}", empty.body);
    assert_eq!(empty.json(), json!({ "version": 1, "etag": "ACAB" }));
    let set_path = format!("{ZONE}/instances/bot/setIamPolicy");
    let grant = |etag: &str, role: &str| {
        json!({ "policy": { "etag": etag, "bindings": [
            { "role": role, "members": [format!("serviceAccount:{ci}")] }
        ]}})
    };
    let wrong_role = sim.post(
        &set_path,
        &owner,
        grant("ACAB", "roles/storage.objectAdmin"),
    );
    assert_eq!(wrong_role.status, 400, "{}", wrong_role.body);
    assert!(wrong_role
        .body
        .contains("is not supported for this resource"));
    let set = sim.post(
        &set_path,
        &owner,
        grant("ACAB", "roles/compute.instanceAdmin.v1"),
    );
    assert_eq!(set.status, 200, "{}", set.body);
    let etag = set.text("etag");
    assert_ne!(etag, "ACAB");
    let stale = sim.post(&set_path, &owner, grant("ACAB", "roles/compute.viewer"));
    assert_eq!(stale.status, 409, "{}", stale.body);
    assert_eq!(sim.get(&policy_path, &owner).json()["etag"], etag.as_str());
    // instanceAdmin.v1 carries the instance's own policy permissions, as on Google.
    assert_eq!(sim.get(&policy_path, &ci_token).status, 200);

    // Now CI reads that instance and its guest attributes, and no other instance.
    assert_eq!(sim.instance_get(&ci_token, "bot", "").status, 200);
    let other = sim.instance_get(&ci_token, "other", "");
    assert_eq!(other.status, 403, "{}", other.body);
    let list = sim.instance_list(&ci_token, "claw-demo", "");
    assert_eq!(list.status, 403, "{}", list.body);

    // Setting the metadata of a VM that runs as an account needs actAs on it too.
    let vm = sim.instance_get(&ci_token, "bot", "").json();
    let body = json!({
        "fingerprint": vm["metadata"]["fingerprint"],
        "items": [{ "key": "openclaw-system", "value": "{}" }],
    });
    let metadata_path = format!("{ZONE}/instances/bot/setMetadata");
    let no_act_as = sim.post(&metadata_path, &ci_token, body.clone());
    assert_eq!(no_act_as.status, 403, "{}", no_act_as.body);
    assert_eq!(
        no_act_as.json()["error"]["message"],
        format!(
            "Required 'iam.serviceAccounts.actAs' permission for 'projects/claw-demo/serviceAccounts/{vm_account}'"
        )
    );
    let account_policy = format!("/v1/projects/claw-demo/serviceAccounts/{vm_account}");
    let current = sim.post(&format!("{account_policy}:getIamPolicy"), &owner, json!({}));
    let r = sim.post(
        &format!("{account_policy}:setIamPolicy"),
        &owner,
        json!({ "policy": { "etag": current.json()["etag"], "bindings": [
            { "role": "roles/iam.serviceAccountUser", "members": [format!("serviceAccount:{ci}")] }
        ]}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let op = sim.post(&metadata_path, &ci_token, body);
    assert_eq!(op.status, 200, "{}", op.body);
    assert_eq!(op.json()["user"], ci.as_str());
}
