//! In-memory implementations of the ports, so every flow runs natively in unit tests:
//! a KV store that honours TTLs against a settable clock, seeded randomness, and an
//! HTTP client answered by a closure that also records every call.

use crate::http::{Method, OutboundRequest, OutboundResponse};
use crate::ports::{Clock, HttpClient, KvStore, PortError, Random};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

/// Deterministic randomness (xorshift); never for production.
pub struct SeededRandom(Cell<u64>);

impl SeededRandom {
    pub fn new(seed: u64) -> Self {
        Self(Cell::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1))
    }
}

impl Random for SeededRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), PortError> {
        for byte in buf {
            let mut x = self.0.get();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0.set(x);
            *byte = (x >> 24) as u8;
        }
        Ok(())
    }
}

type Responder = dyn Fn(&OutboundRequest) -> OutboundResponse;

/// A whole platform in memory.
pub struct TestPlatform {
    pub now_ms: Cell<u64>,
    pub kv: RefCell<HashMap<String, (String, u64)>>,
    pub kv_writes: Cell<u32>,
    pub kv_reads: Cell<u32>,
    /// How many of the next KV operations answer 429, as KV does past one write a
    /// second per key.
    pub kv_refusals: Cell<u32>,
    pub random: SeededRandom,
    pub calls: RefCell<Vec<OutboundRequest>>,
    responder: RefCell<Rc<Responder>>,
}

impl TestPlatform {
    pub fn new() -> Self {
        Self {
            now_ms: Cell::new(1_764_000_000_000),
            kv: RefCell::new(HashMap::new()),
            kv_writes: Cell::new(0),
            kv_reads: Cell::new(0),
            kv_refusals: Cell::new(0),
            random: SeededRandom::new(42),
            calls: RefCell::new(Vec::new()),
            responder: RefCell::new(Rc::new(|req: &OutboundRequest| OutboundResponse {
                status: 599,
                body: format!("no responder for {} {}", req.method.as_str(), req.url).into_bytes(),
            })),
        }
    }

    /// Answers every outbound request with `responder`.
    pub fn respond(&self, responder: impl Fn(&OutboundRequest) -> OutboundResponse + 'static) {
        *self.responder.borrow_mut() = Rc::new(responder);
    }

    pub fn advance_secs(&self, secs: u64) {
        self.now_ms.set(self.now_ms.get() + secs * 1000);
    }

    /// The calls made so far, as `METHOD url` lines.
    pub fn call_log(&self) -> Vec<String> {
        self.calls
            .borrow()
            .iter()
            .map(|c| format!("{} {}", c.method.as_str(), c.url))
            .collect()
    }

    /// Every KV value, for asserting what is (not) stored.
    pub fn kv_dump(&self) -> String {
        self.kv
            .borrow()
            .iter()
            .map(|(k, (v, _))| format!("{k}={v}\n"))
            .collect()
    }
}

impl Default for TestPlatform {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TestPlatform {
    fn now_ms(&self) -> u64 {
        self.now_ms.get()
    }

    /// Time passes at once in tests.
    async fn sleep_ms(&self, ms: u64) {
        self.now_ms.set(self.now_ms.get() + ms);
    }
}

impl Random for TestPlatform {
    fn fill(&self, buf: &mut [u8]) -> Result<(), PortError> {
        self.random.fill(buf)
    }
}

impl TestPlatform {
    fn refuse(&self) -> Result<(), PortError> {
        if self.kv_refusals.get() > 0 {
            self.kv_refusals.set(self.kv_refusals.get() - 1);
            return Err(PortError::rate_limited("in-memory KV"));
        }
        Ok(())
    }
}

impl KvStore for TestPlatform {
    async fn get(&self, key: &str) -> Result<Option<String>, PortError> {
        self.refuse()?;
        self.kv_reads.set(self.kv_reads.get() + 1);
        let now = self.now_ms.get();
        Ok(self
            .kv
            .borrow()
            .get(key)
            .filter(|(_, expires)| *expires > now)
            .map(|(v, _)| v.clone()))
    }

    async fn put(&self, key: &str, value: &str, ttl_secs: u64) -> Result<(), PortError> {
        if ttl_secs < 60 {
            return Err(PortError(format!("KV refuses a TTL of {ttl_secs} s")));
        }
        self.refuse()?;
        self.kv_writes.set(self.kv_writes.get() + 1);
        let expires = self.now_ms.get() + ttl_secs * 1000;
        self.kv
            .borrow_mut()
            .insert(key.to_string(), (value.to_string(), expires));
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), PortError> {
        self.refuse()?;
        self.kv_writes.set(self.kv_writes.get() + 1);
        self.kv.borrow_mut().remove(key);
        Ok(())
    }
}

impl HttpClient for TestPlatform {
    async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, PortError> {
        let responder = self.responder.borrow().clone();
        let response = responder(&request);
        self.calls.borrow_mut().push(request);
        if response.status == 0 {
            return Err(PortError("connection failed".into()));
        }
        Ok(response)
    }
}

/// A JSON response for a responder.
pub fn reply(status: u16, body: serde_json::Value) -> OutboundResponse {
    OutboundResponse {
        status,
        body: body.to_string().into_bytes(),
    }
}

/// Whether a request is `method` to a URL containing `fragment`.
pub fn is(req: &OutboundRequest, method: Method, fragment: &str) -> bool {
    req.method == method && req.url.contains(fragment)
}

/// Runs a future to completion on this thread.
pub fn run<F: std::future::Future>(future: F) -> F::Output {
    pollster::block_on(future)
}

/// RS256 as Web Crypto does it on Workers, with the `rsa` crate.
impl crate::native_rs256::NativeRs256 for TestPlatform {}
