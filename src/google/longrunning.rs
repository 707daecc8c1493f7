//! Google's long-running operations (`google.longrunning.Operation`), as Resource
//! Manager and Service Usage return them: `{name, done, error?, response?}`.
//! (Compute Engine has its own operation type, in [`super::compute`].)

use super::{Bearer, GoogleFailure};
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

impl<H: HttpClient> Bearer<'_, H> {
    /// Reads operation `name` from `{api}/{version}/operations/{id}`.
    pub(super) async fn operation(
        &self,
        api: &str,
        version: &str,
        name: &str,
    ) -> Result<Operation, GoogleFailure> {
        let id = name.strip_prefix("operations/").unwrap_or(name);
        let url = format!("{api}/{version}/operations/{}", encode(id));
        self.get_json(url).await
    }
}
