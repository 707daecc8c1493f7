//! The bot flows: listing the session's bots across its projects (concurrently),
//! reading one, deleting a stopped one, rotating its Telegram token and reading its
//! serial output. Only VMs that carry claw.free's label are ever touched.

use super::model::{self, Bot, BotList, ProjectError, Report};
use crate::app::App;
use crate::error::ApiError;
use crate::google::compute::{Instance, InstanceRef};
use crate::google::GoogleFailure;
use crate::limits;
use crate::ports::Platform;
use crate::sessions::Session;
use crate::types::{ProjectId, TelegramToken, VmName, Zone};
use crate::vm::logs::Logs;
use crate::vm::secrets;
use claw_free_protocol::metadata::SecretName;
use futures_util::future::join_all;

/// The session's bots in all its projects (at most `max_projects_listed`). A project
/// that fails is reported in `errors`; the others are still listed.
pub async fn list<P: Platform>(app: &App<'_, P>, session: &Session) -> Result<BotList, ApiError> {
    let projects: Vec<ProjectId> = session
        .record
        .projects
        .iter()
        .filter_map(|p| ProjectId::parse(&p.project_id).ok())
        .take(app.config.limits.max_projects_listed)
        .collect();
    let listed = join_all(
        projects
            .iter()
            .map(|project| app.google(&session.token).compute().list_bots(project)),
    )
    .await;
    let mut found: Vec<(String, Instance)> = Vec::new();
    let mut errors = Vec::new();
    for (project, result) in projects.iter().zip(listed) {
        match result {
            Ok(instances) => found.extend(instances.into_iter().map(|i| (project.to_string(), i))),
            // Compute was never turned on there: no bots, nothing wrong.
            Err(GoogleFailure::ServiceDisabled { .. }) => {}
            Err(GoogleFailure::Unauthenticated) => {
                return Err(GoogleFailure::Unauthenticated.into_api_error(app.config, None))
            }
            Err(failure) => {
                let (_, error, _) = failure.explain(app.config, Some(project.as_str()));
                errors.push(ProjectError {
                    project_id: project.to_string(),
                    error,
                });
            }
        }
    }
    let reports = join_all(
        found
            .iter()
            .map(|(project, instance)| report(app, session, project, instance)),
    )
    .await;
    let now = app.now();
    let stale = app.config.limits.health_stale_secs;
    let mut vms: Vec<Bot> = found
        .iter()
        .zip(reports)
        .map(|((project, instance), report)| {
            let mut bot = model::bot(project, instance, &report, now, stale);
            bot.github = model::linked_repository(instance, github_web(app));
            bot
        })
        .collect();
    vms.sort_by(|a, b| {
        (&a.project_id, &a.created_at, &a.vm_name).cmp(&(&b.project_id, &b.created_at, &b.vm_name))
    });
    Ok(BotList { vms, errors })
}

/// A running bot's guest attributes (one call); nothing for a VM that is not running.
async fn report<P: Platform>(
    app: &App<'_, P>,
    session: &Session,
    project: &str,
    instance: &Instance,
) -> Report {
    if !instance.is_running() {
        return Report::NotRunning;
    }
    let Ok(target) = instance_ref(project, instance.zone_name(), &instance.name) else {
        return Report::Unreadable;
    };
    match app
        .google(&session.token)
        .compute()
        .guest_attributes(&target)
        .await
    {
        Ok(attributes) => Report::Read(attributes),
        Err(_) => Report::Unreadable,
    }
}

fn instance_ref(project: &str, zone: &str, vm: &str) -> Result<InstanceRef, ApiError> {
    Ok(InstanceRef {
        project: ProjectId::parse(project)?,
        zone: Zone::parse(zone)?,
        name: VmName::parse(vm)?,
    })
}

/// The bot a route names, if its project is one of the session's.
pub fn target(
    session: &Session,
    (project, zone, vm): (&str, &str, &str),
) -> Result<InstanceRef, ApiError> {
    let target = instance_ref(project, zone, vm)?;
    if !session.has_project(target.project.as_str()) {
        return Err(ApiError::NotFound(
            "That project is not among your Google Cloud projects.".into(),
        ));
    }
    Ok(target)
}

/// One bot, with its health and current secret version.
pub async fn get<P: Platform>(
    app: &App<'_, P>,
    session: &Session,
    target: &InstanceRef,
) -> Result<Bot, ApiError> {
    let instance = secrets::bot_instance(app, &session.token, target).await?;
    let report = report(app, session, target.project.as_str(), &instance).await;
    let mut bot = model::bot(
        target.project.as_str(),
        &instance,
        &report,
        app.now(),
        app.config.limits.health_stale_secs,
    );
    bot.github = model::linked_repository(&instance, github_web(app));
    Ok(bot)
}

/// Where GitHub's pages are (the simulator's in local runs).
fn github_web<'a, P: Platform>(app: &App<'a, P>) -> &'a str {
    app.config
        .github
        .as_ref()
        .map(|mode| mode.github.web.as_str())
        .unwrap_or(crate::github::config::GITHUB_WEB)
}

/// Deletes a bot whose VM is stopped; a running one is refused (409).
pub async fn delete<P: Platform>(
    app: &App<'_, P>,
    session: &Session,
    target: &InstanceRef,
) -> Result<(), ApiError> {
    limits::take_bot_action(app, session.limit_subject()).await?;
    let instance = secrets::bot_instance(app, &session.token, target).await?;
    if !instance.is_stopped() {
        return Err(ApiError::Conflict(format!(
            "Only a stopped bot can be deleted, and this one is {}. Stop its VM in the Google Cloud console first.",
            instance.status.to_lowercase()
        )));
    }
    app.google(&session.token)
        .compute()
        .delete(target)
        .await
        .map_err(|failure| failure.into_api_error(app.config, Some(target.project.as_str())))?;
    Ok(())
}

/// Sends a new Telegram token, encrypted to the VM; returns the version the bot
/// publishes once it applied it.
pub async fn rotate<P: Platform>(
    app: &App<'_, P>,
    session: &Session,
    target: &InstanceRef,
    token: &TelegramToken,
) -> Result<u64, ApiError> {
    limits::take_bot_action(app, session.limit_subject()).await?;
    secrets::deliver(
        app,
        &session.token,
        target,
        &SecretName::telegram_token(),
        token.expose(),
    )
    .await
}

/// Trusts the encryption key the bot's VM publishes now, for later secrets.
pub async fn rekey<P: Platform>(
    app: &App<'_, P>,
    session: &Session,
    target: &InstanceRef,
) -> Result<secrets::VmRecipient, ApiError> {
    limits::take_bot_action(app, session.limit_subject()).await?;
    secrets::rekey(app, &session.token, target).await
}

/// The tail of a bot's serial output.
pub async fn logs<P: Platform>(
    app: &App<'_, P>,
    session: &Session,
    target: &InstanceRef,
) -> Result<Logs, ApiError> {
    limits::take_bot_action(app, session.limit_subject()).await?;
    secrets::bot_instance(app, &session.token, target).await?;
    crate::vm::logs::serial(app, &session.token, target).await
}
