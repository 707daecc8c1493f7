//! Service Usage v1: whether the Compute Engine API is on in a project, and turning it
//! (or, for GitHub mode, another service) on.

use super::{Bearer, Google, GoogleFailure};
use crate::config::Config;
use crate::http::encode;
use crate::ports::HttpClient;
use crate::types::ProjectId;

pub const COMPUTE_SERVICE: &str = "compute.googleapis.com";

pub use super::longrunning::Operation;

fn service_url(config: &Config, project: &ProjectId) -> String {
    format!(
        "{}/v1/projects/{}/services/{COMPUTE_SERVICE}",
        config.endpoints.serviceusage_api,
        encode(project.as_str())
    )
}

/// Service Usage's calls, with the caller's token: `google.serviceusage()`.
pub struct ServiceUsage<'a, H>(pub(super) Google<'a, H>);

impl<H: HttpClient> ServiceUsage<'_, H> {
    fn api(&self) -> &str {
        &self.0.config.endpoints.serviceusage_api
    }

    pub async fn compute_enabled(self, project: &ProjectId) -> Result<bool, GoogleFailure> {
        let url = service_url(self.0.config, project);
        let service: serde_json::Value = self.0.bearer.get_json(url).await?;
        Ok(service["state"] == "ENABLED")
    }

    pub async fn enable_compute(self, project: &ProjectId) -> Result<Operation, GoogleFailure> {
        self.0
            .bearer
            .enable(self.api(), project.as_str(), COMPUTE_SERVICE)
            .await
    }

    pub async fn get_operation(self, name: &str) -> Result<Operation, GoogleFailure> {
        self.0.bearer.operation(self.api(), "v1", name).await
    }
}

impl<H: HttpClient> Bearer<'_, H> {
    /// `services.enable` of `service` in `project`, on the Service Usage API at `api`.
    pub(super) async fn enable(
        &self,
        api: &str,
        project: &str,
        service: &str,
    ) -> Result<Operation, GoogleFailure> {
        let url = format!(
            "{api}/v1/projects/{}/services/{}:enable",
            encode(project),
            encode(service)
        );
        self.post_json(url, &serde_json::json!({})).await
    }
}
