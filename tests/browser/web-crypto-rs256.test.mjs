// The Worker's RS256 for the GitHub App's JWT (src/edge/rs256.js), against the key the
// simulator's GitHub App registers, and its verification of Google's identity tokens with
// a JWK's n and e: run on node's Web Crypto, and under wrangler dev
// (real workerd) through a Worker that only signs with that same module.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clawFreeRs256Sign, clawFreeRs256Verify } from '../../src/edge/rs256.js';

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
  // PKCS#1 as GitHub hands it out: node's Web Crypto refuses it as PKCS#8 (workerd was
  // seen to take it), so the Rust side always wraps it into PKCS#8 first.
  const pkcs1 = new Uint8Array(key.export({ type: 'pkcs1', format: 'der' }));
  for (const bad of [pkcs1, new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]), new Uint8Array()]) {
    await assert.rejects(clawFreeRs256Sign(bad, MESSAGE), (error) => {
      assert.ok(!String(error?.message ?? error).includes(Buffer.from(pkcs1).toString('base64').slice(0, 24)));
      return true;
    });
  }
});

test('a signature verifies with the JWK of its key only, and a tampered one not at all', async () => {
  const google = createPrivateKey(readFileSync(new URL('../fixtures/google_identity_private_key.pem', import.meta.url), 'utf8'));
  const jwk = createPublicKey(google).export({ format: 'jwk' });
  const signature = new Uint8Array(sign('sha256', MESSAGE, google));
  assert.equal(await clawFreeRs256Verify(jwk.n, jwk.e, MESSAGE, signature), true);
  const tampered = Uint8Array.from(MESSAGE);
  tampered[5] ^= 1;
  assert.equal(await clawFreeRs256Verify(jwk.n, jwk.e, tampered, signature), false);
  const truncated = signature.slice(0, 100);
  assert.equal(await clawFreeRs256Verify(jwk.n, jwk.e, MESSAGE, truncated), false);
  // Another key's JWK (the App key) does not verify Google's signature.
  const other = createPublicKey(createPrivateKey(FIXTURE)).export({ format: 'jwk' });
  assert.equal(await clawFreeRs256Verify(other.n, other.e, MESSAGE, signature), false);
  // A key that is no key never verifies (node answers false, or rejects; the Rust side
  // refuses the token either way).
  const verdict = await clawFreeRs256Verify('', 'AQAB', MESSAGE, signature).catch(() => 'rejected');
  assert.notEqual(verdict, true);
});

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** The signing Worker under wrangler dev, in its own process group; resolves once it answers. */
async function startSigningWorker(t) {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'claw-free-rs256-'));
  const [port, inspector] = [await freePort(), await freePort()];
  const config = join(dir, 'wrangler.toml');
  const main = fileURLToPath(new URL('./rs256-worker/worker.js', import.meta.url));
  writeFileSync(config, `name = "rs256"\nmain = ${JSON.stringify(main)}\ncompatibility_date = "2025-01-01"\n`);
  const wrangler = spawn(join(root, 'node_modules/.bin/wrangler'), [
    'dev', '--config', config, '--ip', '127.0.0.1', '--port', String(port),
    '--inspector-port', String(inspector), '--persist-to', join(dir, 'state'),
    '--show-interactive-dev-session=false', '--log-level', 'warn',
  ], {
    cwd: dir,
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      ...process.env,
      WRANGLER_SEND_METRICS: 'false',
      WRANGLER_SEND_ERROR_REPORTS: 'false',
      CLOUDFLARE_CF_FETCH_ENABLED: 'false',
      XDG_CONFIG_HOME: join(dir, 'xdg'),
    },
  });
  let log = '';
  wrangler.stderr.on('data', (chunk) => { log += chunk; });
  const exited = new Promise((resolve) => wrangler.on('exit', resolve));
  t.after(async () => {
    try { process.kill(-wrangler.pid, 'SIGTERM'); } catch { /* already gone */ }
    await exited;
    rmSync(dir, { recursive: true, force: true });
  });
  const url = `http://127.0.0.1:${port}/`;
  let gone = false;
  exited.then(() => { gone = true; });
  // Each failed connection is the event that it is not up yet; wrangler exiting ends the wait.
  for (;;) {
    if (gone) throw new Error(`wrangler dev exited: ${log}`);
    try {
      const probe = await fetch(url, { method: 'POST', body: '{"key":"","message":""}' });
      await probe.arrayBuffer();
      return url;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

async function signUnderWorkerd(url, key, message) {
  const response = await fetch(url, {
    method: 'POST',
    body: JSON.stringify({
      key: Buffer.from(key).toString('base64'),
      message: Buffer.from(message).toString('base64'),
    }),
  });
  return { status: response.status, body: new Uint8Array(await response.arrayBuffer()) };
}

test('under workerd, the same module signs RS256 by the App key and refuses a broken one', async (t) => {
  const url = await startSigningWorker(t);
  const key = createPrivateKey(FIXTURE);
  const { status, body } = await signUnderWorkerd(url, pkcs8(key), MESSAGE);
  assert.equal(status, 200, new TextDecoder().decode(body));
  assert.ok(verify('sha256', MESSAGE, createPublicKey(key), body));
  assert.deepEqual(Buffer.from(body), sign('sha256', MESSAGE, key));
  const second = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const other = await signUnderWorkerd(url, pkcs8(second.privateKey), MESSAGE);
  assert.equal(other.status, 200);
  assert.ok(verify('sha256', MESSAGE, second.publicKey, other.body));
  const broken = pkcs8(key).slice(0, 200);
  const refused = await signUnderWorkerd(url, broken, MESSAGE);
  assert.equal(refused.status, 422, new TextDecoder().decode(refused.body));
});
