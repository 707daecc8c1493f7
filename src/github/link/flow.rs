//! Linking over the platform: the callback begins a link (writes its record), and the
//! status route moves it on by one step a poll, like a deploy's status. Every read is
//! checked against the owner: the Google account that began it, signed in now, with the
//! bot's project among its projects; anyone else gets the 404 of a bot with no link.

use super::model::{LinkRecord, LinkState, LinkView, RepoRef};
use super::run::{self, Ctx};
use crate::app::App;
use crate::bots::service;
use crate::error::ApiError;
use crate::github::config::GitHubMode;
use crate::google::compute::InstanceRef;
use crate::http::{Request, Response};
use crate::limits;
use crate::ports::Platform;
use crate::sessions::{self, Session};
use crate::store::{self, Key, DEPLOY_TTL};

/// The most steps one poll runs (each is a handful of calls at most).
pub const STEPS_PER_POLL: usize = 2;

fn key(target: &InstanceRef) -> Key {
    Key::GitHubLink(format!(
        "{}/{}/{}",
        target.project.as_str(),
        target.zone.as_str(),
        target.name.as_str()
    ))
}

fn mode<'a, P: Platform>(app: &'a App<'_, P>) -> Result<&'a GitHubMode, ApiError> {
    app.config.github.as_ref().ok_or_else(|| {
        ApiError::NotFound("Linking a GitHub repository is not available on this claw.free.".into())
    })
}

fn no_link() -> ApiError {
    ApiError::NotFound("This bot has no GitHub link under way or recorded.".into())
}

async fn save<P: Platform>(
    app: &App<'_, P>,
    target: &InstanceRef,
    record: &LinkRecord,
) -> Result<(), ApiError> {
    store::save(app.platform, &key(target), record, DEPLOY_TTL).await?;
    Ok(())
}

/// Begins linking `target` to `repository` through `installation`, for the signed-in
/// owner. A link of this bot still under way is kept (one at a time per bot); a failed
/// or finished one is replaced.
pub async fn begin<P: Platform>(
    app: &App<'_, P>,
    session: &Session,
    target: &InstanceRef,
    installation: u64,
    repository: RepoRef,
) -> Result<(), ApiError> {
    if !session.has_project(target.project.as_str()) {
        return Err(no_link());
    }
    let existing: Option<LinkRecord> = store::load(app.platform, &key(target)).await?;
    if existing.is_some_and(|r| r.state == LinkState::Linking) {
        return Ok(());
    }
    let record = LinkRecord::start(
        session.owner().to_string(),
        (
            target.project.clone(),
            target.zone.clone(),
            target.name.clone(),
        ),
        installation,
        repository,
        app.now(),
    );
    save(app, target, &record).await
}

/// The owner's link of the bot `path` names, if one is kept.
async fn load_owned<P: Platform>(
    app: &App<'_, P>,
    request: &Request,
    path: (&str, &str, &str),
) -> Result<(Session, InstanceRef, Option<LinkRecord>), ApiError> {
    mode(app)?;
    let session = sessions::require(app, request).await?;
    let target = service::target(&session, path)?;
    let record = store::load(app.platform, &key(&target))
        .await?
        .filter(|r: &LinkRecord| r.owner == session.owner());
    Ok((session, target, record))
}

/// A bot linked earlier, whose record has expired: what its `openclaw-github`
/// metadata says (read with the owner's token, so Google checks the access).
async fn recorded<P: Platform>(
    app: &App<'_, P>,
    session: &Session,
    target: &InstanceRef,
) -> Result<LinkView, ApiError> {
    let mode = mode(app)?;
    let vm = crate::vm::secrets::bot_instance(app, &session.token, target).await?;
    let linked =
        crate::bots::model::linked_repository(&vm, &mode.github.web).ok_or_else(no_link)?;
    Ok(LinkView::linked(linked.repository, linked.url))
}

/// Moves a linking record on by up to [`STEPS_PER_POLL`] steps; saves it when it changed.
async fn advance<P: Platform>(
    app: &App<'_, P>,
    session: &Session,
    target: &InstanceRef,
    mut record: LinkRecord,
    mut changed: bool,
) -> Result<LinkView, ApiError> {
    let ctx = Ctx {
        app,
        mode: mode(app)?,
        token: &session.token,
    };
    let mut retrying = false;
    for _ in 0..STEPS_PER_POLL {
        if record.state != LinkState::Linking {
            break;
        }
        let before = record.clone();
        let outcome = run::perform(&ctx, &mut record).await;
        let waits = matches!(outcome, super::model::Outcome::Wait { .. });
        retrying = record.apply(outcome, app.now());
        // Written only when a fact changed, not for the time of a poll that waited.
        let mut moved = record.clone();
        moved.updated_at = before.updated_at;
        changed |= moved != before;
        if retrying || waits {
            break;
        }
    }
    if changed {
        save(app, target, &record).await?;
    }
    Ok(record.view(retrying))
}

fn answer(view: &LinkView) -> Response {
    let response = Response::json(200, view).with_header("cache-control", "no-store");
    match view.retry_after_ms {
        Some(ms) => response.with_header("retry-after", ms.div_ceil(1000).to_string()),
        None => response,
    }
}

/// `GET /api/bots/:project/:zone/:vm/github/link`: the link, moved on by this poll; for
/// a bot linked longer ago than its record lives, what the bot's metadata records.
pub async fn status<P: Platform>(
    app: &App<'_, P>,
    request: &Request,
    path: (&str, &str, &str),
) -> Result<Response, ApiError> {
    let (session, target, record) = load_owned(app, request, path).await?;
    let view = match record {
        Some(record) => advance(app, &session, &target, record, false).await?,
        None => recorded(app, &session, &target).await?,
    };
    Ok(answer(&view))
}

/// `POST /api/bots/:project/:zone/:vm/github/link` (`{}`): a failed link runs again
/// from its failed step; any other answers as a poll.
pub async fn resume<P: Platform>(
    app: &App<'_, P>,
    request: &Request,
    path: (&str, &str, &str),
) -> Result<Response, ApiError> {
    if !request.body.iter().all(u8::is_ascii_whitespace) {
        let _: serde_json::Map<String, serde_json::Value> = crate::security::json_body(request)?;
    }
    let (session, target, record) = load_owned(app, request, path).await?;
    let mut record = record.ok_or_else(no_link)?;
    limits::take_bot_action(app, session.limit_subject()).await?;
    let resumed = record.resume(app.now());
    let view = advance(app, &session, &target, record, resumed).await?;
    Ok(answer(&view))
}
