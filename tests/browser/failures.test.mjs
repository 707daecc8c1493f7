// Failures a person can meet, in a real browser on a desktop-sized screen: a
// project whose Compute Engine API is off (turned on for them), an API that
// cannot be turned on (the activation link), too many requests (the 429
// message), a reload in the middle of a deploy, and an expired or refused
// sign-in (back to the sign-in step with the reason). The readiness limit has
// its own file: it needs a stack with a shorter limit.

import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, test } from 'node:test';
import { DESKTOP, assertPageWasClean, focusedId, openBrowser, waitForView } from './browser.mjs';
import { FAST_GOOGLE, deploy, fillSetup, signIn, telegramToken } from './journeys.mjs';
import { startStack } from './stack.mjs';

const TOKEN = telegramToken(7000000002, 'k');
const ADA = 'ada@example.com';

let stack;
let browser;

// One deploy per session, so the second one meets the Worker's rate limit.
const DEPLOYS_PER_SESSION = 1;

before(async () => {
  stack = await startStack(['--var', `LIMIT_DEPLOYS_PER_SESSION=${DEPLOYS_PER_SESSION}`]);
});

after(async () => {
  await stack?.stop();
});

beforeEach(async () => {
  await stack.admin.reset();
  await stack.admin.config(FAST_GOOGLE);
  await stack.admin.telegramBot({ token: TOKEN, username: 'failing_bot', updates: [] });
});

afterEach(async () => {
  await browser?.close();
  browser = null;
});

async function openSignedIn(testName) {
  browser = await openBrowser({ site: stack.site, testName, viewport: DESKTOP });
  await browser.page.goto(stack.site);
  await signIn(browser, { shots: false });
  return browser;
}

/** Records every deploy status the page polls. */
function recordStatuses(page) {
  const statuses = [];
  page.on('response', async (response) => {
    if (/\/api\/deploy\/[^/]+$/.test(new URL(response.url()).pathname) && response.request().method() === 'GET') {
      try {
        statuses.push(await response.json());
      } catch {
        // Not JSON (the page was closing).
      }
    }
  });
  return statuses;
}

test('Compute Engine off in the project: the deploy turns it on and goes on to done', async () => {
  const { page, watch, shot } = await openSignedIn('compute-disabled');
  const statuses = recordStatuses(page);
  await fillSetup(page, { projectId: 'claw-fresh', botName: 'Fresh bot', token: TOKEN });
  await deploy(page);
  await page.locator('.step', { hasText: 'Turning on the Compute Engine API' }).waitFor();
  await shot('enabling');
  await waitForView(page, 'done', 120_000);
  await shot('done');
  assert.ok(statuses.some((s) => s.status === 'enabling'), `statuses seen: ${statuses.map((s) => s.status)}`);
  assert.ok((await stack.admin.counters())['serviceusage.services.enable'] >= 1);
  assertPageWasClean(watch);
});

test('Compute Engine cannot be turned on: the error links to where it can be', async () => {
  await stack.admin.addProject({ projectId: 'claw-locked', name: 'Claw locked', ownerEmail: ADA, computeEnabled: false });
  const activationUrl = 'https://console.developers.google.com/apis/api/compute.googleapis.com/overview?project=314159265358';
  await stack.admin.fault({
    endpoint: 'serviceusage.services.enable',
    status: 403,
    body: {
      error: {
        code: 403,
        status: 'PERMISSION_DENIED',
        message: 'Compute Engine API has not been used in project 314159265358 before or it is disabled.',
        details: [{
          '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
          reason: 'SERVICE_DISABLED',
          domain: 'googleapis.com',
          metadata: { service: 'compute.googleapis.com', activationUrl },
        }],
      },
    },
  });
  const { page, watch, shot } = await openSignedIn('compute-enable-fails');
  await fillSetup(page, { projectId: 'claw-locked', botName: 'Locked bot', token: TOKEN });
  await deploy(page);
  const errorBox = page.locator('#progress-error');
  await errorBox.waitFor({ timeout: 60_000 });
  assert.match(await page.locator('#progress-error-message').textContent(), /Compute Engine API/);
  const action = errorBox.getByRole('link', { name: 'Enable the Compute Engine API' });
  assert.equal(await action.getAttribute('href'), activationUrl);
  assert.equal(await page.locator('.step-failed').count(), 1, 'the failed step is marked');
  assert.equal(await errorBox.getByRole('button', { name: 'View logs' }).count(), 0, 'no logs before a VM exists');
  await shot('activation-link');
  assertPageWasClean(watch);
});

test('one deploy too many: the 429 message says when to try again', async () => {
  const { page, watch, shot } = await openSignedIn('rate-limit-deploy');
  await fillSetup(page, { projectId: 'claw-demo', botName: 'First bot', token: TOKEN });
  await deploy(page);
  await page.getByRole('button', { name: 'Your bots', exact: true }).click();
  await waitForView(page, 'bots');
  await page.getByRole('button', { name: 'Deploy a new bot' }).click();
  await waitForView(page, 'setup');
  await fillSetup(page, { projectId: 'claw-demo', botName: 'Second bot', token: TOKEN });
  const refused = page.waitForResponse((r) => r.url().endsWith('/api/deploy/start'));
  await page.getByRole('button', { name: 'Deploy', exact: true }).click();
  assert.equal((await refused).status(), 429);
  const message = page.locator('#setup-error');
  await message.waitFor();
  assert.match(await message.textContent(), /several deploys/);
  assert.match(await message.textContent(), /try again in \d+ (seconds|minutes)/);
  assert.equal(await page.locator('#view-setup').isVisible(), true, 'the person stays on the form');
  await shot('deploy-refused');
  assertPageWasClean(watch);
});

test('too many Telegram look-ups: the 429 message says when to try again', async () => {
  const { page, watch, shot } = await openSignedIn('rate-limit-telegram');
  // Use up the Telegram look-ups allowed from this address.
  const refusedAfter = await page.evaluate(async (token) => {
    for (let i = 1; i <= 200; i += 1) {
      const response = await fetch('/api/telegram/detect-user', {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }),
      });
      if (response.status === 429) return i;
    }
    return 0;
  }, TOKEN);
  assert.ok(refusedAfter > 0, 'the Worker never refused a look-up');
  await page.locator('#view-setup').getByLabel('Telegram bot token', { exact: true }).fill(TOKEN);
  const findOwner = page.getByRole('button', { name: 'Find my Telegram user id' });
  await findOwner.click();
  // Showing the code costs nothing and is never refused; looking for it is.
  await page.locator('#owner-code').waitFor();
  await findOwner.click();
  const result = page.locator('#detect-user-result.bad');
  await result.waitFor();
  assert.match(await result.textContent(), /Too many/);
  assert.match(await result.textContent(), /try again in \d+ (seconds|minutes)/);
  await shot('rate-limited');
  assertPageWasClean(watch);
});

test('a reload during a deploy picks it up again and the Worker still delivers the token', async () => {
  const { page, watch, shot } = await openSignedIn('reload-during-deploy');
  await fillSetup(page, { projectId: 'claw-demo', botName: 'Reloaded bot', token: TOKEN });
  const { deploymentId } = await deploy(page);
  await page.reload();
  await waitForView(page, 'progress');
  assert.match(await page.locator('#progress-heading').textContent(), /Reloaded bot/);
  await waitForView(page, 'done', 120_000);
  await shot('done');
  assert.equal(await page.locator('#progress-secret-form').isVisible(), false, 'the token is not asked again');
  const posts = watch.apiCalls.filter((c) => c.method === 'POST' && c.url.endsWith(`/api/deploy/${deploymentId}/secret`));
  assert.equal(posts.length, 0, 'the token went with the start');
  assertPageWasClean(watch);
});

test('the answer to Deploy is lost: pressing Deploy again still makes one VM', async () => {
  const { page, watch, shot } = await openSignedIn('lost-answer');
  // The first start request reaches the Worker, but its answer never reaches the page.
  await page.route('**/api/deploy/start', async (route) => {
    await route.fetch();
    await route.abort('connectionreset');
  }, { times: 1 });
  await fillSetup(page, { projectId: 'claw-demo', botName: 'Lost answer', token: TOKEN });
  await page.getByRole('button', { name: 'Deploy', exact: true }).click();
  const message = page.locator('#setup-error');
  await message.waitFor();
  assert.match(await message.textContent(), /could not reach claw\.free/);
  await shot('connection-lost');
  const { deploymentId } = await deploy(page);
  assert.ok(deploymentId);
  const keys = watch.apiCalls
    .filter((c) => c.url.endsWith('/api/deploy/start'))
    .map((c) => c.headers['idempotency-key']);
  assert.equal(keys.length, 2);
  assert.equal(keys[0], keys[1], 'the retry repeats the same attempt');
  await waitForView(page, 'done', 120_000);
  assert.equal((await stack.admin.counters())['compute.instances.insert'], 1, 'one VM for one attempt');
  assert.deepEqual(watch.pageErrors, []);
  assert.deepEqual(watch.foreignRequests, []);
});

test('an expired Google sign-in sends the person back to sign in, saying why', async () => {
  const { page, watch, shot } = await openSignedIn('expired-session');
  await stack.admin.expireTokens({ email: ADA });
  await page.getByRole('button', { name: 'Your bots', exact: true }).click();
  await waitForView(page, 'choose');
  await page.getByText('Your session expired. Sign in again to continue.').waitFor();
  assert.equal(await focusedId(page), 'choose-heading');
  assert.equal(await page.locator('#account').isVisible(), false, 'the header no longer shows the person');
  await shot('session-expired');
  // Signing in again works and lands on the setup step.
  await signIn(browser, { shots: false });
  assert.equal(await page.locator('#notice').isVisible(), false);
  assertPageWasClean(watch);
});

test('a refused sign-in comes back with a readable reason', async () => {
  browser = await openBrowser({ site: stack.site, testName: 'sign-in-refused', viewport: DESKTOP });
  const { page, watch, shot } = browser;
  await page.goto(stack.site);
  await waitForView(page, 'choose');
  await page.getByRole('button', { name: 'Sign in with Google' }).click();
  await page.getByRole('button', { name: 'Cancel' }).click();
  await waitForView(page, 'choose');
  const notice = page.locator('#notice');
  await notice.waitFor();
  assert.match(await notice.textContent(), /You cancelled the Google sign-in/);
  assert.equal(new URL(page.url()).search, '', 'the reason left the address bar');
  await shot('refused');
  // A link made by someone else cannot put words on the page.
  await page.goto(`${stack.site}/?authError=${encodeURIComponent('Your account is locked. Call +1 555 0100.')}`);
  await waitForView(page, 'choose');
  await notice.waitFor();
  assert.equal(await notice.textContent(), 'The sign-in did not complete. Please sign in again.');
  assertPageWasClean(watch);
});
