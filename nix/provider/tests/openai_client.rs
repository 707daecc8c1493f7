//! The Setup model through the real `openai` npm client (Node), plain and streaming,
//! and its OpenAI-style errors for malformed requests.

mod common;

use std::process::Command;

use common::*;

#[test]
fn the_openai_client_talks_to_the_setup_model() {
    let provider = Provider::start_for("openai-client", "claude");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openai_client.mjs");
    let out = Command::new("node")
        .arg(&script)
        .arg(&provider.address)
        .env("SETUP_KEY", SETUP_KEY)
        .output()
        .expect("node must be installed (Node 20) with the openai package in the repository's node_modules");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "node failed:\n{stdout}\n{}\nprovider log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        provider.log()
    );
    let seen: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(seen["ok"], true);
    assert!(seen["chunks"].as_u64().unwrap() >= 4, "{seen}");
    assert_eq!(seen["errors"]["emptyMessages"], 400);
    assert_eq!(seen["errors"]["unknownModel"], 404);
    assert_eq!(seen["errors"]["malformedJson"], 400);
    // The streamed turn moved the conversation on, like a plain one.
    assert_eq!(provider.health()["stage"], "awaiting-key");
}
