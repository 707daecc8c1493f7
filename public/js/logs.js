// logs.js: fetching a VM's serial output and showing it in a <pre>, with the
// link to Google's serial console. Used by the progress step and the bot list.

import { hasProtocol, setVisible } from './dom.js';

/**
 * Loads logs with `fetchLogs()` into `output` (a <pre>); `status` gets the
 * loading and error text and `consoleLink` Google's console URL, when known.
 */
export async function showLogs({ fetchLogs, output, status, consoleLink, fallbackConsoleUrl }) {
  status.textContent = 'Loading the serial output…';
  output.textContent = '';
  try {
    const logs = await fetchLogs();
    const text = typeof logs.output === 'string' ? logs.output.trimEnd() : '';
    output.textContent = text || 'The VM has written no serial output yet.';
    status.textContent = text ? 'The last lines the VM wrote to its serial port:' : '';
    setSafeLink(consoleLink, logs.consoleUrl || fallbackConsoleUrl);
    output.scrollTop = output.scrollHeight;
  } catch (error) {
    status.textContent = `Could not load the logs: ${error.message}`;
    setSafeLink(consoleLink, fallbackConsoleUrl);
  }
}

/** Shows a link only for http(s) URLs, so a bad value can never become a script link. */
export function setSafeLink(link, url) {
  const safe = hasProtocol(url, ['https:', 'http:']);
  if (safe) link.href = url;
  setVisible(link, safe);
}
