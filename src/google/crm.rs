//! Cloud Resource Manager v3: the person's active projects, and creating a project.

use super::{paged, post_json, AccessToken, GoogleFailure};
use crate::config::Config;
use crate::http::encode;
use crate::ports::HttpClient;
use crate::types::{ProjectDisplayName, ProjectId};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A project as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectSummary {
    pub project_id: String,
    pub name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Project {
    project_id: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    state: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchResponse {
    #[serde(default)]
    projects: Vec<Project>,
    #[serde(default)]
    next_page_token: Option<String>,
}

/// Most projects the session keeps (the page shows a picker, not an inventory).
pub const MAX_PROJECTS: usize = 200;

/// The person's ACTIVE projects, across pages, up to [`MAX_PROJECTS`].
pub async fn active_projects(
    http: &impl HttpClient,
    config: &Config,
    token: &AccessToken,
) -> Result<Vec<ProjectSummary>, GoogleFailure> {
    let mut projects = Vec::new();
    let url = format!(
        "{}/v3/projects:search?query={}&pageSize=100",
        config.endpoints.crm_api,
        encode("state:ACTIVE")
    );
    paged(http, token, &url, 4, |page: SearchResponse| {
        projects.extend(
            page.projects
                .into_iter()
                .filter(|p| p.state == "ACTIVE")
                .map(|p| ProjectSummary {
                    name: if p.display_name.is_empty() {
                        p.project_id.clone()
                    } else {
                        p.display_name
                    },
                    project_id: p.project_id,
                }),
        );
        page.next_page_token
            .filter(|_| projects.len() < MAX_PROJECTS)
    })
    .await?;
    projects.truncate(MAX_PROJECTS);
    Ok(projects)
}

pub use super::longrunning::Operation;

pub async fn create_project(
    http: &impl HttpClient,
    config: &Config,
    token: &AccessToken,
    project_id: &ProjectId,
    display_name: &ProjectDisplayName,
) -> Result<Operation, GoogleFailure> {
    let body = json!({"projectId": project_id.as_str(), "displayName": display_name.as_str()});
    post_json(
        http,
        token,
        format!("{}/v3/projects", config.endpoints.crm_api),
        &body,
    )
    .await
}

pub async fn get_operation(
    http: &impl HttpClient,
    config: &Config,
    token: &AccessToken,
    name: &str,
) -> Result<Operation, GoogleFailure> {
    super::longrunning::get(http, &config.endpoints.crm_api, "v3", token, name).await
}
