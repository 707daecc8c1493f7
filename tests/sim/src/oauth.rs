//! Google's OAuth 2.0 and OpenID endpoints: the consent page (`/o/oauth2/v2/auth`), the
//! token endpoint (authorization code with PKCE, refresh), userinfo and revoke, plus the
//! bearer-token check every Cloud API call goes through.

use crate::clock::{now_ms, random_token};
use crate::errors::{self, unauthenticated, GoogleError, TokenProblem};
use crate::http::{escape_html, html, ok_json, percent_encode, redirect, Req};
use crate::state::{
    AccessToken, AuthCode, Grant, PendingConsent, PkceMethod, RefreshToken, User, World,
};
use crate::Sim;
use axum::http::StatusCode;
use axum::response::Response;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

pub const SCOPE_CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
pub const SCOPE_COMPUTE: &str = "https://www.googleapis.com/auth/compute";
pub const SCOPE_PROJECTS: &str = "https://www.googleapis.com/auth/cloudplatformprojects";
pub const SCOPE_SERVICE_MANAGEMENT: &str = "https://www.googleapis.com/auth/service.management";
pub const SCOPE_READ_ONLY: &str = "https://www.googleapis.com/auth/cloud-platform.read-only";
const SCOPE_EMAIL: &str = "https://www.googleapis.com/auth/userinfo.email";
const SCOPE_PROFILE: &str = "https://www.googleapis.com/auth/userinfo.profile";

/// The scopes the consent page knows, with the sentence it shows for each.
const KNOWN_SCOPES: &[(&str, &str)] = &[
    ("openid", "Associate you with your personal info on Google"),
    ("email", "See your primary Google Account email address"),
    ("profile", "See your personal info, including any personal info you've made publicly available"),
    (SCOPE_EMAIL, "See your primary Google Account email address"),
    (SCOPE_PROFILE, "See your personal info, including any personal info you've made publicly available"),
    (SCOPE_CLOUD_PLATFORM, "See, edit, configure, and delete your Google Cloud data and see the email address for your Google Account"),
    (SCOPE_COMPUTE, "View and manage your Google Compute Engine resources"),
    (SCOPE_PROJECTS, "View and manage your Google Cloud Platform projects"),
    (SCOPE_SERVICE_MANAGEMENT, "Manage your Google API service configuration"),
    (SCOPE_READ_ONLY, "View your data across Google Cloud services and see the email address of your Google Account"),
];

/// How long an authorization code can be exchanged.
const CODE_TTL_MS: u64 = 10 * 60 * 1000;

/// `GET /o/oauth2/v2/auth`: the consent page, or straight back with a code when auto-approving.
pub fn authorize(sim: &Sim, req: &Req) -> Response {
    let p = |name| req.param(name).unwrap_or("");
    let client_id = p("client_id");
    if client_id != sim.opts.client_id {
        return error_page(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            &format!(
                "The OAuth client was not found. (client_id {:?})",
                client_id
            ),
        );
    }
    let redirect_uri = p("redirect_uri");
    if !(redirect_uri.starts_with("http://") || redirect_uri.starts_with("https://")) {
        return error_page(
            StatusCode::BAD_REQUEST,
            "redirect_uri_mismatch",
            "redirect_uri must be an absolute http or https URL registered for this client.",
        );
    }
    let state = req.param("state").map(str::to_string);
    let back_with_error = |error: &str| {
        redirect(&with_params(
            redirect_uri,
            &[("error", error)],
            state.as_deref(),
        ))
    };
    if p("response_type") != "code" {
        return back_with_error("unsupported_response_type");
    }
    let scopes: Vec<String> = p("scope").split_whitespace().map(str::to_string).collect();
    if scopes.is_empty() {
        return error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: scope",
        );
    }
    if let Some(unknown) = scopes
        .iter()
        .find(|s| !KNOWN_SCOPES.iter().any(|(k, _)| k == s))
    {
        return error_page(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            &format!("Some requested scopes were invalid. {{invalid=[{unknown}]}}"),
        );
    }
    let code_challenge = match (req.param("code_challenge"), req.param("code_challenge_method")) {
        (None, None) => None,
        (Some(c), Some("S256")) if is_pkce_value(c) => Some((c.to_string(), PkceMethod::S256)),
        (Some(c), None | Some("plain")) if is_pkce_value(c) => Some((c.to_string(), PkceMethod::Plain)),
        _ => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Invalid code_challenge or code_challenge_method (use S256 with a 43 to 128 character value).",
            )
        }
    };
    let offline = match req.param("access_type") {
        None | Some("online") => false,
        Some("offline") => true,
        Some(other) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!("Invalid access_type: {other}"),
            )
        }
    };
    let mut world = sim.world();
    let Some(user) = pick_user(&world, req.param("login_hint")).cloned() else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "access_denied",
            "No Google account is signed in.",
        );
    };
    let consent = PendingConsent {
        grant: Grant {
            client_id: client_id.to_string(),
            user_sub: user.sub.clone(),
            scopes,
            code_challenge,
            offline,
        },
        redirect_uri: redirect_uri.to_string(),
        state,
    };
    if world.config.auto_approve {
        return approve(&mut world, consent);
    }
    let id = random_token(16);
    world.consents.insert(id.clone(), consent.clone());
    html(StatusCode::OK, consent_page(&id, &user, &consent))
}

/// `POST /o/oauth2/v2/auth/consent`: the consent page's buttons.
pub fn consent(sim: &Sim, req: &Req) -> Response {
    let form = req.form();
    let field = |name| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let mut world = sim.world();
    let Some(consent) = world.consents.remove(field("consent")) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "This consent request is unknown or was already answered. Start signing in again.",
        );
    };
    match field("decision") {
        "allow" => approve(&mut world, consent),
        _ => redirect(&with_params(
            &consent.redirect_uri,
            &[("error", "access_denied")],
            consent.state.as_deref(),
        )),
    }
}

fn approve(world: &mut World, consent: PendingConsent) -> Response {
    let code = format!("4/0{}", random_token(32));
    let scope = consent.grant.scopes.join(" ");
    let location = with_params(
        &consent.redirect_uri,
        &[("code", &code), ("scope", &scope)],
        consent.state.as_deref(),
    );
    world.codes.insert(
        code,
        AuthCode {
            grant: consent.grant,
            redirect_uri: consent.redirect_uri,
            expires_ms: now_ms() + CODE_TTL_MS,
            used: false,
        },
    );
    redirect(&location)
}

/// `POST /token`.
pub fn token(sim: &Sim, req: &Req) -> Response {
    let fields = if req
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json"))
    {
        json_fields(&req.body)
    } else {
        req.form()
    };
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let (client_id, client_secret) = match basic_auth(req) {
        Some(pair) => pair,
        None => (
            field("client_id").unwrap_or("").to_string(),
            field("client_secret").unwrap_or("").to_string(),
        ),
    };
    if client_id != sim.opts.client_id {
        return errors::oauth(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The OAuth client was not found.",
        );
    }
    if client_secret != sim.opts.client_secret {
        return errors::oauth(StatusCode::UNAUTHORIZED, "invalid_client", "Unauthorized");
    }
    let mut world = sim.world();
    match field("grant_type") {
        Some("authorization_code") => exchange_code(
            &mut world,
            &client_id,
            field("code"),
            field("redirect_uri"),
            field("code_verifier"),
        ),
        Some("refresh_token") => refresh(&mut world, &client_id, field("refresh_token")),
        Some(_) => errors::oauth(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Invalid grant_type: ",
        ),
        None => errors::oauth(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: grant_type",
        ),
    }
}

fn exchange_code(
    world: &mut World,
    client_id: &str,
    code: Option<&str>,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
) -> Response {
    let Some(code) = code else {
        return errors::oauth(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: code",
        );
    };
    let Some(entry) = world.codes.get_mut(code) else {
        return errors::oauth(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Malformed auth code.",
        );
    };
    if entry.used || entry.expires_ms <= now_ms() {
        return errors::oauth(StatusCode::BAD_REQUEST, "invalid_grant", "Bad Request");
    }
    if entry.grant.client_id != client_id {
        return errors::oauth(StatusCode::BAD_REQUEST, "invalid_grant", "Bad Request");
    }
    if redirect_uri != Some(entry.redirect_uri.as_str()) {
        return errors::oauth(
            StatusCode::BAD_REQUEST,
            "redirect_uri_mismatch",
            "Bad Request",
        );
    }
    if let Some((challenge, method)) = &entry.grant.code_challenge {
        let Some(verifier) = verifier else {
            return errors::oauth(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "Missing code verifier.",
            );
        };
        let expected = match method {
            PkceMethod::S256 => URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
            PkceMethod::Plain => verifier.to_string(),
        };
        if !is_pkce_value(verifier) || &expected != challenge {
            return errors::oauth(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "Invalid code verifier.",
            );
        }
    }
    // A code is single-use even when the exchange below fails.
    entry.used = true;
    let grant = entry.grant.clone();
    let refresh_token = grant.offline.then(|| {
        let token = format!("1//0{}", random_token(48));
        world.refresh_tokens.insert(
            token.clone(),
            RefreshToken {
                user_sub: grant.user_sub.clone(),
                client_id: grant.client_id.clone(),
                scopes: grant.scopes.clone(),
            },
        );
        token
    });
    issue(
        world,
        &grant.user_sub,
        grant.scopes,
        refresh_token,
        Handout::New,
    )
}

fn refresh(world: &mut World, client_id: &str, token: Option<&str>) -> Response {
    let Some(token) = token else {
        return errors::oauth(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: refresh_token",
        );
    };
    match world.refresh_tokens.get(token) {
        Some(entry) if entry.client_id == client_id => {
            let (sub, scopes) = (entry.user_sub.clone(), entry.scopes.clone());
            issue(
                world,
                &sub,
                scopes,
                Some(token.to_string()),
                Handout::Existing,
            )
        }
        _ => errors::oauth(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Token has been expired or revoked.",
        ),
    }
}

/// Whether the refresh token behind an access token is new (and so is sent) or the
/// one the client already holds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Handout {
    New,
    Existing,
}

/// Mints an access token (tied to its refresh token, so revoking that one revokes it)
/// and answers with Google's token response.
fn issue(
    world: &mut World,
    sub: &str,
    scopes: Vec<String>,
    refresh_token: Option<String>,
    handout: Handout,
) -> Response {
    let ttl = world.config.token_ttl_secs;
    let access = format!("ya29.{}", random_token(48));
    let scope = scopes.join(" ");
    world.access_tokens.insert(
        access.clone(),
        AccessToken {
            user_sub: sub.to_string(),
            scopes,
            expires_ms: now_ms() + ttl * 1000,
            refresh_token: refresh_token.clone(),
        },
    );
    let mut body = json!({
        "access_token": access,
        "expires_in": ttl,
        "scope": scope,
        "token_type": "Bearer",
    });
    if let Some(refresh) = refresh_token.filter(|_| handout == Handout::New) {
        body["refresh_token"] = Value::String(refresh);
        body["refresh_token_expires_in"] = json!(604_799);
    }
    ok_json(&body)
}

/// `GET /v1/userinfo`: the OpenID claims the token's scopes allow.
pub fn userinfo(sim: &Sim, req: &Req) -> Response {
    let world = sim.world();
    let user = match lookup(&world, req.bearer()) {
        Ok((user, scopes)) => (user.clone(), scopes),
        Err(_) => {
            return errors::oauth(
                StatusCode::UNAUTHORIZED,
                "invalid_request",
                "Invalid Credentials",
            )
        }
    };
    let (user, scopes) = user;
    let has = |a: &str, b: &str| scopes.iter().any(|s| s == a || s == b);
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(user.sub));
    if has("email", SCOPE_EMAIL) {
        claims.insert("email".into(), json!(user.email));
        claims.insert("email_verified".into(), json!(true));
    }
    if has("profile", SCOPE_PROFILE) {
        let (given, family) = user.name.split_once(' ').unwrap_or((&user.name, ""));
        claims.insert("name".into(), json!(user.name));
        claims.insert("given_name".into(), json!(given));
        if !family.is_empty() {
            claims.insert("family_name".into(), json!(family));
        }
        claims.insert("picture".into(), json!(user.picture));
    }
    ok_json(&Value::Object(claims))
}

/// `POST /revoke`: revokes an access token, or a refresh token and every access token from it.
pub fn revoke(sim: &Sim, req: &Req) -> Response {
    let form = req.form();
    let token = form
        .iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.clone())
        .or_else(|| req.param("token").map(str::to_string));
    let Some(token) = token else {
        return errors::oauth(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: token",
        );
    };
    let mut world = sim.world();
    let known_access = world
        .access_tokens
        .get(&token)
        .filter(|t| t.expires_ms > now_ms())
        .cloned();
    if let Some(access) = known_access {
        world.access_tokens.remove(&token);
        if let Some(refresh) = access.refresh_token {
            revoke_refresh(&mut world, &refresh);
        }
    } else if world.refresh_tokens.contains_key(&token) {
        revoke_refresh(&mut world, &token);
    } else {
        return errors::oauth(
            StatusCode::BAD_REQUEST,
            "invalid_token",
            "Token expired or revoked",
        );
    }
    ok_json(&json!({}))
}

fn revoke_refresh(world: &mut World, refresh: &str) {
    world.refresh_tokens.remove(refresh);
    world
        .access_tokens
        .retain(|_, t| t.refresh_token.as_deref() != Some(refresh));
}

/// The access token a request bears, if the simulator issued it and it has not expired.
pub fn live_token<'w>(
    world: &'w World,
    token: Option<&str>,
) -> Result<&'w AccessToken, TokenProblem> {
    let token = token.ok_or(TokenProblem::Missing)?;
    let entry = world
        .access_tokens
        .get(token)
        .ok_or(TokenProblem::Unknown)?;
    if entry.expires_ms <= now_ms() {
        return Err(TokenProblem::Expired);
    }
    Ok(entry)
}

/// Whether `granted` holds one of `wanted`, or cloud-platform (which covers them all).
fn allows(granted: &[String], wanted: &[&str]) -> bool {
    granted
        .iter()
        .any(|g| g == SCOPE_CLOUD_PLATFORM || wanted.contains(&g.as_str()))
}

/// The user behind a bearer token and its scopes.
fn lookup<'w>(
    world: &'w World,
    token: Option<&str>,
) -> Result<(&'w User, Vec<String>), TokenProblem> {
    let entry = live_token(world, token)?;
    let user = world
        .user_by_sub(&entry.user_sub)
        .ok_or(TokenProblem::Unknown)?;
    Ok((user, entry.scopes.clone()))
}

/// The caller of a Cloud API as `subject` knows it: a valid, unexpired token whose
/// subject it knows, carrying one of `scopes` (or cloud-platform).
pub fn bearer<T>(
    world: &World,
    req: &Req,
    service: &str,
    scopes: &[&str],
    subject: impl FnOnce(&str) -> Option<T>,
) -> Result<T, GoogleError> {
    let refuse = |problem| unauthenticated(problem, service);
    let entry = live_token(world, req.bearer()).map_err(refuse)?;
    let who = subject(&entry.user_sub).ok_or_else(|| refuse(TokenProblem::Unknown))?;
    if !allows(&entry.scopes, scopes) {
        return Err(refuse(TokenProblem::InsufficientScope));
    }
    Ok(who)
}

/// A person calling a Cloud API that only people call here (see [`bearer`]).
pub fn authenticate(
    world: &World,
    req: &Req,
    service: &str,
    scopes: &[&str],
) -> Result<User, GoogleError> {
    bearer(world, req, service, scopes, |sub| {
        world.user_by_sub(sub).cloned()
    })
}

/// Expires every token now, or only those of one user or service account.
pub fn expire_tokens(world: &mut World, email: Option<&str>) -> usize {
    let mut subs: Vec<String> = world
        .users
        .iter()
        .filter(|u| email.is_none_or(|e| u.email == e))
        .map(|u| u.sub.clone())
        .collect();
    subs.extend(
        world
            .access_tokens
            .values()
            .map(|t| t.user_sub.clone())
            .filter(|sub| crate::service_accounts::is_service_account(sub, email)),
    );
    let now = now_ms();
    let mut expired = 0;
    for token in world.access_tokens.values_mut() {
        if subs.contains(&token.user_sub) && token.expires_ms > now {
            token.expires_ms = now;
            expired += 1;
        }
    }
    expired
}

fn pick_user<'w>(world: &'w World, hint: Option<&str>) -> Option<&'w User> {
    hint.and_then(|h| world.users.iter().find(|u| u.email == h || u.sub == h))
        .or_else(|| world.users.last())
}

/// RFC 7636: 43 to 128 characters of `[A-Za-z0-9-._~]`.
fn is_pkce_value(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

fn basic_auth(req: &Req) -> Option<(String, String)> {
    let value = req.header("authorization")?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((
        crate::http::percent_decode(id),
        crate::http::percent_decode(secret),
    ))
}

fn json_fields(body: &[u8]) -> Vec<(String, String)> {
    match serde_json::from_slice::<Map<String, Value>>(body) {
        Ok(map) => map
            .into_iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string())))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// `uri` with `params` (and `state`) appended to its query.
fn with_params(uri: &str, params: &[(&str, &str)], state: Option<&str>) -> String {
    let mut out = uri.to_string();
    let mut sep = if uri.contains('?') { '&' } else { '?' };
    let state_pair = state.map(|s| ("state", s));
    for (k, v) in params.iter().copied().chain(state_pair) {
        out.push(sep);
        out.push_str(k);
        out.push('=');
        out.push_str(&percent_encode(v));
        sep = '&';
    }
    out
}

/// Google's error page for a sign-in request it refuses (the browser sees it).
pub fn error_page(status: StatusCode, error: &str, detail: &str) -> Response {
    html(
        status,
        format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Error {code}: {error}</title></head>\
             <body><main><h1>Access blocked: this request is invalid</h1><p>Error {code}: {error}</p><p>{detail}</p></main></body></html>",
            code = status.as_u16(),
            error = escape_html(error),
            detail = escape_html(detail),
        ),
    )
}

fn consent_page(id: &str, user: &User, consent: &PendingConsent) -> String {
    let scopes: String = consent
        .grant
        .scopes
        .iter()
        .map(|s| {
            let text = KNOWN_SCOPES
                .iter()
                .find(|(k, _)| k == s)
                .map(|(_, t)| *t)
                .unwrap_or(s);
            format!("<li>{}</li>", escape_html(text))
        })
        .collect();
    format!(
        r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in - Google Accounts</title>
<style>body{{font-family:sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#202124}}
.account{{display:flex;gap:.75rem;align-items:center}}.account img{{width:40px;height:40px;border-radius:50%}}
.actions{{display:flex;gap:1rem;justify-content:flex-end;margin-top:2rem}}
button{{font-size:1rem;padding:.5rem 1.5rem;border-radius:4px;border:1px solid #dadce0;background:#fff;cursor:pointer}}
button[value=allow]{{background:#1a73e8;color:#fff;border-color:#1a73e8}}</style></head>
<body><main>
<h1>{client} wants to access your Google Account</h1>
<div class="account"><img src="{picture}" alt=""><div><strong>{name}</strong><br>{email}</div></div>
<p>This will allow {client} to:</p>
<ul>{scopes}</ul>
<p>Simulated Google sign-in (claw-free-sim): no real account is used.</p>
<form method="post" action="/o/oauth2/v2/auth/consent">
<input type="hidden" name="consent" value="{id}">
<div class="actions">
<button type="submit" name="decision" value="deny">Cancel</button>
<button type="submit" name="decision" value="allow">Allow</button>
</div>
</form>
</main></body></html>
"#,
        client = escape_html(&consent.grant.client_id),
        picture = escape_html(&user.picture),
        name = escape_html(&user.name),
        email = escape_html(&user.email),
        id = escape_html(id),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_params_to_redirects() {
        assert_eq!(
            with_params("http://x/cb", &[("code", "4/0a b")], Some("s&1")),
            "http://x/cb?code=4%2F0a%20b&state=s%261"
        );
        assert_eq!(
            with_params("http://x/cb?v=1", &[("error", "access_denied")], None),
            "http://x/cb?v=1&error=access_denied"
        );
    }

    #[test]
    fn pkce_values_follow_rfc_7636() {
        assert!(is_pkce_value(&"a".repeat(43)));
        assert!(!is_pkce_value(&"a".repeat(42)));
        assert!(!is_pkce_value(&format!("{}=", "a".repeat(43))));
    }
}
