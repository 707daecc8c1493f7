// views.js: which step of the page is on screen. Exactly one <section class="view">
// is visible at a time; switching moves focus to the new step's heading so
// keyboard and screen-reader users land where sighted users look, and the
// page-wide notice carries messages across a switch (like "session expired").

import { byId, focusHeading, setMessage } from './dom.js';

const VIEW_IDS = ['loading', 'choose', 'setup', 'progress', 'done', 'bots'];

let currentView = 'loading';

export function currentViewName() {
  return currentView;
}

/**
 * Shows one view, hides the rest, and focuses its heading. The first view after
 * the page loads is not focused: a fresh page already starts at its top.
 */
export function showView(name) {
  const firstView = currentView === 'loading';
  for (const id of VIEW_IDS) byId(`view-${id}`).hidden = id !== name;
  currentView = name;
  document.body.dataset.view = name;
  const heading = byId(`view-${name}`).querySelector('h1');
  if (heading && !firstView) focusHeading(heading);
  window.scrollTo(0, 0);
}

/** A message above every view; kind "error" or "info" only changes its colour. */
export function showNotice(text, kind = 'error') {
  const notice = byId('notice');
  notice.className = `notice notice-${kind}`;
  setMessage(notice, text);
}

export function clearNotice() {
  setMessage(byId('notice'), '');
}

/** Closes any open <dialog>, e.g. when the session is lost behind it. */
export function closeDialogs() {
  for (const dialog of document.querySelectorAll('dialog[open]')) dialog.close();
}
