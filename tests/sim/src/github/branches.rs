//! Branch protection (`PUT`/`GET /repos/{o}/{r}/branches/{branch}/protection`), the part
//! linking uses: requiring a pull request before anything reaches `main`. As on GitHub,
//! the four top-level rules must all be given (each may be `null`), the call needs the
//! `administration` permission, and a private repository of an account without GitHub
//! Pro cannot have protected branches.

use super::{body, caller, not_found, reply, repo_for, required, GhError, GhResult};
use crate::http::Req;
use crate::Sim;
use axum::http::StatusCode;
use serde_json::{json, Map, Value};

const REQUIRED: [&str; 4] = [
    "required_status_checks",
    "enforce_admins",
    "required_pull_request_reviews",
    "restrictions",
];

/// `PUT /repos/{o}/{r}/branches/{branch}/protection`.
pub fn protect(sim: &Sim, req: &Req, owner: &str, name: &str, branch: &str) -> GhResult {
    let mut world = sim.world();
    let gh = &mut world.github;
    let who = required(gh, req)?;
    let repo = repo_for(gh, Some(&who), owner, name, "administration", "write")?;
    let id = repo.id;
    let pro = gh.account(repo.owner).is_some_and(|a| a.pro);
    if repo.private && !pro {
        return Err(GhError::new(
            403,
            "Upgrade to GitHub Pro or make this repository public to enable this feature.",
        ));
    }
    if branch != "main" {
        return Err(GhError::new(404, "Branch not found"));
    }
    let asked: Map<String, Value> = body(req)?;
    for field in REQUIRED {
        if !asked.contains_key(field) {
            return Err(GhError::new(
                422,
                format!("Invalid request.\n\n\"{field}\" wasn't supplied."),
            ));
        }
    }
    let reviews = &asked["required_pull_request_reviews"];
    if !(reviews.is_null() || reviews.is_object()) {
        return Err(GhError::new(
            422,
            "Invalid request.\n\nFor 'properties/required_pull_request_reviews', is not an object.",
        ));
    }
    let rendered = json!({
        "url": format!("https://api.github.com/repos/{owner}/{name}/branches/{branch}/protection"),
        "required_status_checks": asked["required_status_checks"],
        "enforce_admins": { "enabled": asked["enforce_admins"] == true },
        "required_pull_request_reviews": if reviews.is_null() { Value::Null } else {
            json!({
                "required_approving_review_count":
                    reviews.get("required_approving_review_count").cloned().unwrap_or(json!(0)),
                "dismiss_stale_reviews": reviews.get("dismiss_stale_reviews").cloned().unwrap_or(json!(false)),
            })
        },
        "restrictions": asked["restrictions"],
        "allow_force_pushes": { "enabled": asked.get("allow_force_pushes") == Some(&json!(true)) },
        "allow_deletions": { "enabled": asked.get("allow_deletions") == Some(&json!(true)) },
    });
    let repo = gh.repo_mut(id).ok_or_else(not_found)?;
    repo.protection.insert(branch.to_string(), rendered.clone());
    Ok(reply(StatusCode::OK, &rendered))
}

/// `GET /repos/{o}/{r}/branches/{branch}/protection`.
pub fn protection(sim: &Sim, req: &Req, owner: &str, name: &str, branch: &str) -> GhResult {
    let world = sim.world();
    let gh = &world.github;
    let who = caller(gh, req)?;
    let repo = repo_for(gh, who.as_ref(), owner, name, "administration", "read")?;
    repo.protection
        .get(branch)
        .map(|p| reply(StatusCode::OK, p))
        .ok_or_else(|| GhError::new(404, "Branch not protected"))
}
