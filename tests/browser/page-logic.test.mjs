// The page's pure modules (no DOM), tested in node directly: the region guess,
// durations and ages, project ids, the Telegram token's shape, secret versions.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { guessRegion, DEFAULT_REGION, isProvider, isRegion } from '../../public/js/choices.js';
import {
  formatAge, formatDuration, projectIdProblem, secretVersionReached, suggestProjectId,
  telegramTokenProblem,
} from '../../public/js/format.js';
import { signInErrorMessage, signedOutMessage } from '../../public/js/messages.js';

test('the region guess follows the time zone to the nearest free-tier region', () => {
  assert.equal(guessRegion('America/Los_Angeles'), 'us-west1');
  assert.equal(guessRegion('Asia/Tokyo'), 'us-west1');
  assert.equal(guessRegion('Pacific/Honolulu'), 'us-west1');
  assert.equal(guessRegion('America/Chicago'), 'us-central1');
  assert.equal(guessRegion('America/Denver'), 'us-central1');
  assert.equal(guessRegion('America/New_York'), 'us-east1');
  assert.equal(guessRegion('America/Indiana/Indianapolis'), 'us-east1');
  assert.equal(guessRegion('Europe/Paris'), 'us-east1');
  assert.equal(guessRegion('America/Sao_Paulo'), 'us-east1');
  assert.equal(guessRegion('Africa/Lagos'), 'us-east1');
  assert.equal(guessRegion(''), DEFAULT_REGION);
  assert.equal(guessRegion(undefined), DEFAULT_REGION);
  assert.equal(guessRegion('Etc/UTC'), DEFAULT_REGION);
});

test('only the listed providers and regions are accepted', () => {
  assert.ok(isProvider('kimi') && isProvider('claude') && isProvider('openai'));
  assert.ok(!isProvider('gemini') && !isProvider('toString') && !isProvider(undefined));
  assert.ok(isRegion('us-east1') && !isRegion('europe-west1') && !isRegion('constructor'));
});

test('durations read as m:ss or h:mm:ss and never go negative', () => {
  assert.equal(formatDuration(0), '0:00');
  assert.equal(formatDuration(75.9), '1:15');
  assert.equal(formatDuration(300), '5:00');
  assert.equal(formatDuration(3725), '1:02:05');
  assert.equal(formatDuration(-12), '0:00');
});

test('ages are in words a person reads at a glance', () => {
  const now = Date.parse('2026-11-25T12:00:00Z');
  assert.equal(formatAge('2026-11-25T11:59:30Z', now), 'just now');
  assert.equal(formatAge('2026-11-25T11:55:00Z', now), '5 min');
  assert.equal(formatAge('2026-11-25T09:00:00Z', now), '3 h');
  assert.equal(formatAge('2026-11-20T12:00:00Z', now), '5 days');
  assert.equal(formatAge('not a date', now), 'unknown');
});

test('project ids follow Google rule, with a reason when refused', () => {
  assert.equal(projectIdProblem('claw-bot-1a2b3c'), '');
  assert.match(projectIdProblem(''), /Enter/);
  assert.match(projectIdProblem('short'), /6 to 30/);
  assert.match(projectIdProblem('1claw-bot'), /starts with a lowercase letter/);
  assert.match(projectIdProblem('claw-bot-'), /hyphen/);
  assert.match(projectIdProblem('Claw_Bot_1'), /starts with a lowercase letter|lowercase/);
  assert.match(projectIdProblem('claw_bot_1'), /lowercase letters, digits and hyphens/);
});

test('a suggested project id is always acceptable', () => {
  for (const name of ['My claw bot', '  ', '123 go!', 'Ünïcödé bøt', 'a'.repeat(80), '--x--']) {
    const id = suggestProjectId(name, 'x1y2z3');
    assert.equal(projectIdProblem(id), '', `${JSON.stringify(name)} gave ${id}`);
    assert.ok(id.endsWith('-x1y2z3'));
  }
});

test('telegram tokens must look like what @BotFather hands out', () => {
  assert.equal(telegramTokenProblem('123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0'), '');
  assert.match(telegramTokenProblem(''), /Paste/);
  assert.match(telegramTokenProblem('AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0'), /does not look like/);
  assert.match(telegramTokenProblem('123456789:short'), /does not look like/);
  assert.match(telegramTokenProblem('123456789:AAHfiqksKZ8WmR2zSjiQ7 v4TMAKdiHm9T0'), /does not look like/);
});

test('a rotation is confirmed once the applied secret version reaches the sent one', () => {
  assert.ok(secretVersionReached(3, 3));
  assert.ok(secretVersionReached('4', 3));
  assert.ok(!secretVersionReached(2, 3));
  assert.ok(!secretVersionReached(null, 1));
  assert.ok(!secretVersionReached('', 1));
  assert.ok(secretVersionReached('v-abc', 'v-abc'));
  assert.ok(!secretVersionReached('v-abc', 'v-abd'));
});

test('sign-in errors are codes mapped to fixed sentences, never text from the URL', () => {
  assert.match(signInErrorMessage('cancelled'), /cancelled the Google sign-in/);
  assert.match(signInErrorMessage('expired'), /expired or was already used/);
  assert.match(signInErrorMessage('limited'), /Too many sign-ins/);
  for (const planted of ['Your account is locked, call +1 555 0100', '<img src=x onerror=alert(1)>', 'toString', '__proto__', '']) {
    assert.equal(signInErrorMessage(planted), 'The sign-in did not complete. Please sign in again.', planted);
  }
});

test('signing out says when Google did not confirm the revocation', () => {
  assert.equal(signedOutMessage(true), 'You are signed out.');
  assert.match(signedOutMessage(false), /did not confirm/);
});

test('a rollout reads as one sentence, and Roll back is offered only when the VM can do it', async () => {
  const { canRollBack, rolloutWords, shortRev } = await import('../../public/js/rollouts.js');
  assert.equal(rolloutWords(undefined), '');
  assert.equal(rolloutWords({ state: 'switching', rev: '2222222abcdef', inProgress: true }), 'Rolling out 2222222: switching to it…');
  assert.equal(
    rolloutWords({ state: 'rolled-back', rev: '2222222', reason: 'openclaw-gateway.service is failed', running: '1111111' }),
    'Rollout of 2222222 was rolled back: openclaw-gateway.service is failed. Runs 1111111.');
  assert.equal(rolloutWords({ state: 'refused', rev: null, reason: 'not JSON' }), 'Rollout of unknown revision was refused: not JSON.');
  assert.equal(rolloutWords({ state: 'done', rev: '3333333', running: '3333333' }), 'Runs 3333333.');
  assert.equal(shortRev('0123456789abcdef'), '0123456');
  const bot = { status: 'RUNNING', rollout: { canRollBack: true, previous: '1111111' } };
  assert.ok(canRollBack(bot));
  assert.ok(!canRollBack({ ...bot, status: 'TERMINATED' }));
  assert.ok(!canRollBack({ ...bot, rollout: { canRollBack: false, previous: '1111111' } }));
  assert.ok(!canRollBack({ status: 'RUNNING' }));
});

test('linking errors are codes mapped to fixed sentences, never text from the URL', async () => {
  const { githubLinkErrorMessage } = await import('../../public/js/messages.js');
  const known = ['expired', 'cancelled', 'refused', 'not-yours', 'github'].map(githubLinkErrorMessage);
  assert.equal(new Set(known).size, known.length, 'each code has its own sentence');
  const unknown = githubLinkErrorMessage('<img src=x onerror=alert(1)>');
  assert.ok(!unknown.includes('<img'));
  assert.equal(unknown, githubLinkErrorMessage('toString'));
  assert.ok(!known.includes(unknown));
});

test('a link names its bot, its steps and where it stands', async () => {
  const { botKey, canLink, linkSteps, linkSummary, linkedBotFromParam, nextPollMs, safeUrl } =
    await import('../../public/js/github.js');
  const bot = linkedBotFromParam('claw-demo/us-central1-a/my-bot-010203');
  assert.deepEqual(bot, { projectId: 'claw-demo', zone: 'us-central1-a', vmName: 'my-bot-010203' });
  assert.equal(botKey(bot), 'claw-demo/us-central1-a/my-bot-010203');
  for (const hostile of [null, '', 'a/b', 'a/b/c/d', '../../x/y', 'claw-demo/us-central1-a/<b>', 'A/b/c']) {
    assert.equal(linkedBotFromParam(hostile), null, hostile);
  }

  const link = {
    state: 'linking',
    steps: [
      { id: 'repository', label: 'Creating your repository', state: 'done' },
      { id: 'identity', label: 'Trusting your repository in Google Cloud', state: 'running' },
      { id: 'bucket', label: 'Creating the cache bucket', state: 'pending' },
      { id: 'bogus', label: 'Something else', state: 'exploded' },
    ],
  };
  assert.deepEqual(linkSteps(link).map((s) => s.state), ['done', 'active', 'pending']);
  assert.equal(linkSummary(link, 'My bot'), 'Linking My bot: Trusting your repository in Google Cloud…');
  assert.equal(
    linkSummary({ state: 'linked', repository: { fullName: 'ada/my-bot', url: 'https://github.com/ada/my-bot' } }, 'My bot'),
    'My bot is linked to ada/my-bot. A push to its main branch now deploys to the bot.');
  assert.equal(linkSummary({ state: 'failed', error: 'Google refused.' }, 'My bot'), 'Linking My bot stopped: Google refused.');

  assert.equal(nextPollMs({ retryAfterMs: 1500 }), 1500);
  assert.equal(nextPollMs({ retryAfterMs: 10 }), 1000);
  assert.equal(nextPollMs({ retryAfterMs: 600_000 }), 30_000);
  assert.equal(nextPollMs({}), 2000);

  assert.equal(canLink({ status: 'RUNNING' }, true), true);
  assert.equal(canLink({ status: 'RUNNING' }, false), false);
  assert.equal(canLink({ status: 'STOPPED' }, true), false);
  assert.equal(canLink({ status: 'RUNNING', github: { repository: 'ada/my-bot' } }, true), false);

  assert.equal(safeUrl('https://github.com/ada/my-bot'), 'https://github.com/ada/my-bot');
  assert.equal(safeUrl('http://127.0.0.1:8787/ada/my-bot'), 'http://127.0.0.1:8787/ada/my-bot');
  for (const hostile of ['javascript:alert(1)', 'http://evil.example/x', 'data:text/html,hi', 42, null]) {
    assert.equal(safeUrl(hostile), null, String(hostile));
  }
});
