//! GitHub in the simulator: the REST API (api.github.com) and the few github.com pages a
//! GitHub App's installation and user authorization go through, under GitHub's own paths
//! on the simulator's one port (they do not collide with Google's). Errors come in
//! GitHub's format, `{"message", "documentation_url", "status"}`.
//!
//! Who may call what follows GitHub's three credentials: the App's RS256 JWT (App
//! endpoints only), installation tokens `ghs_` (narrowed to some repositories and
//! permissions, one hour), and the App's user tokens `ghu_` (the user, within what the
//! App may do and the repositories its installation covers).

pub mod actions_oidc;
pub mod admin;
pub mod app;
pub mod branches;
pub mod pulls;
pub mod repos;
pub mod state;

use crate::clock::now_ms;
use crate::http::{json, Req};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};
use state::{GitHub, Grant, Repo};

pub use state::GitHub as State;

/// A GitHub API error.
#[derive(Debug, Clone)]
pub struct GhError {
    pub status: u16,
    pub body: Value,
}

pub type GhResult = Result<Response, GhError>;

const DOCS: &str = "https://docs.github.com/rest";

impl GhError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            body: json!({
                "message": message.into(),
                "documentation_url": DOCS,
                "status": status.to_string(),
            }),
        }
    }

    /// 422 `Validation Failed` with GitHub's `errors` list.
    pub fn validation(resource: &str, field: &str, code: &str, message: Option<&str>) -> Self {
        let mut item = json!({ "resource": resource, "field": field, "code": code });
        if let Some(m) = message {
            item["message"] = json!(m);
        }
        let mut e = Self::new(422, "Validation Failed");
        e.body["errors"] = json!([item]);
        e
    }

    /// A required text field of `resource` left empty or blank.
    pub fn missing_field(resource: &str, field: &str) -> Self {
        Self::validation(resource, field, "missing_field", None)
    }

    pub fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        json(status, &self.body)
    }
}

pub fn not_found() -> GhError {
    GhError::new(404, "Not Found")
}

pub fn bad_credentials() -> GhError {
    GhError::new(401, "Bad credentials")
}

pub fn not_accessible() -> GhError {
    GhError::new(403, "Resource not accessible by integration")
}

pub fn problems_parsing() -> GhError {
    GhError::new(400, "Problems parsing JSON")
}

/// A JSON body, or GitHub's 400.
pub fn body<T: serde::de::DeserializeOwned>(req: &Req) -> Result<T, GhError> {
    serde_json::from_slice(&req.body).map_err(|_| problems_parsing())
}

/// A JSON answer with GitHub's headers.
pub fn reply(status: StatusCode, body: &Value) -> Response {
    let mut r = json(status, body);
    r.headers_mut().insert(
        "x-github-api-version-selected",
        HeaderValue::from_static("2022-11-28"),
    );
    r
}

pub fn no_content() -> Response {
    let mut r = Response::new(axum::body::Body::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    r
}

/// Who is calling.
#[derive(Debug, Clone)]
pub enum Caller {
    /// The App itself, with a valid JWT.
    App(u64),
    Token(Grant),
}

/// The `Authorization` credential: `Bearer X` or `token X`.
fn credential(req: &Req) -> Option<&str> {
    let value = req.header("authorization")?;
    let (scheme, cred) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token"))
        .then(|| cred.trim())
        .filter(|c| !c.is_empty())
}

/// The caller, or GitHub's 401. `None` when no credential was sent.
pub fn caller(gh: &GitHub, req: &Req) -> Result<Option<Caller>, GhError> {
    let Some(cred) = credential(req) else {
        return Ok(None);
    };
    if cred.split('.').count() == 3 {
        return app::verify_jwt(gh, cred).map(|id| Some(Caller::App(id)));
    }
    match gh.tokens.get(cred) {
        Some(t) if t.expires_ms > now_ms() => Ok(Some(Caller::Token(t.grant.clone()))),
        _ => Err(bad_credentials()),
    }
}

/// A caller that must be present.
pub fn required(gh: &GitHub, req: &Req) -> Result<Caller, GhError> {
    caller(gh, req)?.ok_or_else(|| GhError::new(401, "Requires authentication"))
}

/// The id of the repository `owner/name` that a signed-in caller may write with
/// `permission`.
pub fn writable_repo(
    gh: &GitHub,
    req: &Req,
    owner: &str,
    name: &str,
    permission: &str,
) -> Result<u64, GhError> {
    let who = required(gh, req)?;
    Ok(repo_for(gh, Some(&who), owner, name, permission, "write")?.id)
}

/// `write` satisfies `read`; `admin` satisfies both.
fn level_ok(granted: &str, needed: &str) -> bool {
    let rank = |l: &str| match l {
        "read" => 1,
        "write" => 2,
        "admin" => 3,
        _ => 0,
    };
    rank(granted) >= rank(needed) && rank(needed) > 0
}

/// The repository `owner/name` if the caller may use `permission` at `level` on it:
/// 404 when it cannot see it (GitHub hides what a caller may not read), 403 when it can
/// see it but lacks the permission. Public repositories can be read by anyone.
pub fn repo_for<'g>(
    gh: &'g GitHub,
    caller: Option<&Caller>,
    owner: &str,
    name: &str,
    permission: &str,
    level: &str,
) -> Result<&'g Repo, GhError> {
    let repo = gh.repo_by_name(owner, name).ok_or_else(not_found)?;
    let public_read = !repo.private && level == "read" && permission != "secrets";
    let allowed: Result<(), GhError> = match caller {
        None | Some(Caller::App(_)) => Err(if repo.private {
            not_found()
        } else {
            not_accessible()
        }),
        Some(Caller::Token(Grant::Installation {
            installation,
            repositories,
            permissions,
        })) => {
            let inst = gh.installation(*installation).ok_or_else(bad_credentials)?;
            let reaches = inst.covers(repo)
                && repositories
                    .as_ref()
                    .is_none_or(|ids| ids.contains(&repo.id));
            if !reaches {
                Err(if repo.private {
                    not_found()
                } else {
                    not_accessible()
                })
            } else if permissions
                .get(permission)
                .is_some_and(|g| level_ok(g, level))
            {
                Ok(())
            } else {
                Err(not_accessible())
            }
        }
        Some(Caller::Token(Grant::User { app_id, user })) => {
            let app = gh.app(*app_id).ok_or_else(bad_credentials)?;
            let installed = gh
                .installations
                .iter()
                .any(|i| i.app_id == *app_id && i.account == *user && i.covers(repo));
            if !(installed && repo.owner == *user) {
                Err(if repo.private {
                    not_found()
                } else {
                    not_accessible()
                })
            } else if app
                .permissions
                .get(permission)
                .is_some_and(|g| level_ok(g, level))
            {
                Ok(())
            } else {
                Err(not_accessible())
            }
        }
    };
    match allowed {
        Ok(()) => Ok(repo),
        Err(_) if public_read => Ok(repo),
        Err(e) => Err(e),
    }
}

/// An injected fault on a GitHub counter, in GitHub's format unless a body was given.
pub fn fault_response(status: u16, body: Option<Value>) -> Response {
    let mut e = GhError::new(status, fault_message(status));
    if let Some(b) = body {
        e.body = b;
    }
    e.into_response()
}

fn fault_message(status: u16) -> &'static str {
    match status {
        401 => "Bad credentials",
        403 => "API rate limit exceeded",
        404 => "Not Found",
        422 => "Validation Failed",
        502 => "Server Error",
        503 => "Service Unavailable",
        _ => "Server Error",
    }
}
