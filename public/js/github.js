// github.js: GitHub mode's linking in words, for the bot list. Pure: no DOM.
// The Worker runs the link (docs/CONTRACTS.md, "Linking a repository") one step
// per poll and names its steps; this module turns its answer into what the
// panel shows, and reads the bot a redirect names.

// Google's and GitHub's names: lower-case letters, digits and hyphens.
const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** The bot a `githubLink=<project>/<zone>/<vm>` redirect names, or null for anything else. */
export function linkedBotFromParam(value) {
  if (typeof value !== 'string') return null;
  const parts = value.split('/');
  if (parts.length !== 3 || !parts.every((part) => NAME.test(part))) return null;
  const [projectId, zone, vmName] = parts;
  return { projectId, zone, vmName };
}

/** The "<project>/<zone>/<vm>" a bot is saved as while its link runs. */
export function botKey(bot) {
  return `${bot.projectId}/${bot.zone}/${bot.vmName}`;
}

const STEP_STATES = new Set(['done', 'running', 'pending', 'failed']);

/** The link's steps as the panel lists them: `{label, state}`, state one of the progress list's. */
export function linkSteps(link) {
  if (!link || !Array.isArray(link.steps)) return [];
  return link.steps
    .filter((step) => step && typeof step.label === 'string' && STEP_STATES.has(step.state))
    .map((step) => ({ label: step.label, state: step.state === 'running' ? 'active' : step.state }));
}

/** One sentence about where the link is. */
export function linkSummary(link, botName) {
  switch (link && link.state) {
    case 'linked': {
      const repository = link.repository && link.repository.fullName;
      return repository
        ? `${botName} is linked to ${repository}. A push to its main branch now deploys to the bot.`
        : `${botName} is linked to its GitHub repository.`;
    }
    case 'failed':
      return `Linking ${botName} stopped: ${link.error || 'no reason was given'}`;
    case 'linking': {
      const current = linkSteps(link).find((step) => step.state === 'active');
      return current ? `Linking ${botName}: ${current.label}…` : `Linking ${botName}…`;
    }
    default:
      return '';
  }
}

/** How long to wait before the next poll: the Worker's hint, kept between 1 and 30 seconds. */
export function nextPollMs(link, fallbackMs = 2000) {
  const hint = link && Number.isFinite(link.retryAfterMs) ? link.retryAfterMs : fallbackMs;
  return Math.min(30_000, Math.max(1000, hint));
}

/** Whether the list offers "Link to GitHub": linking is on here, the bot runs, and is not linked yet. */
export function canLink(bot, linkingEnabled) {
  return Boolean(linkingEnabled && bot && bot.status === 'RUNNING' && !bot.github);
}

/** A URL the page may link to: https (or http on this machine's loopback, for the simulator). */
export function safeUrl(value) {
  if (typeof value !== 'string') return null;
  if (isSitePath(value)) return value;
  try {
    const url = new URL(value);
    if (url.protocol === 'https:') return url.href;
    if (url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) return url.href;
  } catch {
    // Not a URL.
  }
  return null;
}

/** Whether `value` is a path on this site ("/api/..."), which opens in the same tab. */
export function isSitePath(value) {
  return typeof value === 'string' && value.startsWith('/') && !value.startsWith('//') && !value.includes('\\');
}
