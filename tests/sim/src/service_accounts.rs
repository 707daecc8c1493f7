//! Who is calling a Cloud API: a person (through the OAuth flow) or a service account
//! (a VM's, through its metadata server; CI's, through IAM Credentials after an STS
//! exchange). Service-account tokens live beside the people's in `World::access_tokens`,
//! their subject an IAM member `serviceAccount:EMAIL`.

use crate::clock::{now_ms, random_token};
use crate::errors::GoogleError;
use crate::http::Req;
use crate::oauth::bearer;
use crate::state::{AccessToken, Instance, World};
use serde_json::{json, Value};

/// The subject prefix of a service account's token, as IAM names the member.
const SERVICE_ACCOUNT: &str = "serviceAccount:";

/// A caller, named as an IAM policy member names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    User(String),
    ServiceAccount(String),
}

impl Principal {
    pub fn email(&self) -> &str {
        match self {
            Self::User(email) | Self::ServiceAccount(email) => email,
        }
    }

    /// `user:EMAIL` or `serviceAccount:EMAIL`.
    pub fn member(&self) -> String {
        match self {
            Self::User(email) => format!("user:{email}"),
            Self::ServiceAccount(email) => format!("{SERVICE_ACCOUNT}{email}"),
        }
    }
}

/// Whether a token's subject is a service account (`email`'s, when given).
pub fn is_service_account(subject: &str, email: Option<&str>) -> bool {
    subject
        .strip_prefix(SERVICE_ACCOUNT)
        .is_some_and(|account| email.is_none_or(|e| e == account))
}

/// Mints a token for a service account with `scopes`, valid for the configured TTL;
/// returns it with its lifetime in seconds.
pub fn mint(world: &mut World, email: &str, scopes: Vec<String>) -> (String, u64) {
    let ttl = world.config.token_ttl_secs;
    let token = format!("ya29.c.{}", random_token(48));
    world.access_tokens.insert(
        token.clone(),
        AccessToken {
            user_sub: format!("{SERVICE_ACCOUNT}{email}"),
            scopes,
            expires_ms: now_ms() + ttl * 1000,
            refresh_token: None,
        },
    );
    (token, ttl)
}

/// The person or service account calling a Cloud API (see [`bearer`]).
pub fn caller(
    world: &World,
    req: &Req,
    service: &str,
    scopes: &[&str],
) -> Result<Principal, GoogleError> {
    bearer(world, req, service, scopes, |sub| {
        match sub.strip_prefix(SERVICE_ACCOUNT) {
            Some(email) => Some(Principal::ServiceAccount(email.to_string())),
            None => world
                .user_by_sub(sub)
                .map(|u| Principal::User(u.email.clone())),
        }
    })
}

/// The instance's service account (GCE allows one): its email and scopes.
pub fn attached(inst: &Instance) -> Option<(String, Vec<String>)> {
    let account = inst.service_accounts.as_array()?.first()?;
    let email = account.get("email")?.as_str()?.to_string();
    let scopes = account
        .get("scopes")
        .and_then(Value::as_array)
        .map(|s| {
            s.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Some((email, scopes))
}

/// The metadata server's `instance/service-accounts/` subtree, under both `default`
/// and the account's email, as GCE lists it.
pub fn metadata_tree(inst: &Instance) -> Value {
    let Some((email, scopes)) = attached(inst) else {
        return json!({});
    };
    let entry = json!({ "aliases": ["default"], "email": email, "scopes": scopes });
    json!({ "default": entry.clone(), email: entry })
}

/// `instance/service-accounts/{default|EMAIL}/token`: Google's token answer for the
/// attached account, or `None` when the path names no attached account.
pub fn metadata_token(
    world: &mut World,
    inst_key: &crate::state::VmKey,
    alias: &str,
) -> Option<Value> {
    let inst = world.instances.get(inst_key)?;
    let (email, scopes) = attached(inst)?;
    if alias != "default" && alias != email {
        return None;
    }
    let (token, ttl) = mint(world, &email, scopes);
    Some(json!({ "access_token": token, "expires_in": ttl, "token_type": "Bearer" }))
}
