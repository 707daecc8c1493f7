//! Google's error answers, built from `claw_free_protocol::google` so the Worker parses
//! exactly what the simulator writes. Each helper is one kind of answer Google gives.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use claw_free_protocol::google::{ApiError, OAuthError};
use serde_json::json;

/// A Google API error (Cloud APIs and Compute) ready to be sent.
#[derive(Debug, Clone)]
pub struct GoogleError {
    pub body: ApiError,
    /// `WWW-Authenticate`, which Google adds to every 401.
    pub www_authenticate: Option<&'static str>,
}

impl From<ApiError> for GoogleError {
    fn from(body: ApiError) -> Self {
        Self {
            body,
            www_authenticate: None,
        }
    }
}

impl IntoResponse for GoogleError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.body.error.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = crate::http::json(status, &self.body);
        if let Some(value) = self.www_authenticate {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(value));
        }
        response
    }
}

pub type ApiResult = Result<Response, GoogleError>;

/// 400 `invalid`: a field of the request is wrong.
pub fn invalid(message: impl Into<String>) -> GoogleError {
    ApiError::new(400, "invalid", message).into()
}

/// 400 for a body that is not JSON or has a field the API does not know.
pub fn bad_json(message: impl Into<String>) -> GoogleError {
    ApiError::new(
        400,
        "invalid",
        format!("Invalid JSON payload received. {}", message.into()),
    )
    .into()
}

/// 404 as Compute words it.
pub fn not_found(resource: &str) -> GoogleError {
    ApiError::new(
        404,
        "notFound",
        format!("The resource '{resource}' was not found"),
    )
    .into()
}

/// 409 `alreadyExists` as Compute words it.
pub fn already_exists(resource: &str) -> GoogleError {
    ApiError::new(
        409,
        "alreadyExists",
        format!("The resource '{resource}' already exists"),
    )
    .into()
}

/// 403 for a caller that is not an owner of the project.
pub fn permission_denied(permission: &str, resource: &str) -> GoogleError {
    ApiError::new(
        403,
        "forbidden",
        format!("Required '{permission}' permission for '{resource}'"),
    )
    .with_error_info(
        "IAM_PERMISSION_DENIED",
        "iam.googleapis.com",
        json!({ "permission": permission, "resource": resource }),
    )
    .into()
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    Missing,
    Expired,
    Unknown,
    InsufficientScope,
}

/// Google's message for a token it cannot use, expired or of an unknown kind.
const INVALID_CREDENTIALS: &str =
    "Request had invalid authentication credentials. Expected OAuth 2 access token, \
     login cookie or other valid authentication credential. \
     See https://developers.google.com/identity/sign-in/web/devconsole-project.";

/// Google's 401 (or 403 for a token without the needed scope) on a Cloud API.
pub fn unauthenticated(problem: TokenProblem, service: &str) -> GoogleError {
    let (code, legacy, reason, message) = match problem {
        TokenProblem::Missing => (
            401,
            "required",
            "CREDENTIALS_MISSING",
            "Request is missing required authentication credential. Expected OAuth 2 access token, \
             login cookie or other valid authentication credential. \
             See https://developers.google.com/identity/sign-in/web/devconsole-project.",
        ),
        TokenProblem::Expired => (
            401,
            "authError",
            "ACCESS_TOKEN_EXPIRED",
            INVALID_CREDENTIALS,
        ),
        TokenProblem::Unknown => (
            401,
            "authError",
            "ACCESS_TOKEN_TYPE_UNSUPPORTED",
            INVALID_CREDENTIALS,
        ),
        TokenProblem::InsufficientScope => (
            403,
            "insufficientPermissions",
            "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
            "Request had insufficient authentication scopes.",
        ),
    };
    let body = ApiError::new(code, legacy, message).with_error_info(
        reason,
        "googleapis.com",
        json!({ "service": service }),
    );
    GoogleError {
        body,
        www_authenticate: match problem {
            TokenProblem::InsufficientScope => {
                Some("Bearer realm=\"https://accounts.google.com/\", error=\"insufficient_scope\"")
            }
            _ => Some("Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\""),
        },
    }
}

/// An OAuth endpoint's error (`/token`, `/revoke`, userinfo).
pub fn oauth(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response = crate::http::json(
        status,
        &OAuthError {
            error: error.to_string(),
            error_description: Some(description.to_string()),
        },
    );
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(
                "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\"",
            ),
        );
    }
    response
}

/// Parameters every Google API accepts on every method.
const STANDARD_PARAMS: &[&str] = &[
    "$.xgafv",
    "access_token",
    "alt",
    "callback",
    "fields",
    "key",
    "oauth_token",
    "prettyPrint",
    "quotaUser",
    "upload_protocol",
    "uploadType",
    "userIp",
];

/// Refuses query parameters the method does not know, in Google's words.
pub fn check_params(req: &crate::http::Req, known: &[&str]) -> Result<(), GoogleError> {
    let mut allowed: Vec<&str> = STANDARD_PARAMS.to_vec();
    allowed.extend_from_slice(known);
    match req.unknown_params(&allowed).first() {
        None => Ok(()),
        Some(name) => Err(bad_json(format!(
            "Unknown name {name:?}: Cannot bind query parameter. Field {name:?} could not be found in request message."
        ))),
    }
}
