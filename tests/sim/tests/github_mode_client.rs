//! The Worker's GitHub client (`claw_free::github`) against simulated GitHub, the way
//! linking uses it: the App's user authorization with PKCE, the check that the
//! installation is the signed-in user's, a private repository from the template, an
//! installation token narrowed to it, the deploy environment with the cache's Nix key
//! sealed into it, the workflow's variables and `claw-free.json`. The simulator opens
//! the sealed secret, so the Worker's sealed box is checked by another implementation.

mod common;
mod worker_ports;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use claw_free::github::app_jwt::{app_jwt, AppKey};
use claw_free::github::client::{is_users_installation, GitHub, RepoName};
use claw_free::github::nix_key::NixKeyPair;
use claw_free::github::plan::{CONFIG_FILE, ENVIRONMENT, SIGNING_KEY_SECRET};
use claw_free::github::sealed_box::seal;
use common::{base64_bytes, query_param, sim, TestSim};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::json;
use sha2::{Digest, Sha256};
use worker_ports::{block_on, Native};

const FIXTURE: &str = include_str!("../../fixtures/github_app_private_key.pem");
const CALLBACK: &str = "http://127.0.0.1:9/api/github/callback";

/// The browser's side of the App's user authorization: the code GitHub sends back.
fn authorize(sim: &TestSim, client_id: &str, challenge: &str) -> String {
    let r = sim.anonymous("GET", &format!("/login/oauth/authorize?client_id={client_id}&redirect_uri={CALLBACK}&state=s&code_challenge={challenge}&code_challenge_method=S256"));
    query_param(r.location.as_deref().unwrap(), "code").unwrap()
}

#[test]
fn linking_writes_the_repository_with_the_workers_own_calls() {
    let sim = sim();
    let native = Native::new();
    let github = GitHub {
        api: sim.url.clone(),
        web: sim.url.clone(),
    };
    let private = rsa::RsaPrivateKey::from_pkcs1_pem(FIXTURE).unwrap();
    let app = sim
        .admin(
            "github/apps",
            json!({
                "slug": "claw-free", "name": "claw.free",
                "publicKey": private.to_public_key().to_public_key_pem(LineEnding::LF).unwrap(),
                "setupUrl": "http://127.0.0.1:9/api/github/setup", "callbackUrl": CALLBACK,
                "permissions": { "administration": "write", "contents": "write", "environments": "write", "actions_variables": "write" },
            }),
        )
        .json();
    let (app_id, client_id, client_secret) = (
        app["id"].as_u64().unwrap(),
        app["clientId"].as_str().unwrap().to_string(),
        app["clientSecret"].as_str().unwrap().to_string(),
    );
    let setup = sim.anonymous("GET", "/apps/claw-free/installations/new?state=x");
    let installation: u64 = query_param(setup.location.as_deref().unwrap(), "installation_id")
        .unwrap()
        .parse()
        .unwrap();

    // The user authorization proves whose installation it is.
    let verifier = format!("v{}", claw_free_sim::clock::random_token(40));
    let code = authorize(
        &sim,
        &client_id,
        &URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
    );
    let exchange = || {
        block_on(github.exchange_code(
            &native,
            &client_id,
            &client_secret,
            &code,
            CALLBACK,
            &verifier,
        ))
    };
    let user = exchange().unwrap();
    let reused = exchange();
    assert!(
        matches!(reused, Err(claw_free::github::client::GitHubFailure::OAuth(ref e)) if e == "bad_verification_code"),
        "{reused:?}"
    );
    let mine = block_on(github.user_installations(&native, &user)).unwrap();
    assert!(is_users_installation(&mine, app_id, installation));
    assert!(!is_users_installation(&mine, app_id, installation + 1));

    // A private repository from the template, and a token for it alone.
    let template = RepoName::parse("claw-free/bot-template").unwrap();
    let repo =
        block_on(github.generate(&native, &user, &template, "ada-lovelace", "my-bot")).unwrap();
    assert!(repo.private);
    let name = RepoName::parse(&repo.full_name).unwrap();
    let key = AppKey::from_pem(FIXTURE).unwrap();
    let jwt = block_on(app_jwt(
        &native,
        &key,
        app_id,
        claw_free_sim::clock::now_secs(),
    ))
    .unwrap();
    let token = block_on(github.installation_token(
        &native,
        &jwt,
        installation,
        repo.id,
        &[
            ("contents", "write"),
            ("environments", "write"),
            ("actions_variables", "write"),
            ("administration", "write"),
        ],
    ))
    .unwrap();

    let target = sim.claw_demo_target(repo.id, &repo.full_name);
    let nix_key = NixKeyPair::generate(&native, &target.signing_key_name()).unwrap();
    let repository = github.repo(&native, &token, &name);
    block_on(repository.ensure_environment(ENVIRONMENT)).unwrap();
    let sealing = block_on(repository.environment_key(ENVIRONMENT)).unwrap();
    let sealed = seal(&native, &sealing, nix_key.expose_secret().as_bytes()).unwrap();
    block_on(repository.put_environment_secret(ENVIRONMENT, SIGNING_KEY_SECRET, &sealing, &sealed))
        .unwrap();
    // Variables twice: linking again updates them.
    for _ in 0..2 {
        for (variable, value) in target.variables() {
            block_on(repository.set_variable(variable, &value)).unwrap();
        }
        block_on(
            repository.put_file(
                CONFIG_FILE,
                "claw.free: the cache",
                target
                    .config_file(nix_key.public(), "8412345678901234567")
                    .as_bytes(),
            ),
        )
        .unwrap();
    }

    let written = sim.admin_get("github/repos/ada-lovelace/my-bot");
    let opened =
        base64_bytes(&written["environments"]["deploy"]["secrets"]["CLAW_CACHE_SIGNING_KEY"]);
    assert_eq!(opened, nix_key.expose_secret().as_bytes());
    for (variable, value) in target.variables() {
        assert_eq!(written["variables"][variable], value.as_str(), "{variable}");
    }
    let config = base64_bytes(&written["files"][CONFIG_FILE]);
    assert_eq!(
        String::from_utf8(config).unwrap(),
        target.config_file(nix_key.public(), "8412345678901234567")
    );
    // The token reaches nothing else of the owner's.
    sim.admin("github/repos", json!({ "name": "diary", "private": true }));
    let other = RepoName::parse("ada-lovelace/diary").unwrap();
    let hidden = block_on(
        github
            .repo(&native, &token, &other)
            .put_file("x", "m", b"x"),
    );
    assert!(
        matches!(
            hidden,
            Err(claw_free::github::client::GitHubFailure::NotFound(_))
        ),
        "{hidden:?}"
    );
}
