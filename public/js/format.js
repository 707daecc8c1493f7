// format.js: pure formatting and parsing of what the page shows or sends:
// durations, ages, project ids and the shape of a Telegram token. No DOM.

/** 75 -> "1:15", 3725 -> "1:02:05". Negative values count as zero. */
export function formatDuration(totalSeconds) {
  const seconds = Math.max(0, Math.floor(totalSeconds));
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const rest = String(seconds % 60).padStart(2, '0');
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${rest}` : `${minutes}:${rest}`;
}

/** How long ago an RFC 3339 time was, in words: "just now", "5 min", "3 h", "2 days". */
export function formatAge(createdAt, nowMs = Date.now()) {
  const thenMs = Date.parse(createdAt);
  if (!Number.isFinite(thenMs)) return 'unknown';
  const minutes = Math.floor(Math.max(0, nowMs - thenMs) / 60000);
  if (minutes < 1) return 'just now';
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h`;
  return `${Math.floor(hours / 24)} days`;
}

// Google's rule for a new project id.
const PROJECT_ID = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/;

/** Why a project id would be refused, or '' when it is acceptable. */
export function projectIdProblem(projectId) {
  if (!projectId) return 'Enter a project ID.';
  if (projectId.length < 6 || projectId.length > 30) return 'A project ID has 6 to 30 characters.';
  if (!/^[a-z]/.test(projectId)) return 'A project ID starts with a lowercase letter.';
  if (projectId.endsWith('-')) return 'A project ID cannot end with a hyphen.';
  if (!PROJECT_ID.test(projectId)) return 'Use only lowercase letters, digits and hyphens.';
  return '';
}

/** A project id suggested from a display name, with a random suffix so it is likely free. */
export function suggestProjectId(displayName, randomSuffix) {
  const base = displayName
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^[^a-z]+/, '')
    .replace(/-+$/, '')
    .slice(0, 23)
    .replace(/-+$/, '');
  return `${base || 'claw-bot'}-${randomSuffix}`;
}

/** Six random lowercase letters and digits. */
export function randomSuffix() {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
}

// What @BotFather hands out: the bot's numeric id, a colon, and a secret.
const TELEGRAM_TOKEN = /^\d{5,16}:[A-Za-z0-9_-]{30,64}$/;

/** Why a Telegram token looks wrong, or '' when it has the right shape. */
export function telegramTokenProblem(token) {
  if (!token) return 'Paste the token @BotFather gave you.';
  if (!TELEGRAM_TOKEN.test(token)) {
    return 'That does not look like a Telegram bot token. It looks like 123456789:AAH…, from @BotFather.';
  }
  return '';
}

/** True once a bot's applied secret version has reached the one we sent. */
export function secretVersionReached(current, target) {
  if (current === undefined || current === null || current === '') return false;
  const currentNumber = Number(current);
  const targetNumber = Number(target);
  if (Number.isFinite(currentNumber) && Number.isFinite(targetNumber)) {
    return currentNumber >= targetNumber;
  }
  return String(current) === String(target);
}
