//! Linking a bot to a GitHub repository through wrangler dev and the simulated GitHub
//! App: from the bot list to the App's install page, GitHub's setup redirect, the App's
//! user authorization (PKCE) and back, with the installation proven the person's.

use claw_free_it::{free_port, Client, Stack, StackOptions};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::json;

const FIXTURE_PEM: &str = include_str!("../../fixtures/github_app_private_key.pem");
const BOT: &str = "claw-demo/us-central1-a/my-bot-010203";
const APP_ID: u64 = 424242;

/// The stack with GitHub mode on, the App registered in the simulator.
fn github_stack() -> Stack {
    let sim_port = free_port();
    let sim = format!("http://127.0.0.1:{sim_port}");
    let mut options = StackOptions {
        sim_port,
        ..StackOptions::default()
    };
    for (name, value) in [
        ("GITHUB_APP_SLUG", "claw-free-local".to_string()),
        ("GITHUB_APP_CLIENT_ID", "Iv23local".into()),
        ("GITHUB_APP_CLIENT_SECRET", "local-github-secret".into()),
        ("GITHUB_APP_PRIVATE_KEY", FIXTURE_PEM.into()),
        ("GITHUB_API", sim.clone()),
        ("GITHUB_WEB", sim.clone()),
    ] {
        options.vars.insert(name.into(), value);
    }
    options
        .vars
        .insert("GITHUB_APP_ID".into(), APP_ID.to_string());
    let stack = Stack::start(options);
    let public_key = rsa::RsaPrivateKey::from_pkcs1_pem(FIXTURE_PEM)
        .unwrap()
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let app = stack.admin(
        "github/apps",
        json!({
            "slug": "claw-free-local", "name": "claw.free local", "publicKey": public_key,
            "setupUrl": format!("{}/api/github/setup", stack.site),
            "callbackUrl": format!("{}/api/github/callback", stack.site),
            "permissions": {"contents": "write", "environments": "write",
                            "secrets": "write", "variables": "write"},
            "clientId": "Iv23local", "clientSecret": "local-github-secret", "id": APP_ID,
        }),
    );
    assert_eq!(app["id"], APP_ID);
    stack
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
    let start = client.get(&format!("/api/bots/{BOT}/github"));
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
    let installation = setup
        .split("installation_id=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string();
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
    let their_id = theirs
        .split("installation_id=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
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
