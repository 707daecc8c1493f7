// A VM whose bot never answers healthy: the page shows the readiness limit
// counting down, then the error with the serial output and the console link.
// The Worker's limit is shortened to READY_TIMEOUT_SECS for this stack only.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DESKTOP, assertPageWasClean, openBrowser, waitForView } from './browser.mjs';
import { closeAll, signInAndDeploy, startFastStack, telegramToken } from './journeys.mjs';

const READY_TIMEOUT_SECS = 20;
const TOKEN = telegramToken(7000000003, 'n');

let stack;
let browser;

before(async () => {
  // Every VM's app stays unhealthy from its first boot: no race with the agent.
  stack = await startFastStack(['--var', `READY_TIMEOUT_SECS=${READY_TIMEOUT_SECS}`], { appsNeverHealthy: true });
  await stack.admin.telegramBot({ token: TOKEN, username: 'never_ready_bot', updates: [] });
  browser = await openBrowser({ site: stack.site, testName: 'readiness-timeout', viewport: DESKTOP });
});

after(() => closeAll(browser, stack));

test('a bot that never becomes healthy stops at the readiness limit with its logs', async () => {
  const { page, watch, shot } = browser;
  const { vmName } = await signInAndDeploy(browser, stack.site, { botName: 'Never ready', token: TOKEN });

  // While the VM runs, the limit counts down.
  await page.locator('#progress-limit', { hasText: /left$/ }).waitFor({ timeout: 60_000 });
  assert.match(await page.locator('#progress-limit').textContent(), /within 0:20 of the VM starting: \d+:\d\d left/);
  await shot('counting-down');

  const errorBox = page.locator('#progress-error');
  await errorBox.waitFor({ timeout: 90_000 });
  assert.match(await page.locator('#progress-error-message').textContent(), /not ready/);
  assert.equal(await page.locator('.step-failed').count(), 1);
  const consoleLink = errorBox.getByRole('link', { name: 'Open the serial console' });
  const consoleUrl = await consoleLink.getAttribute('href');
  assert.ok(consoleUrl.includes(`/instances/${vmName}/console`), `console link: ${consoleUrl}`);
  await shot('timed-out');

  await errorBox.getByRole('button', { name: 'View logs' }).click();
  const output = page.locator('#progress-logs-output');
  await page.locator('#progress-logs-status', { hasText: /serial port|no serial output/ }).waitFor();
  assert.ok((await output.textContent()).trim().length > 0, 'the serial output is shown');
  await shot('serial-output');

  // Back to the setup keeps the choices; a new attempt is possible.
  await errorBox.getByRole('button', { name: 'Back to the setup' }).click();
  await waitForView(page, 'setup');
  assert.equal(await page.locator('#setup-bot-name').inputValue(), 'Never ready');
  assertPageWasClean(watch);
});
