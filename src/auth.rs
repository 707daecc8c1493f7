//! Sign-in with Google (OAuth 2.0 authorization code with PKCE), sign-out, the
//! session's view for the page, and creating a project.
//!
//! Starting a sign-in stores nothing: the OAuth `state`, its PKCE verifier and the
//! wizard's choices travel sealed (AES-256-GCM, context `signin`) in the
//! `__Host-signin` cookie of the browser that started it, for ten minutes. The
//! callback needs that cookie to open and its state to match the one Google sends
//! back; Google's code is itself single-use and bound to the verifier. Every
//! failure of the callback sends the person back to the page with an error code
//! (never text: the page maps codes to its own sentences) and no session.

use crate::app::App;
use crate::cookies::{self, SealedFlow};
use crate::crypto;
use crate::error::ApiError;
use crate::google::{crm, oauth, GoogleFailure};
use crate::http::{Request, Response};
use crate::limits::{self, Scope};
use crate::ports::Platform;
use crate::security::json_body;
use crate::sessions::{self, Session};
use crate::store::SESSION_TTL;
use crate::types::{Choices, ProjectDisplayName, ProjectId};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The sign-in's cookie, sealed under context `signin`.
const SIGN_IN_FLOW: SealedFlow = SealedFlow {
    name: cookies::SIGN_IN,
    context: "signin",
};

/// `?access=` of a sign-in that also allows linking a GitHub repository.
pub const LINK_ACCESS: &str = "github";

/// What the sign-in cookie carries between the redirect to Google and the callback.
#[derive(Debug, Serialize, Deserialize)]
struct PendingSignIn {
    state: String,
    verifier: String,
    choices: Choices,
    created_at: u64,
}

/// Why a sign-in did not finish. The callback redirects to `/?authError=<code>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInError {
    /// No sign-in cookie, one that does not open or match the state, or too old.
    Expired,
    /// The person declined on Google's consent page.
    Cancelled,
    /// Google's consent page answered with another error.
    Failed,
    /// Google refused the code.
    Refused,
    /// The Cloud scope was not granted.
    Scope,
    /// Google failed or could not be reached after consent.
    Google,
    /// Our own storage failed.
    Busy,
    /// Too many sign-ins from this network.
    Limited,
}

impl SignInError {
    /// The code in the redirect; `public/js/main.js` owns the sentence for each.
    pub fn code(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
            Self::Refused => "refused",
            Self::Scope => "scope",
            Self::Google => "google",
            Self::Busy => "busy",
            Self::Limited => "limited",
        }
    }
}

/// `GET /api/auth/google?provider&channel&cloud[&region]`: to Google's consent page.
/// Writes nothing to KV, so strangers cannot spend the day's writes here.
pub async fn start<P: Platform>(app: &App<'_, P>, request: &Request) -> Result<Response, ApiError> {
    let param = |name: &str| request.query_param(name);
    let choices = Choices::parse(
        param("provider").as_deref(),
        param("channel").as_deref(),
        param("cloud").as_deref(),
        param("region").as_deref(),
    )?;
    let state = crypto::random_token(app.platform, 32)?;
    let verifier = crypto::random_token(app.platform, 48)?;
    let challenge = crypto::pkce_challenge(&verifier);
    let pending = PendingSignIn {
        state,
        verifier,
        choices,
        created_at: app.now(),
    };
    let link = param("access").as_deref() == Some(LINK_ACCESS);
    let url = oauth::consent_url(app.config, &pending.state, &challenge, link);
    SIGN_IN_FLOW.redirect(app, &url, &pending, "The sign-in could not start.")
}

/// `GET /api/auth/callback/google?code&state` (or `?error=access_denied&state`).
pub async fn callback<P: Platform>(
    app: &App<'_, P>,
    request: &Request,
) -> Result<Response, ApiError> {
    let clear_state = cookies::clear(cookies::SIGN_IN);
    match finish_sign_in(app, request).await {
        Ok((secret, choices)) => Ok(Response::redirect(&format!("/?{}", choices.to_query()))
            .with_header("set-cookie", sessions::cookie(Some(&secret), SESSION_TTL))
            .with_header("set-cookie", clear_state)),
        Err(error) => Ok(Response::redirect(&format!("/?authError={}", error.code()))
            .with_header("set-cookie", clear_state)),
    }
}

/// The pending sign-in this browser started, if its cookie opens and is fresh.
fn pending_sign_in<P: Platform>(app: &App<'_, P>, request: &Request) -> Option<PendingSignIn> {
    SIGN_IN_FLOW.read(app, request, |pending: &PendingSignIn| pending.created_at)
}

/// Checks the state, exchanges the code, and stores the session.
async fn finish_sign_in<P: Platform>(
    app: &App<'_, P>,
    request: &Request,
) -> Result<(String, Choices), SignInError> {
    let state = request.query_param("state").unwrap_or_default();
    let pending = pending_sign_in(app, request)
        .filter(|p| !state.is_empty() && crate::crypto::constant_time_eq(&p.state, &state))
        .ok_or(SignInError::Expired)?;
    if let Some(error) = request.query_param("error") {
        return Err(match error.as_str() {
            "access_denied" => SignInError::Cancelled,
            _ => SignInError::Failed,
        });
    }
    let code = request
        .query_param("code")
        .filter(|c| !c.is_empty() && c.len() <= 1024)
        .ok_or(SignInError::Expired)?;
    let grant = oauth::exchange_code(app.platform, app.config, &code, &pending.verifier)
        .await
        .map_err(|f| match f {
            GoogleFailure::Invalid(_) => SignInError::Refused,
            _ => SignInError::Google,
        })?;
    // Counted only once Google accepted the code: from here a sign-in costs KV
    // writes (this counter and the session), which a made-up code never reaches.
    limits::take(
        app.platform,
        Scope::SignInPerIp,
        &request.client_ip,
        app.config.limits.signins_per_ip,
    )
    .await
    .map_err(|e| match e {
        ApiError::RateLimited { .. } => SignInError::Limited,
        _ => SignInError::Busy,
    })?;
    if !grant.has_cloud_scope {
        return Err(SignInError::Scope);
    }
    let google = app.google(&grant.access_token);
    let user = google
        .oauth()
        .userinfo()
        .await
        .map_err(|_| SignInError::Google)?;
    let projects = google
        .crm()
        .active_projects()
        .await
        .map_err(|_| SignInError::Google)?;
    let secret = sessions::create(
        app,
        user,
        projects,
        pending.choices.clone(),
        &grant.access_token,
        grant.expires_in,
    )
    .await
    .map_err(|_| SignInError::Busy)?;
    Ok((secret, pending.choices))
}

/// Ends the session (if any): revokes the token and deletes the record. Returns
/// whether Google confirmed the revocation (`None` when there was no session).
async fn end_session<P: Platform>(
    app: &App<'_, P>,
    request: &Request,
) -> Result<Option<bool>, ApiError> {
    match sessions::require(app, request).await {
        Ok(session) => {
            let revoked = app.google(&session.token).oauth().revoke().await;
            sessions::destroy(app, &session).await?;
            Ok(Some(revoked))
        }
        Err(ApiError::Unauthorized(_) | ApiError::NotFound(_)) => Ok(None),
        Err(other) => Err(other),
    }
}

/// The cookies a sign-out clears: the session, and the deploy binding that would
/// otherwise let this browser keep following a deploy.
fn signed_out(response: Response) -> Response {
    response
        .with_header("set-cookie", sessions::cookie(None, 0))
        .with_header("set-cookie", cookies::clear(cookies::DEPLOY))
}

/// `POST /api/auth/logout`: `{ok: true, revoked}`; `revoked` is false when Google
/// did not confirm that the access token is revoked (the page then says how to
/// remove claw.free's access by hand).
pub async fn logout<P: Platform>(
    app: &App<'_, P>,
    request: &Request,
) -> Result<Response, ApiError> {
    let revoked = end_session(app, request).await?.unwrap_or(true);
    Ok(signed_out(Response::json(
        200,
        &json!({"ok": true, "revoked": revoked}),
    )))
}

/// `GET /api/auth/logout`, for the old frontend's link. A cross-site page cannot use
/// it to sign people out (browsers mark such navigations `Sec-Fetch-Site: cross-site`).
pub async fn logout_redirect<P: Platform>(
    app: &App<'_, P>,
    request: &Request,
) -> Result<Response, ApiError> {
    if request.header("sec-fetch-site") == Some("cross-site") {
        return Ok(Response::redirect("/"));
    }
    let revoked = end_session(app, request).await?.unwrap_or(true);
    let to = if revoked {
        "/"
    } else {
        "/?signedOut=unrevoked"
    };
    Ok(signed_out(Response::redirect(to)))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionView<'a> {
    provider: &'a str,
    channel: &'a str,
    cloud: &'a str,
    region: Option<&'a str>,
    user_name: &'a str,
    user_email: &'a str,
    user_picture: &'a str,
    projects: &'a [crm::ProjectSummary],
    expires_in_seconds: u64,
    /// Whether this claw.free can link bots to GitHub (a GitHub App is configured).
    github_linking: bool,
}

/// `GET /api/deploy/session`: who is signed in and their projects.
pub async fn session<P: Platform>(
    app: &App<'_, P>,
    request: &Request,
) -> Result<Response, ApiError> {
    let session = sessions::require(app, request).await?;
    let r = &session.record;
    Ok(Response::json(
        200,
        &SessionView {
            provider: r.choices.provider.as_str(),
            channel: &r.choices.channel,
            cloud: &r.choices.cloud,
            region: r.choices.region.map(|region| region.as_str()),
            user_name: &r.user.name,
            user_email: &r.user.email,
            user_picture: &r.user.picture,
            projects: &r.projects,
            expires_in_seconds: session.remaining_secs(app.now()),
            github_linking: app.config.github.is_some(),
        },
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateProjectBody {
    project_id: String,
    #[serde(default)]
    display_name: Option<String>,
}

/// How long `create-project` waits for Resource Manager, at most.
const PROJECT_POLLS: u32 = 8;
const PROJECT_POLL_MS: u64 = 1500;

/// `POST /api/deploy/create-project {projectId, displayName}`.
pub async fn create_project<P: Platform>(
    app: &App<'_, P>,
    request: &Request,
) -> Result<Response, ApiError> {
    let mut session = sessions::require(app, request).await?;
    let body: CreateProjectBody = json_body(request)?;
    let project_id = ProjectId::parse_new(body.project_id.trim())?;
    let display_name = match body
        .display_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        Some(name) => ProjectDisplayName::parse(name)?,
        None => ProjectDisplayName::parse(project_id.as_str())?,
    };
    limits::take_bot_action(app, session.limit_subject()).await?;
    let to_api = |f: GoogleFailure| {
        match f {
        GoogleFailure::AlreadyExists => ApiError::Conflict(format!(
            "The project ID {project_id} is already taken (project IDs are unique across all of Google Cloud). Try another."
        )),
        other => other.into_api_error(app.config, Some(project_id.as_str())),
    }
    };
    let google = app.google(&session.token);
    let mut operation = google
        .crm()
        .create_project(&project_id, &display_name)
        .await
        .map_err(to_api)?;
    let mut polls = 0;
    while !operation.done && polls < PROJECT_POLLS {
        app.platform.sleep_ms(PROJECT_POLL_MS).await;
        operation = google
            .crm()
            .get_operation(&operation.name)
            .await
            .map_err(to_api)?;
        polls += 1;
    }
    if let Some(error) = operation.error.filter(|_| operation.done) {
        return Err(match error.code {
            6 => ApiError::Conflict(format!(
                "The project ID {project_id} is already taken. Try another."
            )),
            _ => ApiError::Google {
                status: 502,
                message: format!(
                    "Google could not create the project: {}",
                    crate::google::sanitize(&error.message)
                ),
                action: None,
            },
        });
    }
    let summary = crm::ProjectSummary {
        project_id: project_id.to_string(),
        name: display_name.as_str().to_string(),
    };
    add_project(app, &mut session, summary.clone()).await?;
    Ok(Response::json(
        200,
        &json!({"projectId": summary.project_id, "name": summary.name, "ready": operation.done}),
    ))
}

async fn add_project<P: Platform>(
    app: &App<'_, P>,
    session: &mut Session,
    project: crm::ProjectSummary,
) -> Result<(), ApiError> {
    if !session
        .record
        .projects
        .iter()
        .any(|p| p.project_id == project.project_id)
    {
        session.record.projects.insert(0, project);
        sessions::update(app, session).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
