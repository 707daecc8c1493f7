//! The Telegram Bot API calls claw.free makes: `getMe` and `getUpdates` (with
//! `offset`, `limit` and long-poll `timeout`), answering unknown tokens as Telegram does.

use crate::http::{json, ok_json, Req};
use crate::state::{TelegramBot, TelegramUpdate};
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
        _ => error(404, "Not Found"),
    }
}

async fn get_updates(sim: &Sim, req: &Req, token: &str) -> Response {
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
    let get = |name: &str| {
        params
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
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
