//! Performing a link's current step against Google and GitHub: each step is idempotent
//! (it finds what exists and goes on), so a poll after a crash, a transient failure or a
//! resume simply runs it again. Google's and GitHub's failures become [`Outcome`]s: a
//! transient one retries at the next poll, the others stop the link with a sentence and,
//! where one helps, a link to the page that fixes it.

use super::model::{LinkRecord, Outcome, Step};
use crate::app::App;
use crate::error::{Action, ApiError};
use crate::github::app_jwt;
use crate::github::client::{GitHubFailure, InstallationToken, RepoName};
use crate::github::config::GitHubMode;
use crate::github::nix_key::NixKeyPair;
use crate::github::plan::{self, Resource, Target};
use crate::github::sealed_box;
use crate::google::compute::{self, InstanceRef};
use crate::google::iam::Created;
use crate::google::storage::{self, BucketReady};
use crate::google::{call, AccessToken, GoogleFailure};
use crate::http::{encode, OutboundRequest};
use crate::ports::Platform;
use crate::vm::secrets;
use serde::Deserialize;

/// What a step needs besides the record.
pub struct Ctx<'a, 'b, P: Platform> {
    pub app: &'a App<'b, P>,
    pub mode: &'a GitHubMode,
    pub token: &'a AccessToken,
}

/// A step's early end.
type Stop = Outcome;

fn failed(message: impl Into<String>, action: Option<Action>) -> Outcome {
    Outcome::Failed {
        message: message.into(),
        action,
    }
}

impl<P: Platform> Ctx<'_, '_, P> {
    fn google(&self, record: &LinkRecord, failure: GoogleFailure) -> Stop {
        let project = record.project.as_str();
        match failure {
            GoogleFailure::Transient(_) => Outcome::Transient,
            GoogleFailure::ServiceDisabled { activation_url } => failed(
                "A Google API that linking needs is not turned on in this project. Turn it on, wait a minute, then resume.",
                Some(Action {
                    label: "Turn the API on".into(),
                    url: activation_url.unwrap_or_else(|| {
                        format!(
                            "{}/apis/library?project={}",
                            self.app.config.endpoints.console_url,
                            encode(project)
                        )
                    }),
                }),
            ),
            GoogleFailure::ScopeInsufficient => failed(
                "Linking needs your permission to manage IAM and Cloud Storage in this project, which your sign-in did not give. Sign in again allowing it, then resume.",
                Some(Action {
                    label: "Allow and sign in again".into(),
                    url: format!("/api/auth/google?access={}", crate::auth::LINK_ACCESS),
                }),
            ),
            other => {
                let (_, message, action) = other.explain(self.app.config, Some(project));
                failed(message, action)
            }
        }
    }

    fn api_error(&self, error: ApiError) -> Stop {
        match error {
            ApiError::Unavailable(_) => Outcome::Transient,
            ApiError::Google { status: 503, .. } => Outcome::Transient,
            ApiError::Google {
                message, action, ..
            } => failed(message, action),
            other => failed(other.message().to_string(), None),
        }
    }

    fn installation_page(&self, record: &LinkRecord) -> Action {
        Action {
            label: "Open the App's settings on GitHub".into(),
            url: format!(
                "{}/settings/installations/{}",
                self.mode.github.web, record.installation
            ),
        }
    }

    fn github(&self, record: &LinkRecord, failure: GitHubFailure) -> Stop {
        let repo = &record.repository.full_name;
        match failure {
            GitHubFailure::Transient(_) => Outcome::Transient,
            GitHubFailure::Forbidden(said) => failed(
                format!("The claw.free GitHub App may not do this on {repo}. Accept the permissions it asks for on GitHub, then resume. (GitHub said: {said})"),
                Some(self.installation_page(record)),
            ),
            GitHubFailure::NotFound(_) => failed(
                format!("The claw.free GitHub App cannot reach {repo} any more. Give its installation access to the repository on GitHub, then resume."),
                Some(self.installation_page(record)),
            ),
            GitHubFailure::Unauthorized(_) => failed(
                "GitHub did not accept this claw.free's App credentials. Its operator has to fix them; try again later.",
                None,
            ),
            GitHubFailure::Rejected(said)
            | GitHubFailure::OAuth(said)
            | GitHubFailure::Unexpected(said) => {
                failed(format!("GitHub refused a change to {repo}: {said}"), None)
            }
        }
    }

    /// A token of the installation for this repository only, with linking's permissions.
    async fn installation_token(&self, record: &LinkRecord) -> Result<InstallationToken, Stop> {
        let jwt = app_jwt::app_jwt(
            self.app.platform,
            &self.mode.key,
            self.mode.app_id,
            self.app.now(),
        )
        .await
        .map_err(|_| Outcome::Transient)?;
        self.mode
            .github
            .installation_token(
                self.app.platform,
                &jwt,
                record.installation,
                record.repository.id,
                plan::LINK_PERMISSIONS,
            )
            .await
            .map_err(|f| self.github(record, f))
    }
}

fn instance(record: &LinkRecord) -> InstanceRef {
    InstanceRef {
        project: record.project.clone(),
        zone: record.zone.clone(),
        name: record.vm.clone(),
    }
}

/// The plan's target, once the project number and the VM's id are known (the VM's id
/// goes only into `claw-free.json`, but a link that reads one reads both).
pub fn target(record: &LinkRecord) -> Option<Target> {
    Some(Target {
        project_id: record.project.as_str().to_string(),
        project_number: record.project_number.clone()?,
        zone: record.zone.as_str().to_string(),
        instance: record.vm.as_str().to_string(),
        repository_id: record.repository.id,
        repository: record.repository.full_name.clone(),
    })
    .filter(|_| record.instance_id.is_some())
}

/// The region of a zone (`us-central1-a` → `us-central1`).
fn region(zone: &str) -> &str {
    zone.rsplit_once('-').map(|(r, _)| r).unwrap_or(zone)
}

/// Runs the record's current step once.
pub async fn perform<P: Platform>(ctx: &Ctx<'_, '_, P>, record: &mut LinkRecord) -> Outcome {
    let result = match record.step {
        Step::Repository => repository(ctx, record).await,
        Step::Project => project(ctx, record).await,
        Step::Apis => apis(ctx, record).await,
        Step::Pool | Step::Provider => identity(ctx, record).await,
        step => match target(record) {
            Some(t) => with_target(ctx, record, &t, step).await,
            // A record from before the project step recorded these: read them again.
            None => {
                record.step = Step::Project;
                Ok(Outcome::Wait {
                    operations: Vec::new(),
                    note: None,
                })
            }
        },
    };
    result.unwrap_or_else(|stop| stop)
}

async fn with_target<P: Platform>(
    ctx: &Ctx<'_, '_, P>,
    record: &mut LinkRecord,
    t: &Target,
    step: Step,
) -> Result<Outcome, Stop> {
    match step {
        Step::Accounts => accounts(ctx, record, t).await,
        Step::Bucket => bucket(ctx, record, t).await,
        Step::Grants => grants(ctx, record, t).await,
        Step::VmAccount => vm_account(ctx, record, t).await,
        Step::SigningKey => signing_key(ctx, record, t).await,
        Step::Variables => variables(ctx, record, t).await,
        Step::Files => files(ctx, record, t).await,
        Step::Protection => protection(ctx, record).await,
        Step::Metadata => metadata(ctx, record, t).await,
        Step::Repository | Step::Project | Step::Apis | Step::Pool | Step::Provider => {
            Ok(Outcome::Done)
        }
    }
}

fn repo_name(record: &LinkRecord) -> Result<RepoName, Stop> {
    RepoName::parse(&record.repository.full_name).map_err(|e| failed(e, None))
}

async fn repository<P: Platform>(
    ctx: &Ctx<'_, '_, P>,
    record: &mut LinkRecord,
) -> Result<Outcome, Stop> {
    let token = ctx.installation_token(record).await?;
    let name = repo_name(record)?;
    let repo = ctx
        .mode
        .github
        .installed_repository(ctx.app.platform, &token, &name)
        .await
        .map_err(|f| ctx.github(record, f))?;
    if repo.id != record.repository.id {
        return Err(failed(
            format!("{} is not the repository linking started with (it was deleted and made again). Link the bot again.", record.repository.full_name),
            None,
        ));
    }
    Ok(Outcome::Done)
}

async fn project<P: Platform>(
    ctx: &Ctx<'_, '_, P>,
    record: &mut LinkRecord,
) -> Result<Outcome, Stop> {
    #[derive(Deserialize)]
    struct Project {
        name: String,
    }
    let url = format!(
        "{}/v3/projects/{}",
        ctx.app.config.endpoints.crm_api,
        encode(record.project.as_str())
    );
    let project: Project = call(
        ctx.app.platform,
        OutboundRequest::get(url).bearer(ctx.token.expose()),
    )
    .await
    .map_err(|f| ctx.google(record, f))?;
    let number = project
        .name
        .strip_prefix("projects/")
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            failed(
                "Google named the project in a way claw.free cannot read.",
                None,
            )
        })?;
    let vm = secrets::bot_instance(ctx.app, ctx.token, &instance(record))
        .await
        .map_err(|e| ctx.api_error(e))?;
    if vm.id.is_empty() || !vm.id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(failed("Google did not give the VM's id.", None));
    }
    record.project_number = Some(number.to_string());
    record.instance_id = Some(vm.id);
    if target(record).is_none_or(|t| !t.names_are_valid()) {
        return Err(failed(
            "This project's or VM's names do not fit what linking creates.",
            None,
        ));
    }
    Ok(Outcome::Done)
}

fn operation_failed(message: &str) -> Stop {
    failed(
        format!(
            "Google could not finish setting up: {}",
            crate::google::sanitize(message)
        ),
        None,
    )
}

async fn apis<P: Platform>(ctx: &Ctx<'_, '_, P>, record: &mut LinkRecord) -> Result<Outcome, Stop> {
    let iam = ctx.mode.iam_apis(ctx.app.config);
    let http = ctx.app.platform;
    let mut pending = Vec::new();
    if record.waiting.is_empty() {
        for service in plan::SERVICES {
            let op = iam
                .enable(http, ctx.token, record.project.as_str(), service)
                .await
                .map_err(|f| ctx.google(record, f))?;
            if let Some(error) = &op.error {
                return Err(operation_failed(&error.message));
            }
            if !op.done {
                pending.push(op.name);
            }
        }
    } else {
        for name in record.waiting.clone() {
            let op = iam
                .enable_operation(http, ctx.token, &name)
                .await
                .map_err(|f| ctx.google(record, f))?;
            if let Some(error) = &op.error {
                return Err(operation_failed(&error.message));
            }
            if !op.done {
                pending.push(name);
            }
        }
    }
    Ok(if pending.is_empty() {
        Outcome::Done
    } else {
        Outcome::Wait {
            operations: pending,
            note: Some("Google is turning them on".into()),
        }
    })
}

/// The pool, or the provider: created, or found; its operation followed.
async fn identity<P: Platform>(
    ctx: &Ctx<'_, '_, P>,
    record: &mut LinkRecord,
) -> Result<Outcome, Stop> {
    let iam = ctx.mode.iam_apis(ctx.app.config);
    let http = ctx.app.platform;
    if let Some(name) = record.waiting.first().cloned() {
        let op = iam
            .operation(http, ctx.token, &name)
            .await
            .map_err(|f| ctx.google(record, f))?;
        if let Some(error) = &op.error {
            return Err(operation_failed(&error.message));
        }
        return Ok(if op.done {
            Outcome::Done
        } else {
            Outcome::Wait {
                operations: vec![name],
                note: None,
            }
        });
    }
    let project = record.project.as_str();
    let created = if record.step == Step::Pool {
        iam.create_pool(http, ctx.token, project, plan::POOL_ID)
            .await
    } else {
        let body = target(record)
            .map(|t| t.provider_body())
            .ok_or_else(|| failed("The project's number is not known yet.", None))?;
        iam.create_provider(
            http,
            ctx.token,
            project,
            plan::POOL_ID,
            plan::PROVIDER_ID,
            &body,
        )
        .await
    }
    .map_err(|f| ctx.google(record, f))?;
    Ok(match created {
        Created::Existed => Outcome::Done,
        Created::Started(op) if op.error.is_some() => {
            return Err(operation_failed(
                &op.error.map(|e| e.message).unwrap_or_default(),
            ))
        }
        Created::Started(op) if op.done => Outcome::Done,
        Created::Started(op) => Outcome::Wait {
            operations: vec![op.name],
            note: None,
        },
    })
}

async fn accounts<P: Platform>(
    ctx: &Ctx<'_, '_, P>,
    record: &mut LinkRecord,
    t: &Target,
) -> Result<Outcome, Stop> {
    let iam = ctx.mode.iam_apis(ctx.app.config);
    for (id, name) in [
        (plan::CI_ACCOUNT_ID, "claw.free CI (GitHub Actions)"),
        (plan::VM_ACCOUNT_ID, "claw.free bot VM (reads the cache)"),
    ] {
        iam.create_service_account(ctx.app.platform, ctx.token, &t.project_id, id, name)
            .await
            .map_err(|f| ctx.google(record, f))?;
    }
    Ok(Outcome::Done)
}

async fn bucket<P: Platform>(
    ctx: &Ctx<'_, '_, P>,
    record: &mut LinkRecord,
    t: &Target,
) -> Result<Outcome, Stop> {
    let ready = storage::create_bucket(
        ctx.app.platform,
        &ctx.mode.storage_api,
        ctx.token,
        &t.project_id,
        &t.project_number,
        &t.bucket(),
        region(&t.zone),
    )
    .await
    .map_err(|f| ctx.google(record, f))?;
    match ready {
        BucketReady::Created | BucketReady::Existed => Ok(Outcome::Done),
        BucketReady::TakenElsewhere => Err(failed(
            format!("The bucket name {} belongs to another Google Cloud project, so this project cannot have its cache there.", t.bucket()),
            None,
        )),
    }
}

async fn grants<P: Platform>(
    ctx: &Ctx<'_, '_, P>,
    record: &mut LinkRecord,
    t: &Target,
) -> Result<Outcome, Stop> {
    let iam = ctx.mode.iam_apis(ctx.app.config);
    let http = ctx.app.platform;
    for grant in t.grants() {
        let result = match &grant.resource {
            Resource::ServiceAccount(email) => {
                iam.grant_on_service_account(
                    http,
                    ctx.token,
                    &t.project_id,
                    email,
                    grant.role,
                    &grant.member,
                )
                .await
            }
            Resource::Bucket(name) => {
                storage::grant_on_bucket(
                    http,
                    &ctx.mode.storage_api,
                    ctx.token,
                    name,
                    grant.role,
                    &grant.member,
                )
                .await
            }
            Resource::Instance => {
                compute::grant_on_instance(
                    http,
                    ctx.app.config,
                    ctx.token,
                    &instance(record),
                    grant.role,
                    &grant.member,
                )
                .await
            }
        };
        result.map_err(|f| ctx.google(record, f))?;
    }
    Ok(Outcome::Done)
}

/// Stop, set, start: Google attaches a service account only to a stopped VM. Each poll
/// reads the VM and does what its state calls for, so nothing needs remembering.
async fn vm_account<P: Platform>(
    ctx: &Ctx<'_, '_, P>,
    record: &mut LinkRecord,
    t: &Target,
) -> Result<Outcome, Stop> {
    let target = instance(record);
    let (http, config) = (ctx.app.platform, ctx.app.config);
    let vm = secrets::bot_instance(ctx.app, ctx.token, &target)
        .await
        .map_err(|e| ctx.api_error(e))?;
    let email = t.vm_account();
    let attached = vm.service_accounts.iter().any(|a| {
        a.email == email
            && plan::VM_SCOPES
                .iter()
                .all(|s| a.scopes.iter().any(|g| g == s))
    });
    let wait = |note: &str| Outcome::Wait {
        operations: Vec::new(),
        note: Some(note.into()),
    };
    let google = |f| ctx.google(record, f);
    Ok(match (attached, vm.status.as_str()) {
        (true, "RUNNING") => Outcome::Done,
        (true, "TERMINATED" | "STOPPED") => {
            compute::start(http, config, ctx.token, &target)
                .await
                .map_err(google)?;
            wait("starting the VM again")
        }
        (false, "RUNNING") => {
            compute::stop(http, config, ctx.token, &target)
                .await
                .map_err(google)?;
            wait("stopping the VM")
        }
        (false, "TERMINATED" | "STOPPED") => {
            compute::set_service_account(http, config, ctx.token, &target, &email, plan::VM_SCOPES)
                .await
                .map_err(google)?;
            wait("attaching the VM's account")
        }
        (_, "SUSPENDED") => {
            return Err(failed(
                "The VM is suspended. Resume it in the Google Cloud console, then resume linking.",
                None,
            ))
        }
        (_, "STOPPING" | "SUSPENDING") => wait("stopping the VM"),
        _ => wait("starting the VM again"),
    })
}

async fn signing_key<P: Platform>(
    ctx: &Ctx<'_, '_, P>,
    record: &mut LinkRecord,
    t: &Target,
) -> Result<Outcome, Stop> {
    let token = ctx.installation_token(record).await?;
    let repo = repo_name(record)?;
    let (gh, http) = (&ctx.mode.github, ctx.app.platform);
    let github = |f| ctx.github(record, f);
    gh.ensure_environment(http, &token, &repo, plan::ENVIRONMENT)
        .await
        .map_err(github)?;
    let key = gh
        .environment_key(http, &token, &repo, plan::ENVIRONMENT)
        .await
        .map_err(github)?;
    let pair = NixKeyPair::generate(http, &t.signing_key_name()).map_err(|_| Outcome::Transient)?;
    let sealed = sealed_box::seal(http, &key, pair.expose_secret().as_bytes())
        .map_err(|_| Outcome::Transient)?;
    gh.put_environment_secret(
        http,
        &token,
        &repo,
        plan::ENVIRONMENT,
        plan::SIGNING_KEY_SECRET,
        &key,
        &sealed,
    )
    .await
    .map_err(github)?;
    record.cache_public_key = Some(pair.public().to_string());
    Ok(Outcome::Done)
}

async fn variables<P: Platform>(
    ctx: &Ctx<'_, '_, P>,
    record: &mut LinkRecord,
    t: &Target,
) -> Result<Outcome, Stop> {
    let token = ctx.installation_token(record).await?;
    let repo = repo_name(record)?;
    for (name, value) in t.variables() {
        ctx.mode
            .github
            .set_variable(ctx.app.platform, &token, &repo, name, &value)
            .await
            .map_err(|f| ctx.github(record, f))?;
    }
    Ok(Outcome::Done)
}

async fn files<P: Platform>(
    ctx: &Ctx<'_, '_, P>,
    record: &mut LinkRecord,
    t: &Target,
) -> Result<Outcome, Stop> {
    let Some(public_key) = record.cache_public_key.clone() else {
        record.step = Step::SigningKey;
        return Ok(Outcome::Wait {
            operations: Vec::new(),
            note: None,
        });
    };
    let recipient = match secrets::trusted_recipient(ctx.app, ctx.token, &instance(record)).await {
        Ok(Some(recipient)) => recipient,
        Ok(None) => {
            return Ok(Outcome::Wait {
                operations: Vec::new(),
                note: Some("waiting for the VM to publish its key".into()),
            })
        }
        Err(error) => return Err(ctx.api_error(error)),
    };
    let token = ctx.installation_token(record).await?;
    let repo = repo_name(record)?;
    let gh = &ctx.mode.github;
    for (path, message, content) in [
        (
            plan::RECIPIENTS_FILE,
            "claw.free: the VM's key, which secrets are encrypted to",
            t.recipients_file(recipient.as_str()),
        ),
        (
            plan::CONFIG_FILE,
            "claw.free: link this repository to its bot and cache",
            t.config_file(
                &public_key,
                record.instance_id.as_deref().unwrap_or_default(),
            ),
        ),
    ] {
        gh.put_file(
            ctx.app.platform,
            &token,
            &repo,
            path,
            message,
            content.as_bytes(),
        )
        .await
        .map_err(|f| ctx.github(record, f))?;
    }
    Ok(Outcome::Done)
}

/// How GitHub refuses branch protection on a private repository of a free account.
const PRO_ONLY: &str = "Upgrade to GitHub Pro";

async fn protection<P: Platform>(
    ctx: &Ctx<'_, '_, P>,
    record: &mut LinkRecord,
) -> Result<Outcome, Stop> {
    let token = ctx.installation_token(record).await?;
    let repo = repo_name(record)?;
    match ctx
        .mode
        .github
        .require_pull_requests(ctx.app.platform, &token, &repo, plan::MAIN_BRANCH)
        .await
    {
        Ok(()) => record.main_unprotected = false,
        // Most owners have no GitHub Pro: linking still gives them CI and rollouts.
        Err(GitHubFailure::Forbidden(said)) if said.contains(PRO_ONLY) => {
            record.main_unprotected = true
        }
        Err(failure) => return Err(ctx.github(record, failure)),
    }
    Ok(Outcome::Done)
}

async fn metadata<P: Platform>(
    ctx: &Ctx<'_, '_, P>,
    record: &mut LinkRecord,
    t: &Target,
) -> Result<Outcome, Stop> {
    let target = instance(record);
    let vm = secrets::bot_instance(ctx.app, ctx.token, &target)
        .await
        .map_err(|e| ctx.api_error(e))?;
    let value = serde_json::to_string(&t.metadata(record.installation)).unwrap_or_default();
    secrets::write_metadata(ctx.app, ctx.token, &target, vm, |current| {
        Ok(secrets::with_item(current, plan::METADATA_KEY, &value))
    })
    .await
    .map_err(|e| ctx.api_error(e))?;
    Ok(Outcome::Done)
}
