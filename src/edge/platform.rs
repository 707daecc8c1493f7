//! The ports on Workers: KV through the `KV` binding, HTTP through `fetch`, time from
//! `Date.now`, randomness from Web Crypto (getrandom's wasm backend), and RS256 for the
//! GitHub App's JWT and Google's identity tokens from Web Crypto (`rs256.js`), so the
//! Wasm carries no RSA code.

use crate::github::app_jwt::Rs256;
use crate::http::{Method, OutboundRequest, OutboundResponse};
use crate::ports::{Clock, HttpClient, KvStore, PortError, Random};
use std::cell::Cell;
use worker::{Env, Fetch, Headers, RequestInit};

pub struct WorkerPlatform {
    env: Env,
    /// The binding, taken when a request first reads or writes KV (many never do).
    kv: std::cell::OnceCell<worker::kv::KvStore>,
    kv_reads: Cell<u32>,
    kv_writes: Cell<u32>,
}

impl WorkerPlatform {
    pub fn new(env: Env) -> Self {
        Self {
            env,
            kv: std::cell::OnceCell::new(),
            kv_reads: Cell::new(0),
            kv_writes: Cell::new(0),
        }
    }

    fn kv(&self) -> Result<&worker::kv::KvStore, PortError> {
        if let Some(kv) = self.kv.get() {
            return Ok(kv);
        }
        let kv = self
            .env
            .kv("KV")
            .map_err(|e| PortError(format!("the KV binding: {e}")))?;
        Ok(self.kv.get_or_init(|| kv))
    }

    /// KV reads and writes (puts and deletes) made for this request, for the bench.
    pub fn kv_operations(&self) -> (u32, u32) {
        (self.kv_reads.get(), self.kv_writes.get())
    }
}

/// KV's refusal for too many writes to one key reaches the Worker as an error whose
/// text carries the HTTP status ("... 429 Too Many Requests"); it becomes
/// [`PortError::rate_limited`], which the store tries again.
fn port_error(context: &str) -> impl Fn(worker::kv::KvError) -> PortError + '_ {
    move |e| {
        let text = e.to_string();
        if text.contains("429") || text.to_ascii_lowercase().contains("too many requests") {
            PortError::rate_limited(&format!("{context}: {text}"))
        } else {
            PortError(format!("{context}: {text}"))
        }
    }
}

impl KvStore for WorkerPlatform {
    async fn get(&self, key: &str) -> Result<Option<String>, PortError> {
        self.kv_reads.set(self.kv_reads.get() + 1);
        self.kv()?
            .get(key)
            .text()
            .await
            .map_err(port_error("kv get"))
    }

    async fn put(&self, key: &str, value: &str, ttl_secs: u64) -> Result<(), PortError> {
        self.kv_writes.set(self.kv_writes.get() + 1);
        self.kv()?
            .put(key, value)
            .map_err(port_error("kv put"))?
            .expiration_ttl(ttl_secs.max(60))
            .execute()
            .await
            .map_err(port_error("kv put"))
    }

    async fn delete(&self, key: &str) -> Result<(), PortError> {
        self.kv_writes.set(self.kv_writes.get() + 1);
        self.kv()?
            .delete(key)
            .await
            .map_err(port_error("kv delete"))
    }
}

impl HttpClient for WorkerPlatform {
    async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, PortError> {
        let fail = |e: worker::Error| PortError(format!("fetch: {e}"));
        let headers = Headers::new();
        for (name, value) in &request.headers {
            headers.append(name, value).map_err(fail)?;
        }
        headers.set("user-agent", "claw.free").map_err(fail)?;
        let method = match request.method {
            Method::Get => worker::Method::Get,
            Method::Post => worker::Method::Post,
            Method::Put => worker::Method::Put,
            Method::Patch => worker::Method::Patch,
            Method::Delete => worker::Method::Delete,
            Method::Head => worker::Method::Head,
            Method::Options | Method::Other => worker::Method::Options,
        };
        let mut init = RequestInit::new();
        init.with_method(method).with_headers(headers);
        if let Some(body) = request.body {
            init.with_body(Some(js_sys::Uint8Array::from(body.as_slice()).into()));
        }
        let outbound = worker::Request::new_with_init(&request.url, &init).map_err(fail)?;
        let mut response = Fetch::Request(outbound).send().await.map_err(fail)?;
        let status = response.status_code();
        let body = response.bytes().await.map_err(fail)?;
        Ok(OutboundResponse { status, body })
    }
}

impl Clock for WorkerPlatform {
    fn now_ms(&self) -> u64 {
        js_sys::Date::now() as u64
    }

    async fn sleep_ms(&self, ms: u64) {
        worker::Delay::from(std::time::Duration::from_millis(ms)).await;
    }
}

impl Random for WorkerPlatform {
    fn fill(&self, buf: &mut [u8]) -> Result<(), PortError> {
        getrandom::fill(buf).map_err(|e| PortError(format!("randomness: {e}")))
    }
}

#[wasm_bindgen::prelude::wasm_bindgen(module = "/src/edge/rs256.js")]
extern "C" {
    /// RSASSA-PKCS1-v1_5 with SHA-256 through Web Crypto: a promise of the signature's
    /// bytes, rejected when Web Crypto refuses the key.
    #[wasm_bindgen(js_name = clawFreeRs256Sign)]
    fn web_crypto_rs256(pkcs8_der: &[u8], message: &[u8]) -> js_sys::Promise;

    /// A promise of whether the signature verifies with the JWK key (`n`, `e`).
    #[wasm_bindgen(js_name = clawFreeRs256Verify)]
    fn web_crypto_rs256_verify(
        n: &str,
        e: &str,
        message: &[u8],
        signature: &[u8],
    ) -> js_sys::Promise;
}

impl Rs256 for WorkerPlatform {
    async fn sign(&self, pkcs8_der: &[u8], message: &[u8]) -> Result<Vec<u8>, PortError> {
        let promise = web_crypto_rs256(pkcs8_der, message);
        let signature = worker::wasm_bindgen_futures::JsFuture::from(promise)
            .await
            .map_err(|e| PortError(format!("Web Crypto RS256: {}", js_error_text(&e))))?;
        Ok(js_sys::Uint8Array::new(&signature).to_vec())
    }

    async fn verify(
        &self,
        n: &str,
        e: &str,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, PortError> {
        let promise = web_crypto_rs256_verify(n, e, message, signature);
        let valid = worker::wasm_bindgen_futures::JsFuture::from(promise)
            .await
            .map_err(|e| PortError(format!("Web Crypto RS256: {}", js_error_text(&e))))?;
        Ok(valid.as_bool() == Some(true))
    }
}

/// A rejection's message: Web Crypto rejects with a `DOMException` (an `Error`), whose
/// text names the problem and never holds the key.
fn js_error_text(error: &wasm_bindgen::JsValue) -> String {
    use wasm_bindgen::JsCast;
    match error.dyn_ref::<js_sys::Error>() {
        Some(error) => String::from(error.message()),
        None => error
            .as_string()
            .unwrap_or_else(|| "the key was refused".into()),
    }
}
