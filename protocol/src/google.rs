//! Google's JSON error envelopes, as Google's APIs return them.
//!
//! The simulator builds them with [`ApiError::new`] and its helpers; the Worker
//! parses them with [`ApiError::parse`] to turn them into messages a person can act on.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The envelope of a Google API error (Cloud APIs and Compute alike):
/// `{"error": {"code", "message", "status", "errors", "details"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    pub error: ApiErrorBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiErrorBody {
    pub code: u16,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The older per-error list (`domain`, `reason`, `message`); Compute still sends it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<LegacyError>,
    /// Typed details; an `ErrorInfo` carries the machine-readable `reason`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegacyError {
    pub message: String,
    #[serde(default)]
    pub domain: String,
    #[serde(default)]
    pub reason: String,
}

/// The `@type` of the detail that carries `reason`, `domain` and `metadata`.
pub const ERROR_INFO_TYPE: &str = "type.googleapis.com/google.rpc.ErrorInfo";

/// The canonical status name Google pairs with an HTTP code.
pub fn status_for_code(code: u16) -> &'static str {
    match code {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ALREADY_EXISTS",
        412 => "FAILED_PRECONDITION",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ if code >= 500 => "INTERNAL",
        _ => "UNKNOWN",
    }
}

impl ApiError {
    /// An error with the canonical status for `code` and a legacy `errors` entry.
    pub fn new(code: u16, reason: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            error: ApiErrorBody {
                code,
                status: Some(status_for_code(code).to_string()),
                errors: vec![LegacyError {
                    message: message.clone(),
                    domain: "global".to_string(),
                    reason: reason.to_string(),
                }],
                details: Vec::new(),
                message,
            },
        }
    }

    /// Overrides the canonical status (Google sends FAILED_PRECONDITION with 400, for example).
    pub fn with_status(mut self, status: &str) -> Self {
        self.error.status = Some(status.to_string());
        self
    }

    /// Adds an `ErrorInfo` detail.
    pub fn with_error_info(mut self, reason: &str, domain: &str, metadata: Value) -> Self {
        self.error.details.push(json!({
            "@type": ERROR_INFO_TYPE,
            "reason": reason,
            "domain": domain,
            "metadata": metadata,
        }));
        self
    }

    /// Google's answer when the Compute Engine API is not enabled in a project.
    pub fn service_disabled(project_number: &str, service: &str) -> Self {
        let activation_url = format!(
            "https://console.developers.google.com/apis/api/{service}/overview?project={project_number}"
        );
        let title = match service {
            "compute.googleapis.com" => "Compute Engine API",
            other => other,
        };
        Self::new(
            403,
            "accessNotConfigured",
            format!(
                "{title} has not been used in project {project_number} before or it is disabled. \
                 Enable it by visiting {activation_url} then retry. If you enabled this API recently, \
                 wait a few minutes for the action to propagate to our systems and retry."
            ),
        )
        .with_error_info(
            "SERVICE_DISABLED",
            "googleapis.com",
            json!({
                "service": service,
                "consumer": format!("projects/{project_number}"),
                "activationUrl": activation_url,
                "serviceTitle": title,
                "containerInfo": project_number,
            }),
        )
    }

    /// Parses an error body; `None` when it is not Google's envelope.
    pub fn parse(body: &str) -> Option<Self> {
        serde_json::from_str(body).ok()
    }

    /// The machine-readable reason: the `ErrorInfo` detail's, else the first legacy one's.
    pub fn reason(&self) -> Option<&str> {
        self.error_info()
            .and_then(|info| info.get("reason")?.as_str())
            .or_else(|| {
                self.error
                    .errors
                    .first()
                    .map(|e| e.reason.as_str())
                    .filter(|r| !r.is_empty())
            })
    }

    /// A metadata entry of the `ErrorInfo` detail (`activationUrl`, `service`, ...).
    pub fn info_metadata(&self, key: &str) -> Option<&str> {
        self.error_info()?.get("metadata")?.get(key)?.as_str()
    }

    fn error_info(&self) -> Option<&Value> {
        self.error
            .details
            .iter()
            .find(|d| d.get("@type").and_then(Value::as_str) == Some(ERROR_INFO_TYPE))
    }
}

/// An OAuth endpoint's error (`/token`, `/revoke`): `{"error", "error_description"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OAuthError {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

/// The `error` of a Compute operation that finished unsuccessfully.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationError {
    pub errors: Vec<OperationErrorItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationErrorItem {
    /// `ZONE_RESOURCE_POOL_EXHAUSTED`, `QUOTA_EXCEEDED`, ...
    pub code: String,
    #[serde(default)]
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_disabled_round_trips_with_its_reason_and_link() {
        let err = ApiError::service_disabled("123", "compute.googleapis.com");
        let parsed = ApiError::parse(&serde_json::to_string(&err).unwrap()).unwrap();
        assert_eq!(parsed.error.code, 403);
        assert_eq!(parsed.error.status.as_deref(), Some("PERMISSION_DENIED"));
        assert_eq!(parsed.reason(), Some("SERVICE_DISABLED"));
        assert_eq!(
            parsed.info_metadata("activationUrl"),
            Some("https://console.developers.google.com/apis/api/compute.googleapis.com/overview?project=123")
        );
    }

    #[test]
    fn reason_falls_back_to_the_legacy_list() {
        let err = ApiError::new(409, "alreadyExists", "The resource already exists");
        assert_eq!(err.reason(), Some("alreadyExists"));
        assert_eq!(err.error.status.as_deref(), Some("ALREADY_EXISTS"));
        assert!(ApiError::parse("<html>").is_none());
    }
}
