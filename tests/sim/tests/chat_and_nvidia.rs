//! The simulator's chat page (its Telegram as a person sees it) and its NVIDIA API
//! (the OpenAI-compatible model Kimi runs on), as their clients meet them.

mod common;
use common::*;
use serde_json::json;

const KEY: &str = "nvapi-SimulatedKey0123456789abcdefXYZ";

#[test]
fn the_chat_page_is_served_from_here_alone_and_uses_the_routes_it_names() {
    let sim = sim();
    let page = sim.anonymous("GET", "/_chat");
    assert_eq!(page.status, 200);
    for route in ["telegram/bots", "telegram/messages", "telegram/sent"] {
        assert!(page.body.contains(route), "the page does not use {route}");
    }
    // No third-party host: every script and style is inline, every fetch relative.
    assert!(!page.body.contains("http://") && !page.body.contains("https://"));
    assert!(
        !page.body.contains("innerHTML"),
        "replies must be shown as text"
    );

    // What the page does: create a bot, write to it, read the bot's replies.
    let token = "1234567890:AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";
    assert_eq!(
        sim.admin(
            "telegram/bots",
            json!({ "token": token, "username": "my_claw_bot", "updates": [] })
        )
        .status,
        200
    );
    let said = sim.admin(
        "telegram/messages",
        json!({ "token": token, "fromId": 100001, "firstName": "Ada", "text": "hello" }),
    );
    assert_eq!(said.status, 200);
    let updates = sim
        .send("GET", &format!("/bot{token}/getUpdates"), None, None)
        .json();
    assert_eq!(updates["result"][0]["message"]["text"], "hello");
    assert_eq!(updates["result"][0]["message"]["from"]["id"], 100001);
}

#[test]
fn the_nvidia_api_answers_plain_and_streamed_and_refuses_like_openai() {
    let sim = sim();
    let ask = |key: Option<&str>, body: serde_json::Value| {
        let mut request = sim.request("POST", "/nvidia/v1/chat/completions");
        if let Some(key) = key {
            request = request.set("authorization", &format!("Bearer {key}"));
        }
        match request.send_json(body) {
            Ok(r) => (r.status(), r.into_string().unwrap()),
            Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap()),
            Err(e) => panic!("{e}"),
        }
    };
    let chat = json!({ "model": "moonshotai/kimi-k2.5", "messages": [
        { "role": "system", "content": "be brief" },
        { "role": "user", "content": "[Sat] Conversation info\n\nwhat is a lobster?" },
        { "role": "user", "content": "<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>>\nnone\n<<<END_OPENCLAW_INTERNAL_CONTEXT>>>" },
    ]});
    let (status, body) = ask(Some(KEY), chat.clone());
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "Kimi K2.5 (simulated) heard you say: what is a lobster?"
    );

    let mut streamed = chat.clone();
    streamed["stream"] = json!(true);
    let (status, body) = ask(Some(KEY), streamed);
    assert_eq!(status, 200);
    assert!(body.contains("chat.completion.chunk") && body.trim_end().ends_with("data: [DONE]"));

    let (status, body) = ask(Some("sk-not-an-nvidia-key-0123456789"), chat.clone());
    assert_eq!(status, 401);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["error"]["type"],
        "authentication_error"
    );
    assert_eq!(ask(None, chat.clone()).0, 401);
    let mut other = chat;
    other["model"] = json!("gpt-5.5");
    let (status, body) = ask(Some(KEY), other);
    assert_eq!(status, 404, "{body}");
    assert_eq!(sim.counter("nvidia.chat.completions"), 5);
}
