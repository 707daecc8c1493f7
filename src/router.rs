//! Which handler answers which `/api/` path. Paths and JSON shapes of the original
//! frontend are kept (see docs/CONTRACTS.md).

use crate::app::App;
use crate::error::ApiError;
use crate::http::{Method, Request, Response};
use crate::ports::Platform;
use crate::{auth, bots, deploys, health, rollouts, telegram};

pub async fn route<P: Platform>(app: &App<'_, P>, request: &Request) -> Result<Response, ApiError> {
    let segments: Vec<&str> = request
        .path
        .trim_start_matches('/')
        .trim_end_matches('/')
        .split('/')
        .collect();
    use Method::*;
    match (request.method, segments.as_slice()) {
        (Get | Head, ["api", "health"]) => Ok(health::health(app)),
        (Get, ["api", "auth", "google"]) => auth::start(app, request).await,
        (Get, ["api", "auth", "callback", "google"]) => auth::callback(app, request).await,
        (Get, ["api", "auth", "logout"]) => auth::logout_redirect(app, request).await,
        (Post, ["api", "auth", "logout"]) => auth::logout(app, request).await,
        (Get, ["api", "deploy", "session"]) => auth::session(app, request).await,
        (Post, ["api", "deploy", "create-project"]) => auth::create_project(app, request).await,
        (Post, ["api", "telegram", "detect-user"]) => telegram::detect_user(app, request).await,
        (Post, ["api", "telegram", "owner-code"]) => telegram::code(app, request).await,
        (Get, ["api", "deploy", "vm-name"]) => deploys::api::vm_name_preview(request),
        (Post, ["api", "deploy", "start"]) => deploys::api::start(app, request).await,
        (Get, ["api", "deploy", "existing"]) => bots::api::list(app, request).await,
        (Get, ["api", "deploy", id]) => deploys::api::status(app, request, id).await,
        (Post, ["api", "deploy", id, "secret"]) => {
            deploys::api::deliver_secret(app, request, id).await
        }
        (Get, ["api", "deploy", id, "logs"]) => deploys::api::logs(app, request, id).await,
        (Get, ["api", "bots", project, zone, vm]) => {
            bots::api::get(app, request, (project, zone, vm)).await
        }
        (Delete, ["api", "bots", project, zone, vm]) => {
            bots::api::delete(app, request, (project, zone, vm)).await
        }
        (Post, ["api", "bots", project, zone, vm, "secret"]) => {
            bots::api::rotate_secret(app, request, (project, zone, vm)).await
        }
        (Post, ["api", "bots", project, zone, vm, "rekey"]) => {
            bots::api::rekey(app, request, (project, zone, vm)).await
        }
        (Post, ["api", "bots", project, zone, vm, "rollback"]) => {
            rollouts::rollback_route(app, request, (project, zone, vm)).await
        }
        (Get, ["api", "bots", project, zone, vm, "logs"]) => {
            bots::api::logs(app, request, (project, zone, vm)).await
        }
        (_, ["api", ..]) if known_path(&segments) => Err(ApiError::MethodNotAllowed),
        _ => Err(ApiError::NotFound("There is no such API route.".into())),
    }
}

/// Whether some method answers this path (for 405 rather than 404).
fn known_path(segments: &[&str]) -> bool {
    matches!(
        segments,
        ["api", "health"]
            | ["api", "auth", "google" | "logout"]
            | ["api", "auth", "callback", "google"]
            | ["api", "deploy", _]
            | ["api", "deploy", _, "secret" | "logs"]
            | ["api", "telegram", "detect-user" | "owner-code"]
            | ["api", "bots", _, _, _]
            | ["api", "bots", _, _, _, "secret" | "logs" | "rekey"]
            | ["api", "bots", _, _, _, "rollback"]
    )
}
