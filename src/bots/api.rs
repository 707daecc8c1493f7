//! HTTP handlers for bots. Being written.
use crate::app::App;
use crate::error::ApiError;
use crate::http::{Request, Response};
use crate::ports::Platform;

fn todo() -> ApiError {
    ApiError::NotFound("not implemented yet".into())
}
pub async fn list<P: Platform>(_a: &App<'_, P>, _r: &Request) -> Result<Response, ApiError> {
    Err(todo())
}
pub async fn get<P: Platform>(
    _a: &App<'_, P>,
    _r: &Request,
    _t: (&str, &str, &str),
) -> Result<Response, ApiError> {
    Err(todo())
}
pub async fn delete<P: Platform>(
    _a: &App<'_, P>,
    _r: &Request,
    _t: (&str, &str, &str),
) -> Result<Response, ApiError> {
    Err(todo())
}
pub async fn rotate_secret<P: Platform>(
    _a: &App<'_, P>,
    _r: &Request,
    _t: (&str, &str, &str),
) -> Result<Response, ApiError> {
    Err(todo())
}
pub async fn logs<P: Platform>(
    _a: &App<'_, P>,
    _r: &Request,
    _t: (&str, &str, &str),
) -> Result<Response, ApiError> {
    Err(todo())
}
