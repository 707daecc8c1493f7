// done.js: step 4, the bot is ready: how to talk to it now, and the way to the bot list.

import { PROVIDERS } from './choices.js';
import { byId, el } from './dom.js';
import { showView } from './views.js';

export function initDone({ onShowBots }) {
  byId('done-to-bots').addEventListener('click', onShowBots);
}

/** Shows the done step for a finished deploy status (GET /api/deploy/:id). */
export function showDone(status, provider) {
  byId('done-heading').textContent = `${status.botName || 'Your bot'} is ready`;
  const name = status.botName ? `“${status.botName}”` : 'the bot you made with @BotFather';
  // On the local simulator the Worker names its chat page; on Telegram there is none.
  const chat = chatLink(status.chatUrl);
  byId('done-bot-link').replaceChildren(
    chat ? el('a', { href: chat, target: '_blank', rel: 'noopener noreferrer' }, name) : name,
  );
  byId('done-provider').textContent = PROVIDERS[provider] ? `${PROVIDERS[provider]}` : 'your AI provider';
  byId('done-vm-name').textContent = status.vmName || '';
  byId('done-zone').textContent = status.zone || 'your region';
  byId('done-ip').textContent = status.ip || 'not assigned yet';
  showView('done');
}

/** `url` when it is an http(s) address, else null. */
function chatLink(url) {
  if (typeof url !== 'string') return null;
  try {
    const { protocol } = new URL(url, window.location.href);
    return protocol === 'http:' || protocol === 'https:' ? url : null;
  } catch {
    return null;
  }
}
