//! Which handler answers which `/api/` request: every path the Worker knows is one
//! [`Route`], parsed once; one `match` on route and method dispatches it, so a path
//! no route parses is 404 and a method its route does not answer is 405. Paths and
//! JSON shapes of the original frontend are kept (see docs/CONTRACTS.md, whose route
//! table the tests hold to this enum).

use crate::app::App;
use crate::error::ApiError;
use crate::http::{Method, Request, Response};
use crate::ports::Platform;
use crate::{auth, bots, deploys, github, health, rollouts, telegram};

/// A bot's address in a path: `<project>/<zone>/<vm>`, checked against the caller's
/// projects ([`bots::api::Caller`]) before a bot route's handler runs.
pub type BotPath<'a> = (&'a str, &'a str, &'a str);

/// A path the API answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    Health,
    SignIn,
    SignInCallback,
    Logout,
    Session,
    CreateProject,
    VmNamePreview,
    DeployStart,
    ExistingBots,
    Deploy(&'a str),
    DeploySecret(&'a str),
    DeployLogs(&'a str),
    Bot(BotPath<'a>),
    BotSecret(BotPath<'a>),
    BotRekey(BotPath<'a>),
    BotLogs(BotPath<'a>),
    BotRollback(BotPath<'a>),
    BotGitHubLink(BotPath<'a>),
    BotGitHubLinkStatus(BotPath<'a>),
    GitHubSetup,
    GitHubCallback,
    VmGitHubToken,
    TelegramOwnerCode,
    TelegramDetectUser,
}

impl<'a> Route<'a> {
    /// The route of `path` (a trailing slash is ignored), or `None`.
    pub fn parse(path: &'a str) -> Option<Self> {
        let segments: Vec<&str> = path
            .trim_start_matches('/')
            .trim_end_matches('/')
            .split('/')
            .collect();
        Some(match segments.as_slice() {
            ["api", "health"] => Self::Health,
            ["api", "auth", "google"] => Self::SignIn,
            ["api", "auth", "callback", "google"] => Self::SignInCallback,
            ["api", "auth", "logout"] => Self::Logout,
            ["api", "deploy", "session"] => Self::Session,
            ["api", "deploy", "create-project"] => Self::CreateProject,
            ["api", "deploy", "vm-name"] => Self::VmNamePreview,
            ["api", "deploy", "start"] => Self::DeployStart,
            ["api", "deploy", "existing"] => Self::ExistingBots,
            ["api", "deploy", id] => Self::Deploy(id),
            ["api", "deploy", id, "secret"] => Self::DeploySecret(id),
            ["api", "deploy", id, "logs"] => Self::DeployLogs(id),
            ["api", "bots", project, zone, vm] => Self::Bot((project, zone, vm)),
            ["api", "bots", project, zone, vm, "secret"] => Self::BotSecret((project, zone, vm)),
            ["api", "bots", project, zone, vm, "rekey"] => Self::BotRekey((project, zone, vm)),
            ["api", "bots", project, zone, vm, "logs"] => Self::BotLogs((project, zone, vm)),
            ["api", "bots", project, zone, vm, "rollback"] => {
                Self::BotRollback((project, zone, vm))
            }
            ["api", "bots", project, zone, vm, "github"] => {
                Self::BotGitHubLink((project, zone, vm))
            }
            ["api", "bots", project, zone, vm, "github", "link"] => {
                Self::BotGitHubLinkStatus((project, zone, vm))
            }
            ["api", "github", "setup"] => Self::GitHubSetup,
            ["api", "github", "callback"] => Self::GitHubCallback,
            ["api", "vm", "github-token"] => Self::VmGitHubToken,
            ["api", "telegram", "owner-code"] => Self::TelegramOwnerCode,
            ["api", "telegram", "detect-user"] => Self::TelegramDetectUser,
            _ => return None,
        })
    }

    /// The route as docs/CONTRACTS.md writes it, parameters as `:name`.
    pub fn pattern(&self) -> &'static str {
        match self {
            Self::Health => "/api/health",
            Self::SignIn => "/api/auth/google",
            Self::SignInCallback => "/api/auth/callback/google",
            Self::Logout => "/api/auth/logout",
            Self::Session => "/api/deploy/session",
            Self::CreateProject => "/api/deploy/create-project",
            Self::VmNamePreview => "/api/deploy/vm-name",
            Self::DeployStart => "/api/deploy/start",
            Self::ExistingBots => "/api/deploy/existing",
            Self::Deploy(_) => "/api/deploy/:id",
            Self::DeploySecret(_) => "/api/deploy/:id/secret",
            Self::DeployLogs(_) => "/api/deploy/:id/logs",
            Self::Bot(_) => "/api/bots/:project/:zone/:vm",
            Self::BotSecret(_) => "/api/bots/:project/:zone/:vm/secret",
            Self::BotRekey(_) => "/api/bots/:project/:zone/:vm/rekey",
            Self::BotLogs(_) => "/api/bots/:project/:zone/:vm/logs",
            Self::BotRollback(_) => "/api/bots/:project/:zone/:vm/rollback",
            Self::BotGitHubLink(_) => "/api/bots/:project/:zone/:vm/github",
            Self::BotGitHubLinkStatus(_) => "/api/bots/:project/:zone/:vm/github/link",
            Self::GitHubSetup => "/api/github/setup",
            Self::GitHubCallback => "/api/github/callback",
            Self::VmGitHubToken => "/api/vm/github-token",
            Self::TelegramOwnerCode => "/api/telegram/owner-code",
            Self::TelegramDetectUser => "/api/telegram/detect-user",
        }
    }
}

pub async fn route<P: Platform>(app: &App<'_, P>, request: &Request) -> Result<Response, ApiError> {
    let Some(route) = Route::parse(&request.path) else {
        return Err(ApiError::NotFound("There is no such API route.".into()));
    };
    use Method::*;
    use Route::*;
    let caller = |path| bots::api::Caller::resolve(app, request, path);
    match (route, request.method) {
        (Health, Get | Head) => Ok(health::health(app)),
        (SignIn, Get) => auth::start(app, request).await,
        (SignInCallback, Get) => auth::callback(app, request).await,
        (Logout, Get) => auth::logout_redirect(app, request).await,
        (Logout, Post) => auth::logout(app, request).await,
        (Session, Get) => auth::session(app, request).await,
        (CreateProject, Post) => auth::create_project(app, request).await,
        (VmNamePreview, Get) => deploys::api::vm_name_preview(request),
        (DeployStart, Post) => deploys::api::start(app, request).await,
        (ExistingBots, Get) => bots::api::list(app, request).await,
        (Deploy(id), Get) => deploys::api::status(app, request, id).await,
        (DeploySecret(id), Post) => deploys::api::deliver_secret(app, request, id).await,
        (DeployLogs(id), Get) => deploys::api::logs(app, request, id).await,
        (Bot(bot), Get) => bots::api::get(app, &caller(bot).await?).await,
        (Bot(bot), Delete) => bots::api::delete(app, &caller(bot).await?).await,
        (BotSecret(bot), Post) => bots::api::rotate_secret(app, &caller(bot).await?, request).await,
        (BotRekey(bot), Post) => bots::api::rekey(app, &caller(bot).await?).await,
        (BotLogs(bot), Get) => bots::api::logs(app, &caller(bot).await?).await,
        (BotRollback(bot), Post) => rollouts::rollback_route(app, &caller(bot).await?).await,
        (BotGitHubLink(bot), Get) => github::link_start::start(app, request, bot).await,
        (BotGitHubLinkStatus(bot), Get) => github::link::flow::status(app, request, bot).await,
        (BotGitHubLinkStatus(bot), Post) => github::link::flow::resume(app, request, bot).await,
        (GitHubSetup, Get) => github::authorize::setup(app, request).await,
        (GitHubCallback, Get) => github::authorize::callback(app, request).await,
        (VmGitHubToken, Post) => github::vm_token::issue(app, request).await,
        (TelegramOwnerCode, Post) => telegram::code(app, request).await,
        (TelegramDetectUser, Post) => telegram::detect_user(app, request).await,
        (
            Health
            | SignIn
            | SignInCallback
            | Logout
            | Session
            | CreateProject
            | VmNamePreview
            | DeployStart
            | ExistingBots
            | Deploy(_)
            | DeploySecret(_)
            | DeployLogs(_)
            | Bot(_)
            | BotSecret(_)
            | BotRekey(_)
            | BotLogs(_)
            | BotRollback(_)
            | BotGitHubLink(_)
            | BotGitHubLinkStatus(_)
            | GitHubSetup
            | GitHubCallback
            | VmGitHubToken
            | TelegramOwnerCode
            | TelegramDetectUser,
            _,
        ) => Err(ApiError::MethodNotAllowed),
    }
}

#[cfg(test)]
mod tests;
