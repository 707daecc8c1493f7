//! Sign-in. Being written.
use crate::app::App;
use crate::error::ApiError;
use crate::http::{Request, Response};
use crate::ports::Platform;
fn todo() -> ApiError {
    ApiError::NotFound("not implemented yet".into())
}
pub async fn start<P: Platform>(_a: &App<'_, P>, _r: &Request) -> Result<Response, ApiError> {
    Err(todo())
}
pub async fn callback<P: Platform>(_a: &App<'_, P>, _r: &Request) -> Result<Response, ApiError> {
    Err(todo())
}
pub async fn logout<P: Platform>(_a: &App<'_, P>, _r: &Request) -> Result<Response, ApiError> {
    Err(todo())
}
pub async fn logout_redirect<P: Platform>(
    _a: &App<'_, P>,
    _r: &Request,
) -> Result<Response, ApiError> {
    Err(todo())
}
pub async fn session<P: Platform>(_a: &App<'_, P>, _r: &Request) -> Result<Response, ApiError> {
    Err(todo())
}
pub async fn create_project<P: Platform>(
    _a: &App<'_, P>,
    _r: &Request,
) -> Result<Response, ApiError> {
    Err(todo())
}
