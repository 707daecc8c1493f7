// account.js: the signed-in person in the page header (name, picture) and
// signing out. The picture is shown only from https or data URLs, the ones the
// Content-Security-Policy allows; otherwise the person's initials stand in.

import { byId, hasProtocol, hide, show } from './dom.js';

export function showAccount(session) {
  byId('account-name').textContent = session.userName || session.userEmail || 'Signed in';
  showPicture(session.userPicture, session.userName || session.userEmail || '');
  show(byId('account'));
}

export function hideAccount() {
  hide(byId('account'));
  byId('account-name').textContent = '';
  const picture = byId('account-picture');
  picture.removeAttribute('src');
  hide(picture);
  hide(byId('account-initials'));
}

function showPicture(url, name) {
  const picture = byId('account-picture');
  const initials = byId('account-initials');
  if (hasProtocol(url, ['https:', 'data:'])) {
    picture.src = url;
    picture.referrerPolicy = 'no-referrer';
    show(picture);
    hide(initials);
  } else {
    hide(picture);
    initials.textContent = initialsOf(name);
    show(initials);
  }
}

function initialsOf(name) {
  const words = name.split(/[\s@.]+/).filter(Boolean);
  const letters = words.slice(0, 2).map((word) => word[0].toUpperCase()).join('');
  return letters || '?';
}
