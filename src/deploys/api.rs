//! HTTP handlers for deploys. Being written.
use crate::app::App;
use crate::error::ApiError;
use crate::http::{Request, Response};
use crate::ports::Platform;

fn todo() -> ApiError {
    ApiError::NotFound("not implemented yet".into())
}
pub fn vm_name_preview(_r: &Request) -> Result<Response, ApiError> {
    Err(todo())
}
pub async fn start<P: Platform>(_a: &App<'_, P>, _r: &Request) -> Result<Response, ApiError> {
    Err(todo())
}
pub async fn status<P: Platform>(
    _a: &App<'_, P>,
    _r: &Request,
    _id: &str,
) -> Result<Response, ApiError> {
    Err(todo())
}
pub async fn deliver_secret<P: Platform>(
    _a: &App<'_, P>,
    _r: &Request,
    _id: &str,
) -> Result<Response, ApiError> {
    Err(todo())
}
pub async fn logs<P: Platform>(
    _a: &App<'_, P>,
    _r: &Request,
    _id: &str,
) -> Result<Response, ApiError> {
    Err(todo())
}
