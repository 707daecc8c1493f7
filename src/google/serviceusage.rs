//! Service Usage v1: whether the Compute Engine API is on in a project, and turning it
//! (or, for GitHub mode, another service) on.

use super::{get_json, post_json, AccessToken, GoogleFailure};
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

pub async fn compute_enabled(
    http: &impl HttpClient,
    config: &Config,
    token: &AccessToken,
    project: &ProjectId,
) -> Result<bool, GoogleFailure> {
    let service: serde_json::Value = get_json(http, token, service_url(config, project)).await?;
    Ok(service["state"] == "ENABLED")
}

pub async fn enable_compute(
    http: &impl HttpClient,
    config: &Config,
    token: &AccessToken,
    project: &ProjectId,
) -> Result<Operation, GoogleFailure> {
    let api = &config.endpoints.serviceusage_api;
    enable(http, api, token, project.as_str(), COMPUTE_SERVICE).await
}

/// `services.enable` of `service` in `project`, on the Service Usage API at `api`.
pub async fn enable(
    http: &impl HttpClient,
    api: &str,
    token: &AccessToken,
    project: &str,
    service: &str,
) -> Result<Operation, GoogleFailure> {
    let url = format!(
        "{api}/v1/projects/{}/services/{}:enable",
        encode(project),
        encode(service)
    );
    post_json(http, token, url, &serde_json::json!({})).await
}

pub async fn get_operation(
    http: &impl HttpClient,
    config: &Config,
    token: &AccessToken,
    name: &str,
) -> Result<Operation, GoogleFailure> {
    super::longrunning::get(http, &config.endpoints.serviceusage_api, "v1", token, name).await
}
