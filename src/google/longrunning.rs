//! Google's long-running operations (`google.longrunning.Operation`), as Resource
//! Manager and Service Usage return them: `{name, done, error?, response?}`.
//! (Compute Engine has its own operation type, in [`super::compute`].)

use super::{get_json, AccessToken, GoogleFailure};
use crate::http::encode;
use crate::ports::HttpClient;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Operation {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub done: bool,
    #[serde(default)]
    pub error: Option<Status>,
}

/// A `google.rpc.Status`: the canonical code (6 is ALREADY_EXISTS) and a message.
#[derive(Debug, Clone, Deserialize)]
pub struct Status {
    #[serde(default)]
    pub code: i32,
    #[serde(default)]
    pub message: String,
}

/// Reads operation `name` from `{api}/{version}/operations/{id}`.
pub async fn get(
    http: &impl HttpClient,
    api: &str,
    version: &str,
    token: &AccessToken,
    name: &str,
) -> Result<Operation, GoogleFailure> {
    let id = name.strip_prefix("operations/").unwrap_or(name);
    let url = format!("{api}/{version}/operations/{}", encode(id));
    get_json(http, token, url).await
}
