// browser.mjs: Debian's Chromium driven by playwright-core for the browser
// tests: a fresh profile per test, viewports for a phone and a desktop, a
// screenshot per step under artifacts/browser/<test>/, and a watch on what
// the page does that it must not (console errors, uncaught exceptions,
// requests to anywhere but the site).

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { REPO_ROOT } from './stack.mjs';

export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1280, height: 800 };

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

// Chromium reports every 4xx/5xx answer as a console error; the API's own error
// answers are checked through the responses instead.
const HTTP_STATUS_CONSOLE_ERROR = /^Failed to load resource: the server responded with a status of \d+/;

/**
 * Opens a browser with a fresh profile and one page. Returns {page, context,
 * watch, shot, close}. `watch` collects what the page did wrong; `shot(step)`
 * saves artifacts/browser/<testName>/<NN>-<step>.png.
 */
export async function openBrowser({ site, testName, viewport = DESKTOP, timezoneId = 'America/Chicago' }) {
  const profile = mkdtempSync(path.join(tmpdir(), 'claw-free-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    viewport,
    timezoneId,
    locale: 'en-US',
  });
  context.setDefaultTimeout(15_000);
  const page = context.pages()[0] || (await context.newPage());
  const watch = watchPage(page, new URL(site).origin);
  const shotsDir = path.join(REPO_ROOT, 'artifacts', 'browser', testName);
  mkdirSync(shotsDir, { recursive: true });
  let step = 0;
  return {
    page,
    context,
    watch,
    async shot(name) {
      step += 1;
      const file = path.join(shotsDir, `${String(step).padStart(2, '0')}-${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      return file;
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

function watchPage(page, siteOrigin) {
  const watch = { consoleErrors: [], pageErrors: [], foreignRequests: [], apiCalls: [] };
  page.on('console', (message) => {
    if (message.type() === 'error' && !HTTP_STATUS_CONSOLE_ERROR.test(message.text())) {
      watch.consoleErrors.push(`${message.text()} (${message.location().url})`);
    }
  });
  page.on('pageerror', (error) => watch.pageErrors.push(error.message));
  page.on('request', (request) => {
    const fromSite = request.frame().url().startsWith(siteOrigin) || request.frame().url() === 'about:blank';
    const url = request.url();
    if (new URL(url).origin === siteOrigin) {
      if (url.includes('/api/')) watch.apiCalls.push({ method: request.method(), url, headers: request.headers() });
      return;
    }
    // Leaving the site for Google's consent page is the sign-in itself.
    if (request.isNavigationRequest()) return;
    if (fromSite) watch.foreignRequests.push(url);
  });
  page.on('response', (response) => {
    const call = watch.apiCalls.find((c) => c.url === response.url() && c.status === undefined);
    if (call) call.status = response.status();
  });
  return watch;
}

/** The page made no request outside the site, logged no error and threw nothing. */
export function assertPageWasClean(watch) {
  assert.deepEqual(watch.foreignRequests, [], 'the page loaded something from another origin');
  assert.deepEqual(watch.pageErrors, [], 'the page threw');
  assert.deepEqual(watch.consoleErrors, [], 'the page logged errors');
  const serverErrors = watch.apiCalls.filter((c) => c.status >= 500);
  assert.deepEqual(serverErrors, [], 'the Worker answered with a server error');
}

/** Waits until a view is the one on screen. */
export async function waitForView(page, name, timeout = 15_000) {
  await page.locator(`#view-${name}`).waitFor({ state: 'visible', timeout });
}

/** The id of the element that has the focus. */
export function focusedId(page) {
  return page.evaluate(() => document.activeElement?.id || document.activeElement?.tagName || '');
}

/** Every form control on the page has an accessible name from a label or ARIA. */
export async function unlabelledControls(page) {
  return page.evaluate(() => {
    const controls = [...document.querySelectorAll('input:not([type=hidden]), select, textarea')];
    return controls
      .filter((control) => {
        const byLabel = control.labels && [...control.labels].some((l) => l.textContent.trim());
        const byAria = control.getAttribute('aria-label') || control.getAttribute('aria-labelledby');
        return !byLabel && !byAria;
      })
      .map((control) => control.id || control.name || control.outerHTML.slice(0, 60));
  });
}
