//! Protections every response and every state-changing request gets: security
//! headers, the same-origin check, CORS for configured origins only, and JSON bodies
//! parsed with a size limit into typed requests.

use crate::config::Config;
use crate::error::ApiError;
use crate::http::{Request, Response, MAX_BODY_BYTES};
use serde::de::DeserializeOwned;

/// The page's Content-Security-Policy: no inline script, no third-party anything,
/// except the consent page the sign-in form posts to.
pub fn content_security_policy(config: &Config) -> String {
    let auth_origin = origin_of(&config.endpoints.auth_url);
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; \
         connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
         frame-ancestors 'none'; form-action 'self' {auth_origin}"
    )
}

/// The headers every response carries, API or static asset.
pub fn security_headers(config: &Config) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        ("content-security-policy", content_security_policy(config)),
        ("x-content-type-options", "nosniff".to_string()),
        (
            "referrer-policy",
            "strict-origin-when-cross-origin".to_string(),
        ),
        ("x-frame-options", "DENY".to_string()),
        ("cross-origin-opener-policy", "same-origin".to_string()),
        (
            "permissions-policy",
            "camera=(), microphone=(), geolocation=()".to_string(),
        ),
    ];
    if config.serves_https() {
        headers.push((
            "strict-transport-security",
            "max-age=31536000; includeSubDomains".to_string(),
        ));
    }
    headers
}

/// Adds the security headers a response does not set itself.
pub fn add_security_headers(mut response: Response, config: &Config) -> Response {
    for (name, value) in security_headers(config) {
        if response.header(name).is_none() {
            response.headers.push((name.to_string(), value));
        }
    }
    response
}

/// API responses are never cached: they carry personal data.
pub fn no_store(response: Response) -> Response {
    if response.header("cache-control").is_some() {
        return response;
    }
    response.with_header("cache-control", "no-store")
}

/// Refuses a state-changing request that does not come from the site itself (or an
/// origin listed in `CORS_ORIGINS`). Browsers always send `Origin` on such requests.
pub fn check_origin(request: &Request, config: &Config) -> Result<(), ApiError> {
    if !request.method.is_state_changing() {
        return Ok(());
    }
    match request.header("origin") {
        Some(origin) if is_allowed_origin(origin, config) => Ok(()),
        _ => Err(ApiError::Forbidden(
            "This request must come from the claw.free page itself.".into(),
        )),
    }
}

fn is_allowed_origin(origin: &str, config: &Config) -> bool {
    origin == config.site_origin || config.cors_origins.iter().any(|o| o == origin)
}

/// CORS headers for an origin listed in configuration; none otherwise.
pub fn cors_headers(request: &Request, config: &Config, response: Response) -> Response {
    match request.header("origin") {
        Some(origin) if config.cors_origins.iter().any(|o| o == origin) => response
            .with_header("access-control-allow-origin", origin)
            .with_header("access-control-allow-credentials", "true")
            .with_header("access-control-allow-methods", "GET, POST, DELETE")
            .with_header(
                "access-control-allow-headers",
                "content-type, idempotency-key",
            )
            .with_header("vary", "Origin"),
        _ => response,
    }
}

/// Parses a JSON body into `T`: refuses other content types, bodies over the limit,
/// malformed JSON and wrong types, each with a clear message.
pub fn json_body<T: DeserializeOwned>(request: &Request) -> Result<T, ApiError> {
    let content_type = request.header("content-type").unwrap_or("");
    if !content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
    {
        return Err(ApiError::UnsupportedMediaType);
    }
    if request.body.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    serde_json::from_slice(&request.body).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Data => "has a missing or wrongly typed field",
            _ => "is not valid JSON",
        };
        ApiError::bad_request(format!(
            "The request body {what} (line {}, column {}).",
            e.line(),
            e.column()
        ))
    })
}

/// `https://host` of a URL.
fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[after_scheme..].find('/') {
        Some(end) => &url[..after_scheme + end],
        None => url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::development_config;
    use crate::http::Method;

    fn post(origin: Option<&str>, content_type: &str, body: &str) -> Request {
        let mut headers = vec![("content-type".to_string(), content_type.to_string())];
        if let Some(o) = origin {
            headers.push(("origin".into(), o.into()));
        }
        Request {
            method: Method::Post,
            path: "/api/x".into(),
            query: String::new(),
            headers,
            body: body.as_bytes().to_vec(),
            client_ip: "203.0.113.9".into(),
        }
    }

    #[test]
    fn cross_site_posts_are_refused() {
        let config = development_config();
        assert!(check_origin(
            &post(Some("http://127.0.0.1:8787"), "application/json", "{}"),
            &config
        )
        .is_ok());
        for origin in [
            None,
            Some("https://evil.test"),
            Some("null"),
            Some("http://127.0.0.1:8787.evil.test"),
        ] {
            let err = check_origin(&post(origin, "application/json", "{}"), &config).unwrap_err();
            assert_eq!(err.status(), 403);
        }
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Body {
        name: String,
    }

    #[test]
    fn bodies_are_parsed_strictly() {
        let ok: Body = json_body(&post(
            None,
            "application/json; charset=utf-8",
            r#"{"name":"x"}"#,
        ))
        .unwrap();
        assert_eq!(ok.name, "x");
        assert_eq!(
            json_body::<Body>(&post(None, "text/plain", "{}"))
                .unwrap_err()
                .status(),
            415
        );
        assert_eq!(
            json_body::<Body>(&post(None, "application/json", "{nope"))
                .unwrap_err()
                .status(),
            400
        );
        let wrong =
            json_body::<Body>(&post(None, "application/json", r#"{"name": 5}"#)).unwrap_err();
        assert!(
            wrong.message().contains("wrongly typed"),
            "{}",
            wrong.message()
        );
        let huge = format!(r#"{{"name":"{}"}}"#, "x".repeat(MAX_BODY_BYTES));
        assert_eq!(
            json_body::<Body>(&post(None, "application/json", &huge))
                .unwrap_err()
                .status(),
            413
        );
    }

    #[test]
    fn headers_forbid_framing_sniffing_and_inline_script() {
        let config = development_config();
        let response = add_security_headers(Response::json(200, &serde_json::json!({})), &config);
        let csp = response.header("content-security-policy").unwrap();
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(csp.contains("form-action 'self' http://sim.test"));
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(response.header("x-frame-options"), Some("DENY"));
        assert!(response.header("referrer-policy").is_some());
    }
}
