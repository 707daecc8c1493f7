//! `GET /api/health`: the Worker answers and knows its version.

use crate::app::App;
use crate::http::Response;
use crate::ports::Platform;
use serde_json::json;

pub fn health<P: Platform>(app: &App<'_, P>) -> Response {
    Response::json(
        200,
        &json!({"ok": true, "service": "claw-free", "version": app.config.version}),
    )
}
