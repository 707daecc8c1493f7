//! The Workers edge (wasm32 only): the fetch entry point and the ports bound to
//! Workers KV, `fetch`, `Date.now` and Web Crypto. Kept thin: it converts requests
//! and responses and delegates everything to [`crate::app::App`].

mod platform;

use crate::app::{self, App};
use crate::config::{Config, Environment};
use crate::http::{Method, Request, Response, MAX_BODY_BYTES};
use crate::security;
use platform::WorkerPlatform;
use worker::{event, Context, Env};

thread_local! {
    /// The configuration, parsed once per isolate: vars and secrets cannot change
    /// under a running isolate (a new deploy starts new ones), and reading some
    /// twenty of them across the JavaScript boundary is a measurable part of a
    /// request that answers from memory.
    static CONFIG: std::cell::OnceCell<std::rc::Rc<Result<Config, String>>> =
        const { std::cell::OnceCell::new() };
}

fn configuration(env: &Env) -> std::rc::Rc<Result<Config, String>> {
    CONFIG.with(|cell| {
        cell.get_or_init(|| {
            std::rc::Rc::new(Config::parse(|name| {
                env.var(name)
                    .map(|v| v.to_string())
                    .or_else(|_| env.secret(name).map(|v| v.to_string()))
                    .ok()
            }))
        })
        .clone()
    })
}

#[event(fetch)]
async fn fetch(req: worker::Request, env: Env, _ctx: Context) -> worker::Result<worker::Response> {
    console_error_panic_hook::set_once();
    let parsed = configuration(&env);
    let config = match parsed.as_ref() {
        Ok(config) => config,
        Err(problem) => {
            worker::console_error!("configuration: {problem}");
            return into_worker(app::misconfigured());
        }
    };
    let path = req.path();
    if !path.starts_with("/api/") && path != "/api" {
        // Static assets, served by Workers static assets, with our headers added.
        let assets = env.assets("ASSETS")?.fetch_request(req).await?;
        return with_headers(assets, config);
    }
    let platform = WorkerPlatform::new(&env)?;
    let mut response = match into_core(req).await {
        Ok(request) => App::new(&platform, config).handle(request).await,
        Err(refusal) => security::add_security_headers(refusal.into_response(), config),
    };
    if config.environment == Environment::Development {
        // The bench counts KV operations per request through real workerd.
        let (reads, writes) = platform.kv_operations();
        response.headers.push((
            "x-claw-free-kv".into(),
            format!("reads={reads} writes={writes}"),
        ));
    }
    into_worker(response)
}

/// Reads a Workers request into the core's, refusing oversized bodies before reading them.
async fn into_core(mut req: worker::Request) -> Result<Request, crate::error::ApiError> {
    let headers: Vec<(String, String)> = req
        .headers()
        .entries()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    let declared = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    if declared > MAX_BODY_BYTES {
        return Err(crate::error::ApiError::PayloadTooLarge);
    }
    // The `worker` crate reads any method it does not know as GET; the Fetch API's
    // own request keeps the method the client sent (`PROPFIND` stays `PROPFIND`).
    let method = Method::parse(&req.inner().method());
    let url = req
        .url()
        .map_err(|_| crate::error::ApiError::bad_request("The URL is malformed."))?;
    let body = if matches!(method, Method::Get | Method::Head | Method::Other) {
        Vec::new()
    } else {
        read_capped(&mut req).await?
    };
    let client_ip = headers
        .iter()
        .find(|(k, _)| k == "cf-connecting-ip")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| "unknown".into());
    Ok(Request {
        method,
        path: url.path().to_string(),
        query: url.query().unwrap_or("").to_string(),
        headers,
        body,
        client_ip,
    })
}

/// Reads the body chunk by chunk and gives up as soon as it passes
/// [`MAX_BODY_BYTES`]: a chunked body declares no length, and reading it whole
/// before checking would let a client make the Worker hold any amount.
async fn read_capped(req: &mut worker::Request) -> Result<Vec<u8>, crate::error::ApiError> {
    use futures_util::StreamExt;
    let Ok(mut stream) = req.stream() else {
        return Ok(Vec::new());
    };
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| {
            crate::error::ApiError::bad_request("The request body could not be read.")
        })?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(crate::error::ApiError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn into_worker(response: Response) -> worker::Result<worker::Response> {
    let headers = worker::Headers::new();
    for (name, value) in &response.headers {
        headers.append(name, value)?;
    }
    let body = if response.body.is_empty() {
        None
    } else {
        Some(response.body)
    };
    let out = match body {
        Some(bytes) => worker::Response::from_bytes(bytes)?,
        None => worker::Response::empty()?,
    };
    Ok(out.with_status(response.status).with_headers(headers))
}

fn with_headers(asset: worker::Response, config: &Config) -> worker::Result<worker::Response> {
    // A fetched response's headers are immutable: copy them into a new set.
    let headers = worker::Headers::new();
    for (name, value) in asset.headers().entries() {
        headers.append(&name, &value)?;
    }
    for (name, value) in security::security_headers(config) {
        headers.set(name, &value)?;
    }
    Ok(asset.with_headers(headers))
}
