//! A VM's serial output, for a deploy that failed and for a bot in the list.

use crate::app::App;
use crate::error::ApiError;
use crate::google::compute::InstanceRef;
use crate::google::{AccessToken, GoogleFailure};
use crate::ports::Platform;

/// The tail of a VM's serial output and the console link, for a deploy or a bot.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Logs {
    pub output: String,
    pub console_url: String,
}

/// Reads the serial output of `instance`.
pub async fn serial<P: Platform>(
    app: &App<'_, P>,
    token: &AccessToken,
    instance: &InstanceRef,
) -> Result<Logs, ApiError> {
    match app.google(token).compute().serial_tail(instance).await {
        Ok(output) => Ok(Logs {
            output,
            console_url: instance.console_url(app.config),
        }),
        Err(GoogleFailure::NotFound(_)) => Err(ApiError::NotFound(
            "The VM no longer exists, so it has no serial output.".into(),
        )),
        Err(failure) => Err(failure.into_api_error(app.config, Some(instance.project.as_str()))),
    }
}
