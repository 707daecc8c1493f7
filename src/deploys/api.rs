//! HTTP handlers for deploys: parse the request into types, call [`super::flow`], and
//! shape the JSON of docs/CONTRACTS.md section 1.

use super::flow::{self, StartRequest};
use super::model::{viewer_cookie, IdempotencyKey};
use crate::app::App;
use crate::error::ApiError;
use crate::http::{Request, Response};
use crate::ports::Platform;
use crate::security::json_body;
use crate::sessions;
use crate::telegram;
use crate::types::{BotName, Invalid, ProjectId, Provider, Region, TelegramToken, TelegramUserId};
use crate::{cookies, crypto};
use serde::Deserialize;
use serde_json::json;

/// The suffix of the preview's example VM name (a real deploy draws six random hex).
const EXAMPLE_SUFFIX: [u8; 3] = [0x7f, 0x3a, 0x9c];

/// Parses one field of a request body, naming the field when it is missing or wrong.
pub fn field<T>(
    name: &str,
    value: Option<String>,
    parse: impl FnOnce(&str) -> Result<T, Invalid>,
) -> Result<T, ApiError> {
    let value = value.ok_or_else(|| ApiError::bad_request(format!("{name} is required.")))?;
    parse(&value).map_err(|e| ApiError::bad_request(format!("{name}: {}", e.message())))
}

/// `GET /api/deploy/vm-name?botName=..`: the VM name a bot name gives, or why it is refused.
pub fn vm_name_preview(request: &Request) -> Result<Response, ApiError> {
    let name = BotName::parse(&request.query_param("botName").unwrap_or_default())?;
    Ok(Response::json(
        200,
        &json!({"slug": name.slug(), "vmNameExample": name.vm_name(EXAMPLE_SUFFIX).as_str()}),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartBody {
    project_id: Option<String>,
    region: Option<String>,
    /// Optional: the provider chosen at sign-in when absent (the original page).
    provider: Option<String>,
    /// Optional with `telegramToken`: then the bot's own name on Telegram.
    bot_name: Option<String>,
    /// Optional: the bot's token, delivered to the VM by the status poll.
    telegram_token: Option<String>,
    /// Optional: the Telegram user the bot answers (a string or a number).
    #[serde(default)]
    telegram_user_id: Option<serde_json::Value>,
}

/// The optional `telegramUserId`: absent, null or empty means none.
fn telegram_owner(value: Option<serde_json::Value>) -> Result<Option<TelegramUserId>, ApiError> {
    let text = match value {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(serde_json::Value::String(s)) if s.trim().is_empty() => return Ok(None),
        Some(serde_json::Value::String(s)) => s,
        Some(serde_json::Value::Number(n)) => n.to_string(),
        Some(_) => String::new(),
    };
    TelegramUserId::parse(&text)
        .map(Some)
        .map_err(|reason| ApiError::bad_request(format!("telegramUserId: {reason}.")))
}

/// `POST /api/deploy/start`.
pub async fn start<P: Platform>(app: &App<'_, P>, request: &Request) -> Result<Response, ApiError> {
    let session = sessions::require(app, request).await?;
    let body: StartBody = json_body(request)?;
    let project = field("projectId", body.project_id, ProjectId::parse)?;
    let region = field("region", body.region, Region::parse)?;
    let provider = match body.provider {
        None => session.record.choices.provider,
        given => field("provider", given, |p| Provider::parse(p).map_err(Invalid))?,
    };
    let telegram_owner = telegram_owner(body.telegram_user_id)?;
    let telegram_token = body
        .telegram_token
        .map(|t| field("telegramToken", Some(t), TelegramToken::parse))
        .transpose()?;
    let bot_name = match (body.bot_name, &telegram_token) {
        (None, Some(token)) => telegram::bot_name(app, token).await?,
        (given, _) => field("botName", given, BotName::parse)?,
    };
    let start = StartRequest {
        project,
        region,
        provider,
        bot_name,
        telegram_owner,
        telegram_token,
    };
    let idempotency = request
        .header("idempotency-key")
        .map(IdempotencyKey::parse)
        .transpose()?;
    let started = flow::start(app, &session, &request.client_ip, start, idempotency).await?;
    let cookie = viewer_cookie(&started.deployment_id, &started.viewer_secret);
    Ok(Response::json(
        200,
        &json!({"deploymentId": started.deployment_id, "vmName": started.vm_name.as_str()}),
    )
    .with_header("set-cookie", cookie))
}

/// Who asks about deploy `id`: their cookies' secrets and the tag they hold.
fn viewer(request: &Request, id: &str) -> flow::Viewer {
    let deploy_secret = request.cookie(cookies::DEPLOY).and_then(|value| {
        let (bound, secret) = value.split_once('.')?;
        (bound == id && crypto::is_secret_shaped(secret)).then(|| secret.to_string())
    });
    flow::Viewer {
        session_secret: sessions::cookie_secret(request),
        deploy_secret,
        tag: request.header("if-none-match").map(str::to_string),
    }
}

/// How status answers may be kept: by this browser only, and checked every time.
const CONDITIONAL: &str = "private, no-cache";

/// `GET /api/deploy/:id`.
pub async fn status<P: Platform>(
    app: &App<'_, P>,
    request: &Request,
    id: &str,
) -> Result<Response, ApiError> {
    // `private, no-cache`: the browser keeps the answer and asks again with its tag,
    // which the Worker answers with 304 while it holds (see `super::tag`).
    Ok(match flow::status(app, &viewer(request, id), id).await? {
        flow::Polled::NotModified { etag } => Response {
            status: 304,
            headers: Vec::new(),
            body: Vec::new(),
        }
        .with_header("etag", etag)
        .with_header("cache-control", CONDITIONAL),
        flow::Polled::Status { view, etag } => {
            let retry_after = view.retry_after_ms.map(|ms| ms.div_ceil(1000).to_string());
            let response = Response::json(200, &view)
                .with_header("etag", etag)
                .with_header("cache-control", CONDITIONAL);
            match retry_after {
                Some(secs) => response.with_header("retry-after", secs),
                None => response,
            }
        }
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SecretBody {
    pub telegram_token: Option<String>,
}

/// Parses `{telegramToken}`.
pub(crate) fn telegram_token(request: &Request) -> Result<TelegramToken, ApiError> {
    let body: SecretBody = json_body(request)?;
    field("telegramToken", body.telegram_token, TelegramToken::parse)
}

/// `POST /api/deploy/:id/secret`.
pub async fn deliver_secret<P: Platform>(
    app: &App<'_, P>,
    request: &Request,
    id: &str,
) -> Result<Response, ApiError> {
    let token = telegram_token(request)?;
    let version = flow::deliver_secret(app, &viewer(request, id), id, &token).await?;
    Ok(Response::ok_with("secretVersion", version))
}

/// `GET /api/deploy/:id/logs`.
pub async fn logs<P: Platform>(
    app: &App<'_, P>,
    request: &Request,
    id: &str,
) -> Result<Response, ApiError> {
    let logs = flow::logs(app, &viewer(request, id), id).await?;
    Ok(Response::json(200, &logs))
}
