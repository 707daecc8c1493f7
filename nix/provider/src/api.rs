//! The OpenAI-compatible HTTP API of the Setup model: `GET /v1/models`,
//! `GET /v1/models/setup`, `POST /v1/chat/completions` (plain and streaming),
//! `GET /health`, and `POST /setup/reset` (used by `clawfree switch-llm`, which runs
//! as the gateway's user and can write neither our state folder nor OpenClaw's
//! configuration: the reset puts the Setup model back in that configuration and starts
//! the conversation over). A request is checked where it enters; anything malformed
//! gets OpenAI's error envelope `{"error": {"message", "type", "param", "code"}}`.
//!
//! Request bodies are never logged: they carry the user's messages, keys included.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tiny_http::{Header, Method, Request, Response, Server};

use crate::access;
use crate::openclaw::SETUP_MODEL_ID;
use crate::setup::Setup;
use crate::sse::{self, Completion};
use crate::turn::{self, Turn};

/// Larger bodies are refused; a setup chat is a few short messages.
pub const MAX_BODY: usize = 1024 * 1024;
/// Worker threads; turns are serialised anyway, this only keeps `/health` responsive.
const WORKERS: usize = 4;
/// How often sign-ins are checked against their timeout (and the stop flag).
const REAP_INTERVAL: Duration = Duration::from_millis(500);

/// An OpenAI-style error response.
#[derive(Debug, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    pub kind: &'static str,
    pub param: Option<&'static str>,
    pub code: Option<&'static str>,
}

impl ApiError {
    fn invalid(message: impl Into<String>, param: Option<&'static str>) -> Self {
        Self {
            status: 400,
            message: message.into(),
            kind: "invalid_request_error",
            param,
            code: None,
        }
    }

    pub fn body(&self) -> Value {
        json!({ "error": {
            "message": self.message, "type": self.kind, "param": self.param, "code": self.code,
        }})
    }
}

/// A chat completion request, checked.
#[derive(Debug, PartialEq)]
pub struct ChatRequest {
    /// What the person said in the latest user message (see `turn`).
    pub latest_user_message: String,
    /// The latest user turn is OpenClaw's heartbeat, not a person.
    pub heartbeat: bool,
    /// Identifies the turn: the latest user message and how many messages preceded it.
    pub fingerprint: u64,
    pub stream: bool,
    pub include_usage: bool,
}

/// The text of a message's `content`: a string, or an array of parts whose text parts
/// are joined; `null` is empty.
fn content_text(content: &Value) -> Result<String, ApiError> {
    let bad = || {
        ApiError::invalid(
            "each message's content must be a string or an array of content parts",
            Some("messages"),
        )
    };
    match content {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        Value::Array(parts) => {
            let mut text = Vec::new();
            for part in parts {
                match (part.get("type").and_then(Value::as_str), part.get("text")) {
                    (Some("text"), Some(Value::String(t))) => text.push(t.as_str()),
                    (Some(_), _) => {}
                    _ => return Err(bad()),
                }
            }
            Ok(text.join("\n"))
        }
        _ => Err(bad()),
    }
}

/// Parses a `POST /v1/chat/completions` body.
pub fn parse_chat(body: &[u8]) -> Result<ChatRequest, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid(
            format!("We could not parse the JSON body of your request: {e}"),
            None,
        )
    })?;
    let object = value
        .as_object()
        .ok_or_else(|| ApiError::invalid("The request body must be a JSON object.", None))?;
    match object.get("model") {
        None => {
            return Err(ApiError::invalid(
                "you must provide a model parameter",
                Some("model"),
            ))
        }
        Some(Value::String(model)) if model == SETUP_MODEL_ID || model.ends_with("/setup") => {}
        Some(Value::String(model)) => {
            return Err(ApiError {
                status: 404,
                message: format!(
                    "The model `{}` does not exist; this server only has `{SETUP_MODEL_ID}`.",
                    model.chars().take(100).collect::<String>()
                ),
                kind: "invalid_request_error",
                param: Some("model"),
                code: Some("model_not_found"),
            })
        }
        Some(_) => return Err(ApiError::invalid("model must be a string", Some("model"))),
    }
    let stream = match object.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(ApiError::invalid(
                "stream must be a boolean",
                Some("stream"),
            ))
        }
    };
    let include_usage = object
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let messages = match object.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => m,
        Some(Value::Array(_)) => {
            return Err(ApiError::invalid(
                "messages must not be empty",
                Some("messages"),
            ))
        }
        None => {
            return Err(ApiError::invalid(
                "you must provide a messages parameter",
                Some("messages"),
            ))
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "messages must be an array",
                Some("messages"),
            ))
        }
    };
    let mut latest = None;
    for (index, message) in messages.iter().enumerate() {
        let role = message.get("role").and_then(Value::as_str).ok_or_else(|| {
            ApiError::invalid("each message needs a string role", Some("messages"))
        })?;
        let text = content_text(message.get("content").unwrap_or(&Value::Null))?;
        if role == "user" {
            match turn::read(&text) {
                Turn::Internal => {}
                Turn::Heartbeat => latest = Some((index, None)),
                Turn::Said(words) => latest = Some((index, Some(words.to_string()))),
            }
        }
    }
    let (index, text) = latest.ok_or_else(|| {
        ApiError::invalid(
            "messages must contain at least one user message",
            Some("messages"),
        )
    })?;
    let mut hasher = DefaultHasher::new();
    (index, &text).hash(&mut hasher);
    Ok(ChatRequest {
        heartbeat: text.is_none(),
        latest_user_message: text.unwrap_or_default(),
        fingerprint: hasher.finish(),
        stream,
        include_usage,
    })
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("static header is valid")
}

fn json_response(status: u16, body: &Value) -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_data(body.to_string().into_bytes())
        .with_status_code(status)
        .with_header(header("Content-Type", "application/json"))
}

fn error_response(error: &ApiError) -> Response<std::io::Cursor<Vec<u8>>> {
    json_response(error.status, &error.body())
}

fn model_object() -> Value {
    json!({ "id": SETUP_MODEL_ID, "object": "model", "created": 0, "owned_by": "claw-free" })
}

static COMPLETION_COUNTER: AtomicU64 = AtomicU64::new(0);

/// `setup_base_url` is where OpenClaw reaches this server (its bound address).
fn handle(setup: &Setup, setup_base_url: &str, port: u16, mut request: Request) {
    let path = request.url().split('?').next().unwrap_or("").to_string();
    let method = request.method().clone();
    let header_value = |name: &'static str| {
        request
            .headers()
            .iter()
            .find(|h| h.field.equiv(name))
            .map(|h| h.value.as_str().to_string())
    };
    let key = access::read_key(setup.api_key_file());
    let checked = access::check(
        header_value("Host").as_deref(),
        header_value("Authorization").as_deref(),
        port,
        key.as_deref(),
        method == Method::Get && path == "/health",
    );
    if let Err(refusal) = checked {
        let response = error_response(&ApiError {
            status: refusal.status(),
            message: refusal.message().into(),
            kind: "invalid_request_error",
            param: None,
            code: Some(refusal.code()),
        });
        let _ = request.respond(response);
        return;
    }
    let response = match (&method, path.as_str()) {
        (Method::Get, "/health") => {
            json_response(200, &json!({ "ok": true, "stage": setup.stage_name() }))
        }
        (Method::Get, "/v1/models") => {
            json_response(200, &json!({ "object": "list", "data": [model_object()] }))
        }
        (Method::Get, "/v1/models/setup") => json_response(200, &model_object()),
        (Method::Post, "/setup/reset") => match setup.reset(setup_base_url) {
            Ok(stage) => json_response(200, &json!({ "ok": true, "stage": stage })),
            Err(message) => error_response(&ApiError {
                status: 500,
                message,
                kind: "server_error",
                param: None,
                code: None,
            }),
        },
        (Method::Post, "/v1/chat/completions") => {
            let mut body = Vec::new();
            let read = request
                .as_reader()
                .take(MAX_BODY as u64 + 1)
                .read_to_end(&mut body);
            if read.is_err() {
                error_response(&ApiError::invalid(
                    "the request body could not be read",
                    None,
                ))
            } else if body.len() > MAX_BODY {
                error_response(&ApiError {
                    status: 413,
                    ..ApiError::invalid(
                        format!("the request body is larger than {MAX_BODY} bytes"),
                        None,
                    )
                })
            } else {
                match parse_chat(&body) {
                    Err(error) => error_response(&error),
                    Ok(chat) => {
                        body.fill(0);
                        let reply = if chat.heartbeat {
                            // Setup has nothing to report; the person hears nothing.
                            turn::SILENT_REPLY.to_string()
                        } else {
                            setup.answer(&chat.latest_user_message, chat.fingerprint)
                        };
                        let id = format!(
                            "chatcmpl-{}-{}",
                            now(),
                            COMPLETION_COUNTER.fetch_add(1, Ordering::Relaxed)
                        );
                        let completion = Completion {
                            id: &id,
                            created: now(),
                            model: SETUP_MODEL_ID,
                            content: &reply,
                        };
                        if chat.stream {
                            Response::from_data(
                                sse::stream(&completion, chat.include_usage).into_bytes(),
                            )
                            .with_header(header("Content-Type", "text/event-stream"))
                            .with_header(header("Cache-Control", "no-cache"))
                        } else {
                            json_response(200, &sse::completion(&completion))
                        }
                    }
                }
            }
        }
        (
            _,
            "/health" | "/v1/models" | "/v1/models/setup" | "/v1/chat/completions" | "/setup/reset",
        ) => error_response(&ApiError {
            status: 405,
            message: format!("{method} is not allowed on {path}"),
            kind: "invalid_request_error",
            param: None,
            code: Some("method_not_allowed"),
        }),
        _ => error_response(&ApiError {
            status: 404,
            message: format!(
                "Unknown request URL: {method} {}",
                path.chars().take(200).collect::<String>()
            ),
            kind: "invalid_request_error",
            param: None,
            code: Some("unknown_url"),
        }),
    };
    // A client that went away is not our error.
    let _ = request.respond(response);
}

/// Serves until `stop` is set, on a few threads, also reaping sign-ins that ran past
/// their timeout. Workers block in `recv` (no idle polling on a quarter of a CPU) and
/// are woken with `unblock` once `stop` is seen.
/// `address` is where the server listens, which OpenClaw is pointed at.
pub fn serve(server: &Server, address: SocketAddr, setup: &Setup, stop: &AtomicBool) {
    let setup_base_url = format!("http://{address}/v1");
    let setup_base_url = setup_base_url.as_str();
    std::thread::scope(|scope| {
        for _ in 0..WORKERS {
            scope.spawn(|| {
                while !stop.load(Ordering::SeqCst) {
                    match server.recv() {
                        Ok(request) => {
                            // A bug must cost one request (tiny_http answers 500 for a
                            // dropped request), not a worker.
                            let handled =
                                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                    handle(setup, setup_base_url, address.port(), request)
                                }));
                            if handled.is_err() {
                                eprintln!("http: a request handler panicked");
                            }
                        }
                        Err(e) => {
                            if !stop.load(Ordering::SeqCst) {
                                eprintln!("http: {e}");
                                std::thread::sleep(Duration::from_millis(100));
                            }
                        }
                    }
                }
            });
        }
        while !stop.load(Ordering::SeqCst) {
            setup.reap_expired();
            std::thread::sleep(REAP_INTERVAL);
        }
        for _ in 0..WORKERS {
            server.unblock();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str) -> ApiError {
        parse_chat(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn reads_the_person_s_words_in_an_openclaw_turn() {
        let envelope = "[Sat 2026-11-28 09:03 UTC] Conversation info: \u{27e6}openclaw:ctx\u{27e7}\n```json\n{}\n```\n\n";
        let body = json!({ "model": "setup", "messages": [
            { "role": "user", "content": format!("{envelope}hi") },
            { "role": "assistant", "content": "Paste your key" },
            { "role": "user", "content": format!("{envelope}nvapi-key") },
            { "role": "user", "content": [{ "type": "text",
                "text": "<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>>\nnone\n<<<END_OPENCLAW_INTERNAL_CONTEXT>>>" }] },
        ]});
        let chat = parse_chat(body.to_string().as_bytes()).unwrap();
        assert_eq!(chat.latest_user_message, "nvapi-key");
        assert!(!chat.heartbeat);
        let heartbeat = json!({ "model": "setup", "messages": [
            { "role": "user", "content": format!("{envelope}hi") },
            { "role": "user", "content": "Read the heartbeat checklist. If nothing needs attention, reply NO_REPLY." },
        ]});
        assert!(
            parse_chat(heartbeat.to_string().as_bytes())
                .unwrap()
                .heartbeat
        );
    }

    #[test]
    fn takes_the_latest_user_message() {
        let chat = parse_chat(
            br#"{"model":"setup","stream":true,"messages":[
                {"role":"system","content":"be nice"},
                {"role":"user","content":"first"},
                {"role":"assistant","content":"ok"},
                {"role":"user","content":[{"type":"text","text":"second"},{"type":"image_url","image_url":{"url":"x"}}]}
            ]}"#,
        )
        .unwrap();
        assert_eq!(chat.latest_user_message, "second");
        assert!(chat.stream);
    }

    #[test]
    fn the_same_message_at_another_position_is_another_turn() {
        let a = parse_chat(br#"{"model":"setup","messages":[{"role":"user","content":"yes"}]}"#)
            .unwrap();
        let b = parse_chat(br#"{"model":"setup","messages":[{"role":"user","content":"yes"},{"role":"assistant","content":"?"},{"role":"user","content":"yes"}]}"#).unwrap();
        assert_ne!(a.fingerprint, b.fingerprint);
    }

    #[test]
    fn malformed_requests_get_openai_errors() {
        assert_eq!(err("{nope").status, 400);
        assert_eq!(err("[]").param, None);
        assert_eq!(
            err(r#"{"messages":[{"role":"user","content":"x"}]}"#).param,
            Some("model")
        );
        assert_eq!(err(r#"{"model":"setup"}"#).param, Some("messages"));
        assert_eq!(
            err(r#"{"model":"setup","messages":[]}"#).param,
            Some("messages")
        );
        assert_eq!(
            err(r#"{"model":"setup","messages":[{"content":"x"}]}"#).param,
            Some("messages")
        );
        assert_eq!(
            err(r#"{"model":"setup","messages":[{"role":"system","content":"x"}]}"#).param,
            Some("messages")
        );
        assert_eq!(
            err(r#"{"model":"setup","messages":[{"role":"user","content":5}]}"#).param,
            Some("messages")
        );
        assert_eq!(
            err(r#"{"model":"setup","stream":"yes","messages":[{"role":"user","content":"x"}]}"#)
                .param,
            Some("stream")
        );
        let missing = err(r#"{"model":"gpt-4","messages":[{"role":"user","content":"x"}]}"#);
        assert_eq!(
            (missing.status, missing.code),
            (404, Some("model_not_found"))
        );
        let body = missing.body();
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert!(body["error"].get("param").is_some() && body["error"].get("code").is_some());
    }

    #[test]
    fn accepts_the_provider_qualified_model_name() {
        assert!(parse_chat(
            br#"{"model":"claw-free/setup","messages":[{"role":"user","content":"hi"}]}"#
        )
        .is_ok());
    }
}
