//! Between GitHub's install page and the link itself: the App's setup redirect, then the
//! App's user authorization (PKCE), which proves the installation GitHub's redirect names
//! is one the person signed in to GitHub can reach. A setup redirect alone proves
//! nothing: anyone can send a browser to it with any `installation_id`.
//!
//! Both steps need the `__Host-github-link` cookie this browser got when it started
//! ([`super::link_start`]), its state matching the one GitHub sends back, and the same
//! Google account still signed in. The user token lives only for the callback's request.
//! Every failure sends the person back to the page with `?githubLinkError=<code>`
//! (never text: the page owns the sentences).

use super::client::{is_users_installation, GitHubFailure, Repository, UserToken};
use super::config::GitHubMode;
use super::link::{self, model::RepoRef};
use super::link_start::{PendingLink, LINK_FLOW};
use crate::app::App;
use crate::cookies;
use crate::crypto;
use crate::error::ApiError;
use crate::google::compute::InstanceRef;
use crate::http::{query_string, Request, Response};
use crate::ports::Platform;
use crate::sessions;
use crate::sessions::Session;

/// Why linking stopped before the link itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkAuthError {
    /// No link cookie, one that does not open, match the state, or is too old; or
    /// another Google account is signed in now.
    Expired,
    /// The person declined the App's authorization on GitHub.
    Cancelled,
    /// GitHub's redirect carried no usable installation, or refused the code.
    Refused,
    /// The installation is not one the GitHub user who authorized can reach.
    NotYours,
    /// GitHub failed or could not be reached.
    GitHub,
}

impl LinkAuthError {
    /// The code in the redirect; the page owns the sentence for each.
    pub fn code(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
            Self::Refused => "refused",
            Self::NotYours => "not-yours",
            Self::GitHub => "github",
        }
    }
}

/// Where GitHub sends the browser back after the App's user authorization.
pub fn callback_uri(site_origin: &str) -> String {
    format!("{site_origin}/api/github/callback")
}

fn failed(error: LinkAuthError) -> Response {
    Response::redirect(&format!("/?githubLinkError={}", error.code()))
        .with_header("set-cookie", cookies::clear(cookies::GITHUB_LINK))
}

/// The link this browser started, if its cookie opens, is fresh, names `state`, and the
/// Google account that started it is the one signed in now.
async fn pending<P: Platform>(
    app: &App<'_, P>,
    request: &Request,
) -> Result<(PendingLink, Session), LinkAuthError> {
    let state = request.query_param("state").unwrap_or_default();
    let pending = LINK_FLOW
        .read(app, request, |pending: &PendingLink| pending.created_at)
        .ok_or(LinkAuthError::Expired)?;
    let matches = !state.is_empty() && crypto::constant_time_eq(&pending.state, &state);
    if !matches {
        return Err(LinkAuthError::Expired);
    }
    let session = sessions::require(app, request)
        .await
        .map_err(|_| LinkAuthError::Expired)?;
    if session.owner() != pending.owner {
        return Err(LinkAuthError::Expired);
    }
    Ok((pending, session))
}

/// `GET /api/github/setup?installation_id&setup_action&state`: GitHub's redirect after
/// the install page; on to the App's user authorization, with the installation kept in
/// the sealed cookie.
pub async fn setup<P: Platform>(app: &App<'_, P>, request: &Request) -> Result<Response, ApiError> {
    let Some(mode) = app.config.github.as_ref() else {
        return Err(ApiError::NotFound(
            "Linking a GitHub repository is not available on this claw.free.".into(),
        ));
    };
    let mut pending = match pending(app, request).await {
        Ok((pending, _)) => pending,
        Err(error) => return Ok(failed(error)),
    };
    let installation = request
        .query_param("installation_id")
        .and_then(|id| id.parse::<u64>().ok())
        .filter(|id| *id > 0);
    let Some(installation) = installation else {
        return Ok(failed(LinkAuthError::Refused));
    };
    pending.installation = Some(installation);
    let challenge = crypto::pkce_challenge(&pending.verifier);
    let query = query_string(&[
        ("client_id", &mode.client_id),
        ("redirect_uri", &callback_uri(&app.config.site_origin)),
        ("state", &pending.state),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let url = format!("{}/login/oauth/authorize?{query}", mode.github.web);
    LINK_FLOW.redirect(app, &url, &pending, "The link could not go on.")
}

/// `GET /api/github/callback?code&state` (or `?error=access_denied&state`): exchanges the
/// code (with the verifier), and checks that the installation from the setup redirect
/// is one the authorizing GitHub user can reach. Back to the bot list either way.
pub async fn callback<P: Platform>(
    app: &App<'_, P>,
    request: &Request,
) -> Result<Response, ApiError> {
    let Some(mode) = app.config.github.as_ref() else {
        return Err(ApiError::NotFound(
            "Linking a GitHub repository is not available on this claw.free.".into(),
        ));
    };
    let (pending, session) = match pending(app, request).await {
        Ok(found) => found,
        Err(error) => return Ok(failed(error)),
    };
    let Some(installation) = pending.installation else {
        return Ok(failed(LinkAuthError::Expired));
    };
    if let Some(error) = request.query_param("error") {
        return Ok(failed(if error == "access_denied" {
            LinkAuthError::Cancelled
        } else {
            LinkAuthError::Refused
        }));
    }
    let Some(code) = request.query_param("code").filter(|c| !c.is_empty()) else {
        return Ok(failed(LinkAuthError::Refused));
    };
    let github_failure = |failure: GitHubFailure| match failure {
        GitHubFailure::OAuth(_) | GitHubFailure::Unauthorized(_) => LinkAuthError::Refused,
        _ => LinkAuthError::GitHub,
    };
    let token = match mode
        .github
        .exchange_code(
            app.platform,
            &mode.client_id,
            &mode.client_secret,
            &code,
            &callback_uri(&app.config.site_origin),
            &pending.verifier,
        )
        .await
    {
        Ok(token) => token,
        Err(failure) => return Ok(failed(github_failure(failure))),
    };
    let installations = match mode.github.user_installations(app.platform, &token).await {
        Ok(list) => list,
        Err(failure) => return Ok(failed(github_failure(failure))),
    };
    if !is_users_installation(&installations, mode.app_id, installation) {
        return Ok(failed(LinkAuthError::NotYours));
    }
    let Some(account) = installations
        .iter()
        .find(|i| i.id == installation)
        .map(|i| i.account.login.clone())
    else {
        return Ok(failed(LinkAuthError::NotYours));
    };
    let Ok(target) =
        crate::bots::service::target(&session, (&pending.project, &pending.zone, &pending.vm))
    else {
        return Ok(failed(LinkAuthError::Expired));
    };
    let repository = match repository(app, mode, &token, installation, &account, &target).await {
        Ok(repository) => repository,
        Err(failure) => return Ok(failed(github_failure(failure))),
    };
    if link::flow::begin(app, &session, &target, installation, repository)
        .await
        .is_err()
    {
        return Ok(failed(LinkAuthError::GitHub));
    }
    let bot = format!("{}/{}/{}", pending.project, pending.zone, pending.vm);
    Ok(Response::redirect(&format!(
        "/?{}",
        query_string(&[
            ("githubLink", &bot),
            ("installation", &installation.to_string())
        ])
    ))
    .with_header("set-cookie", cookies::clear(cookies::GITHUB_LINK)))
}

/// The repository to link, chosen with the user's token (the only one that may create
/// a repository in a user's account: GitHub lets an installation token create one only
/// in an organization): the one repository the installation was given, adopted; else a
/// new private one from the template, named after the bot's VM (or that one, when a
/// retried callback made it already).
async fn repository<P: Platform>(
    app: &App<'_, P>,
    mode: &GitHubMode,
    user: &UserToken,
    installation: u64,
    account: &str,
    target: &InstanceRef,
) -> Result<RepoRef, GitHubFailure> {
    let github = &mode.github;
    let reachable = github
        .installation_repositories(app.platform, user, installation)
        .await?;
    let as_ref = |repo: &Repository| RepoRef {
        id: repo.id,
        full_name: repo.full_name.clone(),
        url: if repo.html_url.is_empty() {
            format!("{}/{}", github.web, repo.full_name)
        } else {
            repo.html_url.clone()
        },
    };
    if let [only] = reachable.as_slice() {
        if !only.is_template {
            return Ok(as_ref(only));
        }
    }
    let name = target.name.as_str();
    match github
        .generate(app.platform, user, &mode.template, account, name)
        .await
    {
        Ok(created) => Ok(as_ref(&created)),
        Err(GitHubFailure::Rejected(said)) => reachable
            .iter()
            .find(|r| {
                r.full_name
                    .eq_ignore_ascii_case(&format!("{account}/{name}"))
            })
            .map(as_ref)
            .ok_or(GitHubFailure::Rejected(said)),
        Err(other) => Err(other),
    }
}

#[cfg(test)]
mod tests;
