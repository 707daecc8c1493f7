//! The deploy flows on top of the pure machine: starting a deploy, moving it on at
//! each status poll (at most [`MAX_CALLS_PER_POLL`] Google calls, KV written only
//! when the record changed), handing its VM the first secret, and its serial output.

use super::machine::{self, Applied, Call, Context, Outcome};
use super::model::{self, DeployRecord, IdempotencyKey, Phase, StatusView};
use crate::app::App;
use crate::crypto;
use crate::error::ApiError;
use crate::google::compute::{self, InstanceRef};
use crate::google::{serviceusage, AccessToken, GoogleFailure};
use crate::http::Request;
use crate::limits::{self, Limit, Scope};
use crate::ports::{Platform, Random};
use crate::secrets;
use crate::sessions::{self, Session};
use crate::store::{self, Key, DEPLOY_TTL, IDEMPOTENCY_TTL};
use crate::types::{BotName, ProjectId, Provider, Region, TelegramToken, TelegramUserId, VmName};
use claw_free_protocol::metadata::SecretName;

/// The most Google calls one status poll makes.
pub const MAX_CALLS_PER_POLL: usize = 2;

/// What `POST /api/deploy/start` asks for, parsed.
#[derive(Debug, Clone)]
pub struct StartRequest {
    pub project: ProjectId,
    pub region: Region,
    pub provider: Provider,
    pub bot_name: BotName,
    pub telegram_owner: Option<TelegramUserId>,
}

/// The answer to a start: the same for a retried click with the same key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub deployment_id: String,
    pub vm_name: VmName,
    /// The `__Host-deploy` cookie's secret for this browser.
    pub viewer_secret: String,
}

/// Starts a deploy: checks the project and limits, stores the record, and sends the
/// instance insert (or asks for the Compute API) within this request; the status poll
/// does the rest.
pub async fn start<P: Platform>(
    app: &App<'_, P>,
    session: &Session,
    client_ip: &str,
    request: StartRequest,
    idempotency: Option<IdempotencyKey>,
) -> Result<Started, ApiError> {
    if !session
        .record
        .projects
        .iter()
        .any(|p| p.project_id == request.project.as_str())
    {
        return Err(ApiError::NotFound(
            "That project is not among your Google Cloud projects. Reload the page and pick it again.".into(),
        ));
    }
    if let Some(key) = &idempotency {
        if let Some(started) = earlier_attempt(app, session, key).await? {
            return Ok(started);
        }
    }
    let limits = &app.config.limits;
    limits::take_all(
        app.platform,
        &[
            Limit {
                scope: Scope::DeployPerSession,
                subject: session.limit_subject(),
                limit: limits.deploys_per_session,
            },
            Limit {
                scope: Scope::DeployPerIp,
                subject: client_ip,
                limit: limits.deploys_per_ip,
            },
        ],
    )
    .await?;

    let id = crypto::random_hex(app.platform, 16)?;
    let viewer_secret = crypto::random_hex(app.platform, 16)?;
    let now = app.now();
    let mut record = DeployRecord {
        owner: session.owner().to_string(),
        session_digest: session.limit_subject().to_string(),
        viewer: crypto::seal(
            &app.config.sealing_key,
            app.platform,
            &model::viewer_context(&id),
            &viewer_secret,
        )?,
        project: request.project,
        region: request.region,
        zone: request.region.first_zone(),
        vm_name: request.bot_name.vm_name(suffix(app.platform)?),
        bot_name: request.bot_name,
        provider: request.provider,
        telegram_owner: request.telegram_owner,
        phase: Phase::Inserting,
        token: session.reseal_token(app, &model::token_context(&id))?,
        created_at: now,
        updated_at: now,
        phase_since: now,
        running_since: None,
        finished_at: None,
        ip: None,
        secret_version: None,
        secret_error: None,
        id,
    };
    // Stored before Google is asked, so a retried click finds this deploy rather than
    // starting a second VM while this request is still on its way.
    save(app, &record).await?;
    if let Some(key) = &idempotency {
        store::save(
            app.platform,
            &key.store_key(session.owner()),
            &record.id,
            IDEMPOTENCY_TTL,
        )
        .await?;
    }
    let before = record.clone();
    advance(app, &mut record, &session.token).await?;
    if record != before {
        save(app, &record).await?;
    }
    Ok(Started {
        deployment_id: record.id,
        vm_name: record.vm_name,
        viewer_secret,
    })
}

async fn earlier_attempt<P: Platform>(
    app: &App<'_, P>,
    session: &Session,
    key: &IdempotencyKey,
) -> Result<Option<Started>, ApiError> {
    let Some(id) = store::load::<String>(app.platform, &key.store_key(session.owner())).await?
    else {
        return Ok(None);
    };
    let record: Option<DeployRecord> = store::load(app.platform, &Key::Deploy(id)).await?;
    Ok(record.filter(|r| r.owner == session.owner()).and_then(|r| {
        Some(Started {
            viewer_secret: open_viewer(app, &r)?,
            deployment_id: r.id,
            vm_name: r.vm_name,
        })
    }))
}

fn open_viewer<P: Platform>(app: &App<'_, P>, record: &DeployRecord) -> Option<String> {
    crypto::open(
        &app.config.sealing_key,
        &model::viewer_context(&record.id),
        &record.viewer,
    )
    .ok()
}

fn suffix(random: &impl Random) -> Result<[u8; 3], ApiError> {
    let mut bytes = [0u8; 3];
    random.fill(&mut bytes)?;
    Ok(bytes)
}

async fn save<P: Platform>(app: &App<'_, P>, record: &DeployRecord) -> Result<(), ApiError> {
    store::save(
        app.platform,
        &Key::Deploy(record.id.clone()),
        record,
        DEPLOY_TTL,
    )
    .await?;
    Ok(())
}

/// Moves the record on by at most [`MAX_CALLS_PER_POLL`] Google calls. Returns
/// whether Google failed transiently (the record then keeps its state).
async fn advance<P: Platform>(
    app: &App<'_, P>,
    record: &mut DeployRecord,
    token: &AccessToken,
) -> Result<bool, ApiError> {
    let mut previous: Option<Call> = None;
    for _ in 0..MAX_CALLS_PER_POLL {
        let Some(call) = machine::next_call(record) else {
            break;
        };
        if previous
            .as_ref()
            .is_some_and(|p| !machine::worth_following(p, &call))
        {
            break;
        }
        let outcome = perform(app, record, token, &call).await;
        let ctx = Context {
            config: app.config,
            now: app.now(),
            fresh_suffix: suffix(app.platform)?,
        };
        let before = record.clone();
        if machine::apply(record, outcome, &ctx) == Applied::Transient {
            return Ok(true);
        }
        if *record == before {
            break;
        }
        record.updated_at = ctx.now;
        previous = Some(call);
    }
    Ok(false)
}

async fn perform<P: Platform>(
    app: &App<'_, P>,
    record: &DeployRecord,
    token: &AccessToken,
    call: &Call,
) -> Outcome {
    let (http, config) = (app.platform, app.config);
    let instance = record.instance();
    match call {
        Call::Enable => Outcome::Enable(
            serviceusage::enable_compute(http, config, token, &record.project).await,
        ),
        Call::EnableOperation(name) => {
            Outcome::EnableOperation(serviceusage::get_operation(http, config, token, name).await)
        }
        Call::Insert => {
            let body = compute::instance_body(
                config,
                &instance,
                &record.bot_name,
                record.provider,
                record.telegram_owner,
            );
            Outcome::Insert(compute::insert(http, config, token, &instance, &body).await)
        }
        Call::InspectName => {
            Outcome::InspectName(compute::get(http, config, token, &instance).await)
        }
        Call::ZoneOperation(name) => Outcome::ZoneOperation(
            compute::get_operation(http, config, token, &record.project, &record.zone, name).await,
        ),
        Call::Instance => Outcome::Instance(compute::get(http, config, token, &instance).await),
        Call::GuestAttributes => Outcome::GuestAttributes(
            compute::guest_attributes(http, config, token, &instance).await,
        ),
    }
}

fn unknown_deploy() -> ApiError {
    ApiError::NotFound(
        "claw.free does not know this deploy. Deploys are kept for an hour; your bot list shows every bot.".into(),
    )
}

/// The deploy `id`, if the caller may see it: the owner signed in, or the browser
/// that started it (its `__Host-deploy` cookie), whose session may have expired since.
/// Anyone else gets the same 404 as for an id that does not exist.
async fn load_owned<P: Platform>(
    app: &App<'_, P>,
    request: &Request,
    id: &str,
) -> Result<DeployRecord, ApiError> {
    let session = sessions::require(app, request).await;
    let viewer = model::viewer_secret(request, id);
    if let (Err(error), None) = (&session, &viewer) {
        return Err(error.clone());
    }
    if !model::is_deployment_id(id) {
        return Err(unknown_deploy());
    }
    let record: DeployRecord = store::load(app.platform, &Key::Deploy(id.to_string()))
        .await?
        .ok_or_else(unknown_deploy)?;
    let is_owner = session.is_ok_and(|s| s.owner() == record.owner);
    let is_viewer = viewer.is_some_and(|secret| {
        open_viewer(app, &record)
            .is_some_and(|expected| crypto::sha256_hex(&expected) == crypto::sha256_hex(&secret))
    });
    if is_owner || is_viewer {
        Ok(record)
    } else {
        Err(unknown_deploy())
    }
}

/// The record's access token, opened.
fn open_token<P: Platform>(app: &App<'_, P>, record: &DeployRecord) -> Option<AccessToken> {
    crypto::open(
        &app.config.sealing_key,
        &model::token_context(&record.id),
        &record.token,
    )
    .ok()
    .map(AccessToken::new)
}

/// `GET /api/deploy/:id`: one step of the machine, then the view.
pub async fn status<P: Platform>(
    app: &App<'_, P>,
    request: &Request,
    id: &str,
) -> Result<StatusView, ApiError> {
    let mut record = load_owned(app, request, id).await?;
    let before = record.clone();
    let mut retrying = false;
    if !record.phase.is_finished() {
        match open_token(app, &record) {
            Some(token) => retrying = advance(app, &mut record, &token).await?,
            None => {
                let (_, message, action) = GoogleFailure::Unauthenticated
                    .explain(app.config, Some(record.project.as_str()));
                record.enter(
                    Phase::Failed {
                        message,
                        action,
                        logs: false,
                    },
                    app.now(),
                );
            }
        }
    }
    if record != before {
        save(app, &record).await?;
    }
    Ok(record.view(app.config, app.now(), retrying))
}

fn refuse_before_vm(record: &DeployRecord) -> Result<(), ApiError> {
    match record.phase {
        Phase::Enabling { .. } | Phase::Inserting | Phase::CheckingName => Err(ApiError::Conflict(
            "The VM does not exist yet. Wait until it is booting.".into(),
        )),
        _ => Ok(()),
    }
}

fn token_or_sign_in<P: Platform>(
    app: &App<'_, P>,
    record: &DeployRecord,
) -> Result<AccessToken, ApiError> {
    open_token(app, record).ok_or_else(|| {
        GoogleFailure::Unauthenticated.into_api_error(app.config, Some(record.project.as_str()))
    })
}

/// `POST /api/deploy/:id/secret`: the first Telegram token, encrypted to the VM.
/// Returns the secret version the VM will publish once it applied it.
pub async fn deliver_secret<P: Platform>(
    app: &App<'_, P>,
    request: &Request,
    id: &str,
    telegram_token: &TelegramToken,
) -> Result<u64, ApiError> {
    let mut record = load_owned(app, request, id).await?;
    refuse_before_vm(&record)?;
    if let Phase::Failed { .. } = record.phase {
        return Err(ApiError::Conflict(
            "This deploy stopped; send the token from the bot list once the bot runs.".into(),
        ));
    }
    limits::take(
        app.platform,
        Scope::BotActionPerSession,
        &record.session_digest,
        app.config.limits.bot_actions_per_session,
    )
    .await?;
    let token = token_or_sign_in(app, &record)?;
    let version = secrets::deliver(
        app,
        &token,
        &record.instance(),
        &SecretName::telegram_token(),
        telegram_token.expose(),
    )
    .await?;
    record.secret_version = Some(version);
    record.secret_error = None;
    record.updated_at = app.now();
    save(app, &record).await?;
    Ok(version)
}

/// The tail of a VM's serial output and the console link, for a deploy or a bot.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Logs {
    pub output: String,
    pub console_url: String,
}

/// Reads the serial output of `instance`.
pub async fn serial_logs<P: Platform>(
    app: &App<'_, P>,
    token: &AccessToken,
    instance: &InstanceRef,
) -> Result<Logs, ApiError> {
    match compute::serial_tail(app.platform, app.config, token, instance).await {
        Ok(output) => Ok(Logs {
            output,
            console_url: instance.console_url(app.config),
        }),
        Err(GoogleFailure::NotFound(_)) => Err(ApiError::NotFound(
            "The VM no longer exists, so it has no serial output.".into(),
        )),
        Err(failure) => Err(failure.into_api_error(app.config, Some(instance.project.as_str()))),
    }
}

/// `GET /api/deploy/:id/logs`.
pub async fn logs<P: Platform>(
    app: &App<'_, P>,
    request: &Request,
    id: &str,
) -> Result<Logs, ApiError> {
    let record = load_owned(app, request, id).await?;
    refuse_before_vm(&record)?;
    limits::take(
        app.platform,
        Scope::BotActionPerSession,
        &record.session_digest,
        app.config.limits.bot_actions_per_session,
    )
    .await?;
    let token = token_or_sign_in(app, &record)?;
    serial_logs(app, &token, &record.instance()).await
}

#[cfg(test)]
#[path = "flow_tests.rs"]
mod tests;
