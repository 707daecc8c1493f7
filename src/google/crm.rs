//! Cloud Resource Manager v3: the person's active projects, and creating a project.

use super::{Google, GoogleFailure};
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

pub use super::longrunning::Operation;

/// Resource Manager's calls, with the caller's token: `google.crm()`.
pub struct Crm<'a, H>(pub(super) Google<'a, H>);

impl<H: HttpClient> Crm<'_, H> {
    fn api(&self) -> &str {
        &self.0.config.endpoints.crm_api
    }

    /// The person's ACTIVE projects, across pages, up to [`MAX_PROJECTS`].
    pub async fn active_projects(self) -> Result<Vec<ProjectSummary>, GoogleFailure> {
        let mut projects = Vec::new();
        let url = format!(
            "{}/v3/projects:search?query={}&pageSize=100",
            self.api(),
            encode("state:ACTIVE")
        );
        self.0
            .bearer
            .paged(&url, 4, |page: SearchResponse| {
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

    /// A project's resource name, `projects/{number}`.
    pub async fn project_name(self, project: &ProjectId) -> Result<String, GoogleFailure> {
        #[derive(Deserialize)]
        struct Named {
            name: String,
        }
        let url = format!("{}/v3/projects/{}", self.api(), encode(project.as_str()));
        let named: Named = self.0.bearer.get_json(url).await?;
        Ok(named.name)
    }

    pub async fn create_project(
        self,
        project_id: &ProjectId,
        display_name: &ProjectDisplayName,
    ) -> Result<Operation, GoogleFailure> {
        let body = json!({"projectId": project_id.as_str(), "displayName": display_name.as_str()});
        let url = format!("{}/v3/projects", self.api());
        self.0.bearer.post_json(url, &body).await
    }

    pub async fn get_operation(self, name: &str) -> Result<Operation, GoogleFailure> {
        self.0.bearer.operation(self.api(), "v3", name).await
    }
}
