// main.js: the page's entry point. Wires the steps together and decides where
// a visitor lands: the choices and sign-in when signed out (with the reason,
// if sign-in failed or the session expired); a deploy this tab was watching;
// the bot list, following a GitHub link, when GitHub sent the visitor back;
// the bot list for a returning visitor who has bots; else the setup step.

import * as api from './api.js';
import { hideAccount, showAccount } from './account.js';
import { initChoose, showChoose } from './choose.js';
import { byId, whileBusy, wireRevealButtons } from './dom.js';
import { githubLinkErrorMessage, signInErrorMessage, signedOutMessage as signOutNotice } from './messages.js';
import { initDone, showDone } from './done.js';
import { initProgress, savedRun, startProgress, stopProgress } from './progress.js';
import { forgetFinishedBot, initSetup, showSetup } from './setup.js';
import { clearNotice, closeDialogs, showNotice } from './views.js';

const SESSION_EXPIRED = 'Your session expired. Sign in again to continue.';

/**
 * The bot list's modules (the list, its dialogs, rollouts, linking to GitHub), loaded
 * the first time a signed-in page needs them: a first visit, signed out, downloads
 * none of them.
 */
let botList = null;
function loadBotList() {
  botList ||= Promise.all([import('./bots.js'), import('./bot-actions.js'), import('./github-link.js')])
    .then(([bots, actions, github]) => {
      bots.initBots({ onNewBot: toSetup });
      actions.initBotActions();
      github.initGithubLink({ onLinkedChange: bots.reloadBots });
      github.setGithubLinking(session?.githubLinking);
      return { bots, github };
    });
  return botList;
}

/** The signed-in session (GET /api/deploy/session), or null when signed out. */
let session = null;
/** The provider of the deploy being watched, for the done step's words. */
let deployingProvider = null;

/** Back to step 1, keeping the choices made so far (from `choices` or the lost session). */
function backToSignIn(message, kind = 'error', choices = null) {
  stopProgress();
  botList?.then(({ github }) => github.stopFollowing());
  closeDialogs();
  const previous = choices || session || {};
  session = null;
  hideAccount();
  showChoose(previous);
  showNotice(message || '', kind);
}

function toSetup() {
  clearNotice();
  showSetup(session);
}

async function toBots() {
  clearNotice();
  (await loadBotList()).bots.showBots();
}

async function signOut(button) {
  await whileBusy(button, async () => {
    let revoked = true;
    try {
      ({ revoked } = await api.signOut());
    } catch (error) {
      // A session that already ended is as signed out as it gets.
      if (error.status !== 401) {
        showNotice(`Could not sign out: ${error.message}`);
        return;
      }
    }
    sessionStorage.clear();
    backToSignIn(signOutNotice(revoked), revoked === false ? 'error' : 'info');
  });
}

function wire() {
  wireRevealButtons();
  initChoose();
  initSetup({
    onStarted: (deployment, token) => {
      deployingProvider = deployment.provider;
      clearNotice();
      startProgress(deployment, token);
    },
  });
  initProgress({
    onDone: (status) => {
      forgetFinishedBot();
      showDone(status, status.provider || deployingProvider || session?.provider);
    },
    onBackToSetup: toSetup,
  });
  initDone({ onShowBots: toBots });
  byId('nav-bots').addEventListener('click', toBots);
  byId('sign-out').addEventListener('click', (event) => signOut(event.currentTarget));
  api.onSessionLost(() => {
    if (session) backToSignIn(SESSION_EXPIRED);
  });
}

/** Reads what the Worker's redirect put in the URL, then removes it from the address bar. */
function takeLandingParams() {
  const params = new URLSearchParams(window.location.search);
  const landing = {
    authError: params.get('authError'),
    githubLink: params.get('githubLink'),
    githubLinkError: params.get('githubLinkError'),
    signedOutUnrevoked: params.get('signedOut') === 'unrevoked',
    justSignedIn: params.has('provider'),
    provider: params.get('provider'),
    region: params.get('region'),
  };
  if (window.location.search) window.history.replaceState(null, '', window.location.pathname);
  return landing;
}

/** Where a signed-in visitor starts: a deploy in progress, their bots, or a new bot. */
async function landSignedIn(landing) {
  const { bots, github } = await loadBotList();
  if (landing.githubLinkError !== null) {
    github.forgetFollowed();
    bots.showBots();
    showNotice(githubLinkErrorMessage(landing.githubLinkError));
    return;
  }
  const linking = github.followedBot(landing.githubLink);
  if (linking) {
    bots.showBots();
    // Back from a sign-in while a link was followed: the sign-in its stopped step asked for.
    github.followLink(linking, { resumeIfStopped: landing.justSignedIn });
    return;
  }
  const running = savedRun();
  if (running) {
    startProgress(running, null);
    return;
  }
  if (!landing.justSignedIn) {
    try {
      const existing = await api.listBots();
      if (existing.vms && existing.vms.length > 0) {
        bots.showBots(existing);
        return;
      }
    } catch (error) {
      if (error.status === 401) return;
      // The list is unavailable; the setup step still works, and the list says why later.
    }
  }
  showSetup(session);
}

/** Why a visitor who is not signed in sees step 1; '' for a plain first visit. */
function signedOutMessage(error, landing) {
  if (landing.authError !== null) return signInErrorMessage(landing.authError);
  if (landing.githubLinkError !== null) return githubLinkErrorMessage(landing.githubLinkError);
  if (landing.signedOutUnrevoked) return signOutNotice(false);
  if (error.status === 401) return '';
  if (error.status === 404) return SESSION_EXPIRED;
  return `We could not check whether you are signed in: ${error.message}`;
}

async function start() {
  wire();
  const landing = takeLandingParams();
  try {
    session = await api.getSession();
  } catch (error) {
    backToSignIn(signedOutMessage(error, landing), 'error', landing);
    return;
  }
  showAccount(session);
  await landSignedIn(landing);
}

start();
