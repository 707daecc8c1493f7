//! Telegram look-ups and the owner code, against an in-memory Telegram.

use super::*;
use crate::http::Method;
use crate::testing::TestApp;
use crate::testing::{is, reply};
use serde_json::Value;
use std::cell::RefCell;
use std::rc::Rc;

const TOKEN: &str = "123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0";

/// The bot's pending updates: (sender id, text), oldest first.
fn telegram(h: &TestApp) -> Rc<RefCell<Vec<(i64, String)>>> {
    let messages: Rc<RefCell<Vec<(i64, String)>>> = Rc::default();
    let seen = messages.clone();
    h.p.respond(move |req| {
        if is(req, Method::Get, "/getUpdates") {
            let result: Vec<Value> = seen
                .borrow()
                .iter()
                .enumerate()
                .map(|(i, (from, text))| {
                    json!({"update_id": 1000 + i, "message": {"message_id": i + 1,
                        "from": {"id": from, "is_bot": false, "first_name": format!("user {from}")},
                        "chat": {"id": from, "type": "private"}, "date": 1, "text": text}})
                })
                .collect();
            reply(200, json!({"ok": true, "result": result}))
        } else {
            reply(
                404,
                json!({"ok": false, "error_code": 404, "description": "Not Found"}),
            )
        }
    });
    messages
}

fn post(h: &TestApp, path: &str, cookie: Option<&str>) -> (u16, Value) {
    let response = h.send(h.request(Method::Post, path, cookie, Some(json!({"token": TOKEN}))));
    (response.status, response.json_body())
}

#[test]
fn only_the_sender_of_the_sessions_code_is_the_owner() {
    let h = TestApp::new();
    let messages = telegram(&h);
    let (status, body) = post(&h, "/api/telegram/owner-code", Some(&h.cookie));
    assert_eq!(status, 200, "{body}");
    let code = body["code"].as_str().unwrap().to_string();
    assert_eq!(code.len(), 6);
    assert!(body["expiresInSeconds"].as_u64().unwrap() > CODE_WINDOW_SECS);
    // A stranger wrote first, and last; the owner sent the code in between.
    messages
        .borrow_mut()
        .push((666, "hi, I own you now".into()));
    let (status, body) = post(&h, "/api/telegram/detect-user", Some(&h.cookie));
    assert_eq!(status, 404);
    assert!(
        body["error"].as_str().unwrap().contains(&code),
        "the code is repeated: {body}"
    );
    messages.borrow_mut().push((
        424242,
        format!(" {}-{} ", &code[..3], code[3..].to_lowercase()),
    ));
    messages.borrow_mut().push((666, "me again".into()));
    let (status, body) = post(&h, "/api/telegram/detect-user", Some(&h.cookie));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["userId"], "424242");
    // Another session's code is not this one's: the stranger, signed in
    // themselves, cannot claim the bot with their own code.
    let mallory = h.sign_in("sub-mallory", &["claw-demo"], 3600);
    let (_, theirs) = post(&h, "/api/telegram/owner-code", Some(&mallory));
    assert_ne!(theirs["code"], code.as_str());
    messages.borrow_mut().clear();
    messages
        .borrow_mut()
        .push((666, theirs["code"].as_str().unwrap().into()));
    assert_eq!(
        post(&h, "/api/telegram/detect-user", Some(&h.cookie)).0,
        404
    );
}

#[test]
fn a_code_lasts_its_window_and_the_next_and_needs_a_session() {
    let h = TestApp::new();
    let messages = telegram(&h);
    assert_eq!(post(&h, "/api/telegram/detect-user", None).0, 401);
    assert_eq!(post(&h, "/api/telegram/owner-code", None).0, 401);
    let (_, body) = post(&h, "/api/telegram/owner-code", Some(&h.cookie));
    messages
        .borrow_mut()
        .push((7, body["code"].as_str().unwrap().into()));
    h.p.advance_secs(CODE_WINDOW_SECS);
    assert_eq!(
        post(&h, "/api/telegram/detect-user", Some(&h.cookie)).0,
        200
    );
    h.p.advance_secs(CODE_WINDOW_SECS);
    assert_eq!(
        post(&h, "/api/telegram/detect-user", Some(&h.cookie)).0,
        404
    );
}
