//! Telegram look-ups: `POST /api/telegram/detect-user {token}` finds the id of the
//! last person who wrote to the bot, so the wizard can fill in "your Telegram user id".
//! The token is used for this one call and never stored or shown. [`bot_name`] asks
//! Telegram for a bot's own name (`getMe`), the name a deploy takes when the page
//! gave none.

use crate::app::App;
use crate::error::ApiError;
use crate::http::{OutboundRequest, Request, Response};
use crate::limits::{self, Scope};
use crate::ports::Platform;
use crate::security::json_body;
use crate::types::{BotName, TelegramToken};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct DetectBody {
    token: String,
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

/// The bot's own name as Telegram knows it (`getMe`): its display name, or its
/// username when the display name is not one claw.free accepts.
pub async fn bot_name<P: Platform>(
    app: &App<'_, P>,
    token: &TelegramToken,
) -> Result<BotName, ApiError> {
    let url = format!(
        "{}/bot{}/getMe",
        app.config.endpoints.telegram_api,
        token.expose()
    );
    let response = app
        .platform
        .send(OutboundRequest::get(url))
        .await
        .map_err(|_| unreachable())?;
    let me: Me = serde_json::from_slice(&response.body).map_err(|_| unreachable())?;
    let bot = match (me.ok, me.result) {
        (true, Some(bot)) => bot,
        _ => return Err(refused(me.error_code.unwrap_or(response.status))),
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

pub async fn detect_user<P: Platform>(
    app: &App<'_, P>,
    request: &Request,
) -> Result<Response, ApiError> {
    let body: DetectBody = json_body(request)?;
    let token = TelegramToken::parse(&body.token)?;
    limits::take(
        app.platform,
        Scope::TelegramPerIp,
        &request.client_ip,
        app.config.limits.telegram_lookups_per_ip,
    )
    .await?;
    let url = format!(
        "{}/bot{}/getUpdates?limit=100&timeout=0",
        app.config.endpoints.telegram_api,
        token.expose()
    );
    let unreachable =
        || ApiError::Unavailable("Telegram did not answer. Please try again in a moment.".into());
    let response = app
        .platform
        .send(OutboundRequest::get(url))
        .await
        .map_err(|_| unreachable())?;
    let updates: Updates = serde_json::from_slice(&response.body).map_err(|_| unreachable())?;
    if !updates.ok {
        return Err(match updates.error_code.unwrap_or(response.status) {
            401 | 404 => ApiError::bad_request("Telegram does not know this bot token. Copy it again from @BotFather."),
            409 => ApiError::Conflict(
                "This bot already delivers its messages to a webhook, so claw.free cannot read them. It will work once your bot is deployed; enter your user id by hand for now.".into(),
            ),
            429 => ApiError::RateLimited { retry_after: 30, message: "Telegram asks us to slow down. Try again in half a minute.".into() },
            _ => unreachable(),
        });
    }
    let latest = updates
        .result
        .into_iter()
        .filter_map(|u| Some((u.update_id, u.message?.from?)))
        .max_by_key(|(id, _)| *id)
        .map(|(_, user)| user);
    match latest {
        Some(user) => Ok(Response::json(
            200,
            &json!({"userId": user.id.to_string(), "firstName": user.first_name, "username": user.username}),
        )),
        None => Err(ApiError::NotFound(
            "Your bot has no messages yet. Open Telegram, send your bot any message (for example \"hi\"), then try again.".into(),
        )),
    }
}
