//! Every way a request can fail, each with its status and a sentence a person can act
//! on. Handlers return `Result<Response, ApiError>`; the router turns the error into a
//! JSON `{error}` response, so nothing reachable from a request ends in a panic or an
//! opaque 500.

use crate::http::Response;
use crate::ports::PortError;
use serde::Serialize;

/// A link that helps a person fix the problem (enable an API, open billing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Action {
    pub label: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// 400: the request itself is wrong.
    BadRequest(String),
    /// 401: not signed in.
    Unauthorized(String),
    /// 403: signed in, not allowed (or a cross-site request).
    Forbidden(String),
    /// 404: nothing here for this caller.
    NotFound(String),
    /// 405.
    MethodNotAllowed,
    /// 409: not possible in the current state.
    Conflict(String),
    /// 413.
    PayloadTooLarge,
    /// 415.
    UnsupportedMediaType,
    /// 429, with the seconds until the window resets.
    RateLimited { retry_after: u64, message: String },
    /// Google refused or failed; the status and message are already made readable.
    Google {
        status: u16,
        message: String,
        action: Option<Action>,
    },
    /// 502/503: our platform (KV, network) failed; try again.
    Unavailable(String),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'a Action>,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }

    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::Unauthorized(_) => 401,
            Self::Forbidden(_) => 403,
            Self::NotFound(_) => 404,
            Self::MethodNotAllowed => 405,
            Self::Conflict(_) => 409,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::RateLimited { .. } => 429,
            Self::Google { status, .. } => *status,
            Self::Unavailable(_) => 503,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Self::BadRequest(m)
            | Self::Unauthorized(m)
            | Self::Forbidden(m)
            | Self::NotFound(m)
            | Self::Conflict(m)
            | Self::Unavailable(m) => m,
            Self::RateLimited { message, .. } | Self::Google { message, .. } => message,
            Self::MethodNotAllowed => "This method is not allowed here.",
            Self::PayloadTooLarge => "The request body is too large.",
            Self::UnsupportedMediaType => "Send the request body as application/json.",
        }
    }

    pub fn into_response(self) -> Response {
        let action = match &self {
            Self::Google { action, .. } => action.as_ref(),
            _ => None,
        };
        let response = Response::json(
            self.status(),
            &ErrorBody {
                error: self.message(),
                action,
            },
        );
        match self {
            Self::RateLimited { retry_after, .. } => {
                response.with_header("retry-after", retry_after.to_string())
            }
            _ => response,
        }
    }
}

impl From<PortError> for ApiError {
    fn from(_: PortError) -> Self {
        // The platform's own text may name keys or URLs: keep it out of responses.
        Self::Unavailable("A temporary problem on our side. Please try again in a moment.".into())
    }
}
