//! The application: the platform and configuration a request is handled with, and
//! the one function the edge calls for every `/api/` request.

use crate::config::Config;
use crate::error::ApiError;
use crate::google::{AccessToken, Google};
use crate::http::{Method, Request, Response};
use crate::ports::Platform;
use crate::{router, security};

/// What every handler receives besides its request.
pub struct App<'a, P: Platform> {
    pub platform: &'a P,
    pub config: &'a Config,
}

impl<'a, P: Platform> App<'a, P> {
    pub fn new(platform: &'a P, config: &'a Config) -> Self {
        Self { platform, config }
    }

    /// Unix seconds.
    pub fn now(&self) -> u64 {
        self.platform.now_secs()
    }

    /// The Google APIs, called with one person's access token.
    pub fn google<'t>(&'t self, token: &'t AccessToken) -> Google<'t, P> {
        Google::new(self.platform, self.config, token)
    }

    /// Handles one API request. Never fails: every error is a JSON `{error}` response,
    /// and every response carries the security headers.
    pub async fn handle(&self, request: Request) -> Response {
        let response = if request.method == Method::Other {
            // A method no route knows is refused before anything else looks at it.
            Err(ApiError::MethodNotAllowed)
        } else {
            match security::check_origin(&request, self.config) {
                Ok(()) => router::route(self, &request).await,
                Err(error) => Err(error),
            }
        };
        let response = response.unwrap_or_else(ApiError::into_response);
        let response = security::cors_headers(&request, self.config, response);
        security::add_security_headers(security::no_store(response), self.config)
    }
}

/// The answer when the configuration itself is broken: the site cannot work, and
/// says so without details (they are in the Worker's log).
pub fn misconfigured() -> Response {
    ApiError::Unavailable("claw.free is not configured correctly. Please try again later.".into())
        .into_response()
}
