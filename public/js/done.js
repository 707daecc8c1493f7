// done.js: step 4, the bot is ready: how to talk to it now, and the way to the bot list.

import { PROVIDERS } from './choices.js';
import { byId } from './dom.js';
import { showView } from './views.js';

export function initDone({ onShowBots }) {
  byId('done-to-bots').addEventListener('click', onShowBots);
}

/** Shows the done step for a finished deploy status (GET /api/deploy/:id). */
export function showDone(status, provider) {
  byId('done-heading').textContent = `${status.botName || 'Your bot'} is ready`;
  byId('done-bot-link').textContent = status.botName ? `“${status.botName}”` : 'the bot you made with @BotFather';
  byId('done-provider').textContent = PROVIDERS[provider] ? `${PROVIDERS[provider]}` : 'your AI provider';
  byId('done-vm-name').textContent = status.vmName || '';
  byId('done-zone').textContent = status.zone || 'your region';
  byId('done-ip').textContent = status.ip || 'not assigned yet';
  showView('done');
}
