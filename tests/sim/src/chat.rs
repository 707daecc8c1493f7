//! The simulator's Telegram as a person sees it: a small chat page (`GET /_chat`) where
//! a newcomer creates a bot (what @BotFather does: a token to paste into claw.free),
//! writes to it as a Telegram user, and reads its replies. The page is plain HTML and
//! JavaScript served from here; it uses only the admin routes (`telegram/bots`,
//! `telegram/messages`, `telegram/sent`), polling for replies.

use crate::http::html;
use axum::http::StatusCode;
use axum::response::Response;

/// `GET /_chat`.
pub fn page() -> Response {
    html(StatusCode::OK, PAGE.to_string())
}

const PAGE: &str = include_str!("chat/page.html");
