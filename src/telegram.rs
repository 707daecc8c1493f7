//! Telegram look-ups: who owns a new bot, proven.
//!
//! Whoever messages a new bot first is not necessarily its owner: a stranger who
//! found the bot could be. So the page shows the signed-in person a short code
//! (`POST /api/telegram/owner-code {token}`), they send exactly that code to their
//! bot, and `POST /api/telegram/detect-user {token}` answers with the sender of
//! that message only. The code is derived, not stored: an HMAC of the session, the
//! bot token's digest and a ten-minute window under the Worker's key, valid for
//! its window and the next. The token is used for the one call and never stored
//! or shown.
//!
//! [`bot_name`] asks Telegram for a bot's own name (`getMe`), the name a deploy takes
//! when the page gave none.

use crate::app::App;
use crate::crypto;
use crate::error::ApiError;
use crate::http::{OutboundRequest, Request, Response};
use crate::limits::{self, Scope};
use crate::ports::Platform;
use crate::security::json_body;
use crate::sessions::{self, Session};
use crate::types::{BotName, TelegramToken};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct DetectBody {
    token: String,
}

/// How long one code window lasts; a code works in its window and the next.
pub const CODE_WINDOW_SECS: u64 = 600;
/// Letters and digits no one confuses (no 0/O, 1/I/L).
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
const CODE_LEN: usize = 6;

/// The code for this session, bot and window.
fn owner_code(
    app_key: &crypto::SealingKey,
    session: &Session,
    token: &TelegramToken,
    window: u64,
) -> String {
    let message = format!(
        "telegram-owner-code\0{}\0{}\0{window}",
        session.limit_subject(),
        crypto::sha256_hex(token.expose())
    );
    let mac = crypto::hmac_sha256(app_key, message.as_bytes());
    mac.iter()
        .take(CODE_LEN)
        .map(|b| CODE_ALPHABET[*b as usize % CODE_ALPHABET.len()] as char)
        .collect()
}

/// The code as a person may have typed it: upper case, no spaces or dashes.
fn normalize(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// `POST /api/telegram/owner-code {token}`: `{code, expiresInSeconds}`.
pub async fn code<P: Platform>(app: &App<'_, P>, request: &Request) -> Result<Response, ApiError> {
    let session = sessions::require(app, request).await?;
    let body: DetectBody = json_body(request)?;
    let token = TelegramToken::parse(&body.token)?;
    let now = app.now();
    let window = now / CODE_WINDOW_SECS;
    Ok(Response::json(
        200,
        &json!({
            "code": owner_code(&app.config.sealing_key, &session, &token, window),
            "expiresInSeconds": (window + 2) * CODE_WINDOW_SECS - now,
        }),
    ))
}

#[derive(Deserialize)]
struct Updates {
    ok: bool,
    #[serde(default)]
    result: Vec<Update>,
    #[serde(default)]
    error_code: Option<u16>,
}

#[derive(Deserialize)]
struct Update {
    update_id: i64,
    #[serde(default)]
    message: Option<Message>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    from: Option<User>,
    #[serde(default)]
    chat: Option<Chat>,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct Chat {
    #[serde(rename = "type", default)]
    kind: String,
}

#[derive(Deserialize)]
struct User {
    id: i64,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    username: Option<String>,
}

#[derive(Deserialize)]
struct Me {
    ok: bool,
    #[serde(default)]
    result: Option<BotUser>,
    #[serde(default)]
    error_code: Option<u16>,
}

#[derive(Deserialize)]
struct BotUser {
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    username: Option<String>,
}

fn unreachable() -> ApiError {
    ApiError::Unavailable("Telegram did not answer. Please try again in a moment.".into())
}

fn refused(code: u16) -> ApiError {
    match code {
        401 | 404 => ApiError::bad_request(
            "Telegram does not know this bot token. Copy it again from @BotFather.",
        ),
        429 => ApiError::RateLimited {
            retry_after: 30,
            message: "Telegram asks us to slow down. Try again in half a minute.".into(),
        },
        _ => unreachable(),
    }
}

/// Calls the Bot API `method` (with its query) as the bot `token`; Telegram's JSON
/// answer and the HTTP status.
async fn bot_api<P: Platform, T: serde::de::DeserializeOwned>(
    app: &App<'_, P>,
    token: &TelegramToken,
    method: &str,
) -> Result<(T, u16), ApiError> {
    let url = format!(
        "{}/bot{}/{method}",
        app.config.endpoints.telegram_api,
        token.expose()
    );
    let response = app
        .platform
        .send(OutboundRequest::get(url))
        .await
        .map_err(|_| unreachable())?;
    let answer = serde_json::from_slice(&response.body).map_err(|_| unreachable())?;
    Ok((answer, response.status))
}

/// The bot's own name as Telegram knows it (`getMe`): its display name, or its
/// username when the display name is not one claw.free accepts.
pub async fn bot_name<P: Platform>(
    app: &App<'_, P>,
    token: &TelegramToken,
) -> Result<BotName, ApiError> {
    let (me, status): (Me, u16) = bot_api(app, token, "getMe").await?;
    let bot = match (me.ok, me.result) {
        (true, Some(bot)) => bot,
        _ => return Err(refused(me.error_code.unwrap_or(status))),
    };
    BotName::parse(&bot.first_name)
        .or_else(|e| {
            bot.username
                .as_deref()
                .map(BotName::parse)
                .unwrap_or(Err(e))
        })
        .map_err(|_| {
            ApiError::bad_request(
                "Telegram's name for this bot cannot name a VM; give the bot a name (botName).",
            )
        })
}

/// `POST /api/telegram/detect-user {token}`: the person who sent this session's
/// code to the bot in a private chat, `{userId, firstName, username}`.
pub async fn detect_user<P: Platform>(
    app: &App<'_, P>,
    request: &Request,
) -> Result<Response, ApiError> {
    let session = sessions::require(app, request).await?;
    let body: DetectBody = json_body(request)?;
    let token = TelegramToken::parse(&body.token)?;
    limits::take(
        app.platform,
        Scope::TelegramPerIp,
        &request.client_ip,
        app.config.limits.telegram_lookups_per_ip,
    )
    .await?;
    let (updates, status): (Updates, u16) =
        bot_api(app, &token, "getUpdates?limit=100&timeout=0").await?;
    if !updates.ok {
        return Err(match updates.error_code.unwrap_or(status) {
            409 => ApiError::Conflict(
                "This bot already delivers its messages to a webhook, so claw.free cannot read them. It will work once your bot is deployed; enter your user id by hand for now.".into(),
            ),
            code => refused(code),
        });
    }
    let now = app.now();
    let window = now / CODE_WINDOW_SECS;
    let current = owner_code(&app.config.sealing_key, &session, &token, window);
    let accepted = [
        current.clone(),
        owner_code(
            &app.config.sealing_key,
            &session,
            &token,
            window.saturating_sub(1),
        ),
    ];
    let any_message = updates.result.iter().any(|u| u.message.is_some());
    let owner = updates
        .result
        .into_iter()
        .filter_map(|u| Some((u.update_id, u.message?)))
        .filter(|(_, m)| m.chat.as_ref().is_some_and(|c| c.kind == "private"))
        .filter(|(_, m)| {
            m.text
                .as_deref()
                .is_some_and(|t| accepted.contains(&normalize(t)))
        })
        .filter_map(|(id, m)| Some((id, m.from?)))
        .max_by_key(|(id, _)| *id)
        .map(|(_, user)| user);
    match owner {
        Some(user) => Ok(Response::json(
            200,
            &json!({"userId": user.id.to_string(), "firstName": user.first_name, "username": user.username}),
        )),
        None if any_message => Err(ApiError::NotFound(format!(
            "None of your bot's messages is your code. To prove the bot is yours, send it exactly {current} in Telegram, then try again."
        ))),
        None => Err(ApiError::NotFound(format!(
            "Your bot has no messages yet. To prove the bot is yours, send it {current} in Telegram, then try again."
        ))),
    }
}

#[cfg(test)]
mod tests;
