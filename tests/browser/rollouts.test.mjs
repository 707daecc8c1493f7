// A bot linked to GitHub in the bot list: its latest rollout in words (the
// VM's own reason when it rolled back), and a Roll back that asks first, then
// points the VM at the previous system it still has (openclaw-system with
// rollback: true); while the VM switches, the list says so and offers nothing.
// The rollout guest attributes are written the way the agent writes them,
// through the VM's metadata server.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DESKTOP, assertPageWasClean, openBrowser, waitForView } from './browser.mjs';
import { closeAll, signInAndDeploy, startFastStack, telegramToken } from './journeys.mjs';

const TOKEN = telegramToken(7000000005, 'g');
const PREVIOUS_PATH = '/nix/store/0c8ylyd3r4hc1cq8iv3b3ywqbnnv5hb6-nixos-system-bot-25.11';

let stack;
let browser;

before(async () => {
  stack = await startFastStack();
  await stack.admin.telegramBot({ token: TOKEN, username: 'linked_bot', updates: [] });
  browser = await openBrowser({ site: stack.site, testName: 'rollouts', viewport: DESKTOP });
});

after(() => closeAll(browser, stack));

/** Writes `openclaw/<key>` as the VM's agent does. */
async function report(vm, key, value) {
  const answer = await fetch(`${vm.metadataUrl}/computeMetadata/v1/instance/guest-attributes/openclaw/${key}`, {
    method: 'PUT', headers: { 'Metadata-Flavor': 'Google' }, body: value,
  });
  assert.equal(answer.status, 200);
}

test('a linked bot shows its rollouts and is rolled back from the list', async () => {
  const { page, watch, shot } = browser;
  await signInAndDeploy(browser, stack.site, { botName: 'Linked bot', token: TOKEN });
  await waitForView(page, 'done', 120_000);
  const [vm] = (await stack.admin.vms()).vms;

  // CI rolled out 2222222, which failed its health check: the VM went back to 1111111.
  await report(vm, 'previous-system', JSON.stringify({ path: PREVIOUS_PATH, rev: '1111111' }));
  await report(vm, 'system', '1111111');
  await report(vm, 'rollout', '2222222 rolled-back:openclaw-gateway.service is failed');
  await page.getByRole('button', { name: 'See your bots' }).click();
  await waitForView(page, 'bots');
  const row = page.locator('#bots-rows tr', { hasText: 'Linked bot' });
  await row.getByText('Rollout of 2222222 was rolled back: openclaw-gateway.service is failed. Runs 1111111.').waitFor();
  await shot('rolled-back');

  // Roll back asks first; declining changes nothing.
  const rollBack = row.getByRole('button', { name: 'Roll back Linked bot to 1111111' });
  page.once('dialog', (question) => question.dismiss());
  await rollBack.click();
  assert.equal((await stack.admin.vms()).vms[0].metadata['openclaw-system'], undefined);

  page.once('dialog', (question) => {
    assert.match(question.message(), /Roll Linked bot back to 1111111\?/);
    question.accept();
  });
  await rollBack.click();
  await page.getByText('Linked bot is rolling back to 1111111.', { exact: false }).waitFor();
  const written = JSON.parse((await stack.admin.vms()).vms[0].metadata['openclaw-system']);
  assert.deepEqual(written, { path: PREVIOUS_PATH, rev: '1111111', rollback: true });

  // The VM switching: the list says so, offers no second roll back, and refreshes itself.
  await report(vm, 'rollout', '1111111 switching');
  await page.getByRole('button', { name: 'Refresh' }).click();
  await row.getByText('Rolling out 1111111: switching to it…').waitFor();
  assert.equal(await row.getByRole('button', { name: /Roll back/ }).count(), 0);
  await shot('switching');
  await report(vm, 'rollout', '1111111 done');
  await row.getByText('Runs 1111111.', { exact: true }).waitFor({ timeout: 20_000 });
  assertPageWasClean(watch);
});
