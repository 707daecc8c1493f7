// journeys.mjs: the steps the browser tests share: signing in through the
// simulator's consent page, filling the setup step, and following a deploy.

import assert from 'node:assert/strict';
import { waitForView } from './browser.mjs';
import { startStack } from './stack.mjs';

/** A well-formed Telegram token for a bot id (the simulator accepts any it was told about). */
export function telegramToken(botId, seed = 'a') {
  return `${botId}:AAH${seed.repeat(32).slice(0, 32)}`;
}

/** Fast simulated Google, so a whole deploy takes seconds. */
export const FAST_GOOGLE = { autoApprove: false, operationStepMs: 200, bootStepMs: 300, agentBootDelayMs: 300 };

/**
 * Starts the stack (extraArgs go to it as they are) on a freshly reset, fast
 * simulated Google; config adds to or overrides FAST_GOOGLE.
 */
export async function startFastStack(extraArgs = [], config = {}) {
  const stack = await startStack(extraArgs);
  await stack.admin.reset();
  await stack.admin.config({ ...FAST_GOOGLE, ...config });
  return stack;
}

/** A test file's teardown: its browser closed, then its stack stopped (either may never have started). */
export async function closeAll(browser, stack) {
  await browser?.close();
  await stack?.stop();
}

/** From the choices step, through the consent page ("Allow"), to the setup step. */
export async function signIn(browser, { provider = 'kimi', shots = true } = {}) {
  const { page } = browser;
  await waitForView(page, 'choose');
  await page.locator(`input[name="provider"][value="${provider}"]`).check();
  if (shots) await browser.shot('choices');
  await page.getByRole('button', { name: 'Sign in with Google' }).click();
  const allow = page.getByRole('button', { name: 'Allow' });
  await allow.waitFor();
  if (shots) await browser.shot('google-consent');
  await allow.click();
  await waitForView(page, 'setup');
}

/** Fills the setup step; waits for the VM-name preview to accept the name. */
export async function fillSetup(page, { projectId, botName, token }) {
  const setup = page.locator('#view-setup');
  await setup.getByLabel('Project', { exact: true }).selectOption(projectId);
  await setup.getByLabel('Bot name').fill(botName);
  await page.locator('#vm-name-preview.good').waitFor();
  await setup.getByLabel('Telegram bot token', { exact: true }).fill(token);
}

/** Presses Deploy and resolves to the Worker's answer {deploymentId, vmName}. */
export async function deploy(page) {
  const started = page.waitForResponse((r) => r.url().endsWith('/api/deploy/start'));
  await page.getByRole('button', { name: 'Deploy', exact: true }).click();
  const response = await started;
  assert.equal(response.status(), 200, `deploy start answered ${response.status()}: ${await response.text()}`);
  await waitForView(page, 'progress');
  return response.json();
}

/**
 * From the landing page to a deploy started: signed in (no screenshots), the
 * setup step filled; resolves to the Worker's answer {deploymentId, vmName}.
 */
export async function signInAndDeploy(browser, site, { projectId = 'claw-demo', botName, token }) {
  const { page } = browser;
  await page.goto(site);
  await signIn(browser, { shots: false });
  await fillSetup(page, { projectId, botName, token });
  return deploy(page);
}

/** The last deploy status the page polled, read from its own API answer. */
export async function nextDeployStatus(page, deploymentId) {
  const response = await page.waitForResponse((r) =>
    r.url().endsWith(`/api/deploy/${deploymentId}`) && r.request().method() === 'GET');
  return response.json();
}
