// choose.js: step 1, the choices (AI provider, chat app, cloud, region) and
// "Sign in with Google", which navigates to the Worker's sign-in route with
// the choices in the query; the Worker sends the person on to Google's consent.

import { browserTimeZone, guessRegion, isProvider, isRegion } from './choices.js';
import { byId } from './dom.js';
import { showView } from './views.js';

export function initChoose() {
  const form = byId('choose-form');
  byId('choose-region').value = guessRegion(browserTimeZone());
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    window.location.assign(signInUrl(readChoices(form)));
  });
}

/** Shows step 1, keeping choices the person already made (from the URL or the session). */
export function showChoose(previous = {}) {
  const form = byId('choose-form');
  if (isProvider(previous.provider)) {
    form.querySelector(`input[name="provider"][value="${previous.provider}"]`).checked = true;
  }
  if (isRegion(previous.region)) byId('choose-region').value = previous.region;
  showView('choose');
}

function readChoices(form) {
  const data = new FormData(form);
  return {
    provider: data.get('provider'),
    channel: data.get('channel'),
    cloud: data.get('cloud'),
    region: data.get('region'),
  };
}

/** /api/auth/google?provider=..&channel=telegram&cloud=gcp&region=.. */
function signInUrl(choices) {
  const query = new URLSearchParams(choices);
  return `/api/auth/google?${query}`;
}
