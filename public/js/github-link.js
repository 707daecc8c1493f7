// github-link.js: linking a bot to a GitHub repository, on the bot list. The
// dialog says what linking creates and who gets which rights, then sends the
// browser to the Worker's start route (which goes on to GitHub). Back from
// GitHub, the panel polls the link's status, which is also what moves the link
// on, and lists its steps until it is linked or stopped (then "Try again"
// resumes from the step that failed). The bot being linked is kept in this
// tab's sessionStorage, so a reload keeps following it, and so does the
// return from the wider Google sign-in a stopped link may ask for, after
// which the link resumes by itself.

import * as api from './api.js';
import { byId, el, hide, setMessage, setVisible, show, whileBusy } from './dom.js';
import { botKey, isSitePath, linkSteps, linkSummary, linkedBotFromParam, nextPollMs, safeUrl } from './github.js';

const SAVED_KEY = 'clawfree.githubLink';
// After a failed poll (network, 5xx, 429), the next waits longer each time, up to this.
const MAX_BACKOFF_MS = 30_000;

const STEP_STATE_WORDS = { done: 'done', active: 'in progress', pending: 'not started', failed: 'failed' };

let linkingEnabled = false;
let following = null;
let pollTimer = null;
let onLinked = () => {};

export function initGithubLink({ onLinkedChange }) {
  onLinked = onLinkedChange;
  byId('github-dialog-cancel').addEventListener('click', () => byId('github-dialog').close());
  byId('github-link-close').addEventListener('click', closePanel);
  byId('github-link-retry').addEventListener('click', (event) => whileBusy(event.currentTarget, resume));
}

/** Whether this claw.free has a GitHub App (the session's `githubLinking`). */
export function setGithubLinking(enabled) {
  linkingEnabled = Boolean(enabled);
}

export function githubLinkingEnabled() {
  return linkingEnabled;
}

function botLabel(bot) {
  return bot.botName || bot.vmName;
}

/**
 * Names the followed bot as the list does, once the list is read: a redirect names
 * the bot only by its VM.
 */
export function nameFollowedBot(bots) {
  if (!following || following.bot.botName) return;
  const listed = bots.find((bot) => botKey(bot) === botKey(following.bot));
  if (!listed || !listed.botName) return;
  following.bot = { ...following.bot, botName: listed.botName };
  byId('github-link-bot').textContent = listed.botName;
}

/** "Link to GitHub": what it does, then on to GitHub. */
export function openGithubDialog(bot) {
  byId('github-dialog-bot').textContent = botLabel(bot);
  byId('github-dialog-project').textContent = bot.projectId;
  byId('github-dialog-continue').href = api.githubLinkStartPath(bot);
  byId('github-dialog-continue').onclick = () => saveFollowed(bot);
  byId('github-dialog').showModal();
}

function saveFollowed(bot) {
  try {
    sessionStorage.setItem(SAVED_KEY, botKey(bot));
  } catch {
    // Without storage the panel still follows the link until the tab reloads.
  }
}

/** Forgets the bot this tab followed (GitHub sent the visitor back with an error). */
export function forgetFollowed() {
  try {
    sessionStorage.removeItem(SAVED_KEY);
  } catch {
    // Nothing was saved.
  }
}

/** The bot whose link this tab follows: the redirect's, else the one saved before a reload. */
export function followedBot(param) {
  const fromRedirect = linkedBotFromParam(param);
  if (fromRedirect) {
    saveFollowed(fromRedirect);
    return fromRedirect;
  }
  let saved = null;
  try {
    saved = sessionStorage.getItem(SAVED_KEY);
  } catch {
    return null;
  }
  return linkedBotFromParam(saved);
}

/**
 * Shows the panel for `bot` and follows its link until it ends. With
 * `resumeIfStopped` (back from the sign-in its action asked for), a link found
 * stopped is resumed once.
 */
export function followLink(bot, { resumeIfStopped = false } = {}) {
  clearTimeout(pollTimer);
  following = { bot, failures: 0, resumeIfStopped };
  byId('github-link-bot').textContent = botLabel(bot);
  byId('github-link-steps').replaceChildren();
  setMessage(byId('github-link-status'), `Linking ${botLabel(bot)}…`);
  setMessage(byId('github-link-error'), '');
  hide(byId('github-link-retry'));
  hide(byId('github-link-close'));
  hide(byId('github-link-action'));
  hide(byId('github-link-repository'));
  show(byId('github-link-panel'));
  poll(following);
}

async function poll(current) {
  let link;
  try {
    link = await api.getGithubLink(current.bot);
  } catch (error) {
    if (current !== following) return;
    failedPoll(current, error);
    return;
  }
  if (current !== following) return;
  current.failures = 0;
  if (link.state === 'failed' && current.resumeIfStopped) {
    current.resumeIfStopped = false;
    await resume();
    return;
  }
  render(current, link);
  if (link.state === 'linking') pollTimer = setTimeout(() => poll(current), nextPollMs(link));
}

function failedPoll(current, error) {
  if (error.status === 401) return; // The session-lost handler takes the page back to sign-in.
  if (error.status === 404) {
    forgetFollowed();
    setMessage(byId('github-link-status'), '');
    setMessage(byId('github-link-error'), `No link is under way for ${botLabel(current.bot)}: ${error.message}`);
    show(byId('github-link-close'));
    return;
  }
  current.failures += 1;
  const waitMs = Math.min(MAX_BACKOFF_MS, 2000 * 2 ** (current.failures - 1));
  const retryMs = error.retryAfterSeconds !== null ? Math.max(waitMs, error.retryAfterSeconds * 1000) : waitMs;
  setMessage(byId('github-link-error'), `${error.message} Trying again in ${Math.round(retryMs / 1000)} seconds.`);
  pollTimer = setTimeout(() => poll(current), retryMs);
}

function render(current, link) {
  const name = botLabel(current.bot);
  byId('github-link-steps').replaceChildren(...linkSteps(link).map((step) =>
    el('li', { className: `step step-${step.state}`, 'aria-current': step.state === 'active' ? 'step' : null },
      el('span', { className: 'step-mark', 'aria-hidden': 'true' }),
      el('span', { className: 'step-label' }, step.label),
      el('span', { className: 'visually-hidden' }, `: ${STEP_STATE_WORDS[step.state]}`))));
  setMessage(byId('github-link-status'), link.state === 'failed' ? '' : linkSummary(link, name));
  setMessage(byId('github-link-error'), link.state === 'failed' ? linkSummary(link, name) : '');
  renderRepository(link);
  renderAction(link);
  setVisible(byId('github-link-retry'), link.state === 'failed');
  setVisible(byId('github-link-close'), link.state !== 'linking');
  if (link.state === 'linked') {
    forgetFollowed();
    onLinked();
  }
}

function renderRepository(link) {
  const repository = byId('github-link-repository');
  const url = link.repository && safeUrl(link.repository.url);
  if (link.state === 'linked' && url) {
    repository.href = url;
    repository.textContent = `Open ${link.repository.fullName} on GitHub`;
    show(repository);
  } else {
    hide(repository);
  }
}

function renderAction(link) {
  const action = byId('github-link-action');
  const url = link.errorAction && safeUrl(link.errorAction.url);
  if (link.state === 'failed' && url && typeof link.errorAction.label === 'string') {
    action.href = url;
    action.textContent = link.errorAction.label;
    // A path of this site (the wider sign-in) replaces the page; Google's console opens beside it.
    if (isSitePath(url)) {
      action.removeAttribute('target');
    } else {
      action.target = '_blank';
    }
    show(action);
  } else {
    hide(action);
  }
}

async function resume() {
  const current = following;
  if (!current) return;
  setMessage(byId('github-link-error'), '');
  try {
    const link = await api.resumeGithubLink(current.bot);
    if (current !== following) return;
    render(current, link);
    if (link.state === 'linking') pollTimer = setTimeout(() => poll(current), nextPollMs(link));
  } catch (error) {
    if (current === following && error.status !== 401) setMessage(byId('github-link-error'), error.message);
  }
}

function closePanel() {
  clearTimeout(pollTimer);
  following = null;
  forgetFollowed();
  hide(byId('github-link-panel'));
  byId('bots-heading').focus();
}

/** Stops following (the session ended). */
export function stopFollowing() {
  clearTimeout(pollTimer);
  following = null;
}
