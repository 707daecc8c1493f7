//! Who may call the Setup model: only a caller with its key (the gateway, through
//! OpenClaw's configuration) and only addressed to loopback on its port.

mod common;

use std::fs;

use common::*;

fn host_of(provider: &Provider) -> String {
    provider
        .address
        .strip_prefix("http://")
        .unwrap()
        .to_string()
}

#[test]
fn a_caller_without_the_key_can_neither_chat_nor_reset() {
    let provider = Provider::start("access-key", Options::default());
    let mut chat = Chat::new(&provider);
    chat.say("hi");
    let stage = provider.health()["stage"].clone();
    let host = host_of(&provider);
    let chat_body =
        r#"{"model":"setup","messages":[{"role":"user","content":"my key is sk-evil"}]}"#;
    for auth in [
        "",
        "Authorization: Bearer guessed\r\n",
        "Authorization: guessed\r\n",
    ] {
        let headers = format!("Host: {host}\r\n{auth}");
        for (method, path, body) in [
            ("POST", "/setup/reset", None),
            ("POST", "/v1/chat/completions", Some(chat_body)),
            ("GET", "/v1/models", None),
        ] {
            let (status, text) = request_with(&provider.address, method, path, body, &headers);
            assert_eq!(status, 401, "{method} {path} with {auth:?}: {text}");
            assert!(text.contains("invalid_api_key"), "{text}");
        }
    }
    assert_eq!(provider.health()["stage"], stage, "nothing moved");
    assert!(!provider.log().contains("the conversation was reset"));
}

#[test]
fn only_loopback_names_on_its_port_are_answered() {
    let provider = Provider::start("access-host", Options::default());
    let port = host_of(&provider).rsplit_once(':').unwrap().1.to_string();
    for host in [
        format!("rebound.evil.test:{port}"),
        format!("localhost.evil.test:{port}"),
        "127.0.0.1:80".to_string(),
    ] {
        let headers = format!("Host: {host}\r\nAuthorization: Bearer {SETUP_KEY}\r\n");
        let (status, text) = request_with(&provider.address, "GET", "/v1/models", None, &headers);
        assert_eq!(status, 421, "{host}: {text}");
        let (status, _) = request_with(&provider.address, "GET", "/health", None, &headers);
        assert_eq!(status, 421, "{host}: health too");
    }
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        let headers = format!("Host: {host}\r\nAuthorization: Bearer {SETUP_KEY}\r\n");
        let (status, text) = request_with(&provider.address, "GET", "/v1/models", None, &headers);
        assert_eq!(status, 200, "{host}: {text}");
    }
    // Health needs no key (systemd and `clawfree status` read it).
    let headers = format!("Host: 127.0.0.1:{port}\r\n");
    assert_eq!(
        request_with(&provider.address, "GET", "/health", None, &headers).0,
        200
    );
}

#[test]
fn no_key_file_yet_refuses_everything_but_health_and_a_reset_writes_the_key() {
    let provider = Provider::start("access-nokey", Options::default());
    let (status, _) = request(&provider.address, "POST", "/setup/reset", None);
    assert_eq!(status, 200);
    assert_eq!(
        provider.openclaw_config()["models"]["providers"]["claw-free"]["apiKey"],
        SETUP_KEY,
        "OpenClaw is given the key it must present"
    );
    fs::remove_file(provider.dir.path("setup-provider.key")).unwrap();
    let (status, text) = request(&provider.address, "GET", "/v1/models", None);
    assert_eq!(status, 503, "{text}");
    assert_eq!(provider.health()["ok"], true);
}
