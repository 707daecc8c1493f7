// api.js: the client of the Worker's JSON API (docs/CONTRACTS.md section 1).
// Every call resolves to the parsed JSON body or throws an ApiError whose
// message is a sentence a person can act on. A 401 from any call made while
// signed in is reported once to the session-lost listener, so every view
// returns to the sign-in step the same way.

/** An API failure: status 0 means the Worker could not be reached at all. */
export class ApiError extends Error {
  constructor(status, message, retryAfterSeconds = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  get isRateLimited() {
    return this.status === 429;
  }
}

let sessionLostListener = null;

/** Registers what to do when the Worker says the session is gone (401). */
export function onSessionLost(listener) {
  sessionLostListener = listener;
}

const FALLBACK_MESSAGES = {
  0: 'We could not reach claw.free. Check your connection and try again.',
  400: 'That request was refused. Check what you entered and try again.',
  401: 'Your session expired. Sign in again to continue.',
  403: 'Google refused this action for your account.',
  404: 'That was not found. It may have been deleted.',
  409: 'That cannot be done right now.',
  429: 'Too many requests. Wait a little and try again.',
};

function fallbackMessage(status) {
  return FALLBACK_MESSAGES[status] || 'Something went wrong on our side. Try again in a moment.';
}

function parseRetryAfter(response) {
  const seconds = Number.parseInt(response.headers.get('Retry-After') || '', 10);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : null;
}

function rateLimitMessage(serverMessage, retryAfterSeconds) {
  const base = serverMessage || fallbackMessage(429);
  if (retryAfterSeconds === null) return base;
  const wait = retryAfterSeconds < 90
    ? `${retryAfterSeconds} seconds`
    : `${Math.ceil(retryAfterSeconds / 60)} minutes`;
  return `${base} You can try again in ${wait}.`;
}

async function readJson(response) {
  const text = await response.text();
  if (!text) return {};
  try {
    return JSON.parse(text);
  } catch {
    return {};
  }
}

async function errorFrom(response) {
  const body = await readJson(response);
  const serverMessage = typeof body.error === 'string' && body.error.trim() ? body.error.trim() : '';
  const retryAfter = parseRetryAfter(response);
  const message = response.status === 429
    ? rateLimitMessage(serverMessage, retryAfter)
    : serverMessage || fallbackMessage(response.status);
  return new ApiError(response.status, message, retryAfter);
}

/**
 * One request. Options: body (sent as JSON), headers, and sessionCheck (true for
 * the session probe itself, whose 401 means "not signed in", not "lost").
 */
async function request(method, path, { body, headers = {}, sessionCheck = false } = {}) {
  const init = { method, headers: { Accept: 'application/json', ...headers }, credentials: 'same-origin' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, fallbackMessage(0));
  }
  if (response.ok) return readJson(response);
  const error = await errorFrom(response);
  if (error.status === 401 && !sessionCheck && sessionLostListener) sessionLostListener(error);
  throw error;
}

const get = (path, options) => request('GET', path, options);
const post = (path, body, options = {}) => request('POST', path, { ...options, body });
const del = (path, options) => request('DELETE', path, options);

/** The path of one bot's route: /api/bots/:project/:zone/:vm[/suffix]. */
function botPath(bot, suffix = '') {
  const parts = [bot.projectId, bot.zone, bot.vmName].map(encodeURIComponent);
  return `/api/bots/${parts.join('/')}${suffix}`;
}

// The calls the page makes, one per route, so views read as intent.

export const getSession = () => get('/api/deploy/session', { sessionCheck: true });
export const signOut = () => post('/api/auth/logout');
export const createProject = (projectId, displayName) =>
  post('/api/deploy/create-project', { projectId, displayName });
export const previewVmName = (botName) =>
  get(`/api/deploy/vm-name?botName=${encodeURIComponent(botName)}`);
export const startDeploy = (choices, idempotencyKey) =>
  post('/api/deploy/start', choices, { headers: { 'Idempotency-Key': idempotencyKey } });
export const getDeploy = (deploymentId) => get(`/api/deploy/${encodeURIComponent(deploymentId)}`);
export const sendFirstSecret = (deploymentId, telegramToken) =>
  post(`/api/deploy/${encodeURIComponent(deploymentId)}/secret`, { telegramToken });
export const getLogs = (logsPath) => get(logsPath);
export const listBots = () => get('/api/deploy/existing');
export const getBot = (bot) => get(botPath(bot));
export const deleteBot = (bot) => del(botPath(bot));
export const rotateSecret = (bot, telegramToken) => post(botPath(bot, '/secret'), { telegramToken });
export const getBotLogs = (bot) => get(botPath(bot, '/logs'));
export const trustNewKey = (bot) => post(botPath(bot, '/rekey'));
export const rollBack = (bot) => post(botPath(bot, '/rollback'));
/** Where "Link a GitHub repository" sends the browser: a navigation, not a fetch (it ends on GitHub). */
export const githubLinkStartPath = (bot) => botPath(bot, '/github');
export const getGithubLink = (bot) => get(botPath(bot, '/github/link'));
export const resumeGithubLink = (bot) => post(botPath(bot, '/github/link'), {});
export const ownerCode = (token) => post('/api/telegram/owner-code', { token });
export const detectTelegramUser = (token) => post('/api/telegram/detect-user', { token });
