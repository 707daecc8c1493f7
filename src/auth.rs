//! Sign-in with Google (OAuth 2.0 authorization code with PKCE), sign-out, the
//! session's view for the page, and creating a project.
//!
//! A sign-in is bound to the browser that started it: the OAuth `state` is stored in
//! KV (as its SHA-256, with the PKCE verifier and the wizard's choices, for ten
//! minutes) and in a short-lived cookie; the callback needs both to match, and uses
//! the state once. Every failure of the callback sends the person back to the page
//! with a readable message and no session.

use crate::app::App;
use crate::crypto;
use crate::error::ApiError;
use crate::google::{crm, oauth, GoogleFailure};
use crate::http::{encode, Request, Response};
use crate::limits::{self, Scope};
use crate::ports::Platform;
use crate::security::json_body;
use crate::sessions::{self, Session};
use crate::store::{self, Key, SESSION_TTL, SIGNIN_TTL};
use crate::types::{Choices, ProjectDisplayName, ProjectId};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The cookie that binds a pending sign-in to this browser.
pub const STATE_COOKIE: &str = "signin_state";

/// What KV keeps between the redirect to Google and the callback.
#[derive(Debug, Serialize, Deserialize)]
struct PendingSignIn {
    verifier: String,
    choices: Choices,
    created_at: u64,
}

fn state_cookie<P: Platform>(app: &App<'_, P>, state: Option<&str>) -> String {
    let secure = if app.config.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    match state {
        Some(state) => format!("{STATE_COOKIE}={state}; HttpOnly{secure}; SameSite=Lax; Path=/api/auth; Max-Age={SIGNIN_TTL}"),
        None => format!("{STATE_COOKIE}=; HttpOnly{secure}; SameSite=Lax; Path=/api/auth; Max-Age=0"),
    }
}

/// `GET /api/auth/google?provider&channel&cloud[&region]`: to Google's consent page.
pub async fn start<P: Platform>(app: &App<'_, P>, request: &Request) -> Result<Response, ApiError> {
    let param = |name: &str| request.query_param(name);
    let choices = Choices::parse(
        param("provider").as_deref(),
        param("channel").as_deref(),
        param("cloud").as_deref(),
        param("region").as_deref(),
    )?;
    limits::take(
        app.platform,
        Scope::SignInPerIp,
        &request.client_ip,
        app.config.limits.signins_per_ip,
    )
    .await?;
    let state = crypto::random_token(app.platform, 32)?;
    let verifier = crypto::random_token(app.platform, 48)?;
    let pending = PendingSignIn {
        verifier: verifier.clone(),
        choices,
        created_at: app.now(),
    };
    store::save(
        app.platform,
        &Key::SignIn(crypto::sha256_hex(&state)),
        &pending,
        SIGNIN_TTL,
    )
    .await?;
    let url = oauth::consent_url(app.config, &state, &crypto::pkce_challenge(&verifier));
    Ok(Response::redirect(&url).with_header("set-cookie", state_cookie(app, Some(&state))))
}

/// `GET /api/auth/callback/google?code&state` (or `?error=access_denied&state`).
pub async fn callback<P: Platform>(
    app: &App<'_, P>,
    request: &Request,
) -> Result<Response, ApiError> {
    let clear_state = state_cookie(app, None);
    match finish_sign_in(app, request).await {
        Ok((secret, choices)) => Ok(Response::redirect(&format!("/?{}", choices.to_query()))
            .with_header(
                "set-cookie",
                sessions::cookie(app.config.secure_cookies(), Some(&secret), SESSION_TTL),
            )
            .with_header("set-cookie", clear_state)),
        Err(message) => Ok(
            Response::redirect(&format!("/?authError={}", encode(&message)))
                .with_header("set-cookie", clear_state),
        ),
    }
}

/// Checks the state, exchanges the code, and stores the session. The error is the
/// sentence the page shows.
async fn finish_sign_in<P: Platform>(
    app: &App<'_, P>,
    request: &Request,
) -> Result<(String, Choices), String> {
    let state = request.query_param("state").unwrap_or_default();
    let start_again = "This sign-in link has expired or was already used. Please sign in again.";
    if state.is_empty() || state.len() > 128 {
        return Err(start_again.into());
    }
    let state_key = Key::SignIn(crypto::sha256_hex(&state));
    let pending: Option<PendingSignIn> = store::load(app.platform, &state_key)
        .await
        .map_err(|_| busy())?;
    let bound = request
        .cookie(STATE_COOKIE)
        .is_some_and(|c| constant_time_eq(c.as_bytes(), state.as_bytes()));
    let Some(pending) = pending.filter(|_| bound) else {
        return Err(start_again.into());
    };
    // Used once, whatever happens next.
    store::remove(app.platform, &state_key)
        .await
        .map_err(|_| busy())?;
    if pending.created_at + SIGNIN_TTL < app.now() {
        return Err(start_again.into());
    }
    if let Some(error) = request.query_param("error") {
        return Err(match error.as_str() {
            "access_denied" => "You cancelled the Google sign-in. claw.free needs it to create your bot in your own Google Cloud project.".into(),
            _ => "Google could not complete the sign-in. Please try again.".into(),
        });
    }
    let code = request
        .query_param("code")
        .filter(|c| !c.is_empty() && c.len() <= 1024)
        .ok_or(start_again)?;
    let explain = |failure: GoogleFailure| failure.explain(app.config, None).1;
    let grant = oauth::exchange_code(app.platform, app.config, &code, &pending.verifier)
        .await
        .map_err(|f| match f {
            GoogleFailure::Invalid(_) => {
                "Google refused the sign-in code. Please sign in again.".to_string()
            }
            other => explain(other),
        })?;
    if !grant.has_cloud_scope {
        return Err("claw.free needs access to your Google Cloud projects to create your bot. Please sign in again and allow it.".into());
    }
    let user = oauth::userinfo(app.platform, app.config, &grant.access_token)
        .await
        .map_err(explain)?;
    let projects = crm::active_projects(app.platform, app.config, &grant.access_token)
        .await
        .map_err(explain)?;
    let secret = sessions::create(
        app,
        user,
        projects,
        pending.choices.clone(),
        &grant.access_token,
        grant.expires_in,
    )
    .await
    .map_err(|_| busy())?;
    Ok((secret, pending.choices))
}

fn busy() -> String {
    "A temporary problem on our side interrupted the sign-in. Please try again.".into()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Ends the session (if any): revokes the token, deletes the record, clears the cookie.
async fn end_session<P: Platform>(app: &App<'_, P>, request: &Request) -> Result<(), ApiError> {
    match sessions::require(app, request).await {
        Ok(session) => {
            oauth::revoke(app.platform, app.config, &session.token).await;
            sessions::destroy(app, &session).await
        }
        Err(ApiError::Unauthorized(_) | ApiError::NotFound(_)) => Ok(()),
        Err(other) => Err(other),
    }
}

/// `POST /api/auth/logout`.
pub async fn logout<P: Platform>(
    app: &App<'_, P>,
    request: &Request,
) -> Result<Response, ApiError> {
    end_session(app, request).await?;
    Ok(Response::json(200, &json!({"ok": true})).with_header(
        "set-cookie",
        sessions::cookie(app.config.secure_cookies(), None, 0),
    ))
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
    end_session(app, request).await?;
    Ok(Response::redirect("/").with_header(
        "set-cookie",
        sessions::cookie(app.config.secure_cookies(), None, 0),
    ))
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
            .find(|(k, v)| k == "set-cookie" && v.starts_with("session="))
            .unwrap();
        assert!(
            set.1.contains("HttpOnly")
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
            !kv.contains(session_cookie[0].trim_start_matches("session=")),
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
        let ok = run(app.handle(get(&callback, &state_cookie)));
        assert!(cookies(&ok).iter().any(|c| c.starts_with("session=")));
        let replay = run(app.handle(get(&callback, &state_cookie)));
        assert!(replay
            .header("location")
            .unwrap()
            .contains("authError=This+sign-in+link"));
        let forged = run(app.handle(get(
            "/api/auth/callback/google?code=good-code&state=forged",
            &["signin_state=forged".into()],
        )));
        assert!(forged
            .header("location")
            .unwrap()
            .starts_with("/?authError="));
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
        assert!(bad_code
            .header("location")
            .unwrap()
            .contains("authError=Google+refused"));
        assert!(!cookies(&bad_code).iter().any(|c| c.starts_with("session=")));
        let (state, state_cookie) = begin(&app);
        p.advance_secs(SIGNIN_TTL + 1);
        let late = run(app.handle(get(
            &format!("/api/auth/callback/google?code=good-code&state={state}"),
            &state_cookie,
        )));
        assert!(late.header("location").unwrap().starts_with("/?authError="));
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
        assert!(denied
            .header("location")
            .unwrap()
            .contains("authError=You+cancelled"));
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
        let (state, state_cookie) = begin(&app);
        let signed_in = run(app.handle(get(
            &format!("/api/auth/callback/google?code=good-code&state={state}"),
            &state_cookie,
        )));
        let session_cookie = cookies(&signed_in);
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
}
