//! The deploy flows on top of the pure machine: starting a deploy, moving it on at
//! each status poll, handing its VM the first secret, and its serial output.
//!
//! What a request costs, by design: a start writes the deploy record once, after
//! Google accepted the insert (a retried click with the same `Idempotency-Key` finds
//! the same record, or the same VM name at Google). A status poll reads the record
//! once (a second read only for a signed-in owner in another browser), makes at most
//! [`MAX_CALLS_PER_POLL`] Google call, writes the record only when a fact worth
//! keeping changed ([`DeployRecord::differs_from`]), and none of that when the page
//! still holds a fresh answer ([`super::tag`]).

use super::machine::{self, Applied, Call, Context, Outcome};
use super::model::{self, DeployRecord, IdempotencyKey, Phase, StatusView};
use super::tag;
use crate::app::App;
use crate::crypto::{self, Sealed};
use crate::error::ApiError;
use crate::google::compute::{self, GuestAttributes};
use crate::google::{AccessToken, GoogleFailure};
use crate::limits;
use crate::ports::{Platform, Random};
use crate::sessions::{self, Session};
use crate::store::{self, Key, DEPLOY_TTL};
use crate::types::{BotName, ProjectId, Provider, Region, TelegramToken, TelegramUserId, VmName};
use crate::vm::{self, secrets};
use claw_free_protocol::guest::SetupState;
use claw_free_protocol::metadata::SecretName;

/// The most Google calls a status poll makes to move the deploy on. The one poll that
/// finds the VM waiting for a Telegram token given at the start also delivers it
/// ([`secrets::deliver_to`]: the instance and the metadata write).
pub const MAX_CALLS_PER_POLL: usize = 1;

/// The calls a delivery adds to the poll that makes it: the instance (is it running,
/// its metadata fingerprint) and the metadata write.
pub const DELIVERY_CALLS: usize = 2;

/// The most Google calls the start request makes: the insert, and what its answer
/// calls for at once (turning Compute on, or looking at a VM holding the name).
pub const MAX_CALLS_PER_START: usize = 2;

/// What `POST /api/deploy/start` asks for, parsed.
#[derive(Debug, Clone)]
pub struct StartRequest {
    pub project: ProjectId,
    pub region: Region,
    pub provider: Provider,
    pub bot_name: BotName,
    pub telegram_owner: Option<TelegramUserId>,
    /// The bot's token, when the page gives it with the start (the original page does);
    /// kept sealed in the record until a poll delivers it to the VM.
    pub telegram_token: Option<TelegramToken>,
}

/// The answer to a start: the same for a retried click with the same key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub deployment_id: String,
    pub vm_name: VmName,
    /// The `__Host-deploy` cookie's secret for this browser.
    pub viewer_secret: String,
}

/// Where a new deploy's id and VM-name suffix come from: random, or, with an
/// `Idempotency-Key`, derived from the owner and the key under the sealing key, so
/// that every try of the same click names the same record and the same VM. A retry
/// that finds the record answers from it; one that races the first try is stopped by
/// Google, which refuses a second VM of the same name (and the machine then finds the
/// VM is this deploy's own).
fn new_identity<P: Platform>(
    app: &App<'_, P>,
    session: &Session,
    idempotency: Option<&IdempotencyKey>,
) -> Result<(String, [u8; 3]), ApiError> {
    match idempotency {
        Some(key) => {
            let derived = crypto::mac_hex(
                &app.config.sealing_key,
                "deploy-id",
                &format!("{}:{}", session.owner(), key.digest()),
            );
            let mut suffix = [0u8; 3];
            for (i, byte) in suffix.iter_mut().enumerate() {
                *byte = u8::from_str_radix(&derived[32 + 2 * i..34 + 2 * i], 16).unwrap_or(0);
            }
            Ok((derived[..32].to_string(), suffix))
        }
        None => Ok((crypto::random_hex(app.platform, 16)?, suffix(app.platform)?)),
    }
}

/// Starts a deploy: checks the project and limits, sends the instance insert (or asks
/// for the Compute API) and stores the record once; the status poll does the rest.
pub async fn start<P: Platform>(
    app: &App<'_, P>,
    session: &Session,
    client_ip: &str,
    request: StartRequest,
    idempotency: Option<IdempotencyKey>,
) -> Result<Started, ApiError> {
    if !session.has_project(request.project.as_str()) {
        return Err(ApiError::NotFound(
            "That project is not among your Google Cloud projects. Reload the page and pick it again.".into(),
        ));
    }
    let (id, vm_suffix) = new_identity(app, session, idempotency.as_ref())?;
    if idempotency.is_some() {
        let earlier: Option<DeployRecord> =
            store::load(app.platform, &Key::Deploy(id.clone())).await?;
        if let Some(record) = earlier.filter(|r| r.owner == session.owner()) {
            return Ok(started(app, record));
        }
    }
    let limits = &app.config.limits;
    limits::take_deploy(
        app.platform,
        session.limit_subject(),
        client_ip,
        limits.deploys_per_session,
        limits.deploys_per_ip,
    )
    .await?;

    let now = app.now();
    let telegram_token = request
        .telegram_token
        .as_ref()
        .map(|t| {
            crypto::seal(
                &app.config.sealing_key,
                app.platform,
                &model::telegram_context(&id),
                t.expose(),
            )
        })
        .transpose()?;
    let mut record = DeployRecord {
        owner: session.owner().to_string(),
        session_digest: session.limit_subject().to_string(),
        session_expires_at: session.record.expires_at,
        project: request.project,
        region: request.region,
        zone: request.region.first_zone(),
        vm_name: request.bot_name.vm_name(vm_suffix),
        bot_name: request.bot_name,
        provider: request.provider,
        telegram_owner: request.telegram_owner,
        phase: Phase::Inserting,
        token: session.reseal_token(app, &model::token_context(&id))?,
        telegram_token,
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
    advance(app, &mut record, &session.token, MAX_CALLS_PER_START).await?;
    settle_finished(&mut record);
    save(app, &record).await?;
    Ok(started(app, record))
}

fn started<P: Platform>(app: &App<'_, P>, record: DeployRecord) -> Started {
    Started {
        viewer_secret: model::viewer_secret(&app.config.sealing_key, &record.id),
        deployment_id: record.id,
        vm_name: record.vm_name,
    }
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
        &record.settled(),
        DEPLOY_TTL,
    )
    .await?;
    Ok(())
}

/// A finished deploy needs no Telegram token any more, whoever wrote it last.
fn settle_finished(record: &mut DeployRecord) {
    if record.phase.is_finished() {
        record.telegram_token = None;
    }
}

/// What one step of the machine brought back besides the record.
#[derive(Default)]
struct Step {
    /// Google failed transiently: the record kept its state.
    retrying: bool,
    /// The VM's guest attributes, when this step read them.
    attributes: Option<GuestAttributes>,
}

/// Moves the record on by at most `budget` Google calls.
async fn advance<P: Platform>(
    app: &App<'_, P>,
    record: &mut DeployRecord,
    token: &AccessToken,
    budget: usize,
) -> Result<Step, ApiError> {
    let mut step = Step::default();
    let mut previous: Option<Call> = None;
    for _ in 0..budget {
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
        if let Outcome::GuestAttributes(Ok(attributes)) = &outcome {
            step.attributes = Some(attributes.clone());
        }
        let ctx = Context {
            config: app.config,
            now: app.now(),
            fresh_suffix: suffix(app.platform)?,
        };
        let before = record.clone();
        if machine::apply(record, outcome, &ctx) == Applied::Transient {
            step.retrying = true;
            break;
        }
        if *record == before {
            break;
        }
        record.updated_at = ctx.now;
        previous = Some(call);
    }
    Ok(step)
}

async fn perform<P: Platform>(
    app: &App<'_, P>,
    record: &DeployRecord,
    token: &AccessToken,
    call: &Call,
) -> Outcome {
    let (config, google) = (app.config, app.google(token));
    let instance = record.instance();
    match call {
        Call::Enable => {
            Outcome::Enable(google.serviceusage().enable_compute(&record.project).await)
        }
        Call::EnableOperation(name) => {
            Outcome::EnableOperation(google.serviceusage().get_operation(name).await)
        }
        Call::Insert => {
            let body = compute::instance_body(
                config,
                &instance,
                &record.bot_name,
                record.provider,
                record.telegram_owner,
            );
            Outcome::Insert(google.compute().insert(&instance, &body).await)
        }
        Call::InspectName => Outcome::InspectName(google.compute().get(&instance).await),
        Call::ZoneOperation(name) => Outcome::ZoneOperation(
            google
                .compute()
                .get_operation(&record.project, &record.zone, name)
                .await,
        ),
        Call::Instance => Outcome::Instance(google.compute().get(&instance).await),
        Call::GuestAttributes => {
            Outcome::GuestAttributes(google.compute().guest_attributes(&instance).await)
        }
    }
}

fn unknown_deploy() -> ApiError {
    ApiError::NotFound(
        "claw.free does not know this deploy. Deploys are kept for an hour; your bot list shows every bot.".into(),
    )
}

/// Who asks about deploy `id`, as the handler read it from the request: the secrets of
/// the cookies that may prove they may see it, and the tag of the answer the page holds.
#[derive(Debug, Clone, Default)]
pub struct Viewer {
    /// The `__Host-session` cookie's secret.
    pub session_secret: Option<String>,
    /// The `__Host-deploy` cookie's secret, when the cookie binds this deploy (its
    /// value is `<id>.<secret>`, so one browser follows one deploy at a time).
    pub deploy_secret: Option<String>,
    /// `If-None-Match`.
    pub tag: Option<String>,
}

/// The deploy `id` and the cookie value that proved the caller may see it: the browser
/// that started it (its `__Host-deploy` cookie, or the session it started with, whose
/// digest the record keeps: no session read), or the owner signed in elsewhere (one
/// session read more). Anyone else gets the same 404 as for an id that does not exist.
async fn load_owned<P: Platform>(
    app: &App<'_, P>,
    caller: &Viewer,
    id: &str,
) -> Result<(DeployRecord, String), ApiError> {
    let session_secret = caller.session_secret.clone();
    let viewer = caller.deploy_secret.clone();
    if session_secret.is_none() && viewer.is_none() {
        return Err(ApiError::Unauthorized("Sign in with Google first.".into()));
    }
    if !model::is_deployment_id(id) {
        return Err(unknown_deploy());
    }
    let record: DeployRecord = store::load(app.platform, &Key::Deploy(id.to_string()))
        .await?
        .ok_or_else(unknown_deploy)?;
    if let Some(viewer) = viewer
        .filter(|v| crypto::constant_time_eq(&model::viewer_secret(&app.config.sealing_key, id), v))
    {
        return Ok((record, viewer));
    }
    let Some(session_secret) = session_secret else {
        return Err(unknown_deploy());
    };
    if app.now() < record.session_expires_at
        && crypto::constant_time_eq(&crypto::sha256_hex(&session_secret), &record.session_digest)
    {
        return Ok((record, session_secret));
    }
    let session = sessions::resolve(app, &session_secret).await?;
    if session.owner() == record.owner {
        Ok((record, session_secret))
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

/// The answer to a status poll.
pub enum Polled {
    /// The page's copy (its `If-None-Match`) is still right.
    NotModified { etag: String },
    /// The status, and the tag under which the page may keep it.
    Status { view: Box<StatusView>, etag: String },
}

/// `GET /api/deploy/:id`: the page's copy if it is still fresh; else one step of the
/// machine, the token given at the start delivered when the VM waits for it, and
/// the view.
pub async fn status<P: Platform>(
    app: &App<'_, P>,
    caller: &Viewer,
    id: &str,
) -> Result<Polled, ApiError> {
    let now_ms = app.platform.now_ms();
    let offered: Vec<&str> = [&caller.session_secret, &caller.deploy_secret]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    if let Some(etag) = &caller.tag {
        if tag::still_fresh(&app.config.sealing_key, etag, id, &offered, now_ms) {
            return Ok(Polled::NotModified { etag: etag.clone() });
        }
    }
    let (mut record, credential) = load_owned(app, caller, id).await?;
    let stored = record.clone();
    let mut retrying = false;
    if !record.phase.is_finished() {
        match open_token(app, &record) {
            Some(token) => {
                let step = advance(app, &mut record, &token, MAX_CALLS_PER_POLL).await?;
                retrying = step.retrying;
                if let Some(attributes) = step.attributes {
                    deliver_given_token(app, &mut record, &token, &attributes).await;
                    if record.phase == Phase::Done {
                        record.secret_version =
                            record.secret_version.max(attributes.secret_version());
                    }
                }
            }
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
    settle_finished(&mut record);
    if record.differs_from(&stored) {
        save(app, &record).await?;
    }
    let view = record.view(app.config, app.now(), retrying);
    let valid_until_ms = match (record.phase.is_finished(), view.retry_after_ms) {
        // The record lives DEPLOY_TTL after its last write, which was its finish.
        (true, _) => {
            record
                .finished_at
                .unwrap_or(app.now())
                .saturating_add(DEPLOY_TTL)
                * 1000
        }
        (false, Some(wait)) => now_ms + wait,
        (false, None) => now_ms,
    };
    let etag = tag::issue(&app.config.sealing_key, id, valid_until_ms, &credential);
    Ok(Polled::Status {
        view: Box::new(view),
        etag,
    })
}

/// When the VM waits for its first token and the start gave one, delivers it (to the
/// key in the guest attributes this poll read) and erases it from the record. A
/// failure leaves the token sealed for the next poll.
async fn deliver_given_token<P: Platform>(
    app: &App<'_, P>,
    record: &mut DeployRecord,
    token: &AccessToken,
    attributes: &GuestAttributes,
) {
    let Some(sealed) = record.telegram_token.clone() else {
        return;
    };
    if attributes.setup() != Some(SetupState::WaitingSecret) || attributes.recipient().is_none() {
        return;
    }
    let Some(plaintext) = open_telegram(app, record, &sealed) else {
        // Sealed under a key since rotated: it can never be delivered.
        record.telegram_token = None;
        return;
    };
    if let Ok(version) = secrets::deliver_to(
        app,
        token,
        &record.instance(),
        attributes,
        &SecretName::telegram_token(),
        &plaintext,
    )
    .await
    {
        record.secret_version = Some(version);
        record.telegram_token = None;
        record.enter(
            Phase::Configuring {
                waiting_for_secret: false,
            },
            app.now(),
        );
    }
}

fn open_telegram<P: Platform>(
    app: &App<'_, P>,
    record: &DeployRecord,
    sealed: &Sealed,
) -> Option<String> {
    crypto::open(
        &app.config.sealing_key,
        &model::telegram_context(&record.id),
        sealed,
    )
    .ok()
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

/// The record and its token for an action on the deploy's VM by its owner: refused
/// before the VM exists, by `allowed`, or past the session's bot-action limit.
async fn act_on_vm<P: Platform>(
    app: &App<'_, P>,
    caller: &Viewer,
    id: &str,
    allowed: impl FnOnce(&DeployRecord) -> Result<(), ApiError>,
) -> Result<(DeployRecord, AccessToken), ApiError> {
    let (record, _) = load_owned(app, caller, id).await?;
    refuse_before_vm(&record)?;
    allowed(&record)?;
    limits::take_bot_action(app, &record.session_digest).await?;
    let token = token_or_sign_in(app, &record)?;
    Ok((record, token))
}

/// `POST /api/deploy/:id/secret`: the first Telegram token, encrypted to the VM.
/// Returns the secret version the VM will publish once it applied it.
pub async fn deliver_secret<P: Platform>(
    app: &App<'_, P>,
    caller: &Viewer,
    id: &str,
    telegram_token: &TelegramToken,
) -> Result<u64, ApiError> {
    let (mut record, token) = act_on_vm(app, caller, id, |record| {
        if record.phase.is_finished() {
            return Err(ApiError::Conflict(
                "This deploy is over; send a new token from the bot list once the bot runs.".into(),
            ));
        }
        Ok(())
    })
    .await?;
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
    // This token supersedes one given at the start.
    record.telegram_token = None;
    record.updated_at = app.now();
    save(app, &record).await?;
    Ok(version)
}

/// `GET /api/deploy/:id/logs`.
pub async fn logs<P: Platform>(
    app: &App<'_, P>,
    caller: &Viewer,
    id: &str,
) -> Result<vm::logs::Logs, ApiError> {
    let (record, token) = act_on_vm(app, caller, id, |_| Ok(())).await?;
    vm::logs::serial(app, &token, &record.instance()).await
}

#[cfg(test)]
mod tests;
