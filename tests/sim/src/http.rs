//! The simulator's own view of an HTTP exchange: a parsed request (path segments,
//! query pairs, headers, body) and the small response builders every API uses.

use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// One request, already read in full (bodies here are small).
#[derive(Debug)]
pub struct Req {
    pub method: Method,
    /// The percent-decoded path segments, without the empty leading one.
    pub segments: Vec<String>,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Req {
    pub fn new(
        method: Method,
        path: &str,
        raw_query: Option<&str>,
        headers: HeaderMap,
        body: Bytes,
    ) -> Self {
        let segments = path
            .trim_start_matches('/')
            .split('/')
            .map(percent_decode)
            .collect();
        Self {
            method,
            segments,
            query: raw_query.map(parse_form).unwrap_or_default(),
            headers,
            body,
        }
    }

    /// The last value of a query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A query parameter that must be a number in `range`: `Ok(None)` when it is
    /// absent, `Err` with the text it had when that is not such a number (each API
    /// words that refusal its own way).
    pub fn number_param<T>(
        &self,
        name: &str,
        range: impl std::ops::RangeBounds<T>,
    ) -> Result<Option<T>, &str>
    where
        T: std::str::FromStr + PartialOrd,
    {
        let Some(text) = self.param(name) else {
            return Ok(None);
        };
        match text.parse() {
            Ok(n) if range.contains(&n) => Ok(Some(n)),
            _ => Err(text),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The bearer token of the `Authorization` header, or of the `access_token`
    /// parameter Google also accepts.
    pub fn bearer(&self) -> Option<&str> {
        let from_header = self.header("authorization").and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim())
                .filter(|t| !t.is_empty())
        });
        from_header.or_else(|| self.param("access_token").filter(|t| !t.is_empty()))
    }

    /// Query parameters this endpoint does not know, so they can be refused clearly.
    pub fn unknown_params(&self, known: &[&str]) -> Vec<String> {
        let mut unknown: Vec<String> = self
            .query
            .iter()
            .map(|(k, _)| k.clone())
            .filter(|k| !known.contains(&k.as_str()))
            .collect();
        unknown.dedup();
        unknown
    }

    /// The form fields of an `application/x-www-form-urlencoded` body.
    pub fn form(&self) -> Vec<(String, String)> {
        std::str::from_utf8(&self.body)
            .map(parse_form)
            .unwrap_or_default()
    }
}

/// Parses `a=1&b=two+words` with percent-decoding.
pub fn parse_form(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (
                percent_decode(&k.replace('+', " ")),
                percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

pub fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes a query value (everything but unreserved characters).
pub fn percent_encode(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for b in input.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn json<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    let text = serde_json::to_string_pretty(body).unwrap_or_else(|_| "{}".to_string());
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
        text,
    )
        .into_response()
}

pub fn ok_json<T: Serialize + ?Sized>(body: &T) -> Response {
    json(StatusCode::OK, body)
}

pub fn html(status: StatusCode, page: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page,
    )
        .into_response()
}

pub fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body.into(),
    )
        .into_response()
}

pub fn redirect(location: &str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for c in input.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_and_encode() {
        let pairs = parse_form("a=1&redirect_uri=http%3A%2F%2Fx%2Fcb&s=two+words&e=");
        assert_eq!(pairs[1].1, "http://x/cb");
        assert_eq!(pairs[2].1, "two words");
        assert_eq!(pairs[3].1, "");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode(&percent_encode("a b/c?")), "a b/c?");
    }
}
