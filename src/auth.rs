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
use crate::cookies;
use crate::crypto::{self, Sealed};
use crate::error::ApiError;
use crate::google::{crm, oauth, GoogleFailure};
use crate::http::{Request, Response};
use crate::limits::{self, Scope};
use crate::ports::Platform;
use crate::security::json_body;
use crate::sessions::{self, Session};
use crate::store::{SESSION_TTL, SIGNIN_TTL};
use crate::types::{Choices, ProjectDisplayName, ProjectId};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The sealing context of the sign-in cookie.
const SIGN_IN_CONTEXT: &str = "signin";

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
    let plain = serde_json::to_string(&pending)
        .map_err(|_| ApiError::Unavailable("The sign-in could not start.".into()))?;
    let sealed = crypto::seal(
        &app.config.sealing_key,
        app.platform,
        SIGN_IN_CONTEXT,
        &plain,
    )?;
    let url = oauth::consent_url(app.config, &pending.state, &challenge);
    Ok(Response::redirect(&url).with_header(
        "set-cookie",
        cookies::set(cookies::SIGN_IN, sealed.as_str(), SIGNIN_TTL),
    ))
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
    let sealed = request.cookie(cookies::SIGN_IN)?;
    let plain = crypto::open(
        &app.config.sealing_key,
        SIGN_IN_CONTEXT,
        &Sealed::from_text(&sealed),
    )
    .ok()?;
    let pending: PendingSignIn = serde_json::from_str(&plain).ok()?;
    let fresh = pending.created_at + SIGNIN_TTL >= app.now() && pending.created_at <= app.now();
    fresh.then_some(pending)
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
    let user = oauth::userinfo(app.platform, app.config, &grant.access_token)
        .await
        .map_err(|_| SignInError::Google)?;
    let projects = crm::active_projects(app.platform, app.config, &grant.access_token)
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
            let revoked = oauth::revoke(app.platform, app.config, &session.token).await;
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
    limits::take(
        app.platform,
        Scope::BotActionPerSession,
        session.limit_subject(),
        app.config.limits.bot_actions_per_session,
    )
    .await?;
    let to_api = |f: GoogleFailure| {
        match f {
        GoogleFailure::AlreadyExists => ApiError::Conflict(format!(
            "The project ID {project_id} is already taken (project IDs are unique across all of Google Cloud). Try another."
        )),
        other => other.into_api_error(app.config, Some(project_id.as_str())),
    }
    };
    let mut operation = crm::create_project(
        app.platform,
        app.config,
        &session.token,
        &project_id,
        &display_name,
    )
    .await
    .map_err(to_api)?;
    let mut polls = 0;
    while !operation.done && polls < PROJECT_POLLS {
        app.platform.sleep_ms(PROJECT_POLL_MS).await;
        operation = crm::get_operation(app.platform, app.config, &session.token, &operation.name)
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
mod tests {
    use super::*;
    use crate::config::tests::development_config;
    use crate::http::Method;
    use crate::testing::{is, reply, run, TestPlatform};

    const TOKEN: &str = "ya29.sim-access-token-for-ada";

    fn google(p: &TestPlatform) {
        p.respond(|req| {
            if is(req, Method::Post, "/token") {
                let body = String::from_utf8_lossy(req.body.as_deref().unwrap_or_default()).into_owned();
                if !body.contains("code=good-code") || !body.contains("code_verifier=") {
                    return reply(400, json!({"error": "invalid_grant", "error_description": "Bad Request"}));
                }
                reply(200, json!({"access_token": TOKEN, "expires_in": 3599, "token_type": "Bearer",
                    "scope": "openid https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/cloud-platform"}))
            } else if is(req, Method::Get, "/v1/userinfo") {
                reply(200, json!({"sub": "100", "email": "ada@example.com", "name": "Ada", "picture": "https://example.com/a.png"}))
            } else if is(req, Method::Get, "/v3/projects:search") {
                reply(200, json!({"projects": [
                    {"projectId": "claw-demo", "displayName": "Claw demo", "state": "ACTIVE"},
                    {"projectId": "old-one", "displayName": "Old", "state": "DELETE_REQUESTED"}]}))
            } else if is(req, Method::Post, "/revoke") {
                reply(200, json!({}))
            } else {
                reply(404, json!({"error": {"code": 404, "message": "not found"}}))
            }
        });
    }

    fn get(path_and_query: &str, cookies: &[String]) -> Request {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        Request {
            method: Method::Get,
            path: path.into(),
            query: query.into(),
            headers: cookies
                .iter()
                .map(|c| ("cookie".to_string(), c.clone()))
                .collect(),
            body: Vec::new(),
            client_ip: "203.0.113.9".into(),
        }
    }

    /// The `name=value` part of each Set-Cookie header.
    fn cookies(response: &Response) -> Vec<String> {
        response
            .headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .map(|(_, v)| v.split(';').next().unwrap().to_string())
            .filter(|c| !c.ends_with('='))
            .collect()
    }

    fn begin(app: &App<'_, TestPlatform>) -> (String, Vec<String>) {
        let response = run(app.handle(get(
            "/api/auth/google?provider=claude&channel=telegram&cloud=gcp",
            &[],
        )));
        assert_eq!(response.status, 302);
        let location = response.header("location").unwrap().to_string();
        let state = location
            .split("state=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
            .to_string();
        (state, cookies(&response))
    }

    /// A whole sign-in through the callback; the cookies it sets.
    fn sign_in(app: &App<'_, TestPlatform>) -> Vec<String> {
        let (state, state_cookie) = begin(app);
        let signed_in = run(app.handle(get(
            &format!("/api/auth/callback/google?code=good-code&state={state}"),
            &state_cookie,
        )));
        cookies(&signed_in)
    }

    #[test]
    fn a_full_sign_in_stores_a_sealed_session() {
        let p = TestPlatform::new();
        google(&p);
        let config = development_config();
        let app = App::new(&p, &config);
        let (state, state_cookie) = begin(&app);
        let response = run(app.handle(get(
            &format!("/api/auth/callback/google?code=good-code&state={state}"),
            &state_cookie,
        )));
        assert_eq!(response.status, 302);
        assert_eq!(
            response.header("location"),
            Some("/?provider=claude&channel=telegram&cloud=gcp")
        );
        let set = response
            .headers
            .iter()
            .find(|(k, v)| k == "set-cookie" && v.starts_with("__Host-session="))
            .unwrap();
        assert!(
            set.1.contains("HttpOnly")
                && set.1.contains("Secure")
                && set.1.contains("SameSite=Lax")
                && set.1.contains("Path=/")
                && set.1.contains("Max-Age=3600")
        );
        let session_cookie = cookies(&response);
        let view = run(app.handle(get("/api/deploy/session", &session_cookie))).json_body();
        assert_eq!(view["userEmail"], "ada@example.com");
        assert_eq!(view["provider"], "claude");
        assert_eq!(
            view["projects"],
            json!([{"projectId": "claw-demo", "name": "Claw demo"}])
        );
        let kv = p.kv_dump();
        assert!(kv.contains("session:") && !kv.contains(TOKEN) && !kv.contains("sim-access-token"));
        assert!(
            !kv.contains(session_cookie[0].trim_start_matches("__Host-session=")),
            "KV keys hold the cookie's digest"
        );
        // The token endpoint received the PKCE verifier whose challenge went to Google.
        assert!(p.call_log().iter().any(|c| c.contains("/token")));
    }

    #[test]
    fn a_state_is_single_use_and_bound_to_its_browser() {
        let p = TestPlatform::new();
        google(&p);
        let config = development_config();
        let app = App::new(&p, &config);
        let (state, state_cookie) = begin(&app);
        let callback = format!("/api/auth/callback/google?code=good-code&state={state}");
        // Another browser (no cookie) cannot use the state, and burns nothing.
        let stranger = run(app.handle(get(&callback, &[])));
        assert!(stranger
            .header("location")
            .unwrap()
            .starts_with("/?authError="));
        assert!(cookies(&stranger).is_empty());
        // Another browser's sign-in cookie does not carry this state.
        let (_, other_cookie) = begin(&app);
        let crossed = run(app.handle(get(&callback, &other_cookie)));
        assert_eq!(crossed.header("location"), Some("/?authError=expired"));
        let ok = run(app.handle(get(&callback, &state_cookie)));
        assert!(cookies(&ok)
            .iter()
            .any(|c| c.starts_with("__Host-session=")));
        let forged = run(app.handle(get(
            "/api/auth/callback/google?code=good-code&state=forged",
            &["__Host-signin=forged".into()],
        )));
        assert_eq!(forged.header("location"), Some("/?authError=expired"));
        // A cookie sent twice (one planted) is no cookie.
        let doubled = vec![format!("{}; {}", state_cookie[0], other_cookie[0])];
        let planted = run(app.handle(get(&callback, &doubled)));
        assert_eq!(planted.header("location"), Some("/?authError=expired"));
    }

    #[test]
    fn an_expired_state_or_a_refused_code_gives_no_session() {
        let p = TestPlatform::new();
        google(&p);
        let config = development_config();
        let app = App::new(&p, &config);
        let (state, state_cookie) = begin(&app);
        let bad_code = run(app.handle(get(
            &format!("/api/auth/callback/google?code=stolen&state={state}"),
            &state_cookie,
        )));
        assert_eq!(bad_code.header("location"), Some("/?authError=refused"));
        assert!(!cookies(&bad_code)
            .iter()
            .any(|c| c.starts_with("__Host-session=")));
        let (state, state_cookie) = begin(&app);
        p.advance_secs(SIGNIN_TTL + 1);
        let late = run(app.handle(get(
            &format!("/api/auth/callback/google?code=good-code&state={state}"),
            &state_cookie,
        )));
        assert_eq!(late.header("location"), Some("/?authError=expired"));
    }

    #[test]
    fn denied_consent_returns_a_readable_message() {
        let p = TestPlatform::new();
        google(&p);
        let config = development_config();
        let app = App::new(&p, &config);
        let (state, state_cookie) = begin(&app);
        let denied = run(app.handle(get(
            &format!("/api/auth/callback/google?error=access_denied&state={state}"),
            &state_cookie,
        )));
        assert_eq!(denied.header("location"), Some("/?authError=cancelled"));
        assert!(
            p.call_log().iter().all(|c| !c.contains("/token")),
            "no code exchange after a denial"
        );
    }

    #[test]
    fn logout_revokes_and_the_old_cookie_is_refused() {
        let p = TestPlatform::new();
        google(&p);
        let config = development_config();
        let app = App::new(&p, &config);
        let session_cookie = sign_in(&app);
        let mut logout = get("/api/auth/logout", &session_cookie);
        logout.method = Method::Post;
        logout
            .headers
            .push(("origin".into(), config.site_origin.clone()));
        let response = run(app.handle(logout));
        assert_eq!(response.status, 200);
        assert!(response
            .headers
            .iter()
            .any(|(k, v)| k == "set-cookie" && v.contains("Max-Age=0")));
        assert!(p
            .call_log()
            .iter()
            .any(|c| c.starts_with("POST") && c.contains("/revoke")));
        assert_eq!(
            run(app.handle(get("/api/deploy/session", &session_cookie))).status,
            404
        );
        assert_eq!(run(app.handle(get("/api/deploy/session", &[]))).status, 401);
    }

    #[test]
    fn bad_choices_are_refused_before_anything_is_stored() {
        let p = TestPlatform::new();
        let config = development_config();
        let app = App::new(&p, &config);
        let response = run(app.handle(get("/api/auth/google?provider=gpt5", &[])));
        assert_eq!(response.status, 400);
        assert!(response.json_body()["error"]
            .as_str()
            .unwrap()
            .contains("provider"));
        assert_eq!(p.kv_writes.get(), 0);
    }
    #[test]
    fn starting_a_sign_in_writes_nothing_and_the_cookie_holds_no_plaintext() {
        let p = TestPlatform::new();
        let config = development_config();
        let app = App::new(&p, &config);
        for _ in 0..50 {
            let response = run(app.handle(get("/api/auth/google?provider=claude", &[])));
            assert_eq!(response.status, 302);
            let line = response.header("set-cookie").unwrap();
            assert!(line.starts_with("__Host-signin=v1."), "{line}");
            assert!(line.contains("; Secure") && line.contains("; Path=/;"));
            let location = response.header("location").unwrap();
            let state = location
                .split("state=")
                .nth(1)
                .unwrap()
                .split('&')
                .next()
                .unwrap();
            assert!(!line.contains(state), "the state travels sealed");
            assert!(!line.contains("claude"));
        }
        assert_eq!(p.kv_writes.get(), 0, "no KV write to start a sign-in");
    }

    #[test]
    fn sign_in_failures_redirect_with_a_code_never_text() {
        let p = TestPlatform::new();
        google(&p);
        let config = development_config();
        let app = App::new(&p, &config);
        let (state, state_cookie) = begin(&app);
        let odd = run(app.handle(get(
            &format!("/api/auth/callback/google?error=%3Cscript%3Ebad&error_description=Click+evil.test&state={state}"),
            &state_cookie,
        )));
        assert_eq!(odd.header("location"), Some("/?authError=failed"));
        for error in [
            SignInError::Expired,
            SignInError::Cancelled,
            SignInError::Failed,
            SignInError::Refused,
            SignInError::Scope,
            SignInError::Google,
            SignInError::Busy,
            SignInError::Limited,
        ] {
            assert!(error.code().bytes().all(|b| b.is_ascii_lowercase()));
        }
    }

    #[test]
    fn completed_sign_ins_are_limited_per_network_and_refusals_are_not_counted() {
        let p = TestPlatform::new();
        google(&p);
        let mut config = development_config();
        config.limits.signins_per_ip = 2;
        let app = App::new(&p, &config);
        // Forged callbacks, and made-up codes with a real sign-in cookie, write nothing.
        for _ in 0..5 {
            run(app.handle(get("/api/auth/callback/google?code=x&state=forged", &[])));
            let (state, cookie) = begin(&app);
            let refused = run(app.handle(get(
                &format!("/api/auth/callback/google?code=made-up&state={state}"),
                &cookie,
            )));
            assert_eq!(refused.header("location"), Some("/?authError=refused"));
        }
        assert_eq!(p.kv_writes.get(), 0);
        for _ in 0..2 {
            let (state, cookie) = begin(&app);
            let ok = run(app.handle(get(
                &format!("/api/auth/callback/google?code=good-code&state={state}"),
                &cookie,
            )));
            assert!(cookies(&ok)
                .iter()
                .any(|c| c.starts_with("__Host-session=")));
        }
        let (state, cookie) = begin(&app);
        let limited = run(app.handle(get(
            &format!("/api/auth/callback/google?code=good-code&state={state}"),
            &cookie,
        )));
        assert_eq!(limited.header("location"), Some("/?authError=limited"));
        assert_eq!(
            p.call_log()
                .iter()
                .filter(|c| c.contains("/v1/userinfo"))
                .count(),
            2,
            "no session past the limit"
        );
    }

    #[test]
    fn logout_reports_an_unconfirmed_revocation_and_clears_the_deploy_binding() {
        let p = TestPlatform::new();
        google(&p);
        let config = development_config();
        let app = App::new(&p, &config);
        let session_cookie = sign_in(&app);
        p.respond(|req| {
            if is(req, Method::Post, "/revoke") {
                reply(503, json!({"error": "backend_error"}))
            } else {
                reply(404, json!({}))
            }
        });
        let mut logout = get("/api/auth/logout", &session_cookie);
        logout.method = Method::Post;
        logout
            .headers
            .push(("origin".into(), config.site_origin.clone()));
        let response = run(app.handle(logout));
        assert_eq!(response.status, 200);
        assert_eq!(response.json_body()["revoked"], false);
        let cleared: Vec<&str> = response
            .headers
            .iter()
            .filter(|(k, v)| k == "set-cookie" && v.contains("Max-Age=0"))
            .map(|(_, v)| v.as_str())
            .collect();
        assert!(cleared.iter().any(|c| c.starts_with("__Host-session=;")));
        assert!(cleared.iter().any(|c| c.starts_with("__Host-deploy=;")));
        assert_eq!(
            run(app.handle(get("/api/deploy/session", &session_cookie))).status,
            404,
            "signed out here even when Google did not confirm"
        );
    }
}
