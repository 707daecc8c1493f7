// rollouts.js: GitHub mode's rollouts in words, for the bot list. The Worker
// reads them from the VM's guest attributes: the latest rollout's revision and
// state (with the VM's reason when it rolled back or refused), the revision the
// VM runs, and the revision a Roll back would return to. Pure: no DOM.

const STATE_WORDS = {
  fetching: 'fetching the system',
  switching: 'switching to it',
  checking: 'checking its health',
};

/** Seven characters of a revision, as git shows it. */
export function shortRev(rev) {
  return typeof rev === 'string' && rev ? rev.slice(0, 7) : 'unknown revision';
}

/** One sentence about a bot's rollouts, or '' for a bot that never had one. */
export function rolloutWords(rollout) {
  if (!rollout || typeof rollout !== 'object') return '';
  const rev = shortRev(rollout.rev);
  const runs = rollout.running ? ` Runs ${shortRev(rollout.running)}.` : '';
  switch (rollout.state) {
    case 'fetching':
    case 'switching':
    case 'checking':
      return `Rolling out ${rev}: ${STATE_WORDS[rollout.state]}…`;
    case 'rolled-back':
      return `Rollout of ${rev} was rolled back: ${rollout.reason || 'no reason given'}.${runs}`;
    case 'refused':
      return `Rollout of ${rev} was refused: ${rollout.reason || 'no reason given'}.${runs}`;
    default:
      return rollout.running ? `Runs ${shortRev(rollout.running)}.` : `Rolled out ${rev}.`;
  }
}

/** Whether the list offers Roll back: a running bot whose VM names an earlier system, no rollout under way. */
export function canRollBack(bot) {
  return Boolean(bot && bot.status === 'RUNNING' && bot.rollout && bot.rollout.canRollBack && bot.rollout.previous);
}
