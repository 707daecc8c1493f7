//! The Worker's ports (`claw_free::ports`) natively, so tests can drive the Worker's own
//! Google and GitHub calls against the simulator: HTTP over a blocking client, the
//! OS's randomness, and RS256 with the `rsa` crate where the Worker uses Web Crypto.
#![allow(dead_code)]

use claw_free::github::app_jwt::Rs256;
use claw_free::http::{Method, OutboundRequest, OutboundResponse};
use claw_free::ports::{HttpClient, PortError, Random};
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use sha2::Sha256;

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

impl Rs256 for Native {
    async fn sign(&self, pkcs8_der: &[u8], message: &[u8]) -> Result<Vec<u8>, PortError> {
        let key =
            rsa::RsaPrivateKey::from_pkcs8_der(pkcs8_der).map_err(|e| PortError(e.to_string()))?;
        Ok(rsa::pkcs1v15::SigningKey::<Sha256>::new(key)
            .sign(message)
            .to_vec())
    }

    async fn verify(
        &self,
        n: &str,
        e: &str,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, PortError> {
        use base64::Engine;
        let number = |b64: &str| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(b64)
                .map(|b| rsa::BigUint::from_bytes_be(&b))
                .map_err(|e| PortError(e.to_string()))
        };
        let key =
            rsa::RsaPublicKey::new(number(n)?, number(e)?).map_err(|e| PortError(e.to_string()))?;
        let Ok(signature) = rsa::pkcs1v15::Signature::try_from(signature) else {
            return Ok(false);
        };
        use rsa::signature::Verifier;
        Ok(rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key)
            .verify(message, &signature)
            .is_ok())
    }
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}
