//! Branches other than `main`, git refs and pull requests: what a bot's VM uses to
//! propose a change. `GET /repos/{o}/{r}/installation` (the App finding its
//! installation on a repository), `GET .../git/ref/heads/{branch}`, `POST .../git/refs`
//! (a branch from a commit), `DELETE .../git/refs/heads/{branch}`, the contents API on a branch (`ref=` to read, `branch`
//! to write), and `POST .../pulls`. Each needs what GitHub documents: `contents` to
//! read or write a branch, `pull_requests: write` to open a pull request, and
//! `workflows` for anything under `.github/workflows/` (checked by the contents API
//! itself). A protected branch takes no direct writes: "Changes must be made through a
//! pull request."
//!
//! Commits are modelled by their ids only: a branch holds its files and the commit
//! it points at; `main`'s commit is derived from the repository's commit count.

use super::app::render_installation;
use super::repos::{decode_content, file_fields, full_name, write_status};
use super::state::{blob_sha, File, Repo};
use super::{
    body, caller, not_found, reply, repo_for, required, writable_repo, Caller, GhError, GhResult,
};
use crate::http::Req;
use crate::Sim;
use axum::http::StatusCode;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const API: &str = "https://api.github.com";
pub const MAIN: &str = "main";

/// A branch other than `main`: its files and the commit it points at.
#[derive(Debug, Clone)]
pub struct Branch {
    pub files: BTreeMap<String, File>,
    pub commit: String,
    /// How many commits it has on top of the commit it was made from.
    pub ahead: u64,
}

/// A pull request, with the files its head branch changes against `main`.
#[derive(Debug, Clone)]
pub struct Pull {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub head: String,
    pub base: String,
    pub head_commit: String,
    /// Path to content, for every file the head adds or changes.
    pub changed: BTreeMap<String, Vec<u8>>,
}

/// `main`'s current commit id.
pub fn main_commit(repo: &Repo) -> String {
    blob_sha(format!("{}:{}", repo.id, repo.commits).as_bytes())
}

/// The commit a branch points at, `None` when there is no such branch.
fn head_of(repo: &Repo, branch: &str) -> Option<String> {
    if branch == MAIN {
        Some(main_commit(repo))
    } else {
        repo.branches.get(branch).map(|b| b.commit.clone())
    }
}

/// `GET /repos/{o}/{r}/installation` with the App's JWT.
pub fn installation(sim: &Sim, req: &Req, owner: &str, name: &str) -> GhResult {
    let world = sim.world();
    let gh = &world.github;
    let Caller::App(app) = required(gh, req)? else {
        return Err(GhError::new(401, "A JSON web token could not be decoded"));
    };
    let repo = gh.repo_by_name(owner, name).ok_or_else(not_found)?;
    let inst = gh
        .installations
        .iter()
        .find(|i| i.app_id == app && i.covers(repo))
        .ok_or_else(not_found)?;
    Ok(reply(
        StatusCode::OK,
        &render_installation(gh, &sim.base_url, inst),
    ))
}

fn render_ref(full: &str, branch: &str, commit: &str) -> Value {
    json!({
        "ref": format!("refs/heads/{branch}"),
        "node_id": format!("REF_{commit}"),
        "url": format!("{API}/repos/{full}/git/refs/heads/{branch}"),
        "object": {
            "sha": commit,
            "type": "commit",
            "url": format!("{API}/repos/{full}/git/commits/{commit}"),
        },
    })
}

/// `GET /repos/{o}/{r}/git/ref/heads/{branch}`.
pub fn get_ref(sim: &Sim, req: &Req, owner: &str, name: &str, branch: &str) -> GhResult {
    let world = sim.world();
    let gh = &world.github;
    let who = caller(gh, req)?;
    let repo = repo_for(gh, who.as_ref(), owner, name, "contents", "read")?;
    let commit = head_of(repo, branch).ok_or_else(not_found)?;
    Ok(reply(
        StatusCode::OK,
        &render_ref(&full_name(gh, repo), branch, &commit),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRef {
    #[serde(rename = "ref")]
    reference: String,
    sha: String,
}

/// GitHub's rule for branch names, roughly `git check-ref-format`.
fn valid_branch(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 250
        && !name.starts_with(['-', '/', '.'])
        && !name.ends_with(['/', '.'])
        && !name.contains("..")
        && !name.contains("//")
        && !name.contains("@{")
        && !name.ends_with(".lock")
        && name
            .chars()
            .all(|c| !c.is_control() && !" ~^:?*[\\".contains(c))
}

/// `POST /repos/{o}/{r}/git/refs`: a branch at one of the repository's commits.
pub fn create_ref(sim: &Sim, req: &Req, owner: &str, name: &str) -> GhResult {
    let mut world = sim.world();
    let gh = &mut world.github;
    let id = writable_repo(gh, req, owner, name, "contents")?;
    let asked: NewRef = body(req)?;
    let branch = asked
        .reference
        .strip_prefix("refs/heads/")
        .filter(|b| valid_branch(b))
        .ok_or_else(|| {
            GhError::new(
                422,
                "Reference name must start with 'refs/' and have at least two slashes.",
            )
        })?
        .to_string();
    let full = full_name(gh, gh.repo(id).ok_or_else(not_found)?);
    let repo = gh.repo_mut(id).ok_or_else(not_found)?;
    if branch == MAIN || repo.branches.contains_key(&branch) {
        return Err(GhError::new(422, "Reference already exists"));
    }
    // The commit must be one of the repository's: `main`'s or another branch's head.
    let files = if asked.sha == main_commit(repo) {
        repo.files.clone()
    } else {
        repo.branches
            .values()
            .find(|b| b.commit == asked.sha)
            .map(|b| b.files.clone())
            .ok_or_else(|| GhError::new(422, "Object does not exist"))?
    };
    repo.branches.insert(
        branch.clone(),
        Branch {
            files,
            commit: asked.sha.clone(),
            ahead: 0,
        },
    );
    Ok(reply(
        StatusCode::CREATED,
        &render_ref(&full, &branch, &asked.sha),
    ))
}

/// `DELETE /repos/{o}/{r}/git/refs/heads/{branch}`: 204; `main` is never deleted here.
pub fn delete_ref(sim: &Sim, req: &Req, owner: &str, name: &str, branch: &str) -> GhResult {
    let mut world = sim.world();
    let gh = &mut world.github;
    let id = writable_repo(gh, req, owner, name, "contents")?;
    let repo = gh.repo_mut(id).ok_or_else(not_found)?;
    if branch == MAIN {
        return Err(GhError::new(422, "Cannot delete the default branch"));
    }
    if repo.branches.remove(branch).is_none() {
        return Err(GhError::new(422, "Reference does not exist"));
    }
    Ok(super::no_content())
}

/// Whether a direct write to `branch` is refused by its protection.
pub fn is_protected(repo: &Repo, branch: &str) -> bool {
    repo.protection.contains_key(branch)
}

/// The refusal of a direct write to a protected branch.
pub fn protected_refusal() -> GhError {
    let mut e = GhError::new(409, "Changes must be made through a pull request.");
    e.body["documentation_url"] =
        json!("https://docs.github.com/articles/about-protected-branches");
    e
}

/// `GET /repos/{o}/{r}/contents/{path}?ref={branch}` for a branch other than `main`.
pub fn get_on_branch(repo: &Repo, full: &str, path: &str, branch: &str) -> GhResult {
    let branch = repo
        .branches
        .get(branch)
        .ok_or_else(|| GhError::new(404, format!("No commit found for the ref {branch}")))?;
    let file = branch.files.get(path).ok_or_else(not_found)?;
    let mut body = file_fields(full, path, &file.sha, file.content.len(), "");
    body["encoding"] = json!("base64");
    body["content"] = json!(STANDARD.encode(&file.content));
    Ok(reply(StatusCode::OK, &body))
}

/// `PUT /repos/{o}/{r}/contents/{path}` with `branch` other than `main`: one commit on
/// that branch. The caller's permissions (`workflows` for workflow files) and the body's
/// message were checked by the contents API.
pub fn put_on_branch(
    repo: &mut Repo,
    full: &str,
    path: &str,
    branch: &str,
    content_b64: &str,
    sha: Option<&str>,
    message: &str,
) -> GhResult {
    let content = decode_content(content_b64)?;
    let repo_id = repo.id;
    let head = repo
        .branches
        .get_mut(branch)
        .ok_or_else(|| GhError::new(404, format!("Branch {branch} not found")))?;
    let existing = head.files.get(path).map(|f| f.sha.as_str());
    let status = write_status(existing, sha, path)?;
    let blob = blob_sha(&content);
    let size = content.len();
    head.files.insert(
        path.to_string(),
        File {
            content,
            sha: blob.clone(),
        },
    );
    head.ahead += 1;
    head.commit = blob_sha(format!("{repo_id}:{branch}:{}:{blob}", head.ahead).as_bytes());
    Ok(reply(
        status,
        &json!({
            "content": file_fields(full, path, &blob, size, &format!("?ref={branch}")),
            "commit": { "sha": head.commit, "message": message },
        }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPull {
    title: String,
    head: String,
    base: String,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    draft: bool,
    #[serde(default)]
    maintainer_can_modify: Option<bool>,
}

/// The files `branch` adds or changes against `main`.
fn changes(repo: &Repo, branch: &Branch) -> BTreeMap<String, Vec<u8>> {
    branch
        .files
        .iter()
        .filter(|(path, file)| repo.files.get(*path).is_none_or(|m| m.sha != file.sha))
        .map(|(path, file)| (path.clone(), file.content.clone()))
        .collect()
}

fn render_pull(full: &str, pull: &Pull) -> Value {
    json!({
        "number": pull.number,
        "state": "open",
        "title": pull.title,
        "body": pull.body,
        "url": format!("{API}/repos/{full}/pulls/{}", pull.number),
        "html_url": format!("https://github.com/{full}/pull/{}", pull.number),
        "head": {"ref": pull.head, "sha": pull.head_commit},
        "base": {"ref": pull.base},
        "changed_files": pull.changed.len(),
    })
}

/// `POST /repos/{o}/{r}/pulls`: a pull request from a branch of the same repository
/// into `main`.
pub fn create_pull(sim: &Sim, req: &Req, owner: &str, name: &str) -> GhResult {
    let mut world = sim.world();
    let gh = &mut world.github;
    let id = writable_repo(gh, req, owner, name, "pull_requests")?;
    let asked: NewPull = body(req)?;
    let _ = (asked.draft, asked.maintainer_can_modify);
    let invalid = |field: &str| GhError::validation("PullRequest", field, "invalid", None);
    if asked.title.trim().is_empty() {
        return Err(GhError::missing_field("PullRequest", "title"));
    }
    let full = full_name(gh, gh.repo(id).ok_or_else(not_found)?);
    // `owner:branch` names a branch of this repository too.
    let head = match asked.head.split_once(':') {
        Some((o, b)) if o.eq_ignore_ascii_case(owner) => b.to_string(),
        Some(_) => return Err(invalid("head")),
        None => asked.head.clone(),
    };
    let repo = gh.repo_mut(id).ok_or_else(not_found)?;
    if asked.base != MAIN {
        return Err(invalid("base"));
    }
    let branch = repo.branches.get(&head).ok_or_else(|| invalid("head"))?;
    let changed = changes(repo, branch);
    if changed.is_empty() {
        return Err(GhError::validation(
            "PullRequest",
            "base",
            "custom",
            Some(&format!("No commits between {MAIN} and {head}")),
        ));
    }
    if repo.pulls.iter().any(|p| p.head == head) {
        return Err(GhError::validation(
            "PullRequest",
            "head",
            "custom",
            Some(&format!(
                "A pull request already exists for {owner}:{head}."
            )),
        ));
    }
    let pull = Pull {
        number: repo.pulls.len() as u64 + 1,
        title: asked.title,
        body: asked.body.unwrap_or_default(),
        head: head.clone(),
        base: asked.base,
        head_commit: branch.commit.clone(),
        changed,
    };
    let rendered = render_pull(&full, &pull);
    repo.pulls.push(pull);
    Ok(reply(StatusCode::CREATED, &rendered))
}

/// The admin view of a repository's branches and pull requests (file contents base64).
pub fn admin_view(repo: &Repo) -> Value {
    let pulls: Vec<Value> = repo
        .pulls
        .iter()
        .map(|p| {
            let files: serde_json::Map<String, Value> = p
                .changed
                .iter()
                .map(|(path, c)| (path.clone(), json!(STANDARD.encode(c))))
                .collect();
            json!({"number": p.number, "title": p.title, "body": p.body,
                   "head": p.head, "base": p.base, "files": files})
        })
        .collect();
    let branches: Vec<&String> = repo.branches.keys().collect();
    json!({
        "branches": branches,
        "pulls": pulls,
        "protected": repo.protection.keys().collect::<Vec<_>>(),
        "mainCommit": main_commit(repo),
    })
}
