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

#[wasm_bindgen::prelude::wasm_bindgen(inline_js = r#"
export function clawFreeRequestHead(request) {
  let head = request.method + "\n" + request.url;
  for (const [name, value] of request.headers) head += "\n" + name + "\n" + value;
  return head;
}
export function clawFreeResponse(status, head, body) {
  const headers = new Headers();
  const lines = head.split("\n");
  for (let i = 0; i + 1 < lines.length; i += 2) headers.append(lines[i], lines[i + 1]);
  return new Response(body.length ? body : null, { status, headers });
}
"#)]
extern "C" {
    /// A request's method, URL and headers in one crossing of the Wasm boundary (one
    /// for each header and part costs more than this request's own work): lines of
    /// the method, the URL, then each header's name and value. Fetch allows no line
    /// break in any of them.
    #[wasm_bindgen(js_name = clawFreeRequestHead)]
    fn request_head(request: &worker::web_sys::Request) -> String;

    /// A response built in one crossing: `head` holds a line for each header's name
    /// and value; the body is copied (an empty one is none, as 204 and 304 need). A
    /// header Fetch refuses comes back as an error, not as an exception through Rust.
    #[wasm_bindgen(js_name = clawFreeResponse, catch)]
    fn js_response(
        status: u16,
        head: &str,
        body: &[u8],
    ) -> Result<worker::web_sys::Response, wasm_bindgen::JsValue>;
}

#[event(fetch)]
async fn fetch(
    req: worker::web_sys::Request,
    env: Env,
    _ctx: Context,
) -> worker::Result<worker::web_sys::Response> {
    console_error_panic_hook::set_once();
    let parsed = configuration(&env);
    let config = match parsed.as_ref() {
        Ok(config) => config,
        Err(problem) => {
            worker::console_error!("configuration: {problem}");
            return into_worker(app::misconfigured());
        }
    };
    let head = request_head(&req);
    let mut lines = head.split('\n');
    let method = lines.next().unwrap_or_default();
    let url = lines.next().unwrap_or_default();
    let (path, query) = split_url(url);
    if !path.starts_with("/api/") && path != "/api" {
        // Static assets, served by Workers static assets, with our headers added.
        let assets = env
            .assets("ASSETS")?
            .fetch_request(worker::Request::from(req))
            .await?;
        return Ok(with_headers(assets, config)?.into());
    }
    let mut headers = Vec::new();
    while let (Some(name), Some(value)) = (lines.next(), lines.next()) {
        headers.push((name.to_string(), value.to_string()));
    }
    let platform = WorkerPlatform::new(env);
    let request = Request {
        method: Method::parse(method),
        path: path.to_string(),
        query: query.to_string(),
        client_ip: header(&headers, "cf-connecting-ip")
            .unwrap_or("unknown")
            .to_string(),
        headers,
        body: Vec::new(),
    };
    let mut response = match with_body(request, req).await {
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

/// The path and the query (without its `?`) of an absolute URL; no fragment reaches
/// a Worker.
fn split_url(url: &str) -> (&str, &str) {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path_and_query = after_scheme.find('/').map_or("/", |at| &after_scheme[at..]);
    path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""))
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Adds the body to `request` (none for GET and HEAD), refusing an oversized one
/// before reading it.
async fn with_body(
    mut request: Request,
    req: worker::web_sys::Request,
) -> Result<Request, crate::error::ApiError> {
    let declared = header(&request.headers, "content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    if declared > MAX_BODY_BYTES {
        return Err(crate::error::ApiError::PayloadTooLarge);
    }
    if !matches!(request.method, Method::Get | Method::Head | Method::Other) {
        request.body = read_capped(&mut worker::Request::from(req)).await?;
    }
    Ok(request)
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

fn into_worker(response: Response) -> worker::Result<worker::web_sys::Response> {
    let mut head = String::new();
    for (name, value) in &response.headers {
        head.push_str(name);
        head.push('\n');
        head.push_str(value);
        head.push('\n');
    }
    js_response(response.status, &head, &response.body).map_err(worker::Error::from)
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
