//! What a bot's VM meets when it proposes a change: the metadata server's Google identity
//! token (verifiable with the simulator's published keys), and GitHub's repository
//! installation, git refs, contents on a branch and pull requests, with GitHub's rules
//! (workflows need `workflows`, a protected branch takes no direct writes, a pull
//! request needs changes and is one per head).

mod common;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use common::{assert_refused, sim, TestSim};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use serde_json::{json, Value};
use sha2::Sha256;

const OWNER: &str = "ada-lovelace";

fn app_key() -> rsa::RsaPrivateKey {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/github_app_private_key.pem"
    );
    rsa::RsaPrivateKey::from_pkcs1_pem(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn app_jwt(id: u64) -> String {
    let now = claw_free_sim::clock::now_secs();
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(json!({"iat": now - 30, "exp": now + 500, "iss": id}).to_string())
    );
    let signature = rsa::pkcs1v15::SigningKey::<Sha256>::new(app_key()).sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

/// An App with everything, installed on `my-bot` (which holds `bot.nix` and a
/// workflow); the App's id.
fn setup(sim: &TestSim) -> u64 {
    let public = app_key()
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let app = sim.admin(
        "github/apps",
        json!({"slug": "claw-free-test", "name": "t", "publicKey": public,
               "setupUrl": "http://127.0.0.1:9/s", "callbackUrl": "http://127.0.0.1:9/c",
               "permissions": {"contents": "write", "pull_requests": "write", "workflows": "write"}}),
    );
    sim.admin("github/repos", json!({"name": "my-bot", "private": true}));
    sim.admin("github/install-choice", json!({"repositories": ["my-bot"]}));
    let r = sim.anonymous("GET", "/apps/claw-free-test/installations/new?state=x");
    assert_eq!(r.status, 302);
    for (path, text) in [
        ("bot.nix", "{ }\n"),
        (".github/workflows/deploy.yml", "on: push\n"),
    ] {
        sim.admin(
            &format!("github/repos/{OWNER}/my-bot/files"),
            json!({"path": path, "content": STANDARD.encode(text)}),
        );
    }
    app.json()["id"].as_u64().unwrap()
}

/// An installation token for `my-bot` with `permissions`.
fn token(sim: &TestSim, app: u64, permissions: Value) -> String {
    let installation = sim.get(
        &format!("/repos/{OWNER}/my-bot/installation"),
        &app_jwt(app),
    );
    assert_eq!(installation.status, 200, "{}", installation.body);
    let id = installation.json()["id"].as_u64().unwrap();
    let minted = sim.post(
        &format!("/app/installations/{id}/access_tokens"),
        &app_jwt(app),
        json!({"repositories": ["my-bot"], "permissions": permissions}),
    );
    assert_eq!(minted.status, 201, "{}", minted.body);
    minted.text("token")
}

fn put(
    sim: &TestSim,
    token: &str,
    path: &str,
    branch: &str,
    text: &str,
    sha: Option<&str>,
) -> common::Resp {
    let mut body = json!({"message": "m", "content": STANDARD.encode(text), "branch": branch});
    if let Some(sha) = sha {
        body["sha"] = json!(sha);
    }
    sim.send(
        "PUT",
        &format!("/repos/{OWNER}/my-bot/contents/{path}"),
        Some(token),
        Some(body),
    )
}

#[test]
fn a_branch_a_commit_on_it_and_a_pull_request_with_githubs_rules() {
    let sim = sim();
    let app = setup(&sim);
    let writer = token(
        &sim,
        app,
        json!({"contents": "write", "pull_requests": "write"}),
    );
    let repo = format!("/repos/{OWNER}/my-bot");
    let main = sim.get(&format!("{repo}/git/ref/heads/main"), &writer);
    assert_eq!(main.status, 200, "{}", main.body);
    let base = main.json()["object"]["sha"].as_str().unwrap().to_string();
    assert_eq!(
        sim.get(&format!("{repo}/git/ref/heads/nope"), &writer)
            .status,
        404
    );

    let branch = |name: &str, sha: &str| {
        sim.post(
            &format!("{repo}/git/refs"),
            &writer,
            json!({"ref": format!("refs/heads/{name}"), "sha": sha}),
        )
    };
    assert_eq!(branch("claw-free/x", &base).status, 201);
    let again = branch("claw-free/x", &base);
    assert_refused(&again, 422, "Reference already exists");
    assert_eq!(
        branch("other", "0000").json()["message"],
        "Object does not exist"
    );
    assert_eq!(branch("a..b", &base).status, 422);

    // No change yet: no pull request.
    let pull = |head: &str| {
        sim.post(
            &format!("{repo}/pulls"),
            &writer,
            json!({"title": "Bump", "head": head, "base": "main", "body": "why"}),
        )
    };
    let empty = pull("claw-free/x");
    assert_eq!(empty.status, 422, "{}", empty.body);
    assert_eq!(
        empty.json()["errors"][0]["message"],
        "No commits between main and claw-free/x"
    );

    // An existing file needs its sha; the branch sees main's.
    assert_eq!(
        put(
            &sim,
            &writer,
            "bot.nix",
            "claw-free/x",
            "{ a = 1; }\n",
            None
        )
        .status,
        422
    );
    let current = sim.get(&format!("{repo}/contents/bot.nix?ref=claw-free/x"), &writer);
    let sha = current.text("sha");
    let written = put(
        &sim,
        &writer,
        "bot.nix",
        "claw-free/x",
        "{ a = 1; }\n",
        Some(&sha),
    );
    assert_eq!(written.status, 200, "{}", written.body);
    // A workflow needs `workflows`, on a branch too.
    let workflow = put(
        &sim,
        &writer,
        ".github/workflows/deploy.yml",
        "claw-free/x",
        "x",
        Some("s"),
    );
    assert_eq!(workflow.status, 403, "{}", workflow.body);
    assert_eq!(
        workflow.json()["message"],
        "Resource not accessible by integration"
    );

    // A blank title or commit message is a missing field.
    let untitled = sim.post(
        &format!("{repo}/pulls"),
        &writer,
        json!({"title": " ", "head": "claw-free/x", "base": "main"}),
    );
    assert_eq!(untitled.status, 422, "{}", untitled.body);
    assert_eq!(
        untitled.json()["errors"][0],
        json!({"resource": "PullRequest", "field": "title", "code": "missing_field"})
    );
    let unexplained = sim.send(
        "PUT",
        &format!("{repo}/contents/notes.txt"),
        Some(&writer),
        Some(json!({"message": "", "content": STANDARD.encode("x"), "branch": "claw-free/x"})),
    );
    assert_eq!(unexplained.status, 422, "{}", unexplained.body);
    assert_eq!(
        unexplained.json()["errors"][0],
        json!({"resource": "Commit", "field": "message", "code": "missing_field"})
    );

    let opened = pull("claw-free/x");
    assert_eq!(opened.status, 201, "{}", opened.body);
    assert_eq!(
        opened.json()["html_url"],
        format!("https://github.com/{OWNER}/my-bot/pull/1")
    );
    let twice = pull("claw-free/x");
    assert_eq!(twice.status, 422);
    assert!(twice.json()["errors"][0]["message"]
        .as_str()
        .unwrap()
        .starts_with("A pull request already exists"));

    let held = sim.admin_get(&format!("github/repos/{OWNER}/my-bot/pulls"));
    assert_eq!(
        held["pulls"][0]["files"]["bot.nix"],
        STANDARD.encode("{ a = 1; }\n")
    );
    assert_eq!(held["pulls"][0]["files"].as_object().unwrap().len(), 1);
    // main is unchanged.
    let repo_view = sim.admin_get(&format!("github/repos/{OWNER}/my-bot"));
    assert_eq!(repo_view["files"]["bot.nix"], STANDARD.encode("{ }\n"));

    // A branch can be deleted, once; main cannot.
    assert_eq!(branch("claw-free/y", &base).status, 201);
    let delete = |name: &str| sim.delete(&format!("{repo}/git/refs/heads/{name}"), &writer);
    assert_eq!(delete("claw-free/y").status, 204);
    assert_eq!(
        delete("claw-free/y").json()["message"],
        "Reference does not exist"
    );
    assert_eq!(delete("main").status, 422);

    // Without pull_requests, no pull request; a protected main takes no direct write.
    let contents_only = token(&sim, app, json!({"contents": "write"}));
    let r = sim.post(
        &format!("{repo}/pulls"),
        &contents_only,
        json!({"title": "t", "head": "claw-free/x", "base": "main"}),
    );
    assert_eq!(r.status, 403);
    assert_eq!(put(&sim, &writer, "new.txt", "main", "x", None).status, 201);
    sim.admin(
        &format!("github/repos/{OWNER}/my-bot/protect"),
        json!({"branch": "main"}),
    );
    let refused = put(&sim, &writer, "new2.txt", "main", "x", None);
    assert_refused(
        &refused,
        409,
        "Changes must be made through a pull request.",
    );
}

#[test]
fn the_metadata_server_signs_identity_tokens_as_google() {
    let sim = sim();
    sim.admin(
        "vms",
        json!({"project": "claw-demo", "zone": "us-central1-a", "instance": "with-sa",
               "serviceAccounts": [{"email": "vm@claw-demo.iam.gserviceaccount.com", "scopes": []}]}),
    );
    let made = sim.admin(
        "vms",
        json!({"project": "claw-demo", "zone": "us-central1-a", "instance": "without-sa"}),
    );
    assert!(made.json()["id"].as_str().is_some());
    let vm = "claw-demo/us-central1-a/with-sa";
    let path = "instance/service-accounts/default/identity?audience=https://claw.free&format=full";
    let r = sim.metadata(vm, path);
    assert_eq!(r.status, 200, "{}", r.body);
    let token = r.body.trim().to_string();
    let (input, signature) = token.rsplit_once('.').unwrap();
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(input.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["iss"], "https://accounts.google.com");
    assert_eq!(claims["aud"], "https://claw.free");
    assert_eq!(
        claims["google"]["compute_engine"]["instance_name"],
        "with-sa"
    );
    assert_eq!(
        claims["google"]["compute_engine"]["project_id"],
        "claw-demo"
    );
    assert!(claims["google"]["compute_engine"]["instance_id"].is_string());
    // Verifies with the key Google publishes, in the JWK set.
    let keys = sim.anonymous("GET", "/oauth2/v3/certs").json();
    let key = &keys["keys"][0];
    let number = |k: &str| {
        rsa::BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(key[k].as_str().unwrap()).unwrap())
    };
    let public = rsa::RsaPublicKey::new(number("n"), number("e")).unwrap();
    let signature =
        rsa::pkcs1v15::Signature::try_from(URL_SAFE_NO_PAD.decode(signature).unwrap().as_slice())
            .unwrap();
    rsa::pkcs1v15::VerifyingKey::<Sha256>::new(public)
        .verify(input.as_bytes(), &signature)
        .unwrap();
    // `standard` carries no VM; no audience is 400; no service account is 404.
    let standard = sim.metadata(
        vm,
        "instance/service-accounts/default/identity?audience=https://claw.free",
    );
    let payload = standard.body.split('.').nth(1).unwrap().to_string();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert!(claims.get("google").is_none());
    let missing = sim.metadata(vm, "instance/service-accounts/default/identity");
    assert_eq!(missing.status, 400);
    assert_eq!(missing.body, "non-empty audience parameter required");
    assert_eq!(
        sim.metadata("claw-demo/us-central1-a/without-sa", path)
            .status,
        404
    );
}
