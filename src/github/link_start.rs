//! Starting to link a bot to a GitHub repository: from the bot list to the GitHub App's
//! install page. Like sign-in's start, it stores nothing: the `state` GitHub hands back
//! on the setup redirect, the PKCE verifier for the App's user authorization that proves
//! the installation is the person's, the bot and the Google account that asked travel
//! sealed (AES-256-GCM, context `github-link`) in the `__Host-github-link` cookie of this
//! browser, for ten minutes.

use crate::app::App;
use crate::bots::service;
use crate::cookies::{self, SealedFlow};
use crate::crypto;
use crate::error::ApiError;
use crate::http::{Request, Response};
use crate::ports::Platform;
use crate::sessions;
use serde::{Deserialize, Serialize};

/// The sealing context of the link cookie.
pub(super) const LINK_CONTEXT: &str = "github-link";

/// The link's cookie, from the start to the App's user authorization.
pub(super) const LINK_FLOW: SealedFlow = SealedFlow {
    name: cookies::GITHUB_LINK,
    context: LINK_CONTEXT,
};

/// What the link cookie carries from the start to the App's user authorization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLink {
    pub state: String,
    pub verifier: String,
    pub project: String,
    pub zone: String,
    pub vm: String,
    /// The Google account (`sub`) that started it: the flow goes on only for it.
    pub owner: String,
    pub created_at: u64,
    /// The installation GitHub's setup redirect named, once it has (not yet proven the
    /// person's: the App's user authorization does that).
    #[serde(default)]
    pub installation: Option<u64>,
}

/// `GET /api/bots/:project/:zone/:vm/github`: to the GitHub App's install page, for a
/// bot in one of the signed-in person's projects. A navigation from another site is
/// refused (`Sec-Fetch-Site`), so no page elsewhere can start a link in this browser.
pub async fn start<P: Platform>(
    app: &App<'_, P>,
    request: &Request,
    path: (&str, &str, &str),
) -> Result<Response, ApiError> {
    let Some(mode) = app.config.github.as_ref() else {
        return Err(ApiError::NotFound(
            "Linking a GitHub repository is not available on this claw.free.".into(),
        ));
    };
    if request.header("sec-fetch-site") == Some("cross-site") {
        return Err(ApiError::Forbidden(
            "Start linking from the claw.free page itself.".into(),
        ));
    }
    let session = sessions::require(app, request).await?;
    let target = service::target(&session, path)?;
    let pending = PendingLink {
        state: crypto::random_token(app.platform, 32)?,
        verifier: crypto::random_token(app.platform, 48)?,
        project: target.project.as_str().to_string(),
        zone: target.zone.as_str().to_string(),
        vm: target.name.as_str().to_string(),
        owner: session.owner().to_string(),
        created_at: app.now(),
        installation: None,
    };
    let url = format!(
        "{}/apps/{}/installations/new?state={}",
        mode.github.web, mode.slug, pending.state
    );
    LINK_FLOW.redirect(app, &url, &pending, "The link could not start.")
}

#[cfg(test)]
pub(super) mod tests;
