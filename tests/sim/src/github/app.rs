//! A GitHub App's side of GitHub: its RS256 JWT, `GET /app`, installations and their
//! tokens (narrowed to repositories and permissions, expiring after an hour), the
//! github.com installation page that sends the browser to the App's setup URL, and the
//! App's user authorization (OAuth web flow with optional PKCE, `GET /user`,
//! `GET /user/installations`), which is how a client learns that an installation is the
//! signed-in person's.

use super::state::{Code, GitHub, Grant, Installation, Selection};
use super::{body, caller, reply, required, GhError, GhResult};
use crate::clock::{now_ms, now_secs, random_token, rfc3339_utc};
use crate::http::{percent_encode, redirect, Req};
use crate::Sim;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Installation tokens last an hour.
pub const INSTALLATION_TOKEN_TTL_MS: u64 = 3600 * 1000;
/// The App's user tokens last eight hours.
pub const USER_TOKEN_TTL_SECS: u64 = 8 * 3600;
/// GitHub refuses App JWTs that live longer than ten minutes.
const JWT_MAX_LIFETIME_SECS: u64 = 600;
/// The clock drift GitHub tolerates on `iat`.
const CLOCK_DRIFT_SECS: u64 = 60;

fn jwt_error(message: &str) -> GhError {
    GhError::new(401, message)
}

/// Verifies an App JWT (RS256 with the App's key, `iss` the App id or client id, a
/// lifetime of at most ten minutes) and returns the App's id.
pub fn verify_jwt(gh: &GitHub, jwt: &str) -> Result<u64, GhError> {
    let undecodable = || jwt_error("A JSON web token could not be decoded");
    let mut parts = jwt.split('.');
    let (Some(h), Some(p), Some(s)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(undecodable());
    };
    // A header or claims segment: Base64url of a JSON object.
    let segment = |part: &str| -> Result<Value, GhError> {
        URL_SAFE_NO_PAD
            .decode(part)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(undecodable)
    };
    let header = segment(h)?;
    if header["alg"] != "RS256" {
        return Err(undecodable());
    }
    let claims = segment(p)?;
    let app = match &claims["iss"] {
        Value::Number(n) => n.as_u64().and_then(|id| gh.app(id)),
        Value::String(s) => gh
            .apps
            .iter()
            .find(|a| a.client_id == *s || a.id.to_string() == *s),
        _ => None,
    }
    .ok_or_else(|| jwt_error("'Issuer' claim ('iss') must be an Integer"))?;
    let signature = URL_SAFE_NO_PAD.decode(s).map_err(|_| undecodable())?;
    let key = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(app.public_key.clone());
    let signature =
        rsa::pkcs1v15::Signature::try_from(signature.as_slice()).map_err(|_| undecodable())?;
    use rsa::signature::Verifier;
    key.verify(format!("{h}.{p}").as_bytes(), &signature)
        .map_err(|_| undecodable())?;
    let now = now_secs();
    let iat = claims["iat"].as_u64().ok_or_else(|| {
        jwt_error("'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued")
    })?;
    let exp = claims["exp"].as_u64().filter(|e| *e > now).ok_or_else(|| {
        jwt_error("'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires")
    })?;
    if iat > now + CLOCK_DRIFT_SECS {
        return Err(jwt_error(
            "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
        ));
    }
    if exp > now + JWT_MAX_LIFETIME_SECS + CLOCK_DRIFT_SECS
        || exp.saturating_sub(iat) > JWT_MAX_LIFETIME_SECS + CLOCK_DRIFT_SECS
    {
        return Err(jwt_error(
            "'Expiration time' claim ('exp') is too far in the future",
        ));
    }
    Ok(app.id)
}

fn app_id_of(gh: &GitHub, req: &Req) -> Result<u64, GhError> {
    match required(gh, req)? {
        super::Caller::App(id) => Ok(id),
        _ => Err(GhError::new(401, "A JSON web token could not be decoded")),
    }
}

pub fn render_account(gh: &GitHub, id: u64) -> Value {
    match gh.account(id) {
        Some(a) => json!({
            "login": a.login,
            "id": a.id,
            "node_id": format!("U_{}", a.id),
            "type": "User",
            "site_admin": false,
            "html_url": format!("https://github.com/{}", a.login),
        }),
        None => Value::Null,
    }
}

fn with_metadata(permissions: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut p = permissions.clone();
    p.entry("metadata".into()).or_insert_with(|| "read".into());
    p
}

pub fn render_installation(gh: &GitHub, base: &str, inst: &Installation) -> Value {
    let app = gh.app(inst.app_id);
    json!({
        "id": inst.id,
        "account": render_account(gh, inst.account),
        "repository_selection": inst.selection.as_str(),
        "access_tokens_url": format!("{base}/app/installations/{}/access_tokens", inst.id),
        "repositories_url": format!("{base}/installation/repositories"),
        "html_url": format!("https://github.com/settings/installations/{}", inst.id),
        "app_id": inst.app_id,
        "app_slug": app.map(|a| a.slug.clone()),
        "client_id": app.map(|a| a.client_id.clone()),
        "target_id": inst.account,
        "target_type": "User",
        "permissions": app.map(|a| with_metadata(&a.permissions)),
        "events": [],
        "created_at": rfc3339_utc(inst.created_ms),
        "updated_at": rfc3339_utc(inst.created_ms),
        "single_file_name": null,
        "suspended_at": null,
    })
}

/// `GET /app` with the App's JWT.
pub fn get_app(sim: &Sim, req: &Req) -> GhResult {
    let world = sim.world();
    let gh = &world.github;
    let id = app_id_of(gh, req)?;
    let app = gh.app(id).ok_or_else(super::not_found)?;
    Ok(reply(
        StatusCode::OK,
        &json!({
            "id": app.id,
            "slug": app.slug,
            "client_id": app.client_id,
            "node_id": format!("A_{}", app.id),
            "owner": render_account(gh, app.owner),
            "name": app.name,
            "description": "",
            "external_url": app.setup_url,
            "html_url": format!("https://github.com/apps/{}", app.slug),
            "created_at": rfc3339_utc(0),
            "updated_at": rfc3339_utc(0),
            "permissions": with_metadata(&app.permissions),
            "events": [],
            "installations_count": gh.installations.iter().filter(|i| i.app_id == app.id).count(),
        }),
    ))
}

fn installation_of_app(gh: &GitHub, app: u64, id: &str) -> Result<Installation, GhError> {
    id.parse::<u64>()
        .ok()
        .and_then(|id| gh.installation(id))
        .filter(|i| i.app_id == app)
        .cloned()
        .ok_or_else(super::not_found)
}

/// `GET /app/installations/{id}` with the App's JWT.
pub fn get_installation(sim: &Sim, req: &Req, id: &str) -> GhResult {
    let world = sim.world();
    let gh = &world.github;
    let app = app_id_of(gh, req)?;
    let inst = installation_of_app(gh, app, id)?;
    Ok(reply(
        StatusCode::OK,
        &render_installation(gh, &sim.base_url, &inst),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    #[serde(default)]
    repositories: Option<Vec<String>>,
    #[serde(default)]
    repository_ids: Option<Vec<u64>>,
    #[serde(default)]
    permissions: Option<BTreeMap<String, String>>,
}

/// `POST /app/installations/{id}/access_tokens` with the App's JWT: a token for the
/// installation, narrowed to the repositories and permissions asked for.
pub fn create_token(sim: &Sim, req: &Req, id: &str) -> GhResult {
    let mut world = sim.world();
    let gh = &mut world.github;
    let app_id = app_id_of(gh, req)?;
    let inst = installation_of_app(gh, app_id, id)?;
    let asked: TokenRequest = if req.body.is_empty() {
        TokenRequest {
            repositories: None,
            repository_ids: None,
            permissions: None,
        }
    } else {
        body(req)?
    };
    let app = gh.app(app_id).cloned().ok_or_else(super::not_found)?;
    let inaccessible = || {
        GhError::new(
            422,
            "There is at least one repository that does not exist or is not accessible to the parent installation.",
        )
    };
    let mut ids: Option<Vec<u64>> = None;
    for name in asked.repositories.iter().flatten() {
        let owner = gh
            .account(inst.account)
            .map(|a| a.login.clone())
            .unwrap_or_default();
        let repo = gh
            .repo_by_name(&owner, name)
            .filter(|r| inst.covers(r))
            .ok_or_else(inaccessible)?;
        ids.get_or_insert_with(Vec::new).push(repo.id);
    }
    for id in asked.repository_ids.iter().flatten() {
        gh.repo(*id)
            .filter(|r| inst.covers(r))
            .ok_or_else(inaccessible)?;
        ids.get_or_insert_with(Vec::new).push(*id);
    }
    let granted = with_metadata(&app.permissions);
    let permissions = match asked.permissions {
        None => granted.clone(),
        Some(wanted) => {
            let ok = wanted
                .iter()
                .all(|(k, v)| granted.get(k).is_some_and(|g| super::level_ok(g, v)));
            if !ok || wanted.is_empty() {
                return Err(GhError::new(
                    422,
                    "The permissions requested are not granted to this installation.",
                ));
            }
            // Every token can read the repositories' metadata.
            with_metadata(&wanted)
        }
    };
    let ttl = gh.installation_token_ttl_ms;
    let (token, expires_ms) = gh.issue(
        "ghs",
        Grant::Installation {
            installation: inst.id,
            repositories: ids.clone(),
            permissions: permissions.clone(),
        },
        ttl,
    );
    let mut out = json!({
        "token": token,
        "expires_at": rfc3339_seconds(expires_ms),
        "permissions": permissions,
        "repository_selection": if ids.is_some() { "selected" } else { inst.selection.as_str() },
    });
    if let Some(ids) = ids {
        let repos: Vec<Value> = ids
            .iter()
            .filter_map(|id| gh.repo(*id))
            .map(|r| super::repos::render(gh, r))
            .collect();
        out["repositories"] = json!(repos);
    }
    Ok(reply(StatusCode::CREATED, &out))
}

/// GitHub writes times to the second: `2026-11-28T10:00:00Z`.
pub fn rfc3339_seconds(ms: u64) -> String {
    let full = rfc3339_utc(ms);
    format!("{}Z", &full[..19])
}

/// `GET https://github.com/apps/{slug}/installations/new?state=…`: the signed-in account
/// installs the App (on the repositories chosen beforehand through the admin route, or
/// all of them) and the browser goes to the App's setup URL.
pub fn install_page(sim: &Sim, req: &Req, slug: &str) -> GhResult {
    let mut world = sim.world();
    let gh = &mut world.github;
    let app = gh
        .apps
        .iter()
        .find(|a| a.slug == slug)
        .cloned()
        .ok_or_else(super::not_found)?;
    let account = gh.signed_in;
    let choice = gh.install_choice.take();
    let (selection, repositories) = match choice {
        None => (Selection::All, Vec::new()),
        Some(names) => {
            let login = gh
                .account(account)
                .map(|a| a.login.clone())
                .unwrap_or_default();
            let ids = names
                .iter()
                .filter_map(|n| gh.repo_by_name(&login, n).map(|r| r.id))
                .collect();
            (Selection::Selected, ids)
        }
    };
    let existing = gh
        .installations
        .iter_mut()
        .find(|i| i.app_id == app.id && i.account == account);
    let (id, action) = match existing {
        Some(inst) => {
            inst.selection = selection;
            inst.repositories = repositories;
            (inst.id, "update")
        }
        None => {
            let id = gh.next_id();
            gh.installations.push(Installation {
                id,
                app_id: app.id,
                account,
                selection,
                repositories,
                created_ms: now_ms(),
            });
            (id, "install")
        }
    };
    let mut location = format!(
        "{}{}installation_id={id}&setup_action={action}",
        app.setup_url,
        if app.setup_url.contains('?') {
            "&"
        } else {
            "?"
        }
    );
    if let Some(state) = req.param("state") {
        location.push_str(&format!("&state={}", percent_encode(state)));
    }
    Ok(redirect(&location))
}

/// `GET https://github.com/login/oauth/authorize`: the signed-in account authorizes the
/// App and the browser returns to its callback with a code.
pub fn authorize(sim: &Sim, req: &Req) -> GhResult {
    let mut world = sim.world();
    let gh = &mut world.github;
    let app = req
        .param("client_id")
        .and_then(|c| gh.apps.iter().find(|a| a.client_id == c))
        .cloned()
        .ok_or_else(super::not_found)?;
    let redirect_uri = req.param("redirect_uri").map(str::to_string);
    let target = redirect_uri
        .clone()
        .unwrap_or_else(|| app.callback_url.clone());
    let sep = |u: &str| if u.contains('?') { "&" } else { "?" };
    if !target.starts_with(&app.callback_url) {
        let location = format!(
            "{}{}error=redirect_uri_mismatch&error_description={}&error_uri={}",
            app.callback_url,
            sep(&app.callback_url),
            percent_encode("The redirect_uri MUST match the registered callback URL for this application."),
            percent_encode("https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#redirect-uri-mismatch"),
        );
        return Ok(redirect(&location));
    }
    let challenge = match (
        req.param("code_challenge"),
        req.param("code_challenge_method"),
    ) {
        (None, _) => None,
        (Some(c), Some("S256")) => Some(c.to_string()),
        (Some(_), _) => {
            return Ok(redirect(&format!(
                "{target}{}error=invalid_request&error_description={}",
                sep(&target),
                percent_encode("code_challenge_method must be S256")
            )))
        }
    };
    let code = random_token(15).replace(['-', '_'], "0");
    gh.codes.insert(
        code.clone(),
        Code {
            app_id: app.id,
            user: gh.signed_in,
            redirect_uri,
            code_challenge: challenge,
            expires_ms: now_ms() + 600_000,
        },
    );
    let mut location = format!("{target}{}code={code}", sep(&target));
    if let Some(state) = req.param("state") {
        location.push_str(&format!("&state={}", percent_encode(state)));
    }
    Ok(redirect(&location))
}

/// An OAuth error: GitHub answers these with 200.
fn oauth_error(req: &Req, error: &str, description: &str) -> Response {
    oauth_answer(
        req,
        &[
            ("error", error.to_string()),
            ("error_description", description.to_string()),
            (
                "error_uri",
                "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors".into(),
            ),
        ],
    )
}

/// JSON when the client asks for it, a form otherwise, like GitHub.
fn oauth_answer(req: &Req, fields: &[(&str, String)]) -> Response {
    if req
        .header("accept")
        .is_some_and(|a| a.contains("application/json"))
    {
        let map: serde_json::Map<String, Value> = fields
            .iter()
            .map(|(k, v)| {
                let value = v
                    .parse::<u64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| json!(v));
                (k.to_string(), value)
            })
            .collect();
        reply(StatusCode::OK, &Value::Object(map))
    } else {
        let text = fields
            .iter()
            .map(|(k, v)| format!("{k}={}", percent_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/x-www-form-urlencoded; charset=utf-8",
            )],
            text,
        )
            .into_response()
    }
}

/// `POST https://github.com/login/oauth/access_token`: a code for a user token.
pub fn access_token(sim: &Sim, req: &Req) -> GhResult {
    let fields: Vec<(String, String)> = if req
        .header("content-type")
        .is_some_and(|c| c.contains("application/json"))
    {
        serde_json::from_slice::<BTreeMap<String, String>>(&req.body)
            .map(|m| m.into_iter().collect())
            .unwrap_or_default()
    } else {
        let mut f = req.form();
        f.extend(req.query.iter().cloned());
        f
    };
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let mut world = sim.world();
    let gh = &mut world.github;
    let Some(app) = field("client_id")
        .and_then(|c| gh.apps.iter().find(|a| a.client_id == c))
        .cloned()
    else {
        return Ok(oauth_error(
            req,
            "incorrect_client_credentials",
            "The client_id and/or client_secret passed are incorrect.",
        ));
    };
    if field("client_secret") != Some(app.client_secret.as_str()) {
        return Ok(oauth_error(
            req,
            "incorrect_client_credentials",
            "The client_id and/or client_secret passed are incorrect.",
        ));
    }
    let bad_code = || "The code passed is incorrect or expired.";
    let Some(code) = field("code").and_then(|c| gh.codes.remove(c)) else {
        return Ok(oauth_error(req, "bad_verification_code", bad_code()));
    };
    if code.app_id != app.id || code.expires_ms <= now_ms() {
        return Ok(oauth_error(req, "bad_verification_code", bad_code()));
    }
    if code.redirect_uri.is_some() && field("redirect_uri").map(str::to_string) != code.redirect_uri
    {
        return Ok(oauth_error(
            req,
            "redirect_uri_mismatch",
            "The redirect_uri MUST match the registered callback URL for this application.",
        ));
    }
    if let Some(challenge) = &code.code_challenge {
        let ok = field("code_verifier")
            .is_some_and(|v| URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes())) == *challenge);
        if !ok {
            return Ok(oauth_error(
                req,
                "invalid_grant",
                "The code_verifier does not match the code_challenge.",
            ));
        }
    }
    let (token, _) = gh.issue(
        "ghu",
        Grant::User {
            app_id: app.id,
            user: code.user,
        },
        USER_TOKEN_TTL_SECS * 1000,
    );
    Ok(oauth_answer(
        req,
        &[
            ("access_token", token),
            ("expires_in", USER_TOKEN_TTL_SECS.to_string()),
            (
                "refresh_token",
                format!("ghr_{}", random_token(40).replace(['-', '_'], "r")),
            ),
            ("refresh_token_expires_in", "15897600".into()),
            ("token_type", "bearer".into()),
            ("scope", String::new()),
        ],
    ))
}

fn user_of(gh: &GitHub, req: &Req) -> Result<(u64, u64), GhError> {
    match caller(gh, req)? {
        Some(super::Caller::Token(Grant::User { app_id, user })) => Ok((app_id, user)),
        None => Err(GhError::new(401, "Requires authentication")),
        Some(_) => Err(super::not_accessible()),
    }
}

/// `GET /user` with a user token.
pub fn get_user(sim: &Sim, req: &Req) -> GhResult {
    let world = sim.world();
    let gh = &world.github;
    let (_, user) = user_of(gh, req)?;
    let account = gh.account(user).ok_or_else(super::bad_credentials)?;
    let mut body = render_account(gh, user);
    body["name"] = json!(account.name);
    body["avatar_url"] = json!(format!("{}/_static/avatar.svg", sim.base_url));
    Ok(reply(StatusCode::OK, &body))
}

/// `GET /user/installations`: the token's App's installations the user can reach.
pub fn user_installations(sim: &Sim, req: &Req) -> GhResult {
    let world = sim.world();
    let gh = &world.github;
    let (app_id, user) = user_of(gh, req)?;
    let list: Vec<Value> = gh
        .installations
        .iter()
        .filter(|i| i.app_id == app_id && i.account == user)
        .map(|i| render_installation(gh, &sim.base_url, i))
        .collect();
    Ok(reply(
        StatusCode::OK,
        &json!({ "total_count": list.len(), "installations": list }),
    ))
}

/// `GET /user/installations/{id}/repositories` with a user token: the repositories of
/// one of the user's installations of the token's App.
pub fn installation_repositories(sim: &Sim, req: &Req, id: &str) -> GhResult {
    let world = sim.world();
    let gh = &world.github;
    let (app_id, user) = user_of(gh, req)?;
    let inst = id
        .parse::<u64>()
        .ok()
        .and_then(|id| gh.installation(id))
        .filter(|i| i.app_id == app_id && i.account == user)
        .ok_or_else(super::not_found)?;
    let list: Vec<Value> = gh
        .repos
        .iter()
        .filter(|r| inst.covers(r))
        .map(|r| super::repos::render(gh, r))
        .collect();
    Ok(reply(
        StatusCode::OK,
        &json!({ "total_count": list.len(), "repositories": list }),
    ))
}

/// What `POST /_admin/github/apps` takes: an App to register, with its public key.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewApp {
    pub slug: String,
    pub name: String,
    /// PEM, SPKI (`PUBLIC KEY`) or PKCS#1 (`RSA PUBLIC KEY`).
    pub public_key: String,
    pub setup_url: String,
    pub callback_url: String,
    pub permissions: BTreeMap<String, String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
    /// The App's id, when the test configured a Worker with it before registering (GitHub
    /// gives an App its id once, at creation); a new one otherwise.
    #[serde(default)]
    pub id: Option<u64>,
}

/// Registers an App (what a person does once in GitHub's settings).
pub fn register(gh: &mut GitHub, new: NewApp) -> Result<Value, String> {
    use rsa::pkcs1::DecodeRsaPublicKey;
    use rsa::pkcs8::DecodePublicKey;
    let public_key = rsa::RsaPublicKey::from_public_key_pem(&new.public_key)
        .or_else(|_| rsa::RsaPublicKey::from_pkcs1_pem(&new.public_key))
        .map_err(|e| format!("publicKey: {e}"))?;
    let id = match new.id {
        Some(id) if gh.apps.iter().any(|a| a.id == id && a.slug != new.slug) => {
            return Err(format!("id: App {id} exists"))
        }
        Some(id) => id,
        None => gh.next_id(),
    };
    let client_id = new
        .client_id
        .unwrap_or_else(|| format!("Iv23{}", crate::clock::random_hex(8)));
    let client_secret = new
        .client_secret
        .unwrap_or_else(|| crate::clock::random_hex(20));
    gh.apps.retain(|a| a.slug != new.slug);
    let owner = gh
        .account_by_login(super::state::TEMPLATE_OWNER)
        .map(|a| a.id)
        .unwrap_or(0);
    gh.apps.push(super::state::App {
        id,
        slug: new.slug.clone(),
        name: new.name,
        client_id: client_id.clone(),
        client_secret: client_secret.clone(),
        public_key,
        setup_url: new.setup_url,
        callback_url: new.callback_url,
        permissions: new.permissions,
        owner,
    });
    Ok(json!({ "id": id, "slug": new.slug, "clientId": client_id, "clientSecret": client_secret }))
}

/// Decodes standard base64 that GitHub's API carries (contents, sealed secrets),
/// tolerating the line breaks GitHub itself writes.
pub fn decode_b64(value: &str) -> Option<Vec<u8>> {
    let clean: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(clean).ok()
}
