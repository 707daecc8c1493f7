// setup.js: step 2, after sign-in: project, bot name with the live preview of
// its VM name, AI provider and region, the Telegram token with the "find my
// Telegram user id" helper (which proves the bot is theirs with a code they
// send to it), and Deploy.
//
// Deploy sends an Idempotency-Key made once per deploy attempt: a double
// click, or pressing Deploy again after a network error, repeats the same
// attempt and never creates a second VM. Changing what would be deployed
// starts a new attempt.

import * as api from './api.js';
import { isProvider, isRegion } from './choices.js';
import { byId, debounce, setMessage, setRevealed, whileBusy } from './dom.js';
import { telegramTokenProblem } from './format.js';
import { initProjects, renderProjects, selectedProjectId } from './projects.js';
import { showView } from './views.js';

const PREVIEW_DELAY_MS = 350;
const EMPTY_NAME_HINT = 'Its VM gets a name made from it; you will see it here.';

/** The state of the bot-name check; `pending` is the request in flight, if any. */
const nameCheck = { name: '', ok: false, pending: null, sequence: 0 };

let attemptKey = null;
/** The owner code shown for `token`, valid until `expiresAt` (ms). */
let ownerCode = null;
let onDeployed = () => {};

/** onStarted(deployment, telegramToken) is called once the Worker accepted the deploy. */
export function initSetup({ onStarted }) {
  onDeployed = onStarted;
  initProjects();
  const nameInput = byId('setup-bot-name');
  const schedulePreview = debounce(() => checkBotName(nameInput.value.trim()), PREVIEW_DELAY_MS);
  nameInput.addEventListener('input', () => {
    nameCheck.ok = false;
    schedulePreview();
  });
  for (const id of ['setup-project', 'setup-bot-name', 'setup-provider', 'setup-region']) {
    byId(id).addEventListener('change', startNewAttempt);
  }
  nameInput.addEventListener('input', startNewAttempt);
  byId('detect-user').addEventListener('click', (event) => whileBusy(event.currentTarget, detectUser));
  byId('setup-form').addEventListener('submit', (event) => {
    event.preventDefault();
    whileBusy(byId('deploy-button'), deploy);
  });
}

/** Shows the setup step for a signed-in session. */
export function showSetup(session) {
  renderProjects(session.projects || []);
  if (isProvider(session.provider)) byId('setup-provider').value = session.provider;
  if (isRegion(session.region)) byId('setup-region').value = session.region;
  setMessage(byId('setup-error'), '');
  if (!byId('setup-bot-name').value.trim()) setPreview(EMPTY_NAME_HINT, 'muted');
  showView('setup');
}

/** After a bot is ready, the next deploy starts from an empty name. */
export function forgetFinishedBot() {
  byId('setup-bot-name').value = '';
  nameCheck.sequence += 1;
  nameCheck.ok = false;
  setPreview(EMPTY_NAME_HINT, 'muted');
}

function startNewAttempt() {
  attemptKey = null;
}

function setPreview(text, kind) {
  const preview = byId('vm-name-preview');
  preview.textContent = text;
  preview.className = `status-line reserve ${kind}`;
}

/** Asks the Worker what VM name a bot name gets, ignoring answers to older questions. */
function checkBotName(name) {
  const sequence = ++nameCheck.sequence;
  nameCheck.name = name;
  nameCheck.ok = false;
  if (!name) {
    setPreview(EMPTY_NAME_HINT, 'muted');
    nameCheck.pending = null;
    return Promise.resolve(false);
  }
  setPreview('Checking the name…', 'muted');
  nameCheck.pending = api.previewVmName(name).then(
    (answer) => {
      if (sequence !== nameCheck.sequence) return false;
      nameCheck.ok = true;
      setPreview(`Its VM will be called ${answer.vmNameExample || answer.slug}.`, 'good');
      return true;
    },
    (error) => {
      if (sequence !== nameCheck.sequence) return false;
      setPreview(error.message, 'bad');
      return false;
    },
  );
  return nameCheck.pending;
}

/** Resolves true once the current bot name is known to be accepted. */
async function botNameAccepted() {
  const name = byId('setup-bot-name').value.trim();
  if (nameCheck.ok && nameCheck.name === name) return true;
  if (nameCheck.pending && nameCheck.name === name) return nameCheck.pending;
  return checkBotName(name);
}

/**
 * Proves the bot is the person's before its sender becomes the owner: the first
 * press shows a code from the Worker to send to the bot; the next press finds
 * the sender of exactly that code (a stranger who wrote to the bot first does
 * not count). A new token, or an expired code, starts over.
 */
async function detectUser() {
  const result = byId('detect-user-result');
  const token = byId('setup-token').value.trim();
  const problem = telegramTokenProblem(token);
  result.className = 'status-line reserve';
  if (problem) {
    result.textContent = problem;
    result.classList.add('bad');
    return;
  }
  try {
    if (!ownerCode || ownerCode.token !== token || Date.now() >= ownerCode.expiresAt) {
      const issued = await api.ownerCode(token);
      ownerCode = { token, code: issued.code, expiresAt: Date.now() + issued.expiresInSeconds * 1000 };
      showOwnerCode(ownerCode.code);
      result.textContent = `Send ${ownerCode.code} to your bot in Telegram, then press the button again.`;
      return;
    }
    result.textContent = 'Looking for your code…';
    const user = await api.detectTelegramUser(token);
    const who = [user.firstName, user.username && `@${user.username}`].filter(Boolean).join(', ');
    result.textContent = `Your Telegram user id is ${user.userId}${who ? ` (${who})` : ''}.`;
    result.classList.add('good');
    byId('setup-telegram-user').value = user.userId;
    ownerCode = null;
    showOwnerCode('');
  } catch (error) {
    result.textContent = error.message;
    result.classList.add('bad');
  }
}

/** The code the person sends to their bot, shown large, or nothing. */
function showOwnerCode(code) {
  byId('owner-code').textContent = code;
  byId('owner-code-box').hidden = !code;
}

/** Shows why the form cannot be sent and puts the cursor where the fix goes. */
function refuse(message, field) {
  setMessage(byId('setup-error'), message);
  if (field) field.focus();
}

async function deploy() {
  setMessage(byId('setup-error'), '');
  const projectId = selectedProjectId();
  if (!projectId) {
    refuse('Choose a project, or create the new one first.', byId('setup-project'));
    return;
  }
  const botNameInput = byId('setup-bot-name');
  const botName = botNameInput.value.trim();
  if (!botName) {
    refuse('Give your bot a name.', botNameInput);
    return;
  }
  if (!(await botNameAccepted())) {
    refuse(`Choose another bot name: ${byId('vm-name-preview').textContent}`, botNameInput);
    return;
  }
  const tokenInput = byId('setup-token');
  const token = tokenInput.value.trim();
  const tokenProblem = telegramTokenProblem(token);
  if (tokenProblem) {
    refuse(tokenProblem, tokenInput);
    return;
  }
  const ownerInput = byId('setup-telegram-user');
  const telegramUserId = ownerInput.value.trim();
  if (telegramUserId && !/^[1-9][0-9]{0,15}$/.test(telegramUserId)) {
    refuse('A Telegram user id is a whole number, such as 123456789. Leave it empty if you do not know it.', ownerInput);
    return;
  }
  attemptKey ??= crypto.randomUUID();
  const choices = {
    projectId,
    region: byId('setup-region').value,
    provider: byId('setup-provider').value,
    botName,
    // The Worker keeps it sealed until the VM has published its key, then delivers
    // it itself: the deploy finishes even if this tab is closed.
    telegramToken: token,
    ...(telegramUserId ? { telegramUserId } : {}),
  };
  try {
    const started = await api.startDeploy(choices, attemptKey);
    attemptKey = null;
    forgetToken();
    onDeployed({ ...started, botName, projectId, provider: choices.provider, secretSent: true }, null);
  } catch (error) {
    if (error.status !== 401) refuse(error.message, null);
  }
}

/** The token now lives only in the progress step's memory, not in the form. */
function forgetToken() {
  const input = byId('setup-token');
  input.value = '';
  setRevealed(input.parentElement.querySelector('button.reveal'), input, false);
  byId('detect-user-result').textContent = '';
  ownerCode = null;
  showOwnerCode('');
}
