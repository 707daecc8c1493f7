// messages.js: the sentences the page shows for the codes the Worker puts in
// its redirects (`/?authError=<code>`, `/?githubLinkError=<code>`). The URL
// carries a code, never text, so a link made by anyone else cannot make the
// page say something of theirs.

const SIGN_IN_ERRORS = Object.freeze({
  expired: 'This sign-in link has expired or was already used. Please sign in again.',
  cancelled: 'You cancelled the Google sign-in. claw.free needs it to create your bot in your own Google Cloud project.',
  failed: 'Google could not complete the sign-in. Please try again.',
  refused: 'Google refused the sign-in code. Please sign in again.',
  scope: 'claw.free needs access to your Google Cloud projects to create your bot. Please sign in again and allow it.',
  google: 'Google did not answer as expected during the sign-in. Please try again in a moment.',
  busy: 'A temporary problem on our side interrupted the sign-in. Please try again.',
  limited: 'Too many sign-ins from your network in the last hour. Please wait and try again.',
});

const UNKNOWN_SIGN_IN_ERROR = 'The sign-in did not complete. Please sign in again.';

/** The sentence for an `authError` code; a fixed one for anything unknown. */
export function signInErrorMessage(code) {
  return Object.hasOwn(SIGN_IN_ERRORS, code) ? SIGN_IN_ERRORS[code] : UNKNOWN_SIGN_IN_ERROR;
}

/** What the page says after signing out; `revoked` is false when Google did not confirm. */
export function signedOutMessage(revoked) {
  return revoked === false
    ? 'You are signed out here, but Google did not confirm that it revoked claw.free\'s access. You can remove it yourself at myaccount.google.com/permissions.'
    : 'You are signed out.';
}

const GITHUB_LINK_ERRORS = Object.freeze({
  expired: 'Linking to GitHub took too long or was started in another browser. Start it again from your bot list.',
  cancelled: 'You did not authorize claw.free on GitHub, so nothing was linked. You can start again from your bot list.',
  refused: 'GitHub did not confirm the installation. Start linking again from your bot list.',
  'not-yours': 'That GitHub installation belongs to another account than the one you authorized with. Nothing was linked.',
  github: 'GitHub did not answer as expected. Nothing was linked; try again in a moment.',
});

const UNKNOWN_GITHUB_LINK_ERROR = 'Linking to GitHub did not complete. Nothing was linked; start again from your bot list.';

/** The sentence for a `githubLinkError` code; a fixed one for anything unknown. */
export function githubLinkErrorMessage(code) {
  return Object.hasOwn(GITHUB_LINK_ERRORS, code) ? GITHUB_LINK_ERRORS[code] : UNKNOWN_GITHUB_LINK_ERROR;
}
