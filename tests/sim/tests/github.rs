//! Simulated GitHub, driven the way a GitHub App's backend drives the real one: App
//! JWTs, installation and its setup redirect, the App's user authorization, installation
//! tokens narrowed to one repository, a repository from the template, contents,
//! environments with sealed secrets, Actions variables, and GitHub's error bodies.

mod common;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use common::{assert_refused, base64_bytes, query_param, sim, Resp, TestSim};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const SETUP_URL: &str = "http://127.0.0.1:9/api/github/setup";
const CALLBACK_URL: &str = "http://127.0.0.1:9/api/github/callback";

fn private_key() -> rsa::RsaPrivateKey {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/github_app_private_key.pem"
    );
    let pem = std::fs::read_to_string(path).expect("fixture key");
    rsa::RsaPrivateKey::from_pkcs1_pem(&pem).expect("PKCS#1 key")
}

fn jwt(key: &rsa::RsaPrivateKey, claims: Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(key.clone());
    let signature = signer.sign(format!("{header}.{payload}").as_bytes());
    format!(
        "{header}.{payload}.{}",
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    )
}

fn now() -> u64 {
    claw_free_sim::clock::now_secs()
}

struct App {
    id: u64,
    client_id: String,
    client_secret: String,
    key: rsa::RsaPrivateKey,
}

impl App {
    fn jwt(&self) -> String {
        jwt(
            &self.key,
            json!({ "iat": now() - 30, "exp": now() + 540, "iss": self.id }),
        )
    }
}

fn register(sim: &TestSim, permissions: Value) -> App {
    let key = private_key();
    let public = key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let r = sim.admin(
        "github/apps",
        json!({
            "slug": "claw-free-test", "name": "claw.free test",
            "publicKey": public, "setupUrl": SETUP_URL, "callbackUrl": CALLBACK_URL,
            "permissions": permissions,
        }),
    );
    let v = r.json();
    App {
        id: v["id"].as_u64().unwrap(),
        client_id: v["clientId"].as_str().unwrap().into(),
        client_secret: v["clientSecret"].as_str().unwrap().into(),
        key,
    }
}

fn all_permissions() -> Value {
    json!({
        "administration": "write", "contents": "write", "environments": "write",
        "actions_variables": "write",
    })
}

fn gh(sim: &TestSim, method: &str, path: &str, token: &str, body: Option<Value>) -> Resp {
    sim.send(method, path, Some(token), body)
}

/// The installation page, answered: the installation id from the setup redirect.
fn install(sim: &TestSim, state: &str) -> (u64, String) {
    let r = sim.anonymous(
        "GET",
        &format!("/apps/claw-free-test/installations/new?state={state}"),
    );
    assert_eq!(r.status, 302, "{}", r.body);
    let location = r.location.unwrap();
    assert!(location.starts_with(SETUP_URL), "{location}");
    let id = query_param(&location, "installation_id")
        .unwrap()
        .parse()
        .unwrap();
    (id, location)
}

/// The App's user authorization with PKCE: a `ghu_` token.
fn user_token(sim: &TestSim, app: &App) -> String {
    let verifier = format!("v{}", claw_free_sim::clock::random_token(40));
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let r = sim.anonymous("GET", &format!(
            "/login/oauth/authorize?client_id={}&redirect_uri={CALLBACK_URL}&state=st&code_challenge={challenge}&code_challenge_method=S256",
            app.client_id
        ));
    assert_eq!(r.status, 302, "{}", r.body);
    let location = r.location.unwrap();
    assert_eq!(query_param(&location, "state").as_deref(), Some("st"));
    let code = query_param(&location, "code").expect("code");
    let exchange = |verifier: &str| {
        let r = sim
            .request("POST", "/login/oauth/access_token")
            .set("Accept", "application/json")
            .send_form(&[
                ("client_id", app.client_id.as_str()),
                ("client_secret", app.client_secret.as_str()),
                ("code", code.as_str()),
                ("redirect_uri", CALLBACK_URL),
                ("code_verifier", verifier),
            ])
            .unwrap();
        serde_json::from_str::<Value>(&r.into_string().unwrap()).unwrap()
    };
    let token = exchange(&verifier);
    assert_eq!(token["token_type"], "bearer", "{token}");
    assert_eq!(token["expires_in"], 28800);
    // A code works once.
    assert_eq!(exchange(&verifier)["error"], "bad_verification_code");
    token["access_token"].as_str().unwrap().to_string()
}

#[test]
fn app_jwt_is_verified_with_the_apps_public_key() {
    let sim = sim();
    let app = register(&sim, all_permissions());
    let r = gh(&sim, "GET", "/app", &app.jwt(), None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["slug"], "claw-free-test");
    assert_eq!(r.json()["permissions"]["metadata"], "read");

    // A signature that does not verify, a lifetime over ten minutes, an expired token.
    let mut forged = app.jwt();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let cases = [
        (forged, "A JSON web token could not be decoded"),
        (
            jwt(&app.key, json!({ "iat": now(), "exp": now() + 3600, "iss": app.id })),
            "'Expiration time' claim ('exp') is too far in the future",
        ),
        (
            jwt(&app.key, json!({ "iat": now() - 900, "exp": now() - 300, "iss": app.id })),
            "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
        ),
    ];
    for (token, message) in cases {
        let r = gh(&sim, "GET", "/app", &token, None);
        assert_eq!(r.status, 401, "{}", r.body);
        assert_eq!(r.json()["message"], message);
        assert_eq!(
            r.json()["documentation_url"],
            "https://docs.github.com/rest"
        );
    }
    // The client id is an accepted issuer too.
    let by_client = jwt(
        &app.key,
        json!({ "iat": now(), "exp": now() + 60, "iss": app.client_id }),
    );
    assert_eq!(gh(&sim, "GET", "/app", &by_client, None).status, 200);
}

#[test]
fn installation_redirects_to_setup_and_the_user_token_proves_whose_it_is() {
    let sim = sim();
    let app = register(&sim, all_permissions());
    let (id, location) = install(&sim, "s%201");
    assert_eq!(
        query_param(&location, "setup_action").as_deref(),
        Some("install")
    );
    assert_eq!(query_param(&location, "state").as_deref(), Some("s 1"));
    // Installing again updates the same installation.
    let (again, location) = install(&sim, "x");
    assert_eq!(again, id);
    assert_eq!(
        query_param(&location, "setup_action").as_deref(),
        Some("update")
    );

    let token = user_token(&sim, &app);
    assert!(token.starts_with("ghu_"));
    let me = gh(&sim, "GET", "/user", &token, None);
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.json()["login"], "ada-lovelace");
    let list = gh(&sim, "GET", "/user/installations", &token, None).json();
    assert_eq!(list["total_count"], 1);
    assert_eq!(list["installations"][0]["id"], id);
    assert_eq!(list["installations"][0]["app_id"], app.id);

    // Another person's installation of the same App is not in Ada's list.
    sim.admin("github/sign-in", json!({ "login": "mallory" }));
    let (theirs, _) = install(&sim, "y");
    assert_ne!(theirs, id);
    let list = gh(&sim, "GET", "/user/installations", &token, None).json();
    assert_eq!(list["total_count"], 1, "{list}");
    let mallory = user_token(&sim, &app);
    let list = gh(&sim, "GET", "/user/installations", &mallory, None).json();
    assert_eq!(list["installations"][0]["id"], theirs);
    let other = gh(&sim, "GET", "/user/installations", "ghu_nope", None);
    assert_refused(&other, 401, "Bad credentials");

    // A wrong verifier gets GitHub's 200-with-error answer.
    let r = sim
        .request("POST", "/login/oauth/access_token")
        .set("Accept", "application/json")
        .send_form(&[
            ("client_id", app.client_id.as_str()),
            ("client_secret", "wrong"),
            ("code", "x"),
        ])
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = serde_json::from_str(&r.into_string().unwrap()).unwrap();
    assert_eq!(body["error"], "incorrect_client_credentials");
}

#[test]
fn installation_tokens_are_narrowed_to_one_repository_and_expire() {
    let sim = sim();
    let app = register(&sim, all_permissions());
    sim.admin("github/repos", json!({ "name": "bot", "private": true }));
    sim.admin("github/repos", json!({ "name": "diary", "private": true }));
    let (inst, _) = install(&sim, "s");
    let path = format!("/app/installations/{inst}/access_tokens");

    let r = gh(
        &sim,
        "POST",
        &path,
        &app.jwt(),
        Some(json!({ "repositories": ["bot"], "permissions": { "contents": "write" } })),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let body = r.json();
    assert_eq!(body["repository_selection"], "selected");
    assert_eq!(body["repositories"][0]["full_name"], "ada-lovelace/bot");
    assert!(body["expires_at"].as_str().unwrap().ends_with('Z'));
    let token = body["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("ghs_"));

    assert_eq!(
        gh(&sim, "GET", "/repos/ada-lovelace/bot", &token, None).status,
        200
    );
    let hidden = gh(&sim, "GET", "/repos/ada-lovelace/diary", &token, None);
    assert_refused(&hidden, 404, "Not Found");
    // Only the permissions asked for: no environments.
    let env = gh(
        &sim,
        "PUT",
        "/repos/ada-lovelace/bot/environments/rollout",
        &token,
        Some(json!({})),
    );
    assert_refused(&env, 403, "Resource not accessible by integration");

    // More than the App has, or a repository outside the installation: 422.
    let r = gh(
        &sim,
        "POST",
        &path,
        &app.jwt(),
        Some(json!({ "permissions": { "workflows": "write" } })),
    );
    assert_refused(
        &r,
        422,
        "The permissions requested are not granted to this installation.",
    );
    let r = gh(
        &sim,
        "POST",
        &path,
        &app.jwt(),
        Some(json!({ "repositories": ["bot-template"] })),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    // An installation token cannot mint tokens; nor can a missing installation be used.
    assert_eq!(gh(&sim, "POST", &path, &token, None).status, 401);
    assert_eq!(
        gh(
            &sim,
            "POST",
            "/app/installations/1/access_tokens",
            &app.jwt(),
            None
        )
        .status,
        404
    );

    sim.admin("github/tokens/expire", json!({}));
    let r = gh(&sim, "GET", "/repos/ada-lovelace/bot", &token, None);
    assert_refused(&r, 401, "Bad credentials");
}

#[test]
fn a_repository_from_the_template_gets_files_an_environment_a_sealed_secret_and_variables() {
    let sim = sim();
    let app = register(&sim, all_permissions());
    sim.admin("github/install-choice", json!({ "repositories": [] }));
    let (inst, _) = install(&sim, "s");
    let user = user_token(&sim, &app);

    let r = gh(
        &sim,
        "POST",
        "/repos/claw-free/bot-template/generate",
        &user,
        Some(json!({ "owner": "ada-lovelace", "name": "my-bot", "private": true })),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let repo = r.json();
    assert_eq!(repo["full_name"], "ada-lovelace/my-bot");
    let again = gh(
        &sim,
        "POST",
        "/repos/claw-free/bot-template/generate",
        &user,
        Some(json!({ "name": "my-bot", "private": true })),
    );
    assert_eq!(again.status, 422);
    assert_eq!(
        again.json()["errors"][0]["message"],
        "name already exists on this account"
    );
    let admin = sim.admin_get("github/repos/ada-lovelace/my-bot");
    assert!(admin["files"]["flake.nix"].is_string());
    assert_eq!(admin["installations"], json!([inst]));

    // An installation token for that repository alone, by id.
    let r = gh(
        &sim,
        "POST",
        &format!("/app/installations/{inst}/access_tokens"),
        &app.jwt(),
        Some(json!({ "repository_ids": [repo["id"]] })),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let token = r.text("token");

    // Contents: create, update only with the current sha, never a workflow.
    let file = "/repos/ada-lovelace/my-bot/contents/secrets/recipients.txt";
    let put = |body: Value| gh(&sim, "PUT", file, &token, Some(body));
    let created = put(
        json!({ "message": "Pin the VM's recipient", "content": STANDARD.encode("ssh-ed25519 AAAA") }),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let sha = created.json()["content"]["sha"]
        .as_str()
        .unwrap()
        .to_string();
    let no_sha = put(json!({ "message": "again", "content": STANDARD.encode("x") }));
    assert_eq!(no_sha.status, 422);
    assert_eq!(
        no_sha.json()["message"],
        "Invalid request.\n\n\"sha\" wasn't supplied."
    );
    let stale = put(json!({ "message": "again", "content": STANDARD.encode("x"), "sha": "0000" }));
    assert_eq!(stale.status, 409);
    assert_eq!(
        put(json!({ "message": "again", "content": STANDARD.encode("y"), "sha": sha })).status,
        200
    );
    let workflow = gh(
        &sim,
        "PUT",
        "/repos/ada-lovelace/my-bot/contents/.github/workflows/x.yml",
        &token,
        Some(json!({ "message": "m", "content": STANDARD.encode("on: push") })),
    );
    assert_eq!(workflow.status, 403);
    assert_eq!(sim.send("PUT", file, Some(&token), None).status, 400);

    // An environment and a secret sealed to the repository's key.
    let env = gh(
        &sim,
        "PUT",
        "/repos/ada-lovelace/my-bot/environments/rollout",
        &token,
        None,
    );
    assert_eq!(env.status, 200, "{}", env.body);
    assert_eq!(env.json()["name"], "rollout");
    let missing = gh(
        &sim,
        "GET",
        "/repos/ada-lovelace/my-bot/environments/nope/secrets/public-key",
        &token,
        None,
    );
    assert_eq!(missing.status, 404);
    let key = gh(
        &sim,
        "GET",
        "/repos/ada-lovelace/my-bot/environments/rollout/secrets/public-key",
        &token,
        None,
    )
    .json();
    let public: [u8; 32] = base64_bytes(&key["key"]).try_into().unwrap();
    let sealed = crypto_box::PublicKey::from(public)
        .seal(&mut rand_core::OsRng, b"nix-signing-key-secret")
        .unwrap();
    let secret = "/repos/ada-lovelace/my-bot/environments/rollout/secrets/NIX_SIGNING_KEY";
    let body = json!({ "encrypted_value": STANDARD.encode(&sealed), "key_id": key["key_id"] });
    assert_eq!(
        gh(&sim, "PUT", secret, &token, Some(body.clone())).status,
        201
    );
    assert_eq!(gh(&sim, "PUT", secret, &token, Some(body)).status, 204);
    let garbage = gh(
        &sim,
        "PUT",
        secret,
        &token,
        Some(json!({ "encrypted_value": STANDARD.encode([7u8; 64]), "key_id": key["key_id"] })),
    );
    assert_eq!(garbage.status, 422);
    assert_eq!(garbage.json()["errors"][0]["field"], "encrypted_value");
    let stale_key = gh(
        &sim,
        "PUT",
        secret,
        &token,
        Some(json!({ "encrypted_value": STANDARD.encode(&sealed), "key_id": "1" })),
    );
    assert_eq!(stale_key.status, 422);

    // Actions variables: create, refuse a duplicate, update.
    let vars = "/repos/ada-lovelace/my-bot/actions/variables";
    let v = json!({ "name": "GCP_PROJECT", "value": "claw-demo" });
    assert_eq!(gh(&sim, "POST", vars, &token, Some(v.clone())).status, 201);
    let dup = gh(&sim, "POST", vars, &token, Some(v));
    assert_refused(&dup, 409, "Already exists - Variable already exists");
    assert_eq!(
        gh(
            &sim,
            "PATCH",
            &format!("{vars}/GCP_PROJECT"),
            &token,
            Some(json!({ "value": "claw-fresh" }))
        )
        .status,
        204
    );
    assert_eq!(
        gh(&sim, "GET", &format!("{vars}/GCP_PROJECT"), &token, None).json()["value"],
        "claw-fresh"
    );
    let bad = gh(
        &sim,
        "POST",
        vars,
        &token,
        Some(json!({ "name": "GITHUB_X", "value": "v" })),
    );
    assert_eq!(bad.status, 422);

    let admin = sim.admin_get("github/repos/ada-lovelace/my-bot");
    let opened = base64_bytes(&admin["environments"]["rollout"]["secrets"]["NIX_SIGNING_KEY"]);
    assert_eq!(opened, b"nix-signing-key-secret");
    assert_eq!(admin["variables"]["GCP_PROJECT"], "claw-fresh");
    assert_eq!(
        base64_bytes(&admin["files"]["secrets/recipients.txt"]),
        b"y"
    );
    assert!(sim.counter("github.environments.secret") >= 4);
}

#[test]
fn only_a_users_token_makes_a_repository_in_a_users_account_and_main_is_protected_with_pro() {
    let sim = sim();
    let app = register(&sim, all_permissions());
    let (inst, _) = install(&sim, "s");
    let user = user_token(&sim, &app);
    let token_for = |body: Value| {
        gh(
            &sim,
            "POST",
            &format!("/app/installations/{inst}/access_tokens"),
            &app.jwt(),
            Some(body),
        )
        .json()["token"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // An installation token acts as the App: no repositories in a user's account.
    let installation = token_for(json!({}));
    let body = json!({ "owner": "ada-lovelace", "name": "my-bot", "private": true });
    let refused = gh(
        &sim,
        "POST",
        "/repos/claw-free/bot-template/generate",
        &installation,
        Some(body.clone()),
    );
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(
        refused.json()["message"],
        "Resource not accessible by integration"
    );
    let made = gh(
        &sim,
        "POST",
        "/repos/claw-free/bot-template/generate",
        &user,
        Some(body),
    );
    assert_eq!(made.status, 201, "{}", made.body);
    let id = made.json()["id"].clone();

    // The user's view of the installation's repositories.
    let listed = gh(
        &sim,
        "GET",
        &format!("/user/installations/{inst}/repositories"),
        &user,
        None,
    );
    assert_eq!(listed.status, 200, "{}", listed.body);
    let names: Vec<String> = listed.json()["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["full_name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        names.contains(&"ada-lovelace/my-bot".to_string()),
        "{names:?}"
    );
    let other = gh(
        &sim,
        "GET",
        &format!("/user/installations/{}/repositories", inst + 1),
        &user,
        None,
    );
    assert_eq!(other.status, 404);

    // Branch protection: administration, all four rules, Pro for a private repository.
    let token = token_for(json!({ "repository_ids": [id] }));
    let path = "/repos/ada-lovelace/my-bot/branches/main/protection";
    let rules = json!({
        "required_status_checks": null, "enforce_admins": true,
        "required_pull_request_reviews": { "required_approving_review_count": 0 },
        "restrictions": null,
    });
    let free = gh(&sim, "PUT", path, &token, Some(rules.clone()));
    assert_eq!(free.status, 403, "{}", free.body);
    assert!(free.text("message").starts_with("Upgrade to GitHub Pro"));
    sim.admin(
        "github/plan",
        json!({ "login": "ada-lovelace", "plan": "pro" }),
    );
    let partial = gh(
        &sim,
        "PUT",
        path,
        &token,
        Some(json!({ "required_pull_request_reviews": {} })),
    );
    assert_eq!(partial.status, 422, "{}", partial.body);
    let narrow =
        token_for(json!({ "repository_ids": [id], "permissions": { "contents": "write" } }));
    assert_eq!(
        gh(&sim, "PUT", path, &narrow, Some(rules.clone())).status,
        403
    );
    let protected = gh(&sim, "PUT", path, &token, Some(rules));
    assert_eq!(protected.status, 200, "{}", protected.body);
    let read = gh(&sim, "GET", path, &token, None).json();
    assert_eq!(
        read["required_pull_request_reviews"]["required_approving_review_count"],
        0
    );
    assert_eq!(read["enforce_admins"]["enabled"], true);
    let admin = sim.admin_get("github/repos/ada-lovelace/my-bot");
    assert!(admin["protection"]["main"].is_object());
}
