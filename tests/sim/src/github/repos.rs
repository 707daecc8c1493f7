//! Repositories: get, generate from a template, contents (read, create or update a file
//! on `main`, or on another branch through [`super::pulls`]), deployment environments, environment secrets (the repository's public key,
//! and secrets sealed to it that the simulator really opens, so a client's libsodium
//! sealed box is checked) and Actions variables. Each call needs the permission GitHub
//! documents for it; files under `.github/workflows/` also need `workflows`.

use super::app::{decode_b64, render_account, rfc3339_seconds};
use super::state::{put_file, Environment, GitHub, Grant, Repo, Secret, Selection, Variable};
use super::{
    body, caller, no_content, not_found, reply, repo_for, required, writable_repo, Caller, GhError,
    GhResult,
};
use crate::clock::now_ms;
use crate::http::Req;
use crate::Sim;
use axum::http::StatusCode;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

const API: &str = "https://api.github.com";

pub fn render(gh: &GitHub, repo: &Repo) -> Value {
    let login = gh
        .account(repo.owner)
        .map(|a| a.login.clone())
        .unwrap_or_default();
    let full = format!("{login}/{}", repo.name);
    json!({
        "id": repo.id,
        "node_id": format!("R_{}", repo.id),
        "name": repo.name,
        "full_name": full,
        "private": repo.private,
        "visibility": if repo.private { "private" } else { "public" },
        "owner": render_account(gh, repo.owner),
        "html_url": format!("https://github.com/{full}"),
        "description": if repo.description.is_empty() { Value::Null } else { json!(repo.description) },
        "url": format!("{API}/repos/{full}"),
        "default_branch": "main",
        "is_template": repo.is_template,
        "archived": false,
        "created_at": rfc3339_seconds(repo.created_ms),
    })
}

/// `GET /repos/{owner}/{repo}`.
pub fn get(sim: &Sim, req: &Req, owner: &str, name: &str) -> GhResult {
    let world = sim.world();
    let gh = &world.github;
    let who = caller(gh, req)?;
    let repo = repo_for(gh, who.as_ref(), owner, name, "metadata", "read")?;
    Ok(reply(StatusCode::OK, &render(gh, repo)))
}

fn valid_repo_name(name: &str) -> bool {
    (1..=100).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        && name != "."
        && name != ".."
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Generate {
    #[serde(default)]
    owner: Option<String>,
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    include_all_branches: bool,
    #[serde(default)]
    private: bool,
}

/// `POST /repos/{template_owner}/{template_repo}/generate`.
pub fn generate(sim: &Sim, req: &Req, t_owner: &str, t_name: &str) -> GhResult {
    let mut world = sim.world();
    let gh = &mut world.github;
    let who = required(gh, req)?;
    let template = repo_for(gh, Some(&who), t_owner, t_name, "contents", "read")?.clone();
    let asked: Generate = body(req)?;
    let _ = asked.include_all_branches;
    if !template.is_template {
        return Err(GhError::validation(
            "Repository",
            "template_repository",
            "custom",
            Some("is not a template repository"),
        ));
    }
    // Who the new repository belongs to, and the installation that will reach it.
    let (target, installation) = match &who {
        Caller::Token(Grant::User { app_id, user }) => {
            let app = gh.app(*app_id).ok_or_else(super::bad_credentials)?;
            let inst = gh
                .installations
                .iter()
                .find(|i| i.app_id == *app_id && i.account == *user)
                .map(|i| i.id);
            let can = app
                .permissions
                .get("administration")
                .is_some_and(|l| super::level_ok(l, "write"));
            match (inst, can) {
                (Some(inst), true) => (*user, inst),
                _ => return Err(super::not_accessible()),
            }
        }
        // An installation token acts as the App, which may create repositories in an
        // organization only; every account here is a user's.
        Caller::Token(Grant::Installation { .. }) => return Err(super::not_accessible()),
        Caller::App(_) => return Err(super::not_accessible()),
    };
    let login = gh
        .account(target)
        .map(|a| a.login.clone())
        .unwrap_or_default();
    if asked
        .owner
        .as_deref()
        .is_some_and(|o| !o.eq_ignore_ascii_case(&login))
    {
        return Err(super::not_accessible());
    }
    if !valid_repo_name(&asked.name) {
        return Err(GhError::validation("Repository", "name", "invalid", None));
    }
    if gh.repo_by_name(&login, &asked.name).is_some() {
        return Err(GhError::validation(
            "Repository",
            "name",
            "custom",
            Some("name already exists on this account"),
        ));
    }
    let id = gh.add_repo(target, &asked.name, asked.private);
    if let Some(repo) = gh.repo_mut(id) {
        repo.description = asked.description.unwrap_or_default();
        repo.files = template.files.clone();
        repo.commits = 1;
    }
    // A repository an App creates is added to the App's installation.
    if let Some(inst) = gh.installations.iter_mut().find(|i| i.id == installation) {
        if inst.selection == Selection::Selected {
            inst.repositories.push(id);
        }
    }
    let repo = gh.repo(id).ok_or_else(not_found)?;
    Ok(reply(StatusCode::CREATED, &render(gh, repo)))
}

fn content_permission(path: &str) -> &'static str {
    if path.starts_with(".github/workflows/") {
        "workflows"
    } else {
        "contents"
    }
}

/// A contents write's file, Base64 in its body.
pub(super) fn decode_content(b64: &str) -> Result<Vec<u8>, GhError> {
    decode_b64(b64).ok_or_else(|| GhError::new(422, "content is not valid Base64"))
}

/// GitHub's optimistic lock on a contents write: replacing a file takes its current
/// blob sha. The answer's status: 201 for a new file, 200 for a replaced one.
pub(super) fn write_status(
    existing: Option<&str>,
    given: Option<&str>,
    path: &str,
) -> Result<StatusCode, GhError> {
    match (existing, given) {
        (None, _) => Ok(StatusCode::CREATED),
        (Some(_), None) => Err(GhError::new(
            422,
            "Invalid request.\n\n\"sha\" wasn't supplied.",
        )),
        (Some(current), Some(given)) if current != given => {
            Err(GhError::new(409, format!("{path} does not match {given}")))
        }
        (Some(_), Some(_)) => Ok(StatusCode::OK),
    }
}

/// What every contents answer says of a file: its name, path, blob sha, size and API
/// `url` (with `query` after it, e.g. `?ref=` for a branch).
pub(super) fn file_fields(full: &str, path: &str, sha: &str, size: usize, query: &str) -> Value {
    json!({
        "type": "file",
        "name": path.rsplit('/').next().unwrap_or(path),
        "path": path,
        "sha": sha,
        "size": size,
        "url": format!("{API}/repos/{full}/contents/{path}{query}"),
    })
}

/// A file on `main`, with its page on github.com.
fn render_content(full: &str, path: &str, sha: &str, size: usize) -> Value {
    let mut file = file_fields(full, path, sha, size, "");
    file["html_url"] = json!(format!("https://github.com/{full}/blob/main/{path}"));
    file
}

/// `owner/name`, as GitHub spells a repository in its URLs.
pub(super) fn full_name(gh: &GitHub, repo: &Repo) -> String {
    let login = gh
        .account(repo.owner)
        .map(|a| a.login.clone())
        .unwrap_or_default();
    format!("{login}/{}", repo.name)
}

/// `GET /repos/{o}/{r}/contents/{path}` (files on `main` only).
pub fn get_contents(sim: &Sim, req: &Req, owner: &str, name: &str, path: &str) -> GhResult {
    let world = sim.world();
    let gh = &world.github;
    let who = caller(gh, req)?;
    let repo = repo_for(gh, who.as_ref(), owner, name, "contents", "read")?;
    if let Some(branch) = req.param("ref").filter(|r| *r != "main") {
        return super::pulls::get_on_branch(repo, &full_name(gh, repo), path, branch);
    }
    let file = repo.files.get(path).ok_or_else(not_found)?;
    let mut body = render_content(&full_name(gh, repo), path, &file.sha, file.content.len());
    body["encoding"] = json!("base64");
    body["content"] = json!(STANDARD.encode(&file.content));
    Ok(reply(StatusCode::OK, &body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutContents {
    message: String,
    content: String,
    #[serde(default)]
    sha: Option<String>,
    #[serde(default)]
    branch: Option<String>,
    #[serde(default)]
    committer: Option<Value>,
    #[serde(default)]
    author: Option<Value>,
}

/// `PUT /repos/{o}/{r}/contents/{path}`: creates (201) or updates (200, with the current
/// `sha`) one file as one commit on `main`.
pub fn put_contents(sim: &Sim, req: &Req, owner: &str, name: &str, path: &str) -> GhResult {
    let mut world = sim.world();
    let gh = &mut world.github;
    let id = writable_repo(gh, req, owner, name, content_permission(path))?;
    let asked: PutContents = body(req)?;
    let _ = (&asked.committer, &asked.author);
    if asked.message.trim().is_empty() {
        return Err(GhError::missing_field("Commit", "message"));
    }
    if let Some(branch) = asked.branch.as_deref().filter(|b| *b != "main") {
        let full = full_name(gh, gh.repo(id).ok_or_else(not_found)?);
        let repo = gh.repo_mut(id).ok_or_else(not_found)?;
        return super::pulls::put_on_branch(
            repo,
            &full,
            path,
            branch,
            &asked.content,
            asked.sha.as_deref(),
            &asked.message,
        );
    }
    if gh
        .repo(id)
        .is_some_and(|r| super::pulls::is_protected(r, "main"))
    {
        return Err(super::pulls::protected_refusal());
    }
    let content = decode_content(&asked.content)?;
    let repo = gh.repo_mut(id).ok_or_else(not_found)?;
    let existing = repo.files.get(path).map(|f| f.sha.as_str());
    let status = write_status(existing, asked.sha.as_deref(), path)?;
    let size = content.len();
    let sha = put_file(repo, path, content);
    let commit = super::state::blob_sha(format!("{}:{}", repo.id, repo.commits).as_bytes());
    let full = full_name(gh, gh.repo(id).ok_or_else(not_found)?);
    Ok(reply(
        status,
        &json!({
            "content": render_content(&full, path, &sha, size),
            "commit": { "sha": commit, "message": asked.message },
        }),
    ))
}

fn valid_environment(name: &str) -> bool {
    (1..=255).contains(&name.len()) && !name.chars().any(|c| c.is_control())
}

fn render_environment(full: &str, env: &Environment) -> Value {
    json!({
        "id": env.id,
        "node_id": format!("EN_{}", env.id),
        "name": env.name,
        "url": format!("{API}/repos/{full}/environments/{}", env.name),
        "html_url": format!("https://github.com/{full}/deployments/activity_log?environments_filter={}", env.name),
        "created_at": rfc3339_seconds(env.created_ms),
        "updated_at": rfc3339_seconds(env.created_ms),
        "protection_rules": [],
        "deployment_branch_policy": null,
    })
}

/// `PUT /repos/{o}/{r}/environments/{env}`: creates or updates an environment.
pub fn put_environment(sim: &Sim, req: &Req, owner: &str, name: &str, env: &str) -> GhResult {
    let mut world = sim.world();
    let gh = &mut world.github;
    let id = writable_repo(gh, req, owner, name, "administration")?;
    if !req.body.is_empty() {
        let _: serde_json::Map<String, Value> = body(req)?;
    }
    if !valid_environment(env) {
        return Err(GhError::validation("Environment", "name", "invalid", None));
    }
    let env_id = gh.next_id();
    let full = full_name(gh, gh.repo(id).ok_or_else(not_found)?);
    let repo = gh.repo_mut(id).ok_or_else(not_found)?;
    let environment = repo
        .environments
        .entry(env.to_string())
        .or_insert_with(|| Environment {
            id: env_id,
            name: env.to_string(),
            created_ms: now_ms(),
            secrets: Default::default(),
        });
    Ok(reply(
        StatusCode::OK,
        &render_environment(&full, environment),
    ))
}

/// The repository and environment for a secrets call; 404 for a missing environment.
fn environment_repo(
    gh: &GitHub,
    who: Option<&Caller>,
    owner: &str,
    name: &str,
    env: &str,
    level: &str,
) -> Result<u64, GhError> {
    let repo = repo_for(gh, who, owner, name, "environments", level)?;
    if !repo.environments.contains_key(env) {
        return Err(not_found());
    }
    Ok(repo.id)
}

/// `GET /repos/{o}/{r}/environments/{env}/secrets/public-key`.
pub fn public_key(sim: &Sim, req: &Req, owner: &str, name: &str, env: &str) -> GhResult {
    let mut world = sim.world();
    let gh = &mut world.github;
    let who = required(gh, req)?;
    let id = environment_repo(gh, Some(&who), owner, name, env, "read")?;
    let key = gh.sealing_key(id);
    Ok(reply(
        StatusCode::OK,
        &json!({
            "key_id": key.key_id,
            "key": STANDARD.encode(key.secret.public_key().as_bytes()),
        }),
    ))
}

/// GitHub's rule for secret and variable names.
fn valid_secret_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
        && !name.to_ascii_uppercase().starts_with("GITHUB_")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutSecret {
    encrypted_value: String,
    key_id: String,
}

/// `PUT /repos/{o}/{r}/environments/{env}/secrets/{name}`: the value must be a sealed
/// box to the repository's current key; 201 when created, 204 when updated.
pub fn put_secret(
    sim: &Sim,
    req: &Req,
    owner: &str,
    name: &str,
    env: &str,
    secret: &str,
) -> GhResult {
    let mut world = sim.world();
    let gh = &mut world.github;
    let who = required(gh, req)?;
    let id = environment_repo(gh, Some(&who), owner, name, env, "write")?;
    let asked: PutSecret = body(req)?;
    if !valid_secret_name(secret) {
        return Err(GhError::validation("Secret", "name", "invalid", None));
    }
    let key = gh.sealing_key(id).clone();
    if asked.key_id != key.key_id {
        return Err(GhError::validation("Secret", "key_id", "invalid", None));
    }
    let value = decode_b64(&asked.encrypted_value)
        .and_then(|sealed| key.secret.unseal(&sealed).ok())
        .ok_or_else(|| GhError::validation("Secret", "encrypted_value", "invalid", None))?;
    let repo = gh.repo_mut(id).ok_or_else(not_found)?;
    let environment = repo.environments.get_mut(env).ok_or_else(not_found)?;
    let existed = environment
        .secrets
        .insert(
            secret.to_ascii_uppercase(),
            Secret {
                value,
                updated_ms: now_ms(),
            },
        )
        .is_some();
    if existed {
        Ok(no_content())
    } else {
        Ok(reply(StatusCode::CREATED, &json!({})))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewVariable {
    name: String,
    value: String,
}

/// `POST /repos/{o}/{r}/actions/variables`: 201, or 409 when it exists.
pub fn create_variable(sim: &Sim, req: &Req, owner: &str, name: &str) -> GhResult {
    let mut world = sim.world();
    let gh = &mut world.github;
    let id = writable_repo(gh, req, owner, name, "actions_variables")?;
    let asked: NewVariable = body(req)?;
    if !valid_secret_name(&asked.name) {
        return Err(GhError::validation("Variable", "name", "invalid", None));
    }
    let repo = gh.repo_mut(id).ok_or_else(not_found)?;
    let key = asked.name.to_ascii_uppercase();
    if repo.variables.contains_key(&key) {
        return Err(GhError::new(
            409,
            "Already exists - Variable already exists",
        ));
    }
    let now = now_ms();
    repo.variables.insert(
        key,
        Variable {
            value: asked.value,
            created_ms: now,
            updated_ms: now,
        },
    );
    Ok(reply(StatusCode::CREATED, &json!({})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangedVariable {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    value: Option<String>,
}

/// `GET` or `PATCH /repos/{o}/{r}/actions/variables/{name}`.
pub fn variable(sim: &Sim, req: &Req, owner: &str, name: &str, var: &str) -> GhResult {
    let mut world = sim.world();
    let gh = &mut world.github;
    let who = required(gh, req)?;
    let patch = req.method == axum::http::Method::PATCH;
    let level = if patch { "write" } else { "read" };
    let id = repo_for(gh, Some(&who), owner, name, "actions_variables", level)?.id;
    let key = var.to_ascii_uppercase();
    if !patch {
        let repo = gh.repo(id).ok_or_else(not_found)?;
        let v = repo.variables.get(&key).ok_or_else(not_found)?;
        return Ok(reply(
            StatusCode::OK,
            &json!({
                "name": key,
                "value": v.value,
                "created_at": rfc3339_seconds(v.created_ms),
                "updated_at": rfc3339_seconds(v.updated_ms),
            }),
        ));
    }
    let asked: ChangedVariable = body(req)?;
    let repo = gh.repo_mut(id).ok_or_else(not_found)?;
    let mut current = repo.variables.remove(&key).ok_or_else(not_found)?;
    let new_key = match asked.name {
        Some(n) if !valid_secret_name(&n) => {
            repo.variables.insert(key, current);
            return Err(GhError::validation("Variable", "name", "invalid", None));
        }
        Some(n) => n.to_ascii_uppercase(),
        None => key,
    };
    if let Some(v) = asked.value {
        current.value = v;
    }
    current.updated_ms = now_ms();
    repo.variables.insert(new_key, current);
    Ok(no_content())
}
