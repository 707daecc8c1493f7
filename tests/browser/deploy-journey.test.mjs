// The whole journey in a real browser on a phone-sized screen: choices, sign-in
// on the simulator's consent page, project, bot name with its live preview,
// Telegram token and user-id helper (proven with a code sent to the bot),
// deploy to done (the first token delivered without retyping), the bot list
// with a green dot, a confirmed token rotation, a VM key that changed and is
// trusted only after a confirmation, and deleting the bot once it is stopped.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  PHONE, assertPageWasClean, focusedId, openBrowser, unlabelledControls, waitForView,
} from './browser.mjs';
import { closeAll, deploy, fillSetup, signIn, startFastStack, telegramToken } from './journeys.mjs';

const FIRST_TOKEN = telegramToken(7000000001, 'f');
const ROTATED_TOKEN = telegramToken(7000000001, 'r');

let stack;
let browser;

before(async () => {
  stack = await startFastStack();
  await stack.admin.telegramBot({
    token: FIRST_TOKEN,
    username: 'ada_claw_bot',
    updates: [{ fromId: 424242, firstName: 'Ada', username: 'ada', text: 'hello' }],
  });
  await stack.admin.telegramBot({ token: ROTATED_TOKEN, username: 'ada_claw_bot', updates: [] });
  browser = await openBrowser({ site: stack.site, testName: 'deploy-journey', viewport: PHONE, timezoneId: 'Europe/Paris' });
});

after(() => closeAll(browser, stack));

test('a person deploys a bot, rotates its token and deletes it once stopped', async () => {
  const { page, watch } = browser;
  await page.goto(stack.site);

  // Step 1: the choices, with the region guessed from the time zone (Paris: us-east1).
  await waitForView(page, 'choose');
  assert.equal(await page.locator('#view-choose').getByLabel('Region').inputValue(), 'us-east1');
  assert.deepEqual(await unlabelledControls(page), []);
  await signIn(browser, { provider: 'claude' });

  // Step 2: signed in, with the choices carried through Google and out of the URL.
  assert.equal(new URL(page.url()).search, '', 'the landing query stays in the address bar');
  await assert.doesNotReject(page.getByText('Ada Lovelace').waitFor());
  const setup = page.locator('#view-setup');
  assert.equal(await setup.getByLabel('AI provider').inputValue(), 'claude');
  assert.equal(await setup.getByLabel('Region').inputValue(), 'us-east1');
  const projects = await setup.getByLabel('Project', { exact: true }).locator('option').allTextContents();
  assert.ok(projects.some((p) => p.includes('claw-demo')), `projects offered: ${projects}`);
  await browser.shot('setup');

  // A new project can be made in place; it is then the chosen one.
  const projectPicker = setup.getByLabel('Project', { exact: true });
  await projectPicker.selectOption({ label: 'Create a new project…' });
  await setup.getByLabel("New project's name").fill('Ada bots');
  const newProjectId = await setup.getByLabel('Project ID').inputValue();
  assert.match(newProjectId, /^ada-bots-[a-z0-9]{6}$/, 'a project id is suggested from the name');
  await setup.getByRole('button', { name: 'Create project' }).click();
  await page.getByText(`Project ${newProjectId} created and selected.`).waitFor({ timeout: 30_000 });
  assert.equal(await projectPicker.inputValue(), newProjectId);
  await browser.shot('project-created');

  // The live preview refuses a name with its reason, then shows the VM name.
  await setup.getByLabel('Bot name').fill('!!');
  await page.locator('#vm-name-preview.bad').waitFor();
  assert.match(await page.locator('#vm-name-preview').textContent(), /at least 3/);
  await browser.shot('bot-name-refused');
  await fillSetup(page, { projectId: 'claw-demo', botName: 'Ada helper', token: FIRST_TOKEN });
  assert.match(await page.locator('#vm-name-preview').textContent(), /ada-helper/);
  assert.equal(await page.getByText(`Project ${newProjectId} created and selected.`).count(), 0,
    'the notice leaves once another project is chosen');

  // The token field is masked until shown, and masked again.
  const tokenField = setup.getByLabel('Telegram bot token', { exact: true });
  assert.equal(await tokenField.getAttribute('type'), 'password');
  await setup.getByRole('button', { name: 'Show' }).click();
  assert.equal(await tokenField.getAttribute('type'), 'text');
  await setup.getByRole('button', { name: 'Hide' }).click();
  assert.equal(await tokenField.getAttribute('type'), 'password');

  // The user-id helper shows a code; the owner sends it to the bot, and only
  // that message's sender is taken (not the stranger who wrote first and last).
  const findOwner = page.getByRole('button', { name: 'Find my Telegram user id' });
  await findOwner.click();
  const code = page.locator('#owner-code');
  await code.waitFor();
  const ownerCode = await code.textContent();
  assert.match(ownerCode, /^[A-Z2-9]{6}$/);
  await page.getByText(`Send ${ownerCode} to your bot in Telegram`).waitFor();
  await browser.shot('owner-code');
  await stack.admin.telegramBot({
    token: FIRST_TOKEN,
    username: 'ada_claw_bot',
    updates: [
      { fromId: 666, firstName: 'Mallory', username: 'mallory', text: 'hello' },
      { fromId: 424242, firstName: 'Ada', username: 'ada', text: ownerCode },
      { fromId: 666, firstName: 'Mallory', username: 'mallory', text: 'me first' },
    ],
  });
  await findOwner.click();
  await page.getByText('Your Telegram user id is 424242 (Ada, @ada).').waitFor();
  assert.equal(await page.locator('#owner-code-box').isVisible(), false, 'the code goes once used');
  assert.equal(await page.getByLabel(/Your Telegram user id/).inputValue(), '424242', 'the helper fills in the owner id');
  await browser.shot('token-and-user-id');

  // Deploy, pressed twice in a row: one attempt, one VM.
  const deployButton = page.getByRole('button', { name: 'Deploy', exact: true });
  const [started] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/deploy/start')),
    deployButton.dblclick(),
  ]);
  assert.equal(started.status(), 200, await started.text());
  const { deploymentId } = await started.json();
  await waitForView(page, 'progress');
  assert.equal(await focusedId(page), 'progress-heading', 'focus moves to the progress heading');
  const startCalls = watch.apiCalls.filter((c) => c.url.endsWith('/api/deploy/start'));
  const keys = new Set(startCalls.map((c) => c.headers['idempotency-key']));
  assert.equal(keys.size, 1, 'every start request of one attempt carries the same Idempotency-Key');
  assert.match([...keys][0], /^[0-9a-f-]{36}$/);
  assert.equal(await tokenField.inputValue(), '', 'the token left the form once the deploy started');
  assert.equal(await page.locator('#progress-live').getAttribute('aria-live'), 'polite');
  assert.match(await page.locator('#progress-limit').textContent(), /5:00/);
  await browser.shot('progress');

  // Progress to done: the token went with the start, and the Worker delivered it to
  // the VM exactly once; the page never sent it again.
  await page.locator('#progress-steps .step-done').first().waitFor();
  await browser.shot('progress-step-done');
  await waitForView(page, 'done', 120_000);
  assert.equal(await focusedId(page), 'done-heading');
  const secretPosts = watch.apiCalls.filter((c) => c.method === 'POST' && c.url.endsWith(`/api/deploy/${deploymentId}/secret`));
  assert.equal(secretPosts.length, 0, 'the page does not post the token');
  assert.equal((await stack.admin.counters())['compute.instances.setMetadata'], 1, 'the first token is delivered once');
  await assert.doesNotReject(page.getByText('Open Telegram').waitFor());
  await browser.shot('done');
  // Locally, the bot's name leads to the simulator's chat page (the Worker names it).
  const chat = page.locator('#done-bot-link a');
  assert.equal(await chat.getAttribute('href'), `${stack.sim}/_chat`);
  assert.equal(await chat.getAttribute('rel'), 'noopener noreferrer');
  const counters = await stack.admin.counters();
  assert.equal(counters['compute.instances.insert'], 1, 'one VM for one deploy attempt');
  // The bot answers only its owner: the id went into the VM's metadata.
  assert.match(JSON.stringify(await stack.admin.vms()), /"TELEGRAM_OWNER_ID"[^}]*"424242"|"424242"[^}]*"TELEGRAM_OWNER_ID"/);

  // The bot list: one row, green, with its machine type as text.
  await page.getByRole('button', { name: 'See your bots' }).click();
  await waitForView(page, 'bots');
  const row = page.locator('#bots-rows tr', { hasText: 'Ada helper' });
  await row.locator('.dot-green').waitFor({ timeout: 60_000 });
  assert.match(await row.textContent(), /Healthy/);
  assert.match(await row.textContent(), /e2-micro/);
  assert.match(await row.textContent(), /us-east1-/);
  assert.equal(await row.getByRole('button', { name: /Delete/ }).count(), 0, 'no delete for a running bot');
  await browser.shot('bot-list');

  // Rotate the Telegram token: confirmed once the VM applied it.
  await row.getByRole('button', { name: 'New Telegram token for Ada helper' }).click();
  const dialog = page.locator('#rotate-dialog');
  await dialog.getByLabel('New Telegram bot token').fill(ROTATED_TOKEN);
  await dialog.getByRole('button', { name: 'Send the new token' }).click();
  await dialog.getByText(/^Confirmed/).waitFor({ timeout: 60_000 });
  await browser.shot('rotate-confirmed');
  await dialog.getByRole('button', { name: 'Close' }).click();

  // A returning visitor who is signed in lands on the list.
  await page.reload();
  await waitForView(page, 'bots');
  await row.locator('.dot-green').waitFor();
  await browser.shot('returning-visitor');

  // Something on the VM publishes its own key (any process there can): the list
  // says so, and the new key is trusted only once the owner confirms.
  const [pinnedVm] = (await stack.admin.vms()).vms;
  const intruderKey = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO+yDhWyLYWHxnXKOAA+D9jUeZ7aXiBhSEnsoj3XLr/b';
  const planted = await fetch(`${pinnedVm.metadataUrl}/computeMetadata/v1/instance/guest-attributes/openclaw/recipient`, {
    method: 'PUT', headers: { 'Metadata-Flavor': 'Google' }, body: intruderKey,
  });
  assert.equal(planted.status, 200);
  await page.getByRole('button', { name: 'Refresh' }).click();
  const trust = row.getByRole('button', { name: 'Trust the new key of Ada helper' });
  await trust.waitFor();
  assert.match(await row.textContent(), /new encryption key/);
  await browser.shot('key-changed');
  page.once('dialog', (question) => {
    assert.match(question.message(), /Trust it only if you rebuilt or restored this VM yourself/);
    question.accept();
  });
  await trust.click();
  await page.getByText('Ada helper: the new key is trusted.', { exact: false }).waitFor();
  await trust.waitFor({ state: 'detached' });
  assert.equal((await stack.admin.vms()).vms[0].metadata['openclaw-recipient'], intruderKey);

  // Stopped in Google's console, the bot can be deleted after a confirmation.
  const [vm] = (await stack.admin.vms()).vms ?? (await stack.admin.vms());
  await stack.admin.stopVm({ project: 'claw-demo', zone: vm.zone, instance: vm.name ?? vm.instance });
  await page.getByRole('button', { name: 'Refresh' }).click();
  // The list refreshes itself while the VM is stopping.
  await row.getByText('Stopped', { exact: true }).waitFor({ timeout: 30_000 });
  await row.getByRole('button', { name: 'Delete Ada helper' }).click();
  const confirm = page.locator('#delete-dialog');
  await confirm.waitFor();
  await browser.shot('delete-confirmation');
  await confirm.getByRole('button', { name: 'Delete the bot' }).click();
  await page.locator('#bots-empty').waitFor();
  await page.getByText('Ada helper was deleted.').waitFor();
  assert.equal((await stack.admin.counters())['compute.instances.delete'], 1);
  await browser.shot('deleted');

  // Sign out: back at the choices, signed out for real.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await waitForView(page, 'choose');
  await page.getByText('You are signed out.').waitFor();
  const session = await page.evaluate(async () => (await fetch('/api/deploy/session')).status);
  assert.equal(session, 401);
  await browser.shot('signed-out');

  assertPageWasClean(watch);
});
