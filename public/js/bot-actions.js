// bot-actions.js: the bot list's dialogs. Delete (only offered for a stopped
// bot) asks for confirmation first. A new Telegram token is sent encrypted to
// the VM, then the bot is polled until it reports the new secret version:
// only then does the page say "confirmed". Roll back (a bot linked to GitHub)
// asks first. Logs show the serial output.

import * as api from './api.js';
import { byId, setMessage, setRevealed, whileBusy } from './dom.js';
import { secretVersionReached, telegramTokenProblem } from './format.js';
import { showLogs } from './logs.js';
import { shortRev } from './rollouts.js';

const CONFIRM_POLL_MS = 2500;
const CONFIRM_TIMEOUT_MS = 3 * 60 * 1000;

let deleteTarget = null;
let rotateTarget = null;
/** Changes whenever the rotate dialog is opened, used or closed, so a late answer goes to the list, not the dialog. */
let rotateSequence = 0;

export function initBotActions() {
  byId('delete-confirm').addEventListener('click', (event) => whileBusy(event.currentTarget, confirmDelete));
  byId('rotate-form').addEventListener('submit', (event) => {
    event.preventDefault();
    whileBusy(byId('rotate-submit'), sendNewToken);
  });
  byId('rotate-close').addEventListener('click', () => byId('rotate-dialog').close());
  byId('rotate-dialog').addEventListener('close', () => {
    rotateSequence += 1;
    clearRotateToken();
  });
  byId('logs-close').addEventListener('click', () => byId('logs-dialog').close());
}

function botLabel(bot) {
  return bot.botName || bot.vmName;
}

// Delete

export function openDeleteDialog(bot, onDeleted) {
  deleteTarget = { bot, onDeleted };
  byId('delete-bot-name').textContent = botLabel(bot);
  byId('delete-vm-name').textContent = bot.vmName;
  byId('delete-project').textContent = bot.projectId;
  setMessage(byId('delete-error'), '');
  byId('delete-dialog').showModal();
}

async function confirmDelete() {
  if (!deleteTarget) return;
  const { bot, onDeleted } = deleteTarget;
  try {
    await api.deleteBot(bot);
    deleteTarget = null;
    byId('delete-dialog').close();
    onDeleted();
  } catch (error) {
    setMessage(byId('delete-error'), error.message);
  }
}

// New Telegram token

export function openRotateDialog(bot) {
  rotateTarget = bot;
  rotateSequence += 1;
  byId('rotate-bot-name').textContent = botLabel(bot);
  setRotateStatus('', '');
  clearRotateToken();
  byId('rotate-submit').hidden = false;
  byId('rotate-dialog').showModal();
  byId('rotate-token').focus();
}

function setRotateStatus(text, kind) {
  const status = byId('rotate-status');
  status.textContent = text;
  status.className = `status-line ${kind}`;
}

function clearRotateToken() {
  const input = byId('rotate-token');
  input.value = '';
  setRevealed(byId('rotate-form').querySelector('button.reveal'), input, false);
}

async function sendNewToken() {
  const bot = rotateTarget;
  const token = byId('rotate-token').value.trim();
  const problem = telegramTokenProblem(token);
  if (!bot) return;
  if (problem) {
    setRotateStatus(problem, 'bad');
    byId('rotate-token').focus();
    return;
  }
  const sequence = ++rotateSequence;
  setRotateStatus('Sending the token, encrypted to the VM…', 'muted');
  let sent;
  try {
    sent = await api.rotateSecret(bot, token);
  } catch (error) {
    setRotateStatus(error.message, 'bad');
    return;
  }
  clearRotateToken();
  byId('rotate-submit').hidden = true;
  byId('rotate-close').focus();
  setRotateStatus('Sent. Waiting for the bot to confirm it restarted with the new token…', 'muted');
  const confirmed = await waitForSecretVersion(bot, sent.secretVersion);
  if (confirmed !== null) reportRotation(bot, confirmed, sequence === rotateSequence);
}

/** Polls the bot until it applied `version`: true, false on timeout, null if signed out. */
async function waitForSecretVersion(bot, version) {
  const giveUpAt = Date.now() + CONFIRM_TIMEOUT_MS;
  while (Date.now() < giveUpAt) {
    await sleep(CONFIRM_POLL_MS);
    try {
      const current = await api.getBot(bot);
      if (secretVersionReached(current.secretVersion, version)) return true;
    } catch (error) {
      if (error.status === 401) return null;
    }
  }
  return false;
}

/** Says how the rotation ended, in the dialog if it is still showing it, and in the list. */
function reportRotation(bot, confirmed, dialogStillShowsIt) {
  const text = confirmed
    ? `Confirmed: ${botLabel(bot)} now uses the new token.`
    : `${botLabel(bot)} has not confirmed the new token yet. It applies it when it next runs; check its logs if this persists.`;
  if (dialogStillShowsIt) setRotateStatus(text, confirmed ? 'good' : 'bad');
  byId('bots-live').textContent = text;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// A new encryption key

/**
 * Trusts the key the bot's VM publishes now. Only right after the owner rebuilt
 * or restored the VM: otherwise a new key means something on the VM wants the
 * next token, so the page asks first and says so.
 */
export async function trustNewKey(bot, button, onTrusted) {
  const question = `${botLabel(bot)}'s VM publishes a new encryption key. Trust it only if you rebuilt or restored this VM yourself: otherwise something on the VM may be trying to receive your next token. Trust the new key?`;
  if (!window.confirm(question)) return;
  await whileBusy(button, async () => {
    try {
      await api.trustNewKey(bot);
      byId('bots-live').textContent = `${botLabel(bot)}: the new key is trusted. Send the token again with New token.`;
      onTrusted();
    } catch (error) {
      byId('bots-live').textContent = error.message;
    }
  });
}

// Roll back

/**
 * Points the bot's VM back at the previous system it still has. The VM switches
 * and checks its health on its own, then reports in the list.
 */
export async function rollBack(bot, button, onStarted) {
  const previous = bot.rollout ? shortRev(bot.rollout.previous) : '';
  const question = `Roll ${botLabel(bot)} back to ${previous}? Its VM switches to that earlier system and checks it, which takes a minute or two.`;
  if (!window.confirm(question)) return;
  await whileBusy(button, async () => {
    try {
      const started = await api.rollBack(bot);
      byId('bots-live').textContent = `${botLabel(bot)} is rolling back to ${shortRev(started.rev)}. The list shows how it goes.`;
      onStarted();
    } catch (error) {
      byId('bots-live').textContent = error.message;
    }
  });
}

// Logs

export function openLogsDialog(bot) {
  byId('logs-vm-name').textContent = botLabel(bot);
  byId('logs-dialog').showModal();
  showLogs({
    fetchLogs: () => api.getBotLogs(bot),
    output: byId('logs-output'),
    status: byId('logs-status'),
    consoleLink: byId('logs-console'),
  });
}
