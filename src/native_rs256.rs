//! RS256 natively, with the `rsa` crate: what a native build signs and verifies with
//! where the Worker on Workers uses Web Crypto (`edge`). The unit tests' in-memory
//! platform and the simulator's tests take their [`Rs256`] from here, so there is one
//! native implementation to keep true to Web Crypto's. Not compiled for wasm32: the
//! Worker's Wasm carries no RSA code.

use crate::github::app_jwt::Rs256;
use crate::ports::PortError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{BigUint, RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;

/// A native platform that signs and verifies with the `rsa` crate: implementing this
/// empty trait is what gives it [`Rs256`].
pub trait NativeRs256 {}

impl<T: NativeRs256> Rs256 for T {
    async fn sign(&self, pkcs8_der: &[u8], message: &[u8]) -> Result<Vec<u8>, PortError> {
        let key =
            RsaPrivateKey::from_pkcs8_der(pkcs8_der).map_err(|e| PortError(format!("key: {e}")))?;
        Ok(SigningKey::<Sha256>::new(key).sign(message).to_vec())
    }

    async fn verify(
        &self,
        n: &str,
        e: &str,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, PortError> {
        let number = |b64: &str| {
            URL_SAFE_NO_PAD
                .decode(b64)
                .map(|b| BigUint::from_bytes_be(&b))
                .map_err(|_| PortError("key: not base64url".into()))
        };
        let key = RsaPublicKey::new(number(n)?, number(e)?)
            .map_err(|e| PortError(format!("key: {e}")))?;
        let Ok(signature) = Signature::try_from(signature) else {
            return Ok(false);
        };
        Ok(VerifyingKey::<Sha256>::new(key)
            .verify(message, &signature)
            .is_ok())
    }
}
