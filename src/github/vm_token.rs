//! `POST /api/vm/github-token`: a bot's VM asks for a short-lived GitHub token to
//! propose a change to its own repository as a pull request.
//!
//! The VM proves which VM it is with a Google instance identity token for this site
//! ([`crate::google::identity`]); the repository proves it belongs to that VM because
//! its `main` branch (which only the owner controls, and which needs a pull request)
//! holds `claw-free.json` naming exactly this VM: project, zone, name and the numeric
//! instance id, so a re-created VM of the same name gets nothing. Only then is a token
//! minted, narrowed to that one repository with `contents: write` and
//! `pull_requests: write`: never `workflows` (it cannot change what CI runs) nor
//! administration (it cannot lift `main`'s protection). Nothing is stored; the token
//! goes to the VM and nowhere else, and is never logged.

use super::app_jwt::app_jwt;
use super::client::{GitHubFailure, RepoName};
use super::plan::{RepoConfig, CONFIG_FILE};
use crate::app::App;
use crate::error::ApiError;
use crate::google::identity::{self, IdentityError, VmIdentity};
use crate::http::{Request, Response};
use crate::limits::{self, Scope};
use crate::ports::Platform;
use crate::security::json_body;
use serde::{Deserialize, Serialize};

/// What the VM's token may do, and nothing more.
pub const PERMISSIONS: &[(&str, &str)] = &[("contents", "write"), ("pull_requests", "write")];
/// The branch whose `claw-free.json` is trusted.
const MAIN: &str = "main";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Ask {
    repository: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Granted<'a> {
    token: &'a str,
    repository: String,
    permissions: serde_json::Value,
}

fn bearer(request: &Request) -> Option<&str> {
    let value = request.header("authorization")?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn refused_identity(error: IdentityError) -> ApiError {
    match error {
        IdentityError::KeysUnavailable(_) => ApiError::Unavailable(error.message().into()),
        other => ApiError::Unauthorized(other.message().into()),
    }
}

fn github_error(failure: GitHubFailure) -> ApiError {
    match failure {
        GitHubFailure::Transient(_) => {
            ApiError::Unavailable("GitHub could not be reached. Try again shortly.".into())
        }
        _ => ApiError::Unavailable(
            "GitHub refused claw.free's App. The App may need the owner's attention.".into(),
        ),
    }
}

/// Whether the repository's configuration names exactly this VM, in this repository.
pub fn names_this_vm(config: &RepoConfig, repo: &RepoName, vm: &VmIdentity) -> bool {
    let bot = &config.bot;
    config
        .repository
        .eq_ignore_ascii_case(&format!("{}/{}", repo.owner, repo.name))
        && bot.project == vm.project
        && bot.zone == vm.zone
        && bot.instance == vm.instance
        && bot.instance_id == vm.instance_id
}

pub async fn issue<P: Platform>(app: &App<'_, P>, request: &Request) -> Result<Response, ApiError> {
    let Some(mode) = app.config.github.as_ref() else {
        return Err(ApiError::NotFound(
            "GitHub mode is not available on this claw.free.".into(),
        ));
    };
    let token = bearer(request).ok_or_else(|| {
        ApiError::Unauthorized(
            "Send the VM's Google identity token as Authorization: Bearer.".into(),
        )
    })?;
    let ask: Ask = json_body(request)?;
    let repo = RepoName::parse(&ask.repository).map_err(ApiError::BadRequest)?;
    let vm = identity::verify(
        app.platform,
        &mode.google_certs_url,
        token,
        &app.config.site_origin,
    )
    .await
    .map_err(refused_identity)?;
    limits::take(
        app.platform,
        Scope::VmTokenPerInstance,
        &format!("{}/{}", vm.project, vm.instance_id),
        app.config.limits.vm_tokens_per_instance,
    )
    .await?;
    let jwt = app_jwt(app.platform, &mode.key, mode.app_id, app.now())
        .await
        .map_err(|e| ApiError::Unavailable(format!("The App's key could not sign: {e}")))?;
    let github = &mode.github;
    let installation = match github
        .repository_installation(app.platform, &jwt, &repo)
        .await
    {
        Ok(installation) => installation,
        Err(GitHubFailure::NotFound(_)) => {
            return Err(ApiError::NotFound(
                "claw.free's GitHub App is not installed on that repository.".into(),
            ))
        }
        Err(other) => return Err(github_error(other)),
    };
    // Read with a read-only token first: a write token exists only for the named VM.
    let reader = github
        .installation_token_for(
            app.platform,
            &jwt,
            installation.id,
            &repo,
            &[("contents", "read"), ("administration", "read")],
        )
        .await
        .map_err(github_error)?;
    let not_yours = || {
        ApiError::Forbidden(format!(
            "{}/{} does not name this VM in {CONFIG_FILE} on {MAIN}.",
            repo.owner, repo.name
        ))
    };
    let readable = github.repo(app.platform, &reader, &repo);
    let config = match readable.file(CONFIG_FILE, MAIN).await {
        Ok(Some(bytes)) => String::from_utf8(bytes)
            .ok()
            .and_then(|text| RepoConfig::parse(&text).ok())
            .ok_or_else(not_yours)?,
        Ok(None) | Err(GitHubFailure::NotFound(_)) => return Err(not_yours()),
        Err(other) => return Err(github_error(other)),
    };
    if !names_this_vm(&config, &repo, &vm) {
        return Err(not_yours());
    }
    // A token that can write contents could push to an unprotected main, which CI
    // deploys: the bot gets one only while main changes by pull request alone.
    if !readable
        .requires_pull_requests(MAIN)
        .await
        .map_err(github_error)?
    {
        return Err(ApiError::Forbidden(format!(
            "{}/{}'s {MAIN} branch does not require pull requests, so claw.free gives the bot no token to change it. Protect {MAIN} on GitHub (a private repository needs GitHub Pro for that, or make it public), then try again.",
            repo.owner, repo.name
        )));
    }
    let writer = github
        .installation_token_for(app.platform, &jwt, installation.id, &repo, PERMISSIONS)
        .await
        .map_err(github_error)?;
    let permissions: serde_json::Map<String, serde_json::Value> = PERMISSIONS
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
        .collect();
    Ok(Response::json(
        200,
        &Granted {
            token: writer.expose(),
            repository: format!("{}/{}", repo.owner, repo.name),
            permissions: permissions.into(),
        },
    ))
}

#[cfg(test)]
mod tests;
