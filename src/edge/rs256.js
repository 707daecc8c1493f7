// RS256 (RSASSA-PKCS1-v1_5 with SHA-256) through Web Crypto: signing the GitHub App's JWT,
// and verifying Google's instance identity tokens with the JWKs Google publishes.
// Kept in its own module, not inline in Rust, so that node's Web Crypto (the same
// standard API workerd implements) can run this very code in the tests.

const ALGORITHM = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };

// The imported key, reused while the isolate lives: the App's key is one secret per
// deploy, and importing an RSA key costs more than signing with it.
let cached = null;

function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) return false;
  return true;
}

async function importKey(pkcs8) {
  if (cached && sameBytes(cached.der, pkcs8)) return cached.key;
  const der = Uint8Array.from(pkcs8);
  const key = await crypto.subtle.importKey('pkcs8', der, ALGORITHM, false, ['sign']);
  cached = { der, key };
  return key;
}

// Signs `message` with the PKCS#8 DER key `pkcs8`; resolves to the signature's bytes.
// A key Web Crypto refuses rejects with its error, which the Rust side reports.
export async function clawFreeRs256Sign(pkcs8, message) {
  const key = await importKey(pkcs8);
  const signature = await crypto.subtle.sign(ALGORITHM, key, Uint8Array.from(message));
  return new Uint8Array(signature);
}

// Verifying keys by their JWK modulus and exponent, reused while the isolate lives:
// Google publishes two or three at a time.
const verifiers = new Map();

async function importJwk(n, e) {
  const id = `${n}.${e}`;
  const known = verifiers.get(id);
  if (known) return known;
  const jwk = { kty: 'RSA', n, e, alg: 'RS256', ext: true };
  const key = await crypto.subtle.importKey('jwk', jwk, ALGORITHM, false, ['verify']);
  if (verifiers.size >= 8) verifiers.clear();
  verifiers.set(id, key);
  return key;
}

// Resolves to whether `signature` is the JWK (`n`, `e`, base64url) key's over `message`.
// A key Web Crypto refuses rejects with its error.
export async function clawFreeRs256Verify(n, e, message, signature) {
  const key = await importJwk(n, e);
  return crypto.subtle.verify(ALGORITHM, key, Uint8Array.from(signature), Uint8Array.from(message));
}
