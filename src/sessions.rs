//! Sessions: who is signed in, their projects and wizard choices, and their Google
//! access token sealed for KV.
//!
//! The `__Host-session` cookie holds a random 128-bit secret; KV holds the record under the
//! secret's SHA-256 (`session:<digest>`), for [`SESSION_TTL`] seconds. The token is
//! sealed with the owner's `sub` as context, so it opens only inside its own record.

use crate::app::App;
use crate::crypto::{self, Sealed};
use crate::error::ApiError;
use crate::google::crm::ProjectSummary;
use crate::google::oauth::GoogleUser;
use crate::google::AccessToken;
use crate::http::Request;
use crate::ports::Platform;
use crate::store::{self, Key, SESSION_TTL};
use crate::types::Choices;
use serde::{Deserialize, Serialize};

use crate::cookies;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionRecord {
    pub user: GoogleUser,
    pub projects: Vec<ProjectSummary>,
    pub choices: Choices,
    pub token: Sealed,
    /// Unix seconds when Google's token (and so this session) stops working.
    pub expires_at: u64,
    pub created_at: u64,
}

/// A signed-in session with its token opened.
#[derive(Debug, Clone)]
pub struct Session {
    digest: String,
    pub record: SessionRecord,
    pub token: AccessToken,
}

fn token_context(sub: &str) -> String {
    format!("session:{sub}")
}

impl Session {
    /// Where the owner's deploys and limits are keyed.
    pub fn owner(&self) -> &str {
        &self.record.user.sub
    }

    /// Whether `project` is among the Google Cloud projects the session may act in.
    pub fn has_project(&self, project: &str) -> bool {
        self.record.projects.iter().any(|p| p.project_id == project)
    }

    /// A stable, non-secret id for per-session limits.
    pub fn limit_subject(&self) -> &str {
        &self.digest
    }

    /// The token sealed for another record (a deploy) whose context is `context`.
    pub fn reseal_token<P: Platform>(
        &self,
        app: &App<'_, P>,
        context: &str,
    ) -> Result<Sealed, ApiError> {
        Ok(crypto::seal(
            &app.config.sealing_key,
            app.platform,
            context,
            self.token.expose(),
        )?)
    }

    /// Seconds this session has left.
    pub fn remaining_secs(&self, now: u64) -> u64 {
        self.record.expires_at.saturating_sub(now)
    }
}

/// Stores a new session and returns the cookie secret.
pub async fn create<P: Platform>(
    app: &App<'_, P>,
    user: GoogleUser,
    projects: Vec<ProjectSummary>,
    choices: Choices,
    token: &AccessToken,
    token_lifetime: u64,
) -> Result<String, ApiError> {
    let secret = crypto::random_hex(app.platform, 16)?;
    let now = app.now();
    let lifetime = token_lifetime.clamp(60, SESSION_TTL);
    let record = SessionRecord {
        token: crypto::seal(
            &app.config.sealing_key,
            app.platform,
            &token_context(&user.sub),
            token.expose(),
        )?,
        user,
        projects,
        choices,
        expires_at: now + lifetime,
        created_at: now,
    };
    store::save(
        app.platform,
        &Key::Session(crypto::sha256_hex(&secret)),
        &record,
        lifetime,
    )
    .await?;
    Ok(secret)
}

/// The session cookie's secret, when it has the shape of one (a random 128-bit hex).
pub fn cookie_secret(request: &Request) -> Option<String> {
    request
        .cookie(cookies::SESSION)
        .filter(|s| crate::crypto::is_secret_shaped(s))
}

/// The caller's session: 401 without a cookie, 404 when it expired (the old frontend
/// tells these apart).
pub async fn require<P: Platform>(
    app: &App<'_, P>,
    request: &Request,
) -> Result<Session, ApiError> {
    let secret = cookie_secret(request)
        .ok_or_else(|| ApiError::Unauthorized("Sign in with Google first.".into()))?;
    resolve(app, &secret).await
}

/// The session a cookie secret names: 404 when it expired or never existed.
pub async fn resolve<P: Platform>(app: &App<'_, P>, secret: &str) -> Result<Session, ApiError> {
    let digest = crypto::sha256_hex(secret);
    let expired =
        || ApiError::NotFound("Your session has expired. Sign in with Google again.".into());
    let record: SessionRecord = store::load(app.platform, &Key::Session(digest.clone()))
        .await?
        .ok_or_else(expired)?;
    if record.expires_at <= app.now() {
        return Err(expired());
    }
    let token = crypto::open(
        &app.config.sealing_key,
        &token_context(&record.user.sub),
        &record.token,
    )
    .map_err(|_| expired())?;
    Ok(Session {
        digest,
        record,
        token: AccessToken::new(token),
    })
}

/// Writes a changed session back, keeping its original expiry.
pub async fn update<P: Platform>(app: &App<'_, P>, session: &Session) -> Result<(), ApiError> {
    let ttl = session.remaining_secs(app.now()).max(60);
    store::save(
        app.platform,
        &Key::Session(session.digest.clone()),
        &session.record,
        ttl,
    )
    .await?;
    Ok(())
}

pub async fn destroy<P: Platform>(app: &App<'_, P>, session: &Session) -> Result<(), ApiError> {
    store::remove(app.platform, &Key::Session(session.digest.clone())).await?;
    Ok(())
}

/// The `Set-Cookie` value for a session secret (`None` clears it).
pub fn cookie(secret: Option<&str>, max_age: u64) -> String {
    match secret {
        Some(secret) => cookies::set(cookies::SESSION, secret, max_age),
        None => cookies::clear(cookies::SESSION),
    }
}
