//! Clients for the Google APIs the Worker calls, and the one place where Google's
//! failures become messages a person can act on.
//!
//! - [`oauth`]: consent URL, code exchange (PKCE), userinfo, revoke.
//! - [`crm`]: Cloud Resource Manager v3 (list and create projects).
//! - [`serviceusage`]: enabling the Compute Engine API.
//! - [`identity`]: verifying a VM's instance identity token (Google-signed JWT).
//! - [`iam`]: GitHub mode's Workload Identity pool and provider, service accounts, grants.
//! - [`longrunning`]: the operations Resource Manager and Service Usage return.
//! - [`storage`]: GitHub mode's cache bucket and its IAM policy.
//! - [`compute`]: instances, zone operations, guest attributes, metadata, serial output.

pub mod compute;
pub mod crm;
pub mod iam;
pub mod identity;
pub mod longrunning;
pub mod oauth;
pub mod serviceusage;
pub mod storage;

use crate::config::Config;
use crate::error::{Action, ApiError};
use crate::http::{OutboundRequest, OutboundResponse};
use crate::ports::HttpClient;
use claw_free_protocol::google::ApiError as GoogleErrorBody;
use serde::de::DeserializeOwned;
use std::fmt;

/// A Google OAuth access token. Its `Debug` never shows it; it is only ever written
/// to KV sealed.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    pub fn new(token: String) -> Self {
        Self(token)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(..)")
    }
}

/// Why a Google call failed, in terms of what the person (or the Worker) can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GoogleFailure {
    /// 429, 5xx or no answer: retry later; state is kept.
    Transient(String),
    /// 401: the access token expired or was revoked.
    Unauthenticated,
    /// 403: the sign-in did not grant the scope this call needs.
    ScopeInsufficient,
    /// The Compute Engine API is not enabled in the project.
    ServiceDisabled {
        activation_url: Option<String>,
    },
    /// The project has no billing account.
    BillingDisabled {
        project: Option<String>,
    },
    PermissionDenied(String),
    QuotaExceeded(String),
    /// No e2-micro capacity left in the zone.
    ZoneExhausted,
    NotFound(String),
    AlreadyExists,
    /// 412: the metadata fingerprint changed under us.
    FingerprintMismatch,
    Invalid(String),
    Other {
        status: u16,
        message: String,
    },
}

impl GoogleFailure {
    /// Classifies an unsuccessful response.
    pub fn from_response(response: &OutboundResponse) -> Self {
        let body = response.text();
        let parsed = GoogleErrorBody::parse(&body);
        let message = parsed
            .as_ref()
            .map(|e| sanitize(&e.error.message))
            .unwrap_or_else(|| format!("Google answered HTTP {}", response.status));
        let reason = parsed.as_ref().and_then(|e| e.reason()).unwrap_or("");
        match (response.status, reason) {
            (_, "SERVICE_DISABLED" | "accessNotConfigured") => Self::ServiceDisabled {
                activation_url: parsed
                    .as_ref()
                    .and_then(|e| e.info_metadata("activationUrl"))
                    .filter(|u| u.starts_with("https://"))
                    .map(str::to_string),
            },
            (_, "UREQ_PROJECT_BILLING_NOT_FOUND" | "BILLING_DISABLED" | "billingNotEnabled") => {
                Self::BillingDisabled { project: None }
            }
            (_, "ZONE_RESOURCE_POOL_EXHAUSTED" | "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS") => {
                Self::ZoneExhausted
            }
            (
                _,
                "quotaExceeded" | "QUOTA_EXCEEDED" | "RATE_LIMIT_EXCEEDED" | "rateLimitExceeded",
            ) if response.status != 429 => Self::QuotaExceeded(message),
            (_, "ACCESS_TOKEN_SCOPE_INSUFFICIENT" | "insufficientPermissions") => {
                Self::ScopeInsufficient
            }
            (401, _) => Self::Unauthenticated,
            (403, _) => Self::PermissionDenied(message),
            (404, _) => Self::NotFound(message),
            (409, _) => Self::AlreadyExists,
            (412, _) => Self::FingerprintMismatch,
            (400, _) => Self::Invalid(message),
            (429, _) | (500..=599, _) => Self::Transient(message),
            (status, _) => Self::Other { status, message },
        }
    }

    /// Classifies the error of a Compute operation that finished unsuccessfully.
    pub fn from_operation(error: &claw_free_protocol::google::OperationError) -> Self {
        let first = error.errors.first();
        let code = first.map(|e| e.code.as_str()).unwrap_or("");
        let message = first.map(|e| sanitize(&e.message)).unwrap_or_default();
        match code {
            "ZONE_RESOURCE_POOL_EXHAUSTED" | "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS" => {
                Self::ZoneExhausted
            }
            "QUOTA_EXCEEDED" => Self::QuotaExceeded(message),
            "PERMISSIONS_ERROR" | "PERMISSION_DENIED" => Self::PermissionDenied(message),
            "RESOURCE_ALREADY_EXISTS" | "ALREADY_EXISTS" => Self::AlreadyExists,
            "BILLING_DISABLED" | "BILLING_NOT_ENABLED" => Self::BillingDisabled { project: None },
            _ => Self::Other {
                status: 500,
                message,
            },
        }
    }

    /// An answer that is not what Google documents.
    fn unreadable() -> Self {
        Self::Other {
            status: 502,
            message: "Google sent an answer claw.free could not read.".into(),
        }
    }

    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }

    /// The message and the helpful link a person sees.
    pub fn explain(&self, config: &Config, project: Option<&str>) -> (u16, String, Option<Action>) {
        let console = |path: &str| {
            let project = project
                .map(|p| format!("?project={}", crate::http::encode(p)))
                .unwrap_or_default();
            format!("{}/{path}{project}", config.endpoints.console_url)
        };
        match self {
            Self::Transient(_) => (
                503,
                "Google Cloud is busy or unreachable right now. Please try again in a minute.".into(),
                None,
            ),
            Self::Unauthenticated => (
                401,
                "Your Google sign-in has expired. Sign in again to continue.".into(),
                Some(Action { label: "Sign in again".into(), url: "/".into() }),
            ),
            Self::ScopeInsufficient => (
                403,
                "Your Google sign-in does not let claw.free do this. Sign in again and allow what claw.free asks for.".into(),
                Some(Action { label: "Sign in again".into(), url: "/".into() }),
            ),
            Self::ServiceDisabled { activation_url } => (
                403,
                "The Compute Engine API is not enabled in this project. Enable it, wait a minute, then try again.".into(),
                Some(Action {
                    label: "Enable the Compute Engine API".into(),
                    url: activation_url
                        .clone()
                        .unwrap_or_else(|| console("apis/library/compute.googleapis.com")),
                }),
            ),
            Self::BillingDisabled { .. } => (
                403,
                "This project has no billing account. The e2-micro is free, but Google requires billing to be enabled. Link a billing account, then try again.".into(),
                Some(Action { label: "Open billing".into(), url: console("billing/linkedaccount") }),
            ),
            Self::PermissionDenied(detail) => (
                403,
                format!("Your Google account is not allowed to do this in this project. Ask its owner for the Editor role. (Google said: {detail})"),
                Some(Action { label: "Open IAM".into(), url: console("iam-admin/iam") }),
            ),
            Self::QuotaExceeded(detail) => (
                429,
                format!("This project has reached a Google Cloud quota. Free a resource or request more quota, then try again. (Google said: {detail})"),
                Some(Action { label: "Open quotas".into(), url: console("iam-admin/quotas") }),
            ),
            Self::ZoneExhausted => (
                503,
                "Google has no free e2-micro capacity left in this region right now. Try another region, or again later.".into(),
                None,
            ),
            Self::NotFound(_) => (404, "Google could not find that resource. It may have been deleted.".into(), None),
            Self::AlreadyExists => (409, "That name is already taken. Try another.".into(), None),
            Self::FingerprintMismatch => (
                409,
                "The VM's settings changed at the same moment. Please try again.".into(),
                None,
            ),
            Self::Invalid(detail) => (400, format!("Google refused the request: {detail}"), None),
            Self::Other { message, .. } => (502, format!("Google Cloud reported a problem: {message}"), None),
        }
    }

    pub fn into_api_error(self, config: &Config, project: Option<&str>) -> ApiError {
        let (status, message, action) = self.explain(config, project);
        ApiError::Google {
            status,
            message,
            action,
        }
    }
}

/// Google's texts are shown to people: keep them short, on one line, and free of
/// anything shaped like a credential (an access token, a Telegram token).
pub fn sanitize(message: &str) -> String {
    let words: Vec<String> = message
        .split_whitespace()
        .map(|word| {
            let looks_like_token = word.contains("ya29.")
                || word.starts_with("Bearer")
                || word.split_once(':').is_some_and(|(id, secret)| {
                    id.len() >= 5 && id.bytes().all(|b| b.is_ascii_digit()) && secret.len() >= 30
                })
                || (word.len() >= 40
                    && word
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
            if looks_like_token {
                "[redacted]".to_string()
            } else {
                word.to_string()
            }
        })
        .collect();
    claw_free_protocol::guest::clean_reason(&words.join(" "))
}

/// Sends `request` and parses a successful JSON answer, or classifies the failure.
pub async fn call<T: DeserializeOwned>(
    http: &impl HttpClient,
    request: OutboundRequest,
) -> Result<T, GoogleFailure> {
    let response = http
        .send(request)
        .await
        .map_err(|_| GoogleFailure::Transient("no answer".into()))?;
    if !response.is_success() {
        return Err(GoogleFailure::from_response(&response));
    }
    let body = if response.body.is_empty() {
        b"{}".as_slice()
    } else {
        &response.body
    };
    serde_json::from_slice(body).map_err(|_| GoogleFailure::unreadable())
}

/// A caller's way to Google with one person's access token: every request it sends
/// carries the token as its bearer.
pub struct Bearer<'a, H> {
    http: &'a H,
    token: &'a AccessToken,
}

// Derived `Clone` and `Copy` would ask the same of `H`; the handle holds references only.
impl<H> Clone for Bearer<'_, H> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<H> Copy for Bearer<'_, H> {}

impl<'a, H: HttpClient> Bearer<'a, H> {
    pub fn new(http: &'a H, token: &'a AccessToken) -> Self {
        Self { http, token }
    }

    /// Sends `request` with the token, and parses the answer (see [`call`]).
    async fn send<T: DeserializeOwned>(
        &self,
        request: OutboundRequest,
    ) -> Result<T, GoogleFailure> {
        call(self.http, request.bearer(self.token.expose())).await
    }

    /// `GET url`.
    async fn get_json<T: DeserializeOwned>(&self, url: String) -> Result<T, GoogleFailure> {
        self.send(OutboundRequest::get(url)).await
    }

    /// `POST url` of a JSON `body`.
    async fn post_json<T: DeserializeOwned>(
        &self,
        url: String,
        body: &serde_json::Value,
    ) -> Result<T, GoogleFailure> {
        self.send(OutboundRequest::post_json(url, body)).await
    }

    /// Reads Google's paged list at `url` (which has a query already), page by page and
    /// at most `pages` pages: `take` keeps what a page holds and gives its
    /// `nextPageToken`, or none to end the list early.
    async fn paged<T: DeserializeOwned>(
        &self,
        url: &str,
        pages: usize,
        mut take: impl FnMut(T) -> Option<String>,
    ) -> Result<(), GoogleFailure> {
        let mut next: Option<String> = None;
        for _ in 0..pages {
            let page_url = match &next {
                Some(page) => format!("{url}&pageToken={}", crate::http::encode(page)),
                None => url.to_string(),
            };
            next = take(self.get_json(page_url).await?).filter(|t| !t.is_empty());
            if next.is_none() {
                break;
            }
        }
        Ok(())
    }
}

/// A caller's way to the Google APIs of [`Config`]'s endpoints, with one person's
/// access token: `google.compute().get(&instance)`, `google.crm().active_projects()`,
/// ... Each API's module owns its URLs and its calls.
pub struct Google<'a, H> {
    bearer: Bearer<'a, H>,
    config: &'a Config,
}

impl<H> Clone for Google<'_, H> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<H> Copy for Google<'_, H> {}

impl<'a, H: HttpClient> Google<'a, H> {
    pub fn new(http: &'a H, config: &'a Config, token: &'a AccessToken) -> Self {
        Self {
            bearer: Bearer::new(http, token),
            config,
        }
    }

    /// The same token, for the APIs whose endpoints are not in [`Config`] (linking's).
    pub fn bearer(&self) -> Bearer<'a, H> {
        self.bearer
    }

    pub fn compute(self) -> compute::Compute<'a, H> {
        compute::Compute(self)
    }

    pub fn crm(self) -> crm::Crm<'a, H> {
        crm::Crm(self)
    }

    pub fn serviceusage(self) -> serviceusage::ServiceUsage<'a, H> {
        serviceusage::ServiceUsage(self)
    }

    pub fn oauth(self) -> oauth::OAuth<'a, H> {
        oauth::OAuth(self)
    }
}

#[cfg(test)]
mod tests;
