//! The local stack's GitHub App: the Worker's `GITHUB_*` configuration pointing at the
//! simulator, and the same App registered in the simulator (its public key derived from
//! the fixture's private key, its setup and callback URLs the Worker's), so linking a
//! bot works in tests and under `scripts/dev` as it does against github.com.

use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::{json, Value};

/// The development App's private key (a fixture; never a real App's).
pub const PRIVATE_KEY_PEM: &str = include_str!("../../fixtures/github_app_private_key.pem");
pub const APP_ID: u64 = 424242;
pub const SLUG: &str = "claw-free-local";
pub const CLIENT_ID: &str = "Iv23local";
pub const CLIENT_SECRET: &str = "local-github-secret";

/// The Worker's `[vars]` for the App, with GitHub at the simulator `sim`.
pub fn worker_vars(sim: &str) -> Vec<(String, String)> {
    let app_id = APP_ID.to_string();
    let fixed = [
        ("GITHUB_APP_ID", app_id.as_str()),
        ("GITHUB_APP_SLUG", SLUG),
        ("GITHUB_APP_CLIENT_ID", CLIENT_ID),
        ("GITHUB_APP_CLIENT_SECRET", CLIENT_SECRET),
        ("GITHUB_APP_PRIVATE_KEY", PRIVATE_KEY_PEM),
    ];
    let urls = crate::at_sim(
        sim,
        &[
            ("GITHUB_API", ""),
            ("GITHUB_WEB", ""),
            ("GOOGLE_CERTS_URL", "/oauth2/v3/certs"),
        ],
    );
    crate::named(&fixed).chain(urls).collect()
}

/// The body of the simulator's `POST /_admin/github/apps` for the App of the Worker at `site`.
pub fn registration(site: &str) -> Value {
    let public_key = rsa::RsaPrivateKey::from_pkcs1_pem(PRIVATE_KEY_PEM)
        .expect("the fixture App key")
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("a PEM public key");
    json!({
        "slug": SLUG, "name": "claw.free local", "publicKey": public_key,
        "setupUrl": format!("{site}/api/github/setup"),
        "callbackUrl": format!("{site}/api/github/callback"),
        "permissions": {"contents": "write", "environments": "write",
                        "administration": "write", "actions_variables": "write",
                        "pull_requests": "write"},
        "clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET, "id": APP_ID,
    })
}
