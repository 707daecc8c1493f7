//! Performing a link's current step against Google and GitHub: each step is idempotent
//! (it finds what exists and goes on), so a poll after a crash, a transient failure or a
//! resume simply runs it again. Google's and GitHub's failures become [`Outcome`]s: a
//! transient one retries at the next poll, the others stop the link with a sentence and,
//! where one helps, a link to the page that fixes it.

use super::model::{LinkRecord, Outcome, Step};
use crate::app::App;
use crate::error::{Action, ApiError};
use crate::github::app_jwt;
use crate::github::client::{self, GitHub, GitHubFailure, InstallationToken, RepoName};
use crate::github::config::GitHubMode;
use crate::github::nix_key::NixKeyPair;
use crate::github::plan::{self, Resource, Target};
use crate::github::sealed_box;
use crate::google::compute::{self, Change, InstanceRef};
use crate::google::iam::{Created, Iam};
use crate::google::longrunning::Operation;
use crate::google::storage::BucketReady;
use crate::google::{AccessToken, Google, GoogleFailure};
use crate::http::encode;
use crate::ports::Platform;
use crate::vm::secrets;

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

/// A step waiting for something other than a Google operation, saying what.
fn wait(note: Option<&str>) -> Outcome {
    Outcome::Wait {
        operations: Vec::new(),
        note: note.map(Into::into),
    }
}

/// The repository as a step that writes to it holds it: an installation token narrowed
/// to it (minted for the step, never kept) and its name.
struct Repo {
    token: InstallationToken,
    name: RepoName,
}

/// One run of the current step: the context, and the record it reads and moves.
struct Run<'r, 'a, 'b, P: Platform> {
    ctx: &'r Ctx<'a, 'b, P>,
    record: &'r mut LinkRecord,
}

impl<P: Platform> Run<'_, '_, '_, P> {
    fn http(&self) -> &P {
        self.ctx.app.platform
    }

    fn github_api(&self) -> &GitHub {
        &self.ctx.mode.github
    }

    fn google_api(&self) -> Google<'_, P> {
        self.ctx.app.google(self.ctx.token)
    }

    fn iam(&self) -> Iam<'_, P> {
        let apis = self.ctx.mode.iam_apis(self.ctx.app.config);
        let project = self.record.project.as_str();
        self.google_api().bearer().iam(apis, project)
    }

    fn instance(&self) -> InstanceRef {
        InstanceRef {
            project: self.record.project.clone(),
            zone: self.record.zone.clone(),
            name: self.record.vm.clone(),
        }
    }

    fn google(&self, failure: GoogleFailure) -> Stop {
        let project = self.record.project.as_str();
        let config = self.ctx.app.config;
        match failure {
            GoogleFailure::Transient(_) => Outcome::Transient,
            GoogleFailure::ServiceDisabled { activation_url } => failed(
                "A Google API that linking needs is not turned on in this project. Turn it on, wait a minute, then resume.",
                Some(Action {
                    label: "Turn the API on".into(),
                    url: activation_url.unwrap_or_else(|| {
                        format!(
                            "{}/apis/library?project={}",
                            config.endpoints.console_url,
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
                let (_, message, action) = other.explain(config, Some(project));
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

    fn installation_page(&self) -> Action {
        Action {
            label: "Open the App's settings on GitHub".into(),
            url: format!(
                "{}/settings/installations/{}",
                self.github_api().web,
                self.record.installation
            ),
        }
    }

    fn github(&self, failure: GitHubFailure) -> Stop {
        let repo = &self.record.repository.full_name;
        match failure {
            GitHubFailure::Transient(_) => Outcome::Transient,
            GitHubFailure::Forbidden(said) => failed(
                format!("The claw.free GitHub App may not do this on {repo}. Accept the permissions it asks for on GitHub, then resume. (GitHub said: {said})"),
                Some(self.installation_page()),
            ),
            GitHubFailure::NotFound(_) => failed(
                format!("The claw.free GitHub App cannot reach {repo} any more. Give its installation access to the repository on GitHub, then resume."),
                Some(self.installation_page()),
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

    /// The repository, with a token of the installation for it only and with linking's
    /// permissions.
    async fn repo(&self) -> Result<Repo, Stop> {
        let (app, mode) = (self.ctx.app, self.ctx.mode);
        let jwt = app_jwt::app_jwt(app.platform, &mode.key, mode.app_id, app.now())
            .await
            .map_err(|_| Outcome::Transient)?;
        let token = mode
            .github
            .installation_token(
                app.platform,
                &jwt,
                self.record.installation,
                self.record.repository.id,
                plan::LINK_PERMISSIONS,
            )
            .await
            .map_err(|f| self.github(f))?;
        let name =
            RepoName::parse(&self.record.repository.full_name).map_err(|e| failed(e, None))?;
        Ok(Repo { token, name })
    }

    /// The calls about the repository, with `repo`'s token.
    fn on<'r>(&'r self, repo: &'r Repo) -> client::Repo<'r, P> {
        self.github_api().repo(self.http(), &repo.token, &repo.name)
    }

    /// The bot's VM, as Google has it now.
    async fn vm(&self, instance: &InstanceRef) -> Result<compute::Instance, Stop> {
        secrets::bot_instance(self.ctx.app, self.ctx.token, instance)
            .await
            .map_err(|e| self.api_error(e))
    }

    /// Follows a Google operation: done, still running, or failed with Google's words.
    fn followed(&self, op: Operation) -> Result<Option<String>, Stop> {
        match op.error {
            Some(error) => Err(failed(
                format!(
                    "Google could not finish setting up: {}",
                    crate::google::sanitize(&error.message)
                ),
                None,
            )),
            None if op.done => Ok(None),
            None => Ok(Some(op.name)),
        }
    }

    async fn step(&mut self) -> Result<Outcome, Stop> {
        let step = self.record.step;
        let t = match step {
            Step::Repository => return self.repository().await,
            Step::Project => return self.project().await,
            Step::Apis => return self.apis().await,
            Step::Pool | Step::Provider => return self.identity().await,
            _ => match target(self.record) {
                Some(t) => t,
                // A record from before the project step recorded these: read them again.
                None => {
                    self.record.step = Step::Project;
                    return Ok(wait(None));
                }
            },
        };
        match step {
            Step::Accounts => self.accounts().await,
            Step::Bucket => self.bucket(&t).await,
            Step::Grants => self.grants(&t).await,
            Step::VmAccount => self.vm_account(&t).await,
            Step::SigningKey => self.signing_key(&t).await,
            Step::Variables => self.variables(&t).await,
            Step::Files => self.files(&t).await,
            Step::Protection => self.protection().await,
            Step::Metadata => self.metadata(&t).await,
            Step::Repository | Step::Project | Step::Apis | Step::Pool | Step::Provider => {
                Ok(Outcome::Done)
            }
        }
    }

    async fn repository(&mut self) -> Result<Outcome, Stop> {
        let repo = self.repo().await?;
        let found = self.on(&repo).get().await.map_err(|f| self.github(f))?;
        if found.id != self.record.repository.id {
            return Err(failed(
                format!("{} is not the repository linking started with (it was deleted and made again). Link the bot again.", self.record.repository.full_name),
                None,
            ));
        }
        Ok(Outcome::Done)
    }

    async fn project(&mut self) -> Result<Outcome, Stop> {
        let project = self.google_api().crm().project_name(&self.record.project);
        let name = project.await.map_err(|f| self.google(f))?;
        let number = name
            .strip_prefix("projects/")
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                failed(
                    "Google named the project in a way claw.free cannot read.",
                    None,
                )
            })?;
        let vm = self.vm(&self.instance()).await?;
        if vm.id.is_empty() || !vm.id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(failed("Google did not give the VM's id.", None));
        }
        self.record.project_number = Some(number.to_string());
        self.record.instance_id = Some(vm.id);
        if target(self.record).is_none_or(|t| !t.names_are_valid()) {
            return Err(failed(
                "This project's or VM's names do not fit what linking creates.",
                None,
            ));
        }
        Ok(Outcome::Done)
    }

    async fn apis(&mut self) -> Result<Outcome, Stop> {
        let iam = self.iam();
        let mut pending = Vec::new();
        if self.record.waiting.is_empty() {
            for service in plan::SERVICES {
                let op = iam.enable(service);
                let op = op.await.map_err(|f| self.google(f))?;
                pending.extend(self.followed(op)?);
            }
        } else {
            for name in &self.record.waiting {
                let op = iam.enable_operation(name);
                let op = op.await.map_err(|f| self.google(f))?;
                // Enabling's operations keep their name while running.
                pending.extend(self.followed(op)?.map(|_| name.clone()));
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
    async fn identity(&mut self) -> Result<Outcome, Stop> {
        let iam = self.iam();
        let op = if let Some(name) = self.record.waiting.first() {
            iam.operation(name).await
        } else {
            let created = if self.record.step == Step::Pool {
                iam.create_pool(plan::POOL_ID).await
            } else {
                let body = target(self.record)
                    .map(|t| t.provider_body())
                    .ok_or_else(|| failed("The project's number is not known yet.", None))?;
                let (pool, provider) = (plan::POOL_ID, plan::PROVIDER_ID);
                iam.create_provider(pool, provider, &body).await
            };
            match created {
                Ok(Created::Existed) => return Ok(Outcome::Done),
                Ok(Created::Started(op)) => Ok(op),
                Err(failure) => Err(failure),
            }
        };
        let op = op.map_err(|f| self.google(f))?;
        Ok(match self.followed(op)? {
            None => Outcome::Done,
            // An operation followed keeps the name it was recorded under.
            Some(started) => Outcome::Wait {
                operations: vec![self.record.waiting.first().cloned().unwrap_or(started)],
                note: None,
            },
        })
    }

    async fn accounts(&mut self) -> Result<Outcome, Stop> {
        let iam = self.iam();
        for (id, name) in [
            (plan::CI_ACCOUNT_ID, "claw.free CI (GitHub Actions)"),
            (plan::VM_ACCOUNT_ID, "claw.free bot VM (reads the cache)"),
        ] {
            iam.create_service_account(id, name)
                .await
                .map_err(|f| self.google(f))?;
        }
        Ok(Outcome::Done)
    }

    async fn bucket(&mut self, t: &Target) -> Result<Outcome, Stop> {
        let storage = self
            .google_api()
            .bearer()
            .storage(&self.ctx.mode.storage_api);
        let ready = storage
            .create_bucket(
                &t.project_id,
                &t.project_number,
                &t.bucket(),
                region(&t.zone),
            )
            .await
            .map_err(|f| self.google(f))?;
        match ready {
            BucketReady::Created | BucketReady::Existed => Ok(Outcome::Done),
            BucketReady::TakenElsewhere => Err(failed(
                format!("The bucket name {} belongs to another Google Cloud project, so this project cannot have its cache there.", t.bucket()),
                None,
            )),
        }
    }

    async fn grants(&mut self, t: &Target) -> Result<Outcome, Stop> {
        let iam = self.iam();
        let storage = self
            .google_api()
            .bearer()
            .storage(&self.ctx.mode.storage_api);
        for grant in t.grants() {
            let (role, member) = (grant.role, &grant.member);
            let result = match &grant.resource {
                Resource::ServiceAccount(email) => {
                    iam.grant_on_service_account(email, role, member).await
                }
                Resource::Bucket(name) => storage.grant_on_bucket(name, role, member).await,
                Resource::Instance => {
                    let vm = self.instance();
                    self.google_api()
                        .compute()
                        .grant_on_instance(&vm, role, member)
                        .await
                }
            };
            result.map_err(|f| self.google(f))?;
        }
        Ok(Outcome::Done)
    }

    /// Stop, set, start: Google attaches a service account only to a stopped VM. Each poll
    /// reads the VM and does what its state calls for, so nothing needs remembering.
    async fn vm_account(&mut self, t: &Target) -> Result<Outcome, Stop> {
        let target = self.instance();
        let vm = self.vm(&target).await?;
        let email = t.vm_account();
        let attached = vm.service_accounts.iter().any(|a| {
            a.email == email
                && plan::VM_SCOPES
                    .iter()
                    .all(|s| a.scopes.iter().any(|g| g == s))
        });
        let (change, note) = match (attached, vm.status.as_str()) {
            (true, "RUNNING") => return Ok(Outcome::Done),
            (true, "TERMINATED" | "STOPPED") => (Change::Start, "starting the VM again"),
            (false, "RUNNING") => (Change::Stop, "stopping the VM"),
            (false, "TERMINATED" | "STOPPED") => (
                Change::ServiceAccount {
                    email: &email,
                    scopes: plan::VM_SCOPES,
                },
                "attaching the VM's account",
            ),
            (_, "SUSPENDED") => return Err(failed(
                "The VM is suspended. Resume it in the Google Cloud console, then resume linking.",
                None,
            )),
            (_, "STOPPING" | "SUSPENDING") => return Ok(wait(Some("stopping the VM"))),
            _ => return Ok(wait(Some("starting the VM again"))),
        };
        self.google_api()
            .compute()
            .change(&target, change)
            .await
            .map_err(|f| self.google(f))?;
        Ok(wait(Some(note)))
    }

    async fn signing_key(&mut self, t: &Target) -> Result<Outcome, Stop> {
        let repo = self.repo().await?;
        let (gh, http, env) = (self.on(&repo), self.http(), plan::ENVIRONMENT);
        let github = |f| self.github(f);
        gh.ensure_environment(env).await.map_err(github)?;
        let key = gh.environment_key(env).await.map_err(github)?;
        let pair =
            NixKeyPair::generate(http, &t.signing_key_name()).map_err(|_| Outcome::Transient)?;
        let sealed = sealed_box::seal(http, &key, pair.expose_secret().as_bytes())
            .map_err(|_| Outcome::Transient)?;
        let secret = plan::SIGNING_KEY_SECRET;
        gh.put_environment_secret(env, secret, &key, &sealed)
            .await
            .map_err(github)?;
        self.record.cache_public_key = Some(pair.public().to_string());
        Ok(Outcome::Done)
    }

    async fn variables(&mut self, t: &Target) -> Result<Outcome, Stop> {
        let repo = self.repo().await?;
        for (name, value) in t.variables() {
            self.on(&repo)
                .set_variable(name, &value)
                .await
                .map_err(|f| self.github(f))?;
        }
        Ok(Outcome::Done)
    }

    async fn files(&mut self, t: &Target) -> Result<Outcome, Stop> {
        let Some(public_key) = self.record.cache_public_key.clone() else {
            self.record.step = Step::SigningKey;
            return Ok(wait(None));
        };
        let recipient = match secrets::trusted_recipient(
            self.ctx.app,
            self.ctx.token,
            &self.instance(),
        )
        .await
        {
            Ok(Some(recipient)) => recipient,
            Ok(None) => return Ok(wait(Some("waiting for the VM to publish its key"))),
            Err(error) => return Err(self.api_error(error)),
        };
        let repo = self.repo().await?;
        let instance_id = self.record.instance_id.as_deref().unwrap_or_default();
        for (path, message, content) in [
            (
                plan::RECIPIENTS_FILE,
                "claw.free: the VM's key, which secrets are encrypted to",
                t.recipients_file(recipient.as_str()),
            ),
            (
                plan::CONFIG_FILE,
                "claw.free: link this repository to its bot and cache",
                t.config_file(&public_key, instance_id),
            ),
        ] {
            let content = content.as_bytes();
            self.on(&repo)
                .put_file(path, message, content)
                .await
                .map_err(|f| self.github(f))?;
        }
        Ok(Outcome::Done)
    }

    async fn protection(&mut self) -> Result<Outcome, Stop> {
        let repo = self.repo().await?;
        let protected = self
            .on(&repo)
            .require_pull_requests(plan::MAIN_BRANCH)
            .await;
        self.record.main_unprotected = match protected {
            Ok(()) => false,
            // Most owners have no GitHub Pro: linking still gives them CI and rollouts.
            Err(GitHubFailure::Forbidden(said)) if said.contains(PRO_ONLY) => true,
            Err(failure) => return Err(self.github(failure)),
        };
        Ok(Outcome::Done)
    }

    async fn metadata(&mut self, t: &Target) -> Result<Outcome, Stop> {
        let target = self.instance();
        let vm = self.vm(&target).await?;
        let value =
            serde_json::to_string(&t.metadata(self.record.installation)).unwrap_or_default();
        secrets::write_metadata(self.ctx.app, self.ctx.token, &target, vm, |current| {
            Ok(secrets::with_item(current, plan::METADATA_KEY, &value))
        })
        .await
        .map_err(|e| self.api_error(e))?;
        Ok(Outcome::Done)
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

/// How GitHub refuses branch protection on a private repository of a free account.
const PRO_ONLY: &str = "Upgrade to GitHub Pro";

/// Runs the record's current step once.
pub async fn perform<P: Platform>(ctx: &Ctx<'_, '_, P>, record: &mut LinkRecord) -> Outcome {
    Run { ctx, record }.step().await.unwrap_or_else(|stop| stop)
}
