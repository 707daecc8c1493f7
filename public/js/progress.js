// progress.js: step 3, the live progress of one deploy. Polls
// GET /api/deploy/:id when the Worker says to (retryAfterMs; the browser's cache
// sends back the answer's ETag, so an early poll costs the Worker nothing) and
// shows the steps, the elapsed time and the 5-minute readiness limit. The token
// went with the start and the Worker delivers it; when the VM could not read it
// (secretError) the page asks for it again and sends it once, then forgets it. On error it shows the message, the suggested next step, the
// serial output and Google's console link.

import * as api from './api.js';
import { byId, el, focusHeading, setMessage, setRevealed, setVisible, whileBusy } from './dom.js';
import { formatDuration, telegramTokenProblem } from './format.js';
import { setSafeLink, showLogs } from './logs.js';
import { currentViewName, showNotice, showView } from './views.js';

const STEPS = [
  { status: 'enabling', label: 'Turning on the Compute Engine API' },
  { status: 'creating', label: 'Creating the VM' },
  { status: 'booting', label: 'Booting the VM' },
  { status: 'configuring', label: 'Receiving the Telegram token' },
  { status: 'starting', label: 'Starting OpenClaw' },
  { status: 'done', label: 'Ready' },
];

const POLL_INTERVAL_MS = 2500;
const DEFAULT_READY_DEADLINE_SECONDS = 300;
const SAVED_RUN_KEY = 'clawfree.deployment';

/** The deploy being watched; null when none. Each poll checks it is still current. */
let run = null;
let callbacks = { onDone: () => {}, onBackToSetup: () => {} };

export function initProgress({ onDone, onBackToSetup }) {
  callbacks = { onDone, onBackToSetup };
  byId('progress-secret-form').addEventListener('submit', (event) => {
    event.preventDefault();
    acceptRetypedToken();
  });
  byId('progress-view-logs').addEventListener('click', (event) =>
    whileBusy(event.currentTarget, viewLogs));
  byId('progress-retry').addEventListener('click', () => {
    stopProgress();
    forgetSavedRun();
    callbacks.onBackToSetup();
  });
}

/** Starts watching a deploy the Worker just accepted, with the token to deliver. */
export function startProgress(deployment, telegramToken) {
  stopProgress();
  run = {
    deploymentId: deployment.deploymentId,
    botName: deployment.botName || deployment.vmName || '',
    token: telegramToken || null,
    secretState: deployment.secretSent ? 'sent' : 'unsent',
    reachedStep: 0,
    lastStatus: null,
    clock: null,
    announced: '',
    pollTimer: null,
    tickTimer: null,
  };
  saveRun(run);
  resetView(run);
  showView('progress');
  run.tickTimer = setInterval(() => tick(run), 1000);
  poll(run);
}

/** The deploy this tab was watching before a reload, if any. */
export function savedRun() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(SAVED_RUN_KEY) || 'null');
    return saved && typeof saved.deploymentId === 'string' ? saved : null;
  } catch {
    return null;
  }
}

export function stopProgress() {
  if (!run) return;
  clearTimeout(run.pollTimer);
  clearInterval(run.tickTimer);
  run.token = null;
  run = null;
}

function saveRun(current) {
  const saved = {
    deploymentId: current.deploymentId,
    botName: current.botName,
    secretSent: current.secretState === 'sent',
  };
  sessionStorage.setItem(SAVED_RUN_KEY, JSON.stringify(saved));
}

function forgetSavedRun() {
  sessionStorage.removeItem(SAVED_RUN_KEY);
}

function resetView(current) {
  byId('progress-bot-name').textContent = current.botName || 'your bot';
  byId('progress-elapsed').textContent = '0:00';
  byId('progress-limit').textContent = limitText(null);
  byId('progress-live').textContent = 'Starting the deploy…';
  setVisible(byId('progress-retrying'), false);
  setVisible(byId('progress-secret-form'), false);
  setVisible(byId('progress-error'), false);
  setVisible(byId('progress-logs'), false);
  renderSteps(0, 'active');
}

async function poll(current) {
  if (run !== current) return;
  let delayMs = POLL_INTERVAL_MS;
  try {
    const status = await api.getDeploy(current.deploymentId);
    if (run !== current) return;
    applyStatus(current, status);
    if (Number.isFinite(status.retryAfterMs)) delayMs = Math.max(500, status.retryAfterMs);
    if (status.status === 'done') return finish(current, status);
    if (status.status === 'error') return fail(current, status);
    await deliverTokenIfAsked(current, status);
  } catch (error) {
    if (run !== current || error.status === 401) return;
    if (error.status === 404) {
      return fail(current, { error: 'This deploy is no longer known to claw.free (it was more than an hour ago). Your bot list shows what was created.' });
    }
    if (error.isRateLimited && error.retryAfterSeconds) delayMs = Math.max(delayMs, error.retryAfterSeconds * 1000);
    showCalmRetry('We lost contact with claw.free for a moment. Still checking…');
  }
  current.pollTimer = setTimeout(() => poll(current), delayMs);
}

function stepIndex(status) {
  return STEPS.findIndex((step) => step.status === status);
}

function applyStatus(current, status) {
  current.lastStatus = status;
  const index = stepIndex(status.status);
  if (index >= 0) current.reachedStep = index;
  if (status.botName) byId('progress-bot-name').textContent = status.botName;
  current.clock = {
    elapsedSeconds: Number(status.elapsedSeconds) || 0,
    measuredAt: performance.now(),
    startedAt: Number(status.startedAt) || null,
    runningSince: Number(status.runningSince) || null,
    deadlineSeconds: Number(status.readyDeadlineSeconds) || DEFAULT_READY_DEADLINE_SECONDS,
  };
  tick(current);
  if (status.status !== 'error') renderSteps(current.reachedStep, status.status === 'done' ? 'done' : 'active');
  showCalmRetry(status.retrying ? 'Google is busy; retrying. Nothing to do.' : '');
  announce(current, liveText(current, status));
}

function liveText(current, status) {
  const label = status.label || STEPS[current.reachedStep]?.label || '';
  if (status.waitingForSecret && current.secretState === 'sent') {
    return `${label}: your token is on its way, encrypted to your VM.`;
  }
  return label;
}

/** Updates the live region only when the words change, so readers hear each step once. */
function announce(current, text) {
  if (!text || text === current.announced) return;
  current.announced = text;
  byId('progress-live').textContent = text;
}

function showCalmRetry(text) {
  const retrying = byId('progress-retrying');
  if (text) retrying.textContent = text;
  setVisible(retrying, Boolean(text));
}

/** Renders the step list: steps before `reached` done, `reached` in `state`. */
function renderSteps(reached, state) {
  const items = STEPS.map((step, index) => {
    let stepState = 'pending';
    if (index < reached || state === 'done') stepState = 'done';
    else if (index === reached) stepState = state;
    return el('li', { className: `step step-${stepState}`, 'aria-current': stepState === 'active' ? 'step' : null },
      el('span', { className: 'step-mark', 'aria-hidden': 'true' }),
      el('span', { className: 'step-label' }, step.label),
      el('span', { className: 'visually-hidden' }, `: ${STEP_STATE_WORDS[stepState]}`));
  });
  byId('progress-steps').replaceChildren(...items);
}

const STEP_STATE_WORDS = {
  done: 'done',
  active: 'in progress',
  pending: 'not started',
  failed: 'failed',
};

function tick(current) {
  if (!current.clock) return;
  const { elapsedSeconds, measuredAt, startedAt, runningSince, deadlineSeconds } = current.clock;
  const elapsedNow = elapsedSeconds + (performance.now() - measuredAt) / 1000;
  byId('progress-elapsed').textContent = formatDuration(elapsedNow);
  let secondsLeft = null;
  if (startedAt && runningSince) secondsLeft = runningSince + deadlineSeconds - (startedAt + elapsedNow);
  byId('progress-limit').textContent = limitText(deadlineSeconds, secondsLeft);
}

function limitText(deadlineSeconds, secondsLeft = null) {
  const limit = formatDuration(deadlineSeconds || DEFAULT_READY_DEADLINE_SECONDS);
  if (secondsLeft === null) return `Must be ready within ${limit} of the VM starting`;
  return `Must be ready within ${limit} of the VM starting: ${formatDuration(secondsLeft)} left`;
}

/**
 * Sends the first Telegram token once, when the VM has published its key. If the
 * VM says it could not read the token it got (secretError), the token is already
 * forgotten, so the person is asked for it again.
 */
async function deliverTokenIfAsked(current, status) {
  if (status.secretError && current.secretState === 'sent' && !current.token) {
    current.secretState = 'unsent';
    saveRun(current);
    askForToken(status.secretError);
  }
  const waiting = Boolean(status.waitingForSecret || status.secretError);
  setVisible(byId('progress-secret-form'), waiting && !current.token && current.secretState === 'unsent');
  if (!waiting || !current.token || current.secretState !== 'unsent') return;
  current.secretState = 'sending';
  try {
    await api.sendFirstSecret(current.deploymentId, current.token);
    if (run !== current) return;
    current.token = null;
    current.secretState = 'sent';
    saveRun(current);
    announce(current, 'Your Telegram token is on its way, encrypted to your VM.');
  } catch (error) {
    if (run !== current) return;
    current.secretState = 'unsent';
    if (error.status === 409) return; // The VM's key is not readable yet; the next poll retries.
    if (error.status === 400) {
      current.token = null;
      askForToken(error.message);
      return;
    }
    showCalmRetry(`Could not send the token yet (${error.message}). Trying again…`);
  }
}

/** After a reload (or a refused token) the token is gone from memory: ask for it. */
function askForToken(reason) {
  const form = byId('progress-secret-form');
  setVisible(form, true);
  form.querySelector('p').textContent = reason
    || 'Your VM is ready for its Telegram token. The page was reloaded, so please paste it again.';
  byId('progress-token').focus();
}

function acceptRetypedToken() {
  const input = byId('progress-token');
  const token = input.value.trim();
  const problem = telegramTokenProblem(token);
  if (problem) {
    askForToken(problem);
    return;
  }
  input.value = '';
  setRevealed(byId('progress-secret-form').querySelector('button.reveal'), input, false);
  setVisible(byId('progress-secret-form'), false);
  if (!run) return;
  run.token = token;
  if (run.lastStatus) deliverTokenIfAsked(run, run.lastStatus);
}

function finish(current, status) {
  clearInterval(current.tickTimer);
  forgetSavedRun();
  stopProgress();
  if (currentViewName() === 'progress') {
    callbacks.onDone(status);
  } else {
    showNotice(`Your bot ${status.botName || status.vmName} is ready. Open Telegram and send it a message.`, 'info');
  }
}

function fail(current, status) {
  clearInterval(current.tickTimer);
  clearTimeout(current.pollTimer);
  current.token = null;
  renderSteps(current.reachedStep, 'failed');
  showCalmRetry('');
  setVisible(byId('progress-secret-form'), false);
  setMessage(byId('progress-error-message'), status.error || 'The deploy failed.');
  const action = byId('progress-error-action');
  const hasAction = status.errorAction && status.errorAction.url;
  if (hasAction) action.textContent = status.errorAction.label || 'Fix it';
  setSafeLink(action, hasAction ? status.errorAction.url : '');
  setSafeLink(byId('progress-console'), status.consoleUrl);
  // The Worker gives a logs URL only when a VM exists to have written any.
  const viewLogs = byId('progress-view-logs');
  viewLogs.dataset.logsUrl = status.logsUrl || '';
  viewLogs.dataset.consoleUrl = status.consoleUrl || '';
  setVisible(viewLogs, Boolean(status.logsUrl));
  setVisible(byId('progress-error'), true);
  // The error box is an alert; the live line would only repeat it.
  byId('progress-live').textContent = '';
}

async function viewLogs() {
  const button = byId('progress-view-logs');
  setVisible(byId('progress-logs'), true);
  focusHeading(byId('progress-logs-heading'));
  await showLogs({
    fetchLogs: () => api.getLogs(button.dataset.logsUrl),
    output: byId('progress-logs-output'),
    status: byId('progress-logs-status'),
    consoleLink: byId('progress-console'),
    fallbackConsoleUrl: button.dataset.consoleUrl,
  });
}
