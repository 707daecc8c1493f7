//! NVIDIA's OpenAI-compatible API (`integrate.api.nvidia.com/v1`, where Kimi K2.5 runs):
//! `GET /nvidia/v1/models` and `POST /nvidia/v1/chat/completions`, plain or streamed as
//! server-sent events the way OpenAI-compatible APIs stream. The model answers with a
//! fixed sentence naming itself and quoting the user's last message, so a test sees
//! which model wrote a reply. Keys are checked by shape (`nvapi-` and a long secret), and
//! refusals use the OpenAI error envelope: `{"error": {message, type, code}}`.

use crate::http::{json, ok_json, Req};
use crate::Sim;
use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::Response;
use serde_json::{json as j, Value};

/// The model the stand-in serves (the id claw.free's Setup switches OpenClaw to).
pub const MODEL: &str = "moonshotai/kimi-k2.5";
/// The first words of every answer.
pub const ANSWER_PREFIX: &str = "Kimi K2.5 (simulated) heard you say:";

/// Whether `key` has the shape of an NVIDIA API key.
fn key_ok(key: &str) -> bool {
    key.strip_prefix("nvapi-").is_some_and(|secret| {
        secret.len() >= 20
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    json(
        status,
        &j!({ "error": { "message": message, "type": kind, "code": status.as_u16() } }),
    )
}

/// `/nvidia/v1/{rest}`.
pub fn handle(sim: &Sim, req: &Req, rest: &[&str]) -> Response {
    let endpoint = match rest {
        ["models"] if req.method == "GET" => "nvidia.models",
        ["chat", "completions"] if req.method == "POST" => "nvidia.chat.completions",
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                "not_found_error",
                "404 page not found",
            )
        }
    };
    sim.world().count(endpoint);
    if !req.bearer().is_some_and(key_ok) {
        return error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "Authentication failed: a valid NVIDIA API key is required",
        );
    }
    if endpoint == "nvidia.models" {
        return ok_json(&j!({ "object": "list", "data": [
            { "id": MODEL, "object": "model", "created": 1_735_689_600, "owned_by": "moonshotai" }
        ]}));
    }
    let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "the request body is not JSON",
        );
    };
    if body["model"] != MODEL {
        return error(
            StatusCode::NOT_FOUND,
            "not_found_error",
            &format!("Model {} not found", body["model"]),
        );
    }
    let Some(messages) = body["messages"].as_array().filter(|m| !m.is_empty()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "messages must be a non-empty array",
        );
    };
    // OpenClaw follows the person's message with one of internal context.
    let heard = messages
        .iter()
        .filter(|m| m["role"] == "user")
        .map(message_text)
        .rfind(|t| {
            !t.trim_start()
                .starts_with("<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>>")
        })
        .unwrap_or_default();
    let answer = format!("{ANSWER_PREFIX} {}", last_line(&heard));
    let created = crate::clock::now_secs();
    if body["stream"] == true {
        let chunk = |delta: Value, finish: Value| {
            j!({ "id": "chatcmpl-sim", "object": "chat.completion.chunk", "created": created,
                "model": MODEL, "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] })
        };
        let mut events = String::new();
        for data in [
            chunk(j!({ "role": "assistant", "content": "" }), Value::Null),
            chunk(j!({ "content": answer }), Value::Null),
            chunk(j!({}), j!("stop")),
        ] {
            events.push_str(&format!("data: {data}\n\n"));
        }
        if body["stream_options"]["include_usage"] == true {
            let usage = j!({ "id": "chatcmpl-sim", "object": "chat.completion.chunk", "created": created,
                "model": MODEL, "choices": [], "usage": usage(&answer) });
            events.push_str(&format!("data: {usage}\n\n"));
        }
        events.push_str("data: [DONE]\n\n");
        return Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/event-stream")
            .header(header::CACHE_CONTROL, "no-cache")
            .body(Body::from(events))
            .expect("a valid response");
    }
    ok_json(&j!({
        "id": "chatcmpl-sim", "object": "chat.completion", "created": created, "model": MODEL,
        "choices": [{ "index": 0, "finish_reason": "stop",
            "message": { "role": "assistant", "content": answer } }],
        "usage": usage(&answer),
    }))
}

fn usage(answer: &str) -> Value {
    let completion = answer.split_whitespace().count();
    j!({ "prompt_tokens": 10, "completion_tokens": completion, "total_tokens": 10 + completion })
}

/// A chat message's text: a string, or the text parts of a content array.
fn message_text(message: &Value) -> String {
    match &message["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The last non-empty line (OpenClaw puts the person's words after its envelope).
fn last_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_by_shape() {
        assert!(key_ok("nvapi-abcdefghijklmnopqrstuvwxyz0123"));
        assert!(!key_ok("nvapi-short"));
        assert!(!key_ok("sk-abcdefghijklmnopqrstuvwxyz0123"));
    }

    #[test]
    fn the_last_line_is_what_was_said() {
        assert_eq!(
            last_line("[Telegram Ada id:1]\nhello there\n\n"),
            "hello there"
        );
    }
}
