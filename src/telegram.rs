//! Telegram. Being written.
use crate::app::App;
use crate::error::ApiError;
use crate::http::{Request, Response};
use crate::ports::Platform;
pub async fn detect_user<P: Platform>(_a: &App<'_, P>, _r: &Request) -> Result<Response, ApiError> {
    Err(ApiError::NotFound("not implemented yet".into()))
}
