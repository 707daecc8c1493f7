//! The OpenAI chat completion shapes the Setup model answers with: a whole
//! `chat.completion` object, or a stream of server-sent `chat.completion.chunk` events
//! (role, content, finish, optional usage) ending with `data: [DONE]`.

use serde_json::{json, Value};

/// One answer of the Setup model.
#[derive(Debug, Clone)]
pub struct Completion<'a> {
    pub id: &'a str,
    pub created: u64,
    pub model: &'a str,
    pub content: &'a str,
}

fn usage(content: &str) -> Value {
    // The Setup model uses no tokens; a rough word count keeps clients' accounting sane.
    let completion = content.split_whitespace().count();
    json!({ "prompt_tokens": 0, "completion_tokens": completion, "total_tokens": completion })
}

/// The non-streaming response body.
pub fn completion(c: &Completion<'_>) -> Value {
    json!({
        "id": c.id,
        "object": "chat.completion",
        "created": c.created,
        "model": c.model,
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": c.content },
            "logprobs": null,
            "finish_reason": "stop",
        }],
        "usage": usage(c.content),
    })
}

fn chunk(c: &Completion<'_>, delta: Value, finish: Option<&str>) -> Value {
    json!({
        "id": c.id,
        "object": "chat.completion.chunk",
        "created": c.created,
        "model": c.model,
        "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }],
    })
}

fn event(out: &mut String, data: &Value) {
    out.push_str("data: ");
    out.push_str(&data.to_string());
    out.push_str("\n\n");
}

/// The whole event stream for one answer: the role, the content line by line, the
/// finish reason, the usage when asked for, and `[DONE]`.
pub fn stream(c: &Completion<'_>, include_usage: bool) -> String {
    let mut out = String::new();
    event(
        &mut out,
        &chunk(c, json!({ "role": "assistant", "content": "" }), None),
    );
    for piece in c.content.split_inclusive('\n') {
        event(&mut out, &chunk(c, json!({ "content": piece }), None));
    }
    event(&mut out, &chunk(c, json!({}), Some("stop")));
    if include_usage {
        let mut last = json!({
            "id": c.id, "object": "chat.completion.chunk", "created": c.created,
            "model": c.model, "choices": [],
        });
        last["usage"] = usage(c.content);
        event(&mut out, &last);
    }
    out.push_str("data: [DONE]\n\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: Completion<'static> = Completion {
        id: "chatcmpl-1",
        created: 7,
        model: "setup",
        content: "Hello\nworld",
    };

    #[test]
    fn the_stream_reassembles_to_the_content_and_ends_with_done() {
        let body = stream(&C, true);
        assert!(body.ends_with("data: [DONE]\n\n"));
        let events: Vec<Value> = body
            .split("\n\n")
            .filter_map(|e| e.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        let text: String = events
            .iter()
            .filter_map(|e| {
                e["choices"].get(0)?["delta"]["content"]
                    .as_str()
                    .map(String::from)
            })
            .collect();
        assert_eq!(text, "Hello\nworld");
        assert!(events
            .iter()
            .all(|e| e["object"] == "chat.completion.chunk"));
        assert_eq!(events[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(
            events[events.len() - 2]["choices"][0]["finish_reason"],
            "stop"
        );
        assert_eq!(events.last().unwrap()["usage"]["completion_tokens"], 2);
    }

    #[test]
    fn the_plain_answer_has_the_openai_shape() {
        let v = completion(&C);
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(v["choices"][0]["message"]["content"], "Hello\nworld");
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
    }
}
