//! GitHub mode's keyless CI, as GitHub Actions and Google run it: a job of the linked
//! repository's `main` asks GitHub for an OIDC ID token, exchanges it at STS against
//! the Workload Identity provider linking made, impersonates CI's service account
//! through IAM Credentials, and with that token writes the cache bucket and names a
//! system in the bot VM's metadata. Every grant comes from the Worker's own plan
//! (`claw_free::github::plan`); each one withdrawn, and every other branch, repository,
//! audience or forged token, meets Google's refusal.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use claw_free::github::plan::{Resource, Target};
use claw_free_testkit::keyless::{
    audience, change_policy, ci_token, exchange, id_token, link, target, without_role,
};
use common::{signed_in, vm_body, Resp, TestSim, ZONE};
use serde_json::{json, Value};

const OWNER: &str = "ada-lovelace";
const READ_ONLY: &str = "https://www.googleapis.com/auth/devstorage.read_only";

/// A simulated repository of the signed-in account.
fn repository(sim: &TestSim, name: &str) -> String {
    sim.admin("github/repos", json!({ "name": name }));
    format!("{OWNER}/{name}")
}

fn ok(r: Resp) -> Value {
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

/// The status and body of a refusal, as a response.
fn refused(result: Result<String, (u16, Value)>) -> Resp {
    let (status, body) = result.expect_err("a refusal");
    Resp {
        status,
        body: body.to_string(),
        location: None,
        etag: None,
        www_authenticate: None,
        flavor: None,
        range: None,
    }
}

fn upload(sim: &TestSim, target: &Target, token: &str) -> Resp {
    sim.send_raw(
        "POST",
        &format!(
            "/upload/storage/v1/b/{}/o?uploadType=media&name=abc.narinfo",
            target.bucket()
        ),
        &[("Authorization", &format!("Bearer {token}"))],
        b"StorePath: /nix/store/abc\n",
    )
}

fn set_metadata(sim: &TestSim, token: &str) -> Resp {
    let vm = ok(sim.instance_get(token, "bot", ""));
    sim.post(
        &format!("{ZONE}/instances/bot/setMetadata"),
        token,
        json!({
            "fingerprint": vm["metadata"]["fingerprint"],
            "items": [{ "key": "openclaw-system", "value": "{\"rev\":\"abc\"}" }],
        }),
    )
}

fn message(r: &Resp) -> String {
    let body = r.json();
    body["error"]["message"]
        .as_str()
        .or_else(|| body["error_description"].as_str())
        .unwrap_or_default()
        .to_string()
}

#[test]
fn only_the_linked_repositorys_main_branch_gets_ci_its_access() {
    let (sim, owner) = signed_in();
    let mine = repository(&sim, "my-bot");
    let other = repository(&sim, "other-bot");
    // The bot's VM, running as the VM's account, then everything linking makes.
    let target = target(&sim, "claw-demo", "us-central1-a", "bot", &mine);
    let mut vm = vm_body(&target.instance);
    vm["serviceAccounts"] = json!([{ "email": target.vm_account(), "scopes": [READ_ONLY] }]);
    ok(sim.post(&format!("{ZONE}/instances"), &owner, vm));
    link(&sim, &owner, &target);

    // The issuer publishes its keys, as GitHub's does.
    let discovery = ok(sim.anonymous("GET", "/_actions/.well-known/openid-configuration"));
    assert_eq!(
        discovery["issuer"],
        "https://token.actions.githubusercontent.com"
    );
    let jwks = ok(sim.anonymous("GET", "/_actions/.well-known/jwks"));
    assert_eq!(jwks["keys"][0]["alg"], "RS256");

    // main of the linked repository: CI writes the cache and names a system on the VM.
    let ci = ci_token(&sim, &target, &mine, "refs/heads/main").unwrap();
    assert_eq!(upload(&sim, &target, &ci).status, 200);
    let op = ok(set_metadata(&sim, &ci));
    assert_eq!(op["user"], target.ci_account().as_str());
    let report = sim.instance_get(
        &ci,
        "bot",
        "/getGuestAttributes?variableKey=openclaw/rollout",
    );
    assert_eq!(
        report.status, 404,
        "allowed, nothing reported yet: {}",
        report.body
    );
    // ... and nothing else in the project.
    let elsewhere = sim.instance_list(&ci, "claw-demo", "");
    assert_eq!(elsewhere.status, 403, "{}", elsewhere.body);

    // Another branch, or another repository (its own id), is refused by the condition.
    for (repo, git_ref) in [(&mine, "refs/heads/feature"), (&other, "refs/heads/main")] {
        let refusal = refused(ci_token(&sim, &target, repo, git_ref));
        assert_eq!(refusal.status, 400, "{}", refusal.body);
        assert_eq!(refusal.json()["error"], "unauthorized_client");
        assert_eq!(
            message(&refusal),
            "The given credential is rejected by the attribute condition."
        );
    }

    // A token for another audience, or altered after signing, is not exchanged.
    let wrong_audience = id_token(&sim, &mine, "refs/heads/main", "https://example.com");
    let (_, answer) = exchange(&sim, &target, &wrong_audience);
    assert_eq!(answer["error"], "invalid_grant", "{answer}");
    assert!(answer["error_description"]
        .as_str()
        .unwrap()
        .starts_with("The audience in ID Token [https://example.com]"));
    let feature = id_token(&sim, &mine, "refs/heads/feature", &audience(&target));
    let mut parts: Vec<String> = feature.split('.').map(str::to_string).collect();
    let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(&parts[1]).unwrap())
        .unwrap()
        .replace("refs/heads/feature", "refs/heads/main");
    parts[1] = URL_SAFE_NO_PAD.encode(claims);
    let (status, answer) = exchange(&sim, &target, &parts.join("."));
    assert_eq!(
        (status, &answer["error"]),
        (400, &json!("invalid_grant")),
        "{answer}"
    );
    assert_eq!(answer["error_description"], "Invalid JWT signature.");

    // The federated token itself is not CI's account: Storage does not take it.
    let main = id_token(&sim, &mine, "refs/heads/main", &audience(&target));
    let (_, sts) = exchange(&sim, &target, &main);
    let federated = sts["access_token"].as_str().unwrap();
    assert_eq!(upload(&sim, &target, federated).status, 401);

    // Each grant withdrawn in turn: Google's refusal, in its own words.
    let bucket = Resource::Bucket(target.bucket());
    change_policy(&sim, &owner, &target, &bucket, |p| {
        without_role(p, "roles/storage.objectAdmin")
    });
    let denied = upload(&sim, &target, &ci);
    assert_eq!(denied.status, 403, "{}", denied.body);
    assert!(message(&denied).starts_with(&format!(
        "{} does not have storage.objects.create access",
        target.ci_account()
    )));

    let vm_account = Resource::ServiceAccount(target.vm_account());
    change_policy(&sim, &owner, &target, &vm_account, |p| {
        without_role(p, "roles/iam.serviceAccountUser")
    });
    let denied = set_metadata(&sim, &ci);
    assert_eq!(denied.status, 403, "{}", denied.body);
    assert!(message(&denied).starts_with("Required 'iam.serviceAccounts.actAs' permission"));

    change_policy(&sim, &owner, &target, &Resource::Instance, |p| {
        without_role(p, "roles/compute.instanceAdmin.v1")
    });
    let denied = sim.instance_get(&ci, "bot", "");
    assert_eq!(denied.status, 403, "{}", denied.body);
    assert_eq!(
        message(&denied),
        "Required 'compute.instances.get' permission for 'projects/claw-demo/zones/us-central1-a/instances/bot'"
    );

    let ci_account = Resource::ServiceAccount(target.ci_account());
    change_policy(&sim, &owner, &target, &ci_account, |p| {
        without_role(p, "roles/iam.workloadIdentityUser")
    });
    let refusal = refused(ci_token(&sim, &target, &mine, "refs/heads/main"));
    assert_eq!(refusal.status, 403, "{}", refusal.body);
    assert_eq!(
        message(&refusal),
        "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist)."
    );
}
