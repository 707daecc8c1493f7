//! HTTP handlers for the bot list and bot management: session, typed route values,
//! then [`super::service`].

use super::service;
use crate::app::App;
use crate::deploys::api::telegram_token;
use crate::error::ApiError;
use crate::google::compute::InstanceRef;
use crate::http::{Request, Response};
use crate::ports::Platform;
use crate::router::BotPath;
use crate::sessions::{self, Session};
use serde_json::json;

/// A request about one bot: the caller's session and the bot its path names, which
/// must be in one of the session's projects. The router resolves it before any bot
/// route's handler runs.
pub struct Caller {
    pub session: Session,
    pub target: InstanceRef,
}

impl Caller {
    pub async fn resolve<P: Platform>(
        app: &App<'_, P>,
        request: &Request,
        path: BotPath<'_>,
    ) -> Result<Self, ApiError> {
        let session = sessions::require(app, request).await?;
        let target = service::target(&session, path)?;
        Ok(Self { session, target })
    }
}

/// `GET /api/deploy/existing`: `{vms, errors}`.
pub async fn list<P: Platform>(app: &App<'_, P>, request: &Request) -> Result<Response, ApiError> {
    let session = sessions::require(app, request).await?;
    let list = service::list(app, &session).await?;
    Ok(Response::json(200, &list))
}

/// `GET /api/bots/:project/:zone/:vm`.
pub async fn get<P: Platform>(app: &App<'_, P>, caller: &Caller) -> Result<Response, ApiError> {
    let bot = service::get(app, &caller.session, &caller.target).await?;
    Ok(Response::json(200, &bot))
}

/// `DELETE /api/bots/:project/:zone/:vm`.
pub async fn delete<P: Platform>(app: &App<'_, P>, caller: &Caller) -> Result<Response, ApiError> {
    service::delete(app, &caller.session, &caller.target).await?;
    Ok(Response::json(200, &json!({"ok": true})))
}

/// `POST /api/bots/:project/:zone/:vm/secret` with `{telegramToken}`.
pub async fn rotate_secret<P: Platform>(
    app: &App<'_, P>,
    caller: &Caller,
    request: &Request,
) -> Result<Response, ApiError> {
    let token = telegram_token(request)?;
    let version = service::rotate(app, &caller.session, &caller.target, &token).await?;
    Ok(Response::ok_with("secretVersion", version))
}

/// `POST /api/bots/:project/:zone/:vm/rekey`: `{ok: true, recipient}`, the key the
/// VM publishes now, trusted for every later secret.
pub async fn rekey<P: Platform>(app: &App<'_, P>, caller: &Caller) -> Result<Response, ApiError> {
    let key = service::rekey(app, &caller.session, &caller.target).await?;
    Ok(Response::ok_with("recipient", key.as_str()))
}

/// `GET /api/bots/:project/:zone/:vm/logs`: `{output, consoleUrl}`.
pub async fn logs<P: Platform>(app: &App<'_, P>, caller: &Caller) -> Result<Response, ApiError> {
    let logs = service::logs(app, &caller.session, &caller.target).await?;
    Ok(Response::json(200, &logs))
}
