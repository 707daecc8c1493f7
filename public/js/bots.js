// bots.js: the bot list (GET /api/deploy/existing): one row per bot with its
// status (a coloured dot and words, never colour alone), machine type, zone,
// IP and age, and the actions each status allows: logs, a new Telegram token
// for a running bot, delete for a stopped one, and trusting the VM's new
// encryption key when it publishes another one than claw.free pinned for it.
// A running bot can be linked to a GitHub repository (when this claw.free has a
// GitHub App); a linked one names its repository, shows its latest rollout,
// and can be rolled back to the previous system its VM still has. Its Telegram
// token then lives in the repository, so the list offers no new token for it.

import * as api from './api.js';
import { byId, el, hide, setMessage, setVisible, show } from './dom.js';
import { formatAge } from './format.js';
import { openDeleteDialog, openLogsDialog, openRotateDialog, rollBack, trustNewKey } from './bot-actions.js';
import { canLink, safeUrl } from './github.js';
import { githubLinkingEnabled, nameFollowedBot, openGithubDialog } from './github-link.js';
import { canRollBack, rolloutWords, shortRev } from './rollouts.js';
import { currentViewName, showView } from './views.js';

const STOPPED = new Set(['STOPPED', 'TERMINATED']);
const STARTING = new Set(['PROVISIONING', 'STAGING', 'REPAIRING']);
const CHANGING = new Set([...STARTING, 'STOPPING', 'SUSPENDING']);
// While a bot is between states, the list refreshes itself this often.
const AUTO_REFRESH_MS = 5000;

let loadSequence = 0;
let refreshTimer = null;

export function initBots({ onNewBot }) {
  byId('bots-refresh').addEventListener('click', () => loadBots());
  byId('bots-new').addEventListener('click', onNewBot);
  byId('bots-empty-new').addEventListener('click', onNewBot);
}

/** Shows the list; `preloaded` is an answer of GET /api/deploy/existing already in hand. */
export function showBots(preloaded = null) {
  showView('bots');
  if (preloaded) render(preloaded);
  else loadBots();
}

/** Reads the list again (a link finished, say), if it is on screen. */
export function reloadBots() {
  if (currentViewName() === 'bots') loadBots();
}

async function loadBots() {
  const sequence = ++loadSequence;
  clearTimeout(refreshTimer);
  // "Loading" only fills an empty list; a refresh keeps the rows where they are.
  const listShown = !byId('bots-table').hidden || !byId('bots-empty').hidden;
  if (!listShown) show(byId('bots-loading'));
  setMessage(byId('bots-error'), '');
  byId('bots-refresh').disabled = true;
  try {
    const answer = await api.listBots();
    if (sequence === loadSequence) render(answer);
  } catch (error) {
    if (sequence !== loadSequence) return;
    hide(byId('bots-loading'));
    if (error.status !== 401) setMessage(byId('bots-error'), `Could not load your bots: ${error.message}`);
  } finally {
    if (sequence === loadSequence) byId('bots-refresh').disabled = false;
  }
}

function render({ vms = [], errors = [] }) {
  clearTimeout(refreshTimer);
  hide(byId('bots-loading'));
  renderProjectErrors(errors);
  setVisible(byId('bots-empty'), vms.length === 0);
  setVisible(byId('bots-table'), vms.length > 0);
  const rows = [...vms].sort(byNewestFirst).map(botRow);
  byId('bots-rows').replaceChildren(...rows);
  nameFollowedBot(vms);
  if (vms.some(isChanging)) refreshTimer = setTimeout(refreshIfStillShown, AUTO_REFRESH_MS);
}

function isChanging(bot) {
  return CHANGING.has(bot.status) || (bot.status === 'RUNNING' && Boolean(bot.setup) && bot.setup !== 'ready')
    || Boolean(bot.rollout && bot.rollout.inProgress);
}

function refreshIfStillShown() {
  if (currentViewName() === 'bots') loadBots();
}

function byNewestFirst(a, b) {
  return (Date.parse(b.createdAt) || 0) - (Date.parse(a.createdAt) || 0);
}

function renderProjectErrors(errors) {
  const list = byId('bots-project-errors');
  list.replaceChildren(...errors.map((e) =>
    el('li', {}, el('strong', {}, e.projectId), `: ${e.error}`)));
  setVisible(list, errors.length > 0);
}

/** What a bot's dot means, in words: the text the row shows beside the colour. */
function statusWords(bot) {
  if (STOPPED.has(bot.status)) return 'Stopped';
  if (bot.status === 'STOPPING') return 'Stopping';
  if (bot.status === 'SUSPENDED' || bot.status === 'SUSPENDING') return 'Suspended';
  if (STARTING.has(bot.status)) return 'Starting';
  if (bot.health === 'green') return 'Healthy';
  if (bot.health === 'red') return 'Not healthy';
  if (bot.setup && bot.setup !== 'ready') return 'Setting up';
  return 'Status unknown';
}

function dotColour(bot) {
  return bot.health === 'green' || bot.health === 'red' ? bot.health : 'grey';
}

/** "e2-micro" from either "e2-micro" or a full machine-type URL. */
function machineTypeName(machineType) {
  return typeof machineType === 'string' && machineType ? machineType.split('/').pop() : 'unknown';
}

function cell(label, ...children) {
  return el('td', { 'data-label': label }, ...children);
}

function botRow(bot) {
  const detailText = bot.keyChanged
    ? 'Its VM publishes a new encryption key: no token is sent to it until you trust that key.'
    : bot.healthDetail;
  const detail = detailText ? el('span', { className: 'detail' }, detailText) : null;
  const rollout = rolloutWords(bot.rollout);
  const rolloutDetail = rollout ? el('span', { className: 'detail rollout' }, rollout) : null;
  const repository = repositoryDetail(bot);
  return el('tr', { 'data-vm': bot.vmName },
    el('th', { scope: 'row', className: 'bot-name' },
      el('span', {}, bot.botName || bot.vmName),
      el('span', { className: 'detail' }, el('code', {}, bot.vmName), ` in ${bot.projectId}`)),
    cell('Status',
      el('span', { className: `dot dot-${dotColour(bot)}`, 'aria-hidden': 'true' }),
      el('span', { className: 'status-words' }, statusWords(bot)),
      detail,
      repository,
      rolloutDetail),
    cell('Machine', machineTypeName(bot.machineType)),
    cell('Zone', bot.zone),
    cell('IP', bot.ip || '—'),
    cell('Age', el('time', { dateTime: bot.createdAt || '' }, formatAge(bot.createdAt))),
    cell('Actions', actionsFor(bot)));
}

/** "Linked to owner/name", linking to it when its URL is one the page may link to. */
function repositoryDetail(bot) {
  if (!bot.github || typeof bot.github.repository !== 'string') return null;
  const url = safeUrl(bot.github.url);
  const name = url
    ? el('a', { href: url, target: '_blank', rel: 'noopener noreferrer' }, bot.github.repository)
    : el('code', {}, bot.github.repository);
  return el('span', { className: 'detail repository' }, 'Linked to ', name);
}

function actionsFor(bot) {
  const name = bot.botName || bot.vmName;
  const actions = el('div', { className: 'row-actions' },
    el('button', { type: 'button', className: 'secondary small', 'aria-label': `Logs of ${name}`,
      onclick: () => openLogsDialog(bot) }, 'Logs'));
  if (bot.status === 'RUNNING' && !bot.github) {
    actions.append(el('button', { type: 'button', className: 'secondary small', 'aria-label': `New Telegram token for ${name}`,
      onclick: () => openRotateDialog(bot) }, 'New token'));
  }
  if (bot.status === 'RUNNING' && bot.keyChanged) {
    actions.append(el('button', { type: 'button', className: 'danger small', 'aria-label': `Trust the new key of ${name}`,
      onclick: (event) => trustNewKey(bot, event.currentTarget, () => loadBots()) }, 'Trust the new key'));
  }
  if (canLink(bot, githubLinkingEnabled())) {
    actions.append(el('button', { type: 'button', className: 'secondary small',
      'aria-label': `Link ${name} to a GitHub repository`, onclick: () => openGithubDialog(bot) }, 'Link to GitHub'));
  }
  if (canRollBack(bot)) {
    actions.append(el('button', { type: 'button', className: 'secondary small',
      'aria-label': `Roll back ${name} to ${shortRev(bot.rollout.previous)}`,
      onclick: (event) => rollBack(bot, event.currentTarget, () => loadBots()) }, 'Roll back'));
  }
  if (STOPPED.has(bot.status)) {
    actions.append(el('button', { type: 'button', className: 'danger small', 'aria-label': `Delete ${name}`,
      onclick: () => openDeleteDialog(bot, () => removeRow(bot)) }, 'Delete'));
  }
  return actions;
}

function removeRow(bot) {
  const row = byId('bots-rows').querySelector(`tr[data-vm="${CSS.escape(bot.vmName)}"]`);
  if (row) row.remove();
  const remaining = byId('bots-rows').children.length;
  setVisible(byId('bots-table'), remaining > 0);
  setVisible(byId('bots-empty'), remaining === 0);
  byId('bots-live').textContent = `${bot.botName || bot.vmName} was deleted.`;
  byId('bots-heading').focus();
}
