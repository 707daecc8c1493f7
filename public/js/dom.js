// dom.js: small helpers for finding, showing and building elements.
// The page has no framework; these keep the view modules short and free of
// repeated DOM boilerplate. Nothing here knows about claw.free itself.

/** The element with this id; throws if the page and the code disagree. */
export function byId(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`missing element #${id}`);
  return element;
}

/**
 * Whether `url` (a string, relative to the page) uses one of `protocols`
 * (`['https:', 'data:']`): what a link or an image may point at.
 */
export function hasProtocol(url, protocols) {
  if (typeof url !== 'string' || !url) return false;
  try {
    return protocols.includes(new URL(url, window.location.href).protocol);
  } catch {
    return false;
  }
}

export function show(element) {
  element.hidden = false;
}

export function hide(element) {
  element.hidden = true;
}

export function setVisible(element, visible) {
  element.hidden = !visible;
}

/** Sets the text of an element and hides it while the text is empty. */
export function setMessage(element, text) {
  element.textContent = text || '';
  element.hidden = !text;
}

/**
 * Builds an element: el('a', {href: '/x', className: 'button'}, 'text', child).
 * Attributes are set as properties when the element has one, else as attributes.
 */
export function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name in element && !name.startsWith('aria') && !name.startsWith('data')) {
      element[name] = value;
    } else {
      element.setAttribute(name, value === true ? '' : String(value));
    }
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/** Moves keyboard and screen-reader focus to a heading (it must have tabindex="-1"). */
export function focusHeading(heading) {
  heading.focus({ preventScroll: false });
}

/** Disables a button for the duration of an async action, so a double click does it once. */
export async function whileBusy(button, action) {
  if (button.disabled) return undefined;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    return await action();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

/** Wires every "Show" button (class "reveal") inside root to the password field it controls. */
export function wireRevealButtons(root = document) {
  for (const button of root.querySelectorAll('button.reveal')) {
    const input = byId(button.getAttribute('aria-controls'));
    button.addEventListener('click', () => setRevealed(button, input, input.type === 'password'));
  }
}

/** Shows or masks a secret field; used again to mask it when a form is reset. */
export function setRevealed(button, input, revealed) {
  input.type = revealed ? 'text' : 'password';
  button.textContent = revealed ? 'Hide' : 'Show';
  button.setAttribute('aria-pressed', String(revealed));
}

/** Calls fn once input has been quiet for waitMs; returns the debounced function. */
export function debounce(fn, waitMs) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), waitMs);
  };
}
