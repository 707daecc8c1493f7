// Linking a bot to a GitHub repository from the bot list, in a real browser
// against the Worker under wrangler dev and the simulated GitHub and Google:
// the dialog says what linking creates before anything happens; GitHub's
// install and authorization pages send the browser back; the panel follows the
// link step by step (each poll moves it on); the sign-in's narrower access
// stops it at the Workload Identity pool with the wider sign-in as its action,
// after which it resumes by itself; a step Google refuses stops it with a
// reason, and Try again goes on from there; the linked bot names
// its repository and no longer offers a Telegram token of claw.free's. A
// redirect's error code becomes the page's own sentence.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DESKTOP, assertPageWasClean, openBrowser, unlabelledControls, waitForView } from './browser.mjs';
import { FAST_GOOGLE, closeAll, signIn, signInAndDeploy, telegramToken } from './journeys.mjs';
import { startStack } from './stack.mjs';

const TOKEN = telegramToken(7000000006, 'h');

let stack;
let browser;

before(async () => {
  stack = await startStack(['--github']);
  assert.ok(stack.githubApp, 'the stack registers its GitHub App');
  await stack.admin.reset();
  await stack.admin.githubApp(stack.githubApp);
  await stack.admin.config(FAST_GOOGLE);
  await stack.admin.telegramBot({ token: TOKEN, username: 'repo_bot', updates: [] });
  browser = await openBrowser({ site: stack.site, testName: 'github-link', viewport: DESKTOP });
});

after(() => closeAll(browser, stack));

test('a failed authorization comes back as the page\'s own sentence, never the URL\'s text', async () => {
  // A browser of its own, signed in, with no bot yet: the redirect lands on the list all the same.
  const other = await openBrowser({ site: stack.site, testName: 'github-link-errors', viewport: DESKTOP });
  try {
    await landsWithErrors(other);
  } finally {
    await other.close();
  }
});

test("a bot is linked to a new repository from the list, through Google's refusal and Try again", async () => {
  const { page, watch, shot } = browser;
  await signInAndDeploy(browser, stack.site, { botName: 'Repo bot', token: TOKEN });
  await waitForView(page, 'done', 120_000);
  await page.getByRole('button', { name: 'See your bots' }).click();
  await waitForView(page, 'bots');
  const row = page.locator('#bots-rows tr', { hasText: 'Repo bot' });
  await row.getByRole('button', { name: 'New Telegram token for Repo bot' }).waitFor();

  // The dialog first: declining leaves nothing started.
  const link = row.getByRole('button', { name: 'Link Repo bot to a GitHub repository' });
  await link.click();
  const dialog = page.getByRole('dialog', { name: 'Link Repo bot to a GitHub repository?' });
  await dialog.getByText('no key is made or stored').waitFor();
  assert.deepEqual(await unlabelledControls(page), []);
  await shot('link-dialog');
  await dialog.getByRole('button', { name: 'Not now' }).click();
  assert.equal((await stack.admin.counters())['github.installations.new'] ?? 0, 0);

  // GitHub protects main on a private repository for GitHub Pro accounts; Ada has one.
  await stack.admin.githubPlan({ login: 'ada-lovelace', plan: 'pro' });
  // Once the link is past the pool, Google refuses CI's service account once.
  await stack.admin.fault({
    endpoint: 'iam.serviceAccounts.create', status: 403, times: 1,
    body: { error: { code: 403, message: "Permission 'iam.serviceAccounts.create' denied on resource (or it may not exist).", status: 'PERMISSION_DENIED' } },
  });
  await link.click();
  await dialog.getByRole('link', { name: 'Continue to GitHub' }).click();
  // GitHub's pages send the browser straight back (the simulator installs and authorizes at once).
  const panel = page.getByRole('region', { name: /Linking Repo bot to GitHub/ });
  await panel.waitFor();
  assert.ok(!page.url().includes('githubLink'), 'the redirect\'s parameters leave the address bar');

  // The plain sign-in cannot create a Workload Identity pool: the link stops there and
  // offers the sign-in that allows it, in this tab; back from Google it resumes by itself.
  const widerSignIn = panel.getByRole('link', { name: /sign in/i });
  await widerSignIn.waitFor({ timeout: 120_000 });
  assert.equal(await panel.locator('.step-failed').count(), 1);
  assert.equal(await widerSignIn.getAttribute('target'), null, 'the sign-in replaces the page');
  await shot('link-needs-access');
  await widerSignIn.click();
  await page.getByRole('button', { name: 'Allow' }).click();
  await waitForView(page, 'bots');
  await panel.waitFor();

  // Then the refused service account: stopped with a reason, Try again goes on.
  await panel.getByRole('button', { name: 'Try again' }).waitFor({ timeout: 120_000 });
  await panel.getByText(/Linking Repo bot stopped: .+/).waitFor();
  assert.equal(await panel.locator('.step-failed').count(), 1);
  await shot('link-failed');

  await panel.getByRole('button', { name: 'Try again' }).click();
  const repository = panel.getByRole('link', { name: /^Open .+ on GitHub$/ });
  await repository.waitFor({ timeout: 180_000 });
  await panel.getByText(/Repo bot is linked to .+\. A push to its main branch now deploys to the bot\./).waitFor();
  assert.equal(await panel.locator('.step-failed, .step-pending, .step-active').count(), 0, 'every step done');
  await shot('linked');

  // The list names the repository; the token is the repository's now.
  const fullName = (await repository.textContent()).replace(/^Open | on GitHub$/g, '');
  await row.getByText(`Linked to ${fullName}`).waitFor({ timeout: 30_000 });
  assert.equal(await row.getByRole('button', { name: /New Telegram token/ }).count(), 0);
  assert.equal(await row.getByRole('button', { name: /Link Repo bot/ }).count(), 0);
  const repo = await stack.admin.githubRepo(fullName);
  assert.ok(repo.files['claw-free.json'], 'the repository holds claw-free.json');

  // A reload after the link ended does not follow it again.
  await page.reload();
  await waitForView(page, 'bots');
  assert.equal(await page.locator('#github-link-panel').isVisible(), false);
  assertPageWasClean(watch);
});

async function landsWithErrors(other) {
  const { page, watch } = other;
  await page.goto(stack.site);
  await signIn(other, { shots: false });
  await page.goto(`${stack.site}/?githubLinkError=not-yours`);
  await waitForView(page, 'bots');
  await page.getByText('That GitHub installation belongs to another account').waitFor();
  await page.goto(`${stack.site}/?githubLinkError=${encodeURIComponent('Call +1 555 0100 to unlock your bot')}`);
  await waitForView(page, 'bots');
  await page.getByText('Linking to GitHub did not complete. Nothing was linked').waitFor();
  assert.equal(await page.getByText('555 0100').count(), 0);
  // A githubLink naming something that is not a bot starts nothing: the page lands as
  // it would without it (this person has no bot yet, so on the setup step).
  await page.goto(`${stack.site}/?githubLink=${encodeURIComponent('../../x/<b>')}`);
  await waitForView(page, 'setup');
  assert.equal(await page.locator('#github-link-panel').isVisible(), false);
  assertPageWasClean(watch);
}
