//! Linking a bot to a GitHub repository through wrangler dev and the simulated GitHub
//! App: from the bot list to the App's install page, GitHub's setup redirect, the App's
//! user authorization (PKCE) and back, with the installation proven the person's; then
//! the link itself, polled to `linked`, checked in the simulated GitHub and Google.

mod deploy_support;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use claw_free_it::{query_param, wait_for, Client, Stack, StackOptions, TELEGRAM_TOKEN};
use serde_json::json;
use serde_json::Value;
use std::time::Duration;

const BOT: &str = "claw-demo/us-central1-a/my-bot-010203";

/// The stack with GitHub mode on, the App registered in the simulator.
fn github_stack() -> Stack {
    Stack::start(StackOptions {
        github: true,
        ..StackOptions::default()
    })
}

/// A browser of github.com: carries no claw.free cookie.
fn github_browser() -> Client {
    Client::new("")
}

fn location(reply: &claw_free_it::Reply) -> String {
    assert_eq!(reply.status, 302, "{}", reply.text);
    reply.header("location").expect("location").to_string()
}

/// The bot list's "Link a GitHub repository" up to GitHub's setup redirect: the URL
/// GitHub sends the browser back to, with the installation it made.
fn install(client: &Client) -> String {
    install_bot(client, BOT)
}

fn install_bot(client: &Client, bot: &str) -> String {
    let start = client.get(&format!("/api/bots/{bot}/github"));
    let install_page = location(&start);
    assert!(install_page.contains("/apps/claw-free-local/installations/new?state="));
    let setup = location(&github_browser().get(&install_page));
    assert!(setup.contains("installation_id=") && setup.contains("setup_action=install"));
    setup
}

/// From GitHub's setup redirect through the App's user authorization to the page.
fn authorize(client: &Client, setup: &str) -> String {
    let authorize = location(&client.get(setup));
    assert!(authorize.contains("/login/oauth/authorize?") && authorize.contains("code_challenge="));
    let callback = location(&github_browser().get(&authorize));
    assert!(
        callback.contains("/api/github/callback?code="),
        "{callback}"
    );
    location(&client.get(&callback))
}

#[test]
fn a_signed_in_person_installs_the_app_and_proves_the_installation_theirs() {
    let stack = github_stack();
    let client = stack.client().signed_in();
    let setup = install(&client);
    let installation = query_param(&setup, "installation_id").to_string();
    let done = authorize(&client, &setup);
    assert_eq!(
        done,
        format!(
            "/?githubLink=claw-demo%2Fus-central1-a%2Fmy-bot-010203&installation={installation}"
        )
    );
    assert!(
        client.cookie("__Host-github-link").is_none(),
        "the link cookie is cleared"
    );
    let counters = stack.counters();
    assert_eq!(counters.get("github.oauth.access_token").copied(), Some(1));
    assert_eq!(counters.get("github.users.installations").copied(), Some(1));
    // Nothing of GitHub's (user tokens start ghu_) is stored.
    assert!(!stack.kv_contents().contains("ghu_"));
}

#[test]
fn another_installation_id_in_the_setup_redirect_is_not_the_persons() {
    let stack = github_stack();
    let client = stack.client().signed_in();
    let setup = install(&client);
    // Someone else's installation: the id a setup URL can be edited to.
    stack.admin("github/sign-in", json!({"login": "mallory"}));
    let theirs = install(&stack.client().signed_in());
    let their_id = query_param(&theirs, "installation_id");
    stack.admin("github/sign-in", json!({"login": "ada-lovelace"}));
    let (before, after) = setup.split_once("installation_id=").unwrap();
    let rest = after.split_once('&').map(|(_, r)| r).unwrap_or("");
    let edited = format!("{before}installation_id={their_id}&{rest}");
    assert_eq!(authorize(&client, &edited), "/?githubLinkError=not-yours");
}

#[test]
fn a_setup_redirect_without_this_browsers_start_goes_nowhere() {
    let stack = github_stack();
    let client = stack.client().signed_in();
    let setup = install(&client);
    let stranger = stack.client().signed_in();
    assert_eq!(location(&stranger.get(&setup)), "/?githubLinkError=expired");
    let forged = setup.replace("state=", "state=x");
    assert_eq!(location(&client.get(&forged)), "/?githubLinkError=expired");
}

/// Polls the link the way the page does until it is no longer `linking`.
fn follow_link(client: &Client, bot: &str) -> Value {
    wait_for("the link to finish", Duration::from_secs(120), || {
        let reply = client.get(&format!("/api/bots/{bot}/github/link"));
        assert_eq!(reply.status, 200, "{}", reply.text);
        (reply.json["state"] != "linking").then_some(reply.json)
    })
}

fn file(repo: &Value, path: &str) -> String {
    let b64 = repo["files"][path]
        .as_str()
        .unwrap_or_else(|| panic!("no {path} in {repo}"));
    base64_text(b64)
}

/// The text the simulated GitHub keeps as base64 (a file's content, an opened secret).
fn base64_text(b64: &str) -> String {
    String::from_utf8(STANDARD.decode(b64).unwrap()).unwrap()
}

/// A token of a service account, as Workload Identity (CI) or the VM's metadata server
/// would hand it out.
fn account_token(stack: &Stack, email: &str, scope: &str) -> String {
    stack.admin(
        "service-account-tokens",
        json!({"email": email, "scopes": [scope]}),
    )["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

fn google(stack: &Stack, method: &str, path: &str, token: &str, body: Option<Vec<u8>>) -> u16 {
    let auth = format!("Bearer {token}");
    let mut headers = vec![("content-type", "application/octet-stream")];
    if !token.is_empty() {
        headers.push(("authorization", auth.as_str()));
    }
    Client::new(&stack.sim)
        .request(method, path, body, &headers)
        .unwrap()
        .status
}

#[test]
fn a_linked_bot_has_its_repository_ci_identity_cache_and_vm_account_set_up() {
    let stack = github_stack();
    stack.admin(
        "github/plan",
        json!({"login": "ada-lovelace", "plan": "pro"}),
    );
    // A plain sign-in: enough to deploy, not to create a Workload Identity pool.
    let client = stack.client().signed_in();
    let session = client.get("/api/deploy/session");
    assert_eq!(session.json["githubLinking"], true, "{}", session.text);
    let (_, vm, followed) =
        deploy_support::deploy_to_done(&stack, &client, "claw-demo", "Linked Bot");
    let zone = followed.last["zone"].as_str().unwrap().to_string();
    let bot = format!("claw-demo/{zone}/{vm}");

    let setup = install_bot(&client, &bot);
    let back = authorize(&client, &setup);
    assert!(back.starts_with("/?githubLink="), "{back}");
    let stopped = follow_link(&client, &bot);
    assert_eq!(
        (stopped["state"].as_str(), stopped["step"].as_str()),
        (Some("failed"), Some("pool")),
        "{stopped}"
    );
    let action = stopped["errorAction"]["url"].as_str().unwrap();
    assert_eq!(action, "/api/auth/google?access=github");
    // The owner follows the action (Google asks for cloud-platform too), then resumes.
    let (_, query) = action.split_once('?').unwrap();
    let signed = client.sign_in(&format!("provider=kimi&channel=telegram&cloud=gcp&{query}"));
    assert_eq!(signed.status, 302, "{}", signed.text);
    let resumed = client.post(&format!("/api/bots/{bot}/github/link"), json!({}));
    assert_eq!(resumed.status, 200, "{}", resumed.text);
    assert_ne!(resumed.json["state"], "failed", "{}", resumed.text);
    let linked = follow_link(&client, &bot);
    assert_eq!(linked["state"], "linked", "{linked}");
    assert!(linked["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["state"] == "done"));
    let full_name = format!("ada-lovelace/{vm}");
    assert_eq!(linked["repository"]["fullName"], full_name.as_str());

    // The repository: made from the template, private, with the two files linking writes.
    let repo = stack.admin_get(&format!("github/repos/{full_name}"));
    assert_eq!(repo["private"], true);
    assert!(repo["files"]["flake.nix"].is_string(), "from the template");
    let config: Value = serde_json::from_str(&file(&repo, "claw-free.json")).unwrap();
    let sim_vm = deploy_support::sim_vm(&stack, "claw-demo", &vm);
    let metadata_url = sim_vm["metadataUrl"].as_str().unwrap().to_string();
    let from_vm = |path: &str| {
        let reply = Client::new("")
            .request(
                "GET",
                &format!("{metadata_url}/computeMetadata/v1/{path}"),
                None,
                &[("metadata-flavor", "Google")],
            )
            .unwrap();
        assert_eq!(reply.status, 200, "{path}: {}", reply.text);
        reply.text
    };
    let instance_id = from_vm("instance/id");
    assert_eq!(
        config,
        json!({
            "repository": full_name,
            "bucket": "claw-cache-claw-demo",
            "cachePublicKey": config["cachePublicKey"],
            "bot": {"project": "claw-demo", "zone": zone, "instance": vm, "instanceId": instance_id},
        })
    );
    let pinned = sim_vm["metadata"]["openclaw-recipient"].as_str().unwrap();
    let recipients = file(&repo, "secrets/recipients");
    assert_eq!(
        recipients
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>(),
        vec![pinned]
    );

    // The signing key, opened by the simulated GitHub: its public half is the config's.
    let secret = base64_text(
        repo["environments"]["deploy"]["secrets"]["CLAW_CACHE_SIGNING_KEY"]
            .as_str()
            .unwrap(),
    );
    let (name, key) = secret.split_once(':').unwrap();
    assert_eq!(name, "claw-cache-claw-demo-1");
    let key = STANDARD.decode(key).unwrap();
    let seed: [u8; 32] = key[..32].try_into().unwrap();
    let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
    assert_eq!(
        config["cachePublicKey"],
        format!(
            "claw-cache-claw-demo-1:{}",
            STANDARD.encode(public.to_bytes())
        )
        .as_str()
    );
    assert!(
        !stack.kv_contents().contains(&STANDARD.encode(seed)),
        "the key is forgotten"
    );

    // The variables, and main protected so that it takes a pull request.
    let iam = stack.admin_get("iam/projects/claw-demo");
    let number = iam["number"].as_str().unwrap();
    let provider = format!(
        "projects/{number}/locations/global/workloadIdentityPools/claw-free/providers/github"
    );
    let ci = "claw-free-ci@claw-demo.iam.gserviceaccount.com";
    let vm_account = "claw-free-vm@claw-demo.iam.gserviceaccount.com";
    assert_eq!(
        repo["variables"],
        json!({
            "GCP_WORKLOAD_IDENTITY_PROVIDER": provider,
            "GCP_CI_SERVICE_ACCOUNT": ci,
            "GCP_PROJECT": "claw-demo",
            "GCP_ZONE": zone,
            "BOT_INSTANCE": vm,
            "CLAW_CACHE_BUCKET": "claw-cache-claw-demo",
        })
    );
    let protection = &repo["protection"]["main"];
    assert!(
        protection["required_pull_request_reviews"].is_object(),
        "{protection}"
    );

    // Google: the provider lets in only this repository's main branch.
    let repository_id = repo["id"].as_u64().unwrap().to_string();
    let check = |claims: Value| {
        stack.admin(
            "iam/sts-check",
            json!({"provider": provider, "claims": claims}),
        )["allowed"]
            .clone()
    };
    assert_eq!(
        check(json!({"sub": "x", "repository_id": repository_id, "ref": "refs/heads/main"})),
        true
    );
    assert_eq!(
        check(json!({"sub": "x", "repository_id": repository_id, "ref": "refs/heads/evil"})),
        false
    );
    assert_eq!(
        check(json!({"sub": "x", "repository_id": "1", "ref": "refs/heads/main"})),
        false
    );
    let accounts = iam["serviceAccounts"].as_array().unwrap();
    let policy_of = |email: &str| {
        accounts
            .iter()
            .find(|a| a["email"] == email)
            .unwrap_or_else(|| panic!("no {email}"))["policy"]["bindings"]
            .clone()
    };
    assert_eq!(
        policy_of(ci),
        json!([{"role": "roles/iam.workloadIdentityUser",
                "members": [format!("principalSet://iam.googleapis.com/projects/{number}/locations/global/workloadIdentityPools/claw-free/attribute.repository_id/{repository_id}")]}])
    );
    assert_eq!(
        policy_of(vm_account),
        json!([{"role": "roles/iam.serviceAccountUser", "members": [format!("serviceAccount:{ci}")]}])
    );

    // The bucket is private: CI writes it, the VM only reads it, nobody else gets in.
    let write = "https://www.googleapis.com/auth/devstorage.read_write";
    let read = "https://www.googleapis.com/auth/devstorage.read_only";
    let ci_token = account_token(&stack, ci, write);
    let vm_token = account_token(&stack, vm_account, read);
    let upload = |token: &str| {
        google(
            &stack,
            "POST",
            "/upload/storage/v1/b/claw-cache-claw-demo/o?uploadType=media&name=nix-cache-info",
            token,
            Some(b"StoreDir: /nix/store\n".to_vec()),
        )
    };
    assert_eq!(upload(&ci_token), 200);
    let vm_write_token = account_token(&stack, vm_account, write);
    assert_eq!(
        upload(&vm_write_token),
        403,
        "the VM may not write the cache"
    );
    let object = "/storage/v1/b/claw-cache-claw-demo/o/nix-cache-info?alt=media";
    assert_eq!(google(&stack, "GET", object, &vm_token, None), 200);
    assert_eq!(google(&stack, "GET", object, "", None), 401, "not public");

    // CI may set this VM's metadata (the instance grant and actAs on the VM's account).
    let instance_path = format!("/compute/v1/projects/claw-demo/zones/{zone}/instances/{vm}");
    let compute = "https://www.googleapis.com/auth/compute";
    let ci_compute = account_token(&stack, ci, compute);
    let seen = Client::new(&stack.sim)
        .request(
            "GET",
            &instance_path,
            None,
            &[("authorization", &format!("Bearer {ci_compute}"))],
        )
        .unwrap();
    assert_eq!(seen.status, 200, "{}", seen.text);
    // The VM runs again, as its read-only account.
    assert_eq!(seen.json["status"], "RUNNING");
    assert_eq!(seen.json["serviceAccounts"][0]["email"], vm_account);
    assert_eq!(seen.json["serviceAccounts"][0]["scopes"], json!([read]));
    assert_eq!(
        from_vm("instance/service-accounts/default/email").trim(),
        vm_account
    );

    // The bot is marked linked: the list shows the repository, and its token now lives
    // in the repository only.
    assert_eq!(
        serde_json::from_str::<Value>(sim_vm_metadata(&stack, &vm, "openclaw-github").as_str())
            .unwrap(),
        json!({"repository": full_name, "repositoryId": repo["id"], "installationId": linked_installation(&stack, &full_name)})
    );
    let listed = client.get(&format!("/api/bots/{bot}"));
    assert_eq!(
        listed.json["github"]["repository"],
        full_name.as_str(),
        "{}",
        listed.text
    );
    let refused = client.post(
        &format!("/api/bots/{bot}/secret"),
        json!({"telegramToken": TELEGRAM_TOKEN}),
    );
    assert_eq!(refused.status, 409, "{}", refused.text);
    assert!(
        refused.error().contains("secrets/telegram-token.age"),
        "{}",
        refused.text
    );

    // Nothing secret in KV; nobody else sees the link.
    let kv = stack.kv_contents();
    for secret in ["ghs_", "ghu_", "ya29."] {
        assert!(!kv.contains(secret), "{secret} in KV");
    }
    assert!(kv.contains("github-link:"));
    stack.admin(
        "users",
        json!({"sub": "sub-mallory", "email": "mallory@example.com", "name": "Mallory", "picture": ""}),
    );
    let mallory = stack.client().signed_in();
    let theirs = mallory.get(&format!("/api/bots/{bot}/github/link"));
    assert_eq!(theirs.status, 404, "{}", theirs.text);
}

fn sim_vm_metadata(stack: &Stack, vm: &str, key: &str) -> String {
    deploy_support::sim_vm(stack, "claw-demo", vm)["metadata"][key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key}"))
        .to_string()
}

fn linked_installation(stack: &Stack, full_name: &str) -> Value {
    stack.admin_get(&format!("github/repos/{full_name}"))["installations"][0].clone()
}
