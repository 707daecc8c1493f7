// Accessibility and hygiene smoke checks on phone and desktop: every control
// has a label, focus lands on each new step's heading, focus is visible, the
// layout fits the screen, and the page loads nothing from another origin and
// logs no error.

import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import {
  DESKTOP, PHONE, assertPageWasClean, focusedId, openBrowser, unlabelledControls, waitForView,
} from './browser.mjs';
import { signIn, startFastStack } from './journeys.mjs';

let stack;
let browser;

before(async () => {
  stack = await startFastStack();
});

after(async () => {
  await stack?.stop();
});

afterEach(async () => {
  await browser?.close();
  browser = null;
});

/** True when nothing on the page is wider than the screen (no sideways scrolling). */
function fitsTheScreen(page) {
  return page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
}

for (const [screen, viewport] of [['phone', PHONE], ['desktop', DESKTOP]]) {
  test(`labels, focus and layout on a ${screen}`, async () => {
    browser = await openBrowser({ site: stack.site, testName: `accessibility-${screen}`, viewport });
    const { page, watch, shot } = browser;
    await page.goto(stack.site);
    await waitForView(page, 'choose');
    assert.deepEqual(await unlabelledControls(page), [], 'controls without a label');
    assert.ok(await fitsTheScreen(page), 'the choices step is wider than the screen');

    // The whole page (HTML, CSS, scripts, icon) weighs a few tens of KB.
    const bytes = await page.evaluate(() =>
      [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]
        .filter((entry) => !entry.name.includes('/api/'))
        .reduce((sum, entry) => sum + entry.decodedBodySize, 0));
    assert.ok(bytes > 10_000 && bytes < 100_000, `the page weighs ${bytes} bytes`);

    // The first Tab reaches the skip link, and focus is visible.
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.className), 'skip-link');
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.notEqual(outline, 'none', 'the focused element shows an outline');
    await shot('choices');

    await signIn(browser, { shots: false });
    assert.ok(await fitsTheScreen(page), 'the setup step is wider than the screen');
    await shot('setup');

    // Each new step puts focus on its heading.
    await page.getByRole('button', { name: 'Your bots', exact: true }).click();
    await waitForView(page, 'bots');
    assert.equal(await focusedId(page), 'bots-heading');
    await page.locator('#bots-empty').waitFor();
    assert.ok(await fitsTheScreen(page), 'the bot list is wider than the screen');
    await shot('bots-empty');
    await page.getByRole('button', { name: 'Deploy your first bot' }).click();
    await waitForView(page, 'setup');
    assert.equal(await focusedId(page), 'setup-heading');

    // Deploy without filling the form: the reason is said, and the cursor goes to the fix.
    await page.getByRole('button', { name: 'Deploy', exact: true }).click();
    await page.getByText('Give your bot a name.').waitFor();
    assert.equal(await focusedId(page), 'setup-bot-name');
    await shot('form-refused');

    // Every live region is announced politely or as an alert.
    const liveRegions = await page.evaluate(() =>
      [...document.querySelectorAll('[role=status], [role=alert], [aria-live]')].length);
    assert.ok(liveRegions >= 5);
    assert.deepEqual(await unlabelledControls(page), []);
    assertPageWasClean(watch);
  });
}
