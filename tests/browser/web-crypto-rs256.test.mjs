// The Worker's RS256 for the GitHub App's JWT (src/edge/rs256.js), run on node's Web
// Crypto: the same standard API workerd implements, so this checks the very code the
// deployed Worker signs with, against the key the simulator's GitHub App registers.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { clawFreeRs256Sign } from '../../src/edge/rs256.js';

const FIXTURE = readFileSync(new URL('../fixtures/github_app_private_key.pem', import.meta.url), 'utf8');
const MESSAGE = new TextEncoder().encode('eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOjF9');

function pkcs8(privateKey) {
  return new Uint8Array(privateKey.export({ type: 'pkcs8', format: 'der' }));
}

test('the signature is RS256 by the App key and verifies with its public key', async () => {
  const key = createPrivateKey(FIXTURE);
  const signature = await clawFreeRs256Sign(pkcs8(key), MESSAGE);
  assert.ok(signature instanceof Uint8Array);
  assert.equal(signature.length, 256);
  assert.ok(verify('sha256', MESSAGE, createPublicKey(key), signature));
  // PKCS#1 v1.5 is deterministic: the same bytes OpenSSL makes for RS256.
  assert.deepEqual(Buffer.from(signature), sign('sha256', MESSAGE, key));
  const tampered = Uint8Array.from(MESSAGE);
  tampered[0] ^= 1;
  assert.ok(!verify('sha256', tampered, createPublicKey(key), signature));
});

test('a second key signs with that key, not the one imported before', async () => {
  const first = createPrivateKey(FIXTURE);
  const { privateKey: second, publicKey: secondPublic } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  await clawFreeRs256Sign(pkcs8(first), MESSAGE);
  const signature = await clawFreeRs256Sign(pkcs8(second), MESSAGE);
  assert.ok(verify('sha256', MESSAGE, secondPublic, signature));
  assert.ok(!verify('sha256', MESSAGE, createPublicKey(first), signature));
  const again = await clawFreeRs256Sign(pkcs8(first), MESSAGE);
  assert.ok(verify('sha256', MESSAGE, createPublicKey(first), again));
});

test('a key Web Crypto refuses rejects, and the rejection holds no key', async () => {
  const key = createPrivateKey(FIXTURE);
  // PKCS#1 as GitHub hands it out: Web Crypto imports only PKCS#8 (the Rust side wraps it).
  const pkcs1 = new Uint8Array(key.export({ type: 'pkcs1', format: 'der' }));
  for (const bad of [pkcs1, new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]), new Uint8Array()]) {
    await assert.rejects(clawFreeRs256Sign(bad, MESSAGE), (error) => {
      assert.ok(!String(error?.message ?? error).includes(Buffer.from(pkcs1).toString('base64').slice(0, 24)));
      return true;
    });
  }
});
