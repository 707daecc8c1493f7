//! The Telegram Bot API calls claw.free and the OpenClaw gateway make: `getMe`,
//! `getUpdates` (with `offset`, `limit` and long-poll `timeout`), `deleteWebhook`,
//! `setMyCommands`, `deleteMyCommands`, `sendChatAction` and `sendMessage` (kept, so a
//! test reads the bot's replies), answering unknown tokens and bad parameters as
//! Telegram does. A method it does not serve is answered with Telegram's 404 and
//! recorded, so a test running a real client fails on it instead of passing blind.

use crate::http::{json, ok_json, Req};
use crate::state::{SentMessage, TelegramBot, TelegramUpdate};
use crate::Sim;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json as j, Value};
use std::time::Duration;

/// Telegram's error envelope.
pub fn error(status: u16, description: &str) -> Response {
    json(
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        &j!({ "ok": false, "error_code": status, "description": description }),
    )
}

/// `<bot id>:<secret>`, the shape of every bot token.
pub fn is_token_shaped(token: &str) -> bool {
    match token.split_once(':') {
        Some((id, secret)) => {
            !id.is_empty()
                && id.len() <= 15
                && id.bytes().all(|b| b.is_ascii_digit())
                && (30..=64).contains(&secret.len())
                && secret
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        }
        None => false,
    }
}

fn render_update(update: &TelegramUpdate) -> Value {
    let mut from = j!({ "id": update.from_id, "is_bot": false, "first_name": update.first_name, "language_code": "en" });
    let mut chat = j!({ "id": update.from_id, "first_name": update.first_name, "type": "private" });
    if let Some(username) = &update.username {
        from["username"] = j!(username);
        chat["username"] = j!(username);
    }
    j!({
        "update_id": update.update_id,
        "message": {
            "message_id": update.update_id % 100_000 + 1,
            "from": from,
            "chat": chat,
            "date": update.date,
            "text": update.text,
        }
    })
}

/// The Bot API methods counted by name, each with its counter name.
const METHODS: &[(&str, &str)] = &[
    ("getMe", "telegram.getMe"),
    ("getUpdates", "telegram.getUpdates"),
    ("deleteWebhook", "telegram.deleteWebhook"),
    ("setMyCommands", "telegram.setMyCommands"),
    ("deleteMyCommands", "telegram.deleteMyCommands"),
    ("sendChatAction", "telegram.sendChatAction"),
    ("sendMessage", "telegram.sendMessage"),
];

/// The counter of every method not in [`METHODS`].
const UNKNOWN: &str = "telegram.unknown";

/// Every Telegram counter name.
pub const ENDPOINTS: [&str; METHODS.len() + 1] = {
    let mut names = [UNKNOWN; METHODS.len() + 1];
    let mut i = 0;
    while i < METHODS.len() {
        names[i] = METHODS[i].1;
        i += 1;
    }
    names
};

/// The request counter's name for Bot API method `method`.
pub fn endpoint(method: &str) -> &'static str {
    METHODS
        .iter()
        .find(|(name, _)| *name == method)
        .map_or(UNKNOWN, |(_, counter)| counter)
}

/// `/bot{token}/{method}`.
pub async fn handle(sim: &Sim, req: &Req, token: &str, method: &str) -> Response {
    if !is_token_shaped(token) {
        return error(404, "Not Found");
    }
    let bot: Option<TelegramBot> = sim.world().telegram.get(token).cloned();
    let Some(bot) = bot else {
        return error(401, "Unauthorized");
    };
    match method {
        "getMe" => ok_json(&j!({ "ok": true, "result": {
            "id": bot.id,
            "is_bot": true,
            "first_name": bot.first_name,
            "username": bot.username,
            "can_join_groups": true,
            "can_read_all_group_messages": false,
            "supports_inline_queries": false,
        }})),
        "getUpdates" => get_updates(sim, req, token).await,
        "deleteWebhook" | "setMyCommands" | "deleteMyCommands" => ok_true(),
        "sendChatAction" => {
            let params = params(req);
            match (param(&params, "chat_id"), param(&params, "action")) {
                (Some(_), Some(_)) => ok_true(),
                (None, _) => error(400, "Bad Request: chat_id is empty"),
                (_, None) => error(400, "Bad Request: action is empty"),
            }
        }
        "sendMessage" => send_message(sim, req, token, &bot),
        other => {
            sim.world()
                .telegram_unknown_methods
                .insert(other.to_string());
            error(404, "Not Found")
        }
    }
}

fn ok_true() -> Response {
    ok_json(&j!({ "ok": true, "result": true }))
}

fn send_message(sim: &Sim, req: &Req, token: &str, bot: &TelegramBot) -> Response {
    let params = params(req);
    let Some(chat_id) = param(&params, "chat_id") else {
        return error(400, "Bad Request: chat_id is empty");
    };
    let Ok(chat_id) = chat_id.parse::<i64>() else {
        return error(400, "Bad Request: chat not found");
    };
    let text = param(&params, "text").unwrap_or_default().to_string();
    if text.trim().is_empty() {
        return error(400, "Bad Request: message text is empty");
    }
    if text.chars().count() > 4096 {
        return error(400, "Bad Request: message is too long");
    }
    let message_id = {
        let mut world = sim.world();
        let Some(bot) = world.telegram.get_mut(token) else {
            return error(401, "Unauthorized");
        };
        let message_id = bot.sent.len() as u64 + 1_000;
        bot.sent.push(SentMessage {
            message_id,
            chat_id,
            text: text.clone(),
        });
        message_id
    };
    sim.telegram_changed.notify_waiters();
    ok_json(&j!({ "ok": true, "result": {
        "message_id": message_id,
        "from": { "id": bot.id, "is_bot": true, "first_name": bot.first_name, "username": bot.username },
        "chat": { "id": chat_id, "type": "private" },
        "date": crate::clock::now_secs(),
        "text": text,
    }}))
}

/// A Bot API call's parameters: the query, then a JSON or form body.
fn params(req: &Req) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = req.query.clone();
    if req
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json"))
    {
        if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&req.body) {
            params.extend(map.into_iter().map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, text)
            }));
        }
    } else {
        params.extend(req.form());
    }
    params
}

/// The last value of parameter `name`.
fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

async fn get_updates(sim: &Sim, req: &Req, token: &str) -> Response {
    let params = params(req);
    let get = |name: &str| param(&params, name);
    let parse = |name: &str| -> Result<Option<i64>, String> {
        match get(name) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| format!("Bad Request: invalid {name} specified")),
        }
    };
    let (offset, limit, timeout) = match (parse("offset"), parse("limit"), parse("timeout")) {
        (Ok(o), Ok(l), Ok(t)) => (
            o,
            l.unwrap_or(100).clamp(1, 100) as usize,
            t.unwrap_or(0).clamp(0, 50) as u64,
        ),
        (Err(why), _, _) | (_, Err(why), _) | (_, _, Err(why)) => return error(400, &why),
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    loop {
        let changed = sim.telegram_changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let updates = {
            let mut world = sim.world();
            let Some(bot) = world.telegram.get_mut(token) else {
                return error(401, "Unauthorized");
            };
            // A positive offset confirms (and forgets) every earlier update, as Telegram does.
            if let Some(o) = offset.filter(|o| *o > 0) {
                bot.updates.retain(|u| u.update_id as i64 >= o);
            }
            let skip = match offset {
                Some(o) if o < 0 => bot.updates.len().saturating_sub(o.unsigned_abs() as usize),
                _ => 0,
            };
            bot.updates
                .iter()
                .skip(skip)
                .take(limit)
                .map(render_update)
                .collect::<Vec<_>>()
        };
        if !updates.is_empty() || tokio::time::Instant::now() >= deadline {
            return ok_json(&j!({ "ok": true, "result": updates }));
        }
        if tokio::time::timeout_at(deadline, changed).await.is_err() {
            return ok_json(&j!({ "ok": true, "result": [] }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_shape() {
        assert!(is_token_shaped(
            "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
        ));
        assert!(!is_token_shaped("123456789"));
        assert!(!is_token_shaped("abc:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"));
        assert!(!is_token_shaped("1:short"));
    }
}
