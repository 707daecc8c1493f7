//! The admin routes of simulated GitHub under `/_admin/github/` (tests only): register
//! an App (what its owner does once in GitHub's settings), sign in as someone, choose the repositories the
//! next installation covers, make a repository for the signed-in account (one to adopt),
//! expire every token, set an account's plan, read a repository back with its opened
//! secrets, branch protection, branches and pull requests, write a file on `main` as its
//! owner, and protect a branch.

use super::app::{register, NewApp};
use super::state::{GitHub, Repo};
use crate::http::{json, ok_json, Req};
use crate::Sim;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json as j, Map, Value};

/// Why an admin request was refused: a status and a message.
type Refusal = (StatusCode, String);

fn parse<T: DeserializeOwned>(req: &Req) -> Result<T, Refusal> {
    serde_json::from_slice(&req.body)
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstallChoice {
    /// Repository names of the signed-in account; `null` for all repositories.
    repositories: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRepo {
    name: String,
    #[serde(default)]
    private: bool,
}

/// Who is signed in on simulated github.com (made if new).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    login: String,
}

/// An account's GitHub plan: `free` or `pro`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Plan {
    login: String,
    plan: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TokenTtl {
    installation_token_ttl_secs: u64,
}

pub fn handle(sim: &Sim, req: &Req, path: &[&str]) -> Response {
    let result = match (&req.method, path) {
        (&Method::POST, ["actions", "jobs"]) => {
            parse::<super::actions_oidc::NewJob>(req).and_then(|job| {
                super::actions_oidc::start_job(sim, job)
                    .map(|v| ok_json(&v))
                    .map_err(|e| (StatusCode::BAD_REQUEST, e))
            })
        }
        (&Method::POST, ["apps"]) => parse::<NewApp>(req).and_then(|app| {
            register(&mut sim.world().github, app)
                .map(|v| ok_json(&v))
                .map_err(|e| (StatusCode::BAD_REQUEST, e))
        }),
        (&Method::POST, ["install-choice"]) => parse::<InstallChoice>(req).map(|c| {
            sim.world().github.install_choice = c.repositories;
            ok_json(&j!({ "ok": true }))
        }),
        (&Method::POST, ["repos"]) => parse::<NewRepo>(req).map(|r| {
            let mut world = sim.world();
            let gh = &mut world.github;
            let owner = gh.signed_in;
            let id = gh.add_repo(owner, &r.name, r.private);
            ok_json(&j!({ "id": id }))
        }),
        (&Method::POST, ["sign-in"]) => parse::<SignIn>(req).map(|s| {
            let mut world = sim.world();
            let gh = &mut world.github;
            let id = gh.add_account(&s.login, &s.login);
            gh.signed_in = id;
            ok_json(&j!({ "id": id }))
        }),
        (&Method::POST, ["plan"]) => parse::<Plan>(req).and_then(|p| {
            let mut world = sim.world();
            let gh = &mut world.github;
            let id = gh
                .account_by_login(&p.login)
                .map(|a| a.id)
                .ok_or((StatusCode::NOT_FOUND, format!("no account {}", p.login)))?;
            if let Some(account) = gh.accounts.iter_mut().find(|a| a.id == id) {
                account.pro = p.plan == "pro";
            }
            Ok(ok_json(&j!({ "ok": true })))
        }),
        (&Method::POST, ["tokens", "expire"]) => {
            let mut world = sim.world();
            let now = crate::clock::now_ms();
            let mut expired = 0;
            for t in world.github.tokens.values_mut() {
                if t.expires_ms > now {
                    t.expires_ms = now;
                    expired += 1;
                }
            }
            Ok(ok_json(&j!({ "expired": expired })))
        }
        (&Method::POST, ["config"]) => parse::<TokenTtl>(req).map(|c| {
            sim.world().github.installation_token_ttl_ms = c.installation_token_ttl_secs * 1000;
            ok_json(&j!({ "ok": true }))
        }),
        (&Method::GET, ["repos", owner, name]) => Ok(read_repo(sim, owner, name)),
        (&Method::GET, ["repos", owner, name, "pulls"]) => {
            let world = sim.world();
            match world.github.repo_by_name(owner, name) {
                Some(repo) => Ok(ok_json(&super::pulls::admin_view(repo))),
                None => Err((StatusCode::NOT_FOUND, "no such repository".into())),
            }
        }
        (&Method::POST, ["repos", owner, name, "files"]) => {
            parse::<RepoFile>(req).and_then(|f| put_repo_file(sim, owner, name, f))
        }
        (&Method::POST, ["repos", owner, name, "protect"]) => {
            parse::<Protect>(req).and_then(|p| {
                let mut world = sim.world();
                // As a `PUT .../protection` that requires a pull request renders it.
                repo_named(&mut world.github, owner, name)?.protection.insert(
                p.branch,
                j!({"required_pull_request_reviews": {"required_approving_review_count": 0}}),
            );
                Ok(ok_json(&j!({ "ok": true })))
            })
        }
        _ => Err((
            StatusCode::NOT_FOUND,
            format!(
                "no admin route {} /_admin/github/{}",
                req.method,
                path.join("/")
            ),
        )),
    };
    result.unwrap_or_else(|(status, error)| json(status, &j!({ "error": error })))
}

/// A file written on `main` as its owner would (one commit), base64.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RepoFile {
    path: String,
    content: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Protect {
    branch: String,
}

/// The repository `owner/name` an admin call changes, or its 404.
fn repo_named<'g>(gh: &'g mut GitHub, owner: &str, name: &str) -> Result<&'g mut Repo, Refusal> {
    let id = gh.repo_by_name(owner, name).map(|r| r.id);
    id.and_then(|id| gh.repo_mut(id))
        .ok_or((StatusCode::NOT_FOUND, "no such repository".to_string()))
}

fn put_repo_file(sim: &Sim, owner: &str, name: &str, file: RepoFile) -> Result<Response, Refusal> {
    let content = STANDARD.decode(&file.content).map_err(|_| {
        (
            StatusCode::BAD_REQUEST,
            "content must be base64".to_string(),
        )
    })?;
    let mut world = sim.world();
    let repo = repo_named(&mut world.github, owner, name)?;
    let sha = super::state::put_file(repo, &file.path, content);
    Ok(ok_json(&j!({ "sha": sha })))
}

/// A repository as a test wants to see it: files (base64), environments with their
/// opened secrets (base64), variables and installation coverage.
fn read_repo(sim: &Sim, owner: &str, name: &str) -> Response {
    let world = sim.world();
    let gh = &world.github;
    let Some(repo) = gh.repo_by_name(owner, name) else {
        return json(
            StatusCode::NOT_FOUND,
            &j!({ "error": "no such repository" }),
        );
    };
    let files: Map<String, Value> = repo
        .files
        .iter()
        .map(|(p, f)| (p.clone(), j!(STANDARD.encode(&f.content))))
        .collect();
    let environments: Map<String, Value> = repo
        .environments
        .iter()
        .map(|(n, e)| {
            let secrets: Map<String, Value> = e
                .secrets
                .iter()
                .map(|(k, s)| (k.clone(), j!(STANDARD.encode(&s.value))))
                .collect();
            (n.clone(), j!({ "secrets": secrets }))
        })
        .collect();
    let variables: Map<String, Value> = repo
        .variables
        .iter()
        .map(|(k, v)| (k.clone(), j!(v.value)))
        .collect();
    let installations: Vec<u64> = gh
        .installations
        .iter()
        .filter(|i| i.covers(repo))
        .map(|i| i.id)
        .collect();
    ok_json(&j!({
        "id": repo.id,
        "private": repo.private,
        "protection": repo.protection,
        "commits": repo.commits,
        "files": files,
        "environments": environments,
        "variables": variables,
        "installations": installations,
    }))
}
