//! Security Token Service's token exchange (`POST sts.googleapis.com/v1/token`), the
//! first half of keyless CI: an OIDC ID token from GitHub Actions, checked against a
//! Workload Identity provider (the pool and provider enabled, the token signed by the
//! provider's issuer and unexpired, its audience one the provider allows, its claims
//! mapped and let in by the attribute condition), becomes a federated access token for
//! the principal it maps to. Errors in STS's OAuth format.
//!
//! A federated token is good only for IAM Credentials' `generateAccessToken` here (the
//! simulator does not model federated principals calling other APIs directly).

use super::condition::{allows, map_attributes};
use super::policy::Member;
use super::STS;
use crate::clock::{now_ms, random_token};
use crate::errors::{self, GoogleError};
use crate::github::actions_oidc::{self, Invalid};
use crate::http::{ok_json, Req};
use crate::Sim;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
const SUBJECT_TYPES: &[&str] = &[
    "urn:ietf:params:oauth:token-type:jwt",
    "urn:ietf:params:oauth:token-type:id_token",
];
/// How long a federated token lives.
const FEDERATED_TTL_SECS: u64 = 3600;

/// The identity a federated token stands for.
#[derive(Debug, Clone)]
pub struct Federated {
    pub project_number: String,
    pub pool: String,
    /// `google.subject`.
    pub subject: String,
    /// The mapped attributes (`attribute.repository_id`, ...).
    pub attributes: BTreeMap<String, String>,
    pub expires_ms: u64,
}

impl Federated {
    /// Whether an IAM member (`principal://…/subject/S`, `principalSet://…/attribute.A/V`
    /// or `…/*`) names this identity.
    pub fn is(&self, member: &Member) -> bool {
        match member {
            Member::Principal {
                project_number,
                pool,
                subject,
            } => {
                *project_number == self.project_number
                    && *pool == self.pool
                    && *subject == self.subject
            }
            Member::PrincipalSet {
                project_number,
                pool,
                selector,
            } => {
                *project_number == self.project_number
                    && *pool == self.pool
                    && (selector == "*"
                        || selector
                            .strip_prefix("attribute.")
                            .and_then(|s| s.split_once('/'))
                            .is_some_and(|(name, value)| {
                                self.attributes.get(&format!("attribute.{name}"))
                                    == Some(&value.to_string())
                            }))
            }
            _ => false,
        }
    }
}

/// The exchange request, as JSON (camelCase) or a form (RFC 8693's snake_case).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Exchange {
    #[serde(default, alias = "grant_type")]
    grant_type: String,
    #[serde(default)]
    audience: String,
    #[serde(default)]
    scope: String,
    #[serde(default, alias = "requested_token_type")]
    requested_token_type: String,
    #[serde(default, alias = "subject_token")]
    subject_token: String,
    #[serde(default, alias = "subject_token_type")]
    subject_token_type: String,
    #[serde(default)]
    options: Option<String>,
}

fn refuse(error: &str, description: impl Into<String>) -> Response {
    errors::oauth(StatusCode::BAD_REQUEST, error, &description.into())
}

/// `POST /v1/token`.
pub fn token(sim: &Sim, req: &Req) -> Response {
    let is_json = req
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json"));
    let parsed: Result<Exchange, String> = if is_json {
        serde_json::from_slice(&req.body).map_err(|e| e.to_string())
    } else {
        let fields: serde_json::Map<String, Value> = req
            .form()
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        serde_json::from_value(Value::Object(fields)).map_err(|e| e.to_string())
    };
    let x = match parsed {
        Ok(x) => x,
        Err(e) => return refuse("invalid_request", format!("Invalid request body: {e}")),
    };
    let _ = (&x.scope, &x.options);
    if x.grant_type != TOKEN_EXCHANGE {
        return refuse(
            "unsupported_grant_type",
            format!("Invalid value for \"grant_type\": {:?}.", x.grant_type),
        );
    }
    if x.requested_token_type != ACCESS_TOKEN {
        return refuse(
            "invalid_request",
            format!(
                "Invalid value for \"requested_token_type\": {:?}.",
                x.requested_token_type
            ),
        );
    }
    if !SUBJECT_TYPES.contains(&x.subject_token_type.as_str()) {
        return refuse(
            "invalid_request",
            format!(
                "Invalid value for \"subject_token_type\": {:?}.",
                x.subject_token_type
            ),
        );
    }
    match exchange(sim, &x) {
        Ok(answer) => ok_json(&answer),
        Err(Refusal::OAuth(error, description)) => refuse(error, description),
        Err(Refusal::Google(e)) => e.into_response(),
    }
}

enum Refusal {
    OAuth(&'static str, String),
    Google(GoogleError),
}

fn invalid_grant(description: impl Into<String>) -> Refusal {
    Refusal::OAuth("invalid_grant", description.into())
}

fn exchange(sim: &Sim, x: &Exchange) -> Result<Value, Refusal> {
    let invalid_target = || {
        Refusal::OAuth(
            "invalid_target",
            "The target service indicated by the \"audience\" parameters is invalid. This might either be because the pool or provider is disabled or deleted or because it doesn't exist.".into(),
        )
    };
    let name = x
        .audience
        .strip_prefix("//iam.googleapis.com/")
        .ok_or_else(invalid_target)?;
    let parts: Vec<&str> = name.split('/').collect();
    let ["projects", number, "locations", "global", "workloadIdentityPools", pool, "providers", provider_id] =
        parts.as_slice()
    else {
        return Err(invalid_target());
    };
    let mut world = sim.world();
    let project = world
        .projects
        .values()
        .find(|p| p.number == *number)
        .cloned()
        .ok_or_else(invalid_target)?;
    super::require_enabled(&world, &project, STS).map_err(Refusal::Google)?;
    let pool_on = world
        .iam
        .pools
        .get(&(project.project_id.clone(), pool.to_string()))
        .is_some_and(|p| !p.about.disabled);
    let provider = world
        .iam
        .providers
        .get(&(
            project.project_id.clone(),
            pool.to_string(),
            provider_id.to_string(),
        ))
        .filter(|p| pool_on && !p.about.disabled)
        .cloned()
        .ok_or_else(invalid_target)?;
    let claims = match actions_oidc::verify(&x.subject_token, now_ms() / 1000) {
        Ok(claims) => claims,
        Err(Invalid::Malformed) => return Err(invalid_grant("Unable to parse the ID Token.")),
        Err(Invalid::Signature) => return Err(invalid_grant("Invalid JWT signature.")),
        Err(Invalid::Expired) => return Err(invalid_grant("The ID Token has expired.")),
    };
    let issuer = claims["iss"].as_str().unwrap_or("");
    if issuer != provider.issuer_uri {
        return Err(invalid_grant(format!(
            "The issuer in ID Token {issuer} does not match the expected ones: {}.",
            provider.issuer_uri
        )));
    }
    let default_audience = format!("https://iam.googleapis.com/{name}");
    let expected: Vec<String> = if provider.allowed_audiences.is_empty() {
        vec![default_audience]
    } else {
        provider.allowed_audiences.clone()
    };
    let audiences: Vec<&str> = match &claims["aud"] {
        Value::String(a) => vec![a.as_str()],
        Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences.iter().any(|a| expected.iter().any(|e| e == a)) {
        return Err(invalid_grant(format!(
            "The audience in ID Token [{}] does not match the expected audience {}.",
            audiences.join(", "),
            expected.join(", ")
        )));
    }
    let attributes = map_attributes(&provider.attribute_mapping, &claims)
        .map_err(|e| Refusal::OAuth("invalid_request", e))?;
    let subject = attributes
        .get("google.subject")
        .cloned()
        .ok_or_else(|| invalid_grant("The mapped attribute google.subject is empty."))?;
    if let Some(condition) = &provider.attribute_condition {
        let allowed = allows(condition, &claims, &attributes)
            .map_err(|e| Refusal::OAuth("invalid_request", e))?;
        if !allowed {
            return Err(Refusal::OAuth(
                "unauthorized_client",
                "The given credential is rejected by the attribute condition.".into(),
            ));
        }
    }
    let token = format!("ya29.d.{}", random_token(48));
    world.iam.federated.insert(
        token.clone(),
        Federated {
            project_number: project.number.clone(),
            pool: pool.to_string(),
            subject,
            attributes,
            expires_ms: now_ms() + FEDERATED_TTL_SECS * 1000,
        },
    );
    Ok(json!({
        "access_token": token,
        "issued_token_type": ACCESS_TOKEN,
        "token_type": "Bearer",
        "expires_in": FEDERATED_TTL_SECS,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_principal_set_names_the_identities_whose_attribute_matches() {
        let who = Federated {
            project_number: "123".into(),
            pool: "claw-free".into(),
            subject: "repo:ada/bot:ref:refs/heads/main".into(),
            attributes: [("attribute.repository_id".to_string(), "42".to_string())].into(),
            expires_ms: 0,
        };
        let set = |tail: &str| {
            Member::parse(&format!(
                "principalSet://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/{tail}"
            ))
            .unwrap()
        };
        assert!(who.is(&set("claw-free/attribute.repository_id/42")));
        assert!(who.is(&set("claw-free/*")));
        assert!(!who.is(&set("claw-free/attribute.repository_id/43")));
        assert!(!who.is(&set("other-pool/attribute.repository_id/42")));
        assert!(!who.is(&set("claw-free/attribute.ref/42")));
    }
}
