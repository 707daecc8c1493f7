//! The Worker's ports (`claw_free::ports`) natively, so tests can drive the Worker's own
//! Google and GitHub calls against the simulator: HTTP over a blocking client, the
//! OS's randomness, and RS256 from the Worker crate's native implementation where the
//! Worker uses Web Crypto.
#![allow(dead_code)]

use claw_free::http::{Method, OutboundRequest, OutboundResponse};
use claw_free::native_rs256::NativeRs256;
use claw_free::ports::{HttpClient, PortError, Random};

/// The Worker's ports over a blocking HTTP client and the OS's randomness.
pub struct Native(ureq::Agent);

impl Native {
    pub fn new() -> Self {
        Self(ureq::AgentBuilder::new().redirects(0).build())
    }
}

impl HttpClient for Native {
    async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, PortError> {
        let method = match request.method {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            _ => "OPTIONS",
        };
        let mut req = self.0.request(method, &request.url);
        for (k, v) in &request.headers {
            req = req.set(k, v);
        }
        let result = match request.body {
            Some(body) => req.send_bytes(&body),
            None => req.call(),
        };
        let response = match result {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => return Err(PortError(e.to_string())),
        };
        let status = response.status();
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut response.into_reader(), &mut body)
            .map_err(|e| PortError(e.to_string()))?;
        Ok(OutboundResponse { status, body })
    }
}

impl Random for Native {
    fn fill(&self, buf: &mut [u8]) -> Result<(), PortError> {
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, buf);
        Ok(())
    }
}

/// RS256 with the `rsa` crate, as the Worker's own unit tests do.
impl NativeRs256 for Native {}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}
