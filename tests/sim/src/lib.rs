//! claw-free-sim: a faithful local stand-in for the Google services claw.free uses
//! (OAuth, Cloud Resource Manager, Service Usage, Compute Engine and each VM's metadata
//! server) and for the Telegram Bot API, all on one loopback port under Google's own
//! paths. See docs/CONTRACTS.md section 2.
//!
//! [`start`] runs it inside a tokio runtime; [`Background`] runs it on its own thread
//! (for blocking tests); the `claw-free-sim` binary is a thin shell around [`start`].

pub mod admin;
pub mod chat;
pub mod clock;
pub mod compute;
pub mod crm;
pub mod endpoint;
pub mod errors;
pub mod faults;
pub mod filter;
pub mod gateway;
pub mod github;
pub mod http;
pub mod iam;
pub mod identity;
pub mod metadata_server;
pub mod nvidia;
pub mod oauth;
pub mod operations;
pub mod service_accounts;
pub mod serviceusage;
pub mod state;
pub mod storage;
pub mod telegram;
pub mod vm;

use crate::endpoint::Endpoint;
use crate::errors::ApiResult;
use crate::faults::FaultEffect;
use crate::http::{text, Req};
use crate::state::{Config, VmKey, World};
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use claw_free_protocol::google::ApiError;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{oneshot, Notify};

/// The largest request body the simulator reads (Google's metadata limit is 512 KB).
const MAX_BODY: usize = 2 * 1024 * 1024;
/// The largest body of one request under `/upload/` (a media upload or one chunk of a
/// resumable one): Cloud Storage takes far more, a test never needs more.
const MAX_UPLOAD_BODY: usize = 64 * 1024 * 1024;

/// How the simulator is started (the binary's flags).
#[derive(Debug, Clone)]
pub struct Options {
    /// 0 picks a free port.
    pub port: u16,
    /// The real VM agent to run for each VM; the built-in stand-in otherwise.
    pub agent: Option<PathBuf>,
    /// The real OpenClaw gateway and Setup model the agent (re)starts on each VM; a
    /// health stand-in otherwise.
    pub app: Option<gateway::AppPrograms>,
    /// Where VMs' root folders live (`<state-dir>/vms/<project>/<zone>/<instance>/`).
    pub state_dir: PathBuf,
    pub client_id: String,
    pub client_secret: String,
    /// The configuration at start and after every reset.
    pub config: Config,
}

impl Options {
    pub fn new(state_dir: PathBuf) -> Self {
        Self {
            port: 0,
            agent: None,
            app: None,
            state_dir,
            client_id: "claw-free-local".into(),
            client_secret: "local-secret".into(),
            config: Config::default(),
        }
    }
}

/// The running simulator's shared state.
pub struct Sim {
    pub opts: Options,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    world: Mutex<World>,
    /// Woken whenever instances, metadata or guest attributes change.
    pub changed: Notify,
    /// Woken when Telegram updates arrive.
    pub telegram_changed: Notify,
    runners: Mutex<HashMap<VmKey, vm::Runner>>,
    apps: Mutex<HashMap<VmKey, std::sync::Arc<Mutex<gateway::App>>>>,
}

impl Sim {
    /// The world, locked. A panic while it was held cannot leave it half-written in a
    /// way that matters for a test double, so a poisoned lock is taken over.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn runners(&self) -> MutexGuard<'_, HashMap<VmKey, vm::Runner>> {
        self.runners.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets everything and re-seeds the default user and projects.
    pub fn reset(&self) {
        self.halt_all();
        *self.world() = World::seeded(self.opts.config.clone(), &self.base_url);
        let vms = self.opts.state_dir.join("vms");
        if vms.exists() {
            let _ = std::fs::remove_dir_all(&vms);
        }
        self.changed.notify_waiters();
        self.telegram_changed.notify_waiters();
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.halt_all();
    }
}

/// A started simulator.
pub struct Server {
    pub sim: Arc<Sim>,
    pub port: u16,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    pub fn url(&self) -> String {
        self.sim.base_url.clone()
    }

    /// Kills every agent and stops serving.
    pub async fn shutdown(mut self) {
        self.sim.halt_all();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // Long polls (wait_for_change without a timeout, getUpdates) would hold a
        // graceful shutdown open for ever: give them a moment, then stop anyway.
        if tokio::time::timeout(Duration::from_secs(1), &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}

/// Binds 127.0.0.1:`opts.port` and serves until [`Server::shutdown`].
pub async fn start(opts: Options) -> std::io::Result<Server> {
    if let Some(agent) = &opts.agent {
        if !agent.is_file() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("--agent {}: no such file", agent.display()),
            ));
        }
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port)).await?;
    std::fs::create_dir_all(&opts.state_dir)?;
    let port = listener.local_addr()?.port();
    let base_url = format!("http://127.0.0.1:{port}");
    let sim = Arc::new(Sim {
        world: Mutex::new(World::seeded(opts.config.clone(), &base_url)),
        opts,
        base_url,
        changed: Notify::new(),
        telegram_changed: Notify::new(),
        runners: Mutex::new(HashMap::new()),
        apps: Mutex::new(HashMap::new()),
    });
    let ticker = tokio::spawn(tick(Arc::downgrade(&sim)));
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(Arc::clone(&sim));
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
        ticker.abort();
    });
    Ok(Server {
        sim,
        port,
        shutdown: Some(tx),
        task,
    })
}

/// Moves time forward: due instance transitions, then their effects (boots, disk removal).
async fn tick(sim: std::sync::Weak<Sim>) {
    let mut interval = tokio::time::interval(Duration::from_millis(25));
    loop {
        interval.tick().await;
        let Some(sim) = sim.upgrade() else { return };
        let effects = compute::advance(&mut sim.world(), clock::now_ms());
        if effects.is_empty() {
            continue;
        }
        for effect in effects {
            match effect {
                compute::Effect::Boot(key, boot_id) => sim.boot(key, boot_id),
                compute::Effect::Destroyed(key) => {
                    sim.halt(&key);
                    let root = World::vm_root(&sim.opts.state_dir, &key);
                    tokio::task::spawn_blocking(move || std::fs::remove_dir_all(root));
                }
            }
        }
        sim.changed.notify_waiters();
    }
}

/// A simulator on its own thread and runtime, for blocking code (tests); dropping it
/// stops the simulator and its agents.
pub struct Background {
    pub url: String,
    pub sim: Arc<Sim>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    pub fn start(opts: Options) -> std::io::Result<Self> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            runtime.block_on(async move {
                match start(opts).await {
                    Ok(server) => {
                        let _ = ready_tx.send(Ok((server.url(), Arc::clone(&server.sim))));
                        let _ = stop_rx.await;
                        server.shutdown().await;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            });
        });
        let (url, sim) = ready_rx.recv().map_err(|_| {
            std::io::Error::other("the simulator thread ended before it was ready")
        })??;
        Ok(Self {
            url,
            sim,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.sim.halt_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The one entry point: parse, count, inject faults, dispatch.
async fn handle(State(sim): State<Arc<Sim>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let limit = if parts.uri.path().starts_with("/upload/") {
        MAX_UPLOAD_BODY
    } else {
        MAX_BODY
    };
    let body = match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return errors::GoogleError::from(ApiError::new(
                413,
                "payloadTooLarge",
                "The request body is too large.",
            ))
            .into_response()
        }
    };
    let req = Req::new(
        parts.method,
        parts.uri.path(),
        parts.uri.query(),
        parts.headers,
        body,
    );
    let segments: Vec<&str> = req.segments.iter().map(String::as_str).collect();

    // Routes that are not Google's: admin, static files, the VMs' app health.
    match segments.as_slice() {
        ["_admin", "github", rest @ ..] => return github::admin::handle(&sim, &req, rest),
        ["_admin", "iam", rest @ ..] => return iam::admin::handle(&sim, &req, rest),
        ["_admin", rest @ ..] => {
            let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            return admin::handle(&sim, &req, &rest).await;
        }
        ["_static", "avatar.svg"] => return avatar(),
        ["_chat"] if req.method == Method::GET => return chat::page(),
        ["_actions", rest @ ..] if req.method == Method::GET => {
            return github::actions_oidc::handle(&sim, &req, rest)
        }
        ["nvidia", "v1", rest @ ..] => return nvidia::handle(&sim, &req, rest),
        ["oauth2", "v3", "certs"] if req.method == Method::GET => {
            return http::ok_json(&identity::certs())
        }
        [""] if req.method == Method::GET => {
            return text(
                StatusCode::OK,
                "claw-free-sim: a local Google Cloud and Telegram simulator\n",
            )
        }
        ["_vm", p, z, i, "app", "health"] => {
            return vm::app_health(&sim, &req, &VmKey::new(p, z, i));
        }
        ["_vm", p, z, i, "app", "restart"] if req.method == Method::POST => {
            return gateway::restart(&sim, VmKey::new(p, z, i)).await;
        }
        ["o", "oauth2", "v2", "auth", "consent"] if req.method == Method::POST => {
            return oauth::consent(&sim, &req)
        }
        _ => {}
    }

    let Some(endpoint) = Endpoint::parse(&req.method, &segments) else {
        if Endpoint::is_github_path(&segments) {
            return github::not_found().into_response();
        }
        return unknown_route(&req);
    };
    let name = endpoint.name();
    let (latency, effect) = {
        let mut world = sim.world();
        world.count(name);
        faults::strike(&mut world.faults, name)
    };
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    if let Some(FaultEffect::Respond { status, body }) = &effect {
        return fault_response(name, *status, body.clone());
    }
    if let Some(known) = endpoint.known_params() {
        if let Err(e) = errors::check_params(&req, known) {
            return e.into_response();
        }
    }
    dispatch(&sim, &req, endpoint, effect).await
}

/// Serves one route: every [`Endpoint`] has its arm.
async fn dispatch(
    sim: &Arc<Sim>,
    req: &Req,
    endpoint: Endpoint<'_>,
    effect: Option<FaultEffect>,
) -> Response {
    use Endpoint as E;
    let result: ApiResult = match endpoint {
        E::OauthAuthorize => return oauth::authorize(sim, req),
        E::OauthToken => return oauth::token(sim, req),
        E::OauthUserinfo => return oauth::userinfo(sim, req),
        E::OauthRevoke => return oauth::revoke(sim, req),
        E::CrmProjectsSearch => crm::search(sim, req),
        E::CrmProjectsCreate => crm::create(sim, req),
        E::CrmProjectsGet { project } => crm::get(sim, req, project),
        E::CrmOperationsGet { operation } => crm::get_operation(sim, req, operation),
        E::ServicesGet { project, service } => serviceusage::get(sim, req, project, service),
        E::ServicesEnable { project, service } => serviceusage::enable(sim, req, project, service),
        E::ServiceusageOperationsGet { operation } => {
            serviceusage::get_operation(sim, req, operation)
        }
        E::InstancesInsert { project, zone } => compute::insert(sim, req, project, zone, effect),
        E::InstancesGet(at) => compute::get(sim, req, at),
        E::InstancesDelete(at) => compute::delete(sim, req, at),
        E::InstancesSetMetadata(at) => compute::set_metadata(sim, req, at),
        E::InstancesGetGuestAttributes(at) => compute::get_guest_attributes(sim, req, at),
        E::InstancesGetSerialPortOutput(at) => compute::serial_port(sim, req, at),
        E::InstancesStop(at) => compute::stop(sim, req, at),
        E::InstancesStart(at) => compute::start(sim, req, at),
        E::InstancesSetServiceAccount(at) => compute::set_service_account(sim, req, at),
        E::InstancesGetIamPolicy(at) => compute::iam_policy(sim, req, at, false),
        E::InstancesSetIamPolicy(at) => compute::iam_policy(sim, req, at, true),
        E::ZoneOperationsGet {
            project,
            zone,
            operation,
        } => compute::zone_operation(sim, req, project, zone, operation),
        E::InstancesAggregatedList { project } => compute::aggregated_list(sim, req, project),
        E::Telegram { token, method } => return telegram::handle(sim, req, token, method).await,
        E::MetadataGet(at) | E::MetadataGuestAttributesPut(at) => {
            let base = format!(
                "/_vm/{}/{}/{}/computeMetadata/v1",
                at.project, at.zone, at.instance
            );
            // The path below `computeMetadata/v1/`, which the metadata server walks.
            let rest: Vec<String> = req.segments.iter().skip(6).cloned().collect();
            return metadata_server::handle(sim, req, at.key(), &rest, &base).await;
        }
        E::StorageBucketsInsert => storage::insert_bucket(&mut sim.world(), req),
        E::StorageBucketsGet { bucket } => storage::get_bucket(&sim.world(), req, bucket),
        E::StorageBucketsGetIamPolicy { bucket } => storage::get_policy(&sim.world(), req, bucket),
        E::StorageBucketsSetIamPolicy { bucket } => {
            storage::set_policy(&mut sim.world(), req, bucket)
        }
        E::StorageObjectsList { bucket } => storage::list_objects(&sim.world(), req, bucket),
        E::StorageObjectsGet { bucket, object } => {
            storage::get_object(&sim.world(), req, bucket, object)
        }
        E::StorageObjectsInsert { bucket } => {
            storage::upload(&mut sim.world(), req, bucket, &sim.base_url)
        }
        E::CrmProjectsGetIamPolicy { project } => {
            iam::accounts::project_policy(sim, req, project, false)
        }
        E::CrmProjectsSetIamPolicy { project } => {
            iam::accounts::project_policy(sim, req, project, true)
        }
        E::IamPoolsCreate { project }
        | E::IamPoolsList { project }
        | E::IamPoolsGet { project, .. }
        | E::IamPoolsOperationsGet { project, .. }
        | E::IamProvidersCreate { project, .. }
        | E::IamProvidersGet { project, .. }
        | E::IamProvidersOperationsGet { project, .. } => {
            // The path below `.../workloadIdentityPools/`, which `wif` walks.
            let rest: Vec<&str> = req.segments.iter().skip(6).map(String::as_str).collect();
            iam::wif::handle(sim, req, project, &rest)
        }
        E::IamServiceAccountsCreate { project } => iam::accounts::create(sim, req, project),
        E::IamServiceAccountsList { project } => iam::accounts::list(sim, req, project),
        E::IamServiceAccountsGet { project, account } => {
            iam::accounts::get(sim, req, project, account)
        }
        E::IamServiceAccountsGetIamPolicy { project, account } => {
            iam::accounts::account_policy(sim, req, project, account, false)
        }
        E::IamServiceAccountsSetIamPolicy { project, account } => {
            iam::accounts::account_policy(sim, req, project, account, true)
        }
        E::StsToken => return iam::sts::token(sim, req),
        E::IamCredentialsGenerateAccessToken { account } => {
            iam::credentials::generate_access_token(sim, req, account)
        }
        E::GithubInstallationsNew { slug } => return gh(github::app::install_page(sim, req, slug)),
        E::GithubOauthAuthorize => return gh(github::app::authorize(sim, req)),
        E::GithubOauthAccessToken => return gh(github::app::access_token(sim, req)),
        E::GithubAppsGet => return gh(github::app::get_app(sim, req)),
        E::GithubAppsInstallation { installation } => {
            return gh(github::app::get_installation(sim, req, installation))
        }
        E::GithubAppsAccessTokens { installation } => {
            return gh(github::app::create_token(sim, req, installation))
        }
        E::GithubUsersMe => return gh(github::app::get_user(sim, req)),
        E::GithubUsersInstallations => return gh(github::app::user_installations(sim, req)),
        E::GithubUsersInstallationRepositories { installation } => {
            return gh(github::app::installation_repositories(
                sim,
                req,
                installation,
            ))
        }
        E::GithubBranchProtectionPut {
            owner,
            repo,
            branch,
        } => return gh(github::branches::protect(sim, req, owner, repo, branch)),
        E::GithubBranchProtectionGet {
            owner,
            repo,
            branch,
        } => return gh(github::branches::protection(sim, req, owner, repo, branch)),
        E::GithubReposGet { owner, repo } => return gh(github::repos::get(sim, req, owner, repo)),
        E::GithubReposGenerate { owner, repo } => {
            return gh(github::repos::generate(sim, req, owner, repo))
        }
        E::GithubReposInstallation { owner, repo } => {
            return gh(github::pulls::installation(sim, req, owner, repo))
        }
        E::GithubGitRef { owner, repo } => {
            let branch = req.segments[6..].join("/");
            return gh(github::pulls::get_ref(sim, req, owner, repo, &branch));
        }
        E::GithubGitCreateRef { owner, repo } => {
            return gh(github::pulls::create_ref(sim, req, owner, repo))
        }
        E::GithubGitDeleteRef { owner, repo } => {
            let branch = req.segments[6..].join("/");
            return gh(github::pulls::delete_ref(sim, req, owner, repo, &branch));
        }
        E::GithubPullsCreate { owner, repo } => {
            return gh(github::pulls::create_pull(sim, req, owner, repo))
        }
        E::GithubContentsGet { owner, repo } => {
            let path = req.segments[4..].join("/");
            return gh(github::repos::get_contents(sim, req, owner, repo, &path));
        }
        E::GithubContentsPut { owner, repo } => {
            let path = req.segments[4..].join("/");
            return gh(github::repos::put_contents(sim, req, owner, repo, &path));
        }
        E::GithubEnvironmentsPut {
            owner,
            repo,
            environment,
        } => {
            return gh(github::repos::put_environment(
                sim,
                req,
                owner,
                repo,
                environment,
            ))
        }
        E::GithubEnvironmentsPublicKey {
            owner,
            repo,
            environment,
        } => {
            return gh(github::repos::public_key(
                sim,
                req,
                owner,
                repo,
                environment,
            ))
        }
        E::GithubEnvironmentsSecret {
            owner,
            repo,
            environment,
            secret,
        } => {
            return gh(github::repos::put_secret(
                sim,
                req,
                owner,
                repo,
                environment,
                secret,
            ))
        }
        E::GithubVariablesCreate { owner, repo } => {
            return gh(github::repos::create_variable(sim, req, owner, repo))
        }
        E::GithubVariablesUpdate {
            owner,
            repo,
            variable,
        }
        | E::GithubVariablesGet {
            owner,
            repo,
            variable,
        } => return gh(github::repos::variable(sim, req, owner, repo, variable)),
    };
    result.unwrap_or_else(|e| e.into_response())
}

/// A GitHub answer, or its error in GitHub's format.
fn gh(result: github::GhResult) -> Response {
    result.unwrap_or_else(github::GhError::into_response)
}

fn unknown_route(req: &Req) -> Response {
    let path = format!("/{}", req.segments.join("/"));
    errors::GoogleError::from(ApiError::new(
        404,
        "notFound",
        format!(
            "The requested URL {path} was not found on this server (method {}).",
            req.method
        ),
    ))
    .into_response()
}

/// An injected HTTP error, in the format of the endpoint's family unless a body was given.
pub(crate) fn fault_response(
    endpoint: &str,
    status: u16,
    body: Option<serde_json::Value>,
) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(body) = body {
        return http::json(code, &body);
    }
    let family = endpoint.split('.').next().unwrap_or("");
    match family {
        "telegram" => {
            let description = match status {
                429 => "Too Many Requests: retry after 5",
                401 => "Unauthorized",
                404 => "Not Found",
                _ => "Internal Server Error",
            };
            let mut r = telegram::error(status, description);
            *r.status_mut() = code;
            r
        }
        "oauth" if endpoint == "oauth.authorize" => oauth::error_page(
            code,
            "server_error",
            "Something went wrong. Please try again later.",
        ),
        "oauth" => {
            let error = if status >= 500 {
                "temporarily_unavailable"
            } else {
                "invalid_request"
            };
            errors::oauth(code, error, "Injected fault")
        }
        "metadata" => text(code, format!("metadata server error {status}")),
        "github" => github::fault_response(status, body),
        _ => {
            let reason = match status {
                429 => "rateLimitExceeded",
                403 => "forbidden",
                404 => "notFound",
                409 => "conflict",
                400 => "badRequest",
                _ => "backendError",
            };
            let message = match status {
                429 => "Rate Limit Exceeded",
                503 => "The service is currently unavailable.",
                s if s >= 500 => "Internal error encountered.",
                _ => "Injected fault.",
            };
            errors::GoogleError::from(ApiError::new(status, reason, message)).into_response()
        }
    }
}

fn avatar() -> Response {
    let svg = r##"<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96" viewBox="0 0 96 96" role="img" aria-label="Avatar"><circle cx="48" cy="48" r="48" fill="#7b1fa2"/><text x="48" y="62" font-family="sans-serif" font-size="44" fill="#fff" text-anchor="middle">A</text></svg>"##;
    ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response()
}
