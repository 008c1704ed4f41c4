// Routing: the server answers each of the app's paths with the same page, and the page shows
// the one the address names. Links marked data-link move without a reload.

import { alertBox, h, link, main, setStatus, show, statusBox } from './dom.js';

let routes = {};
let notFound = null;
// A message to show on the next page (e.g. "You are signed out."), shown once.
let flash = null;
let firstRender = true;

/** Starts the app: `pages` maps each path to the function that shows it. */
export function startRouter(pages, notFoundPage) {
  routes = pages;
  notFound = notFoundPage;
  document.addEventListener('click', (event) => {
    const a = event.target.closest?.('a[data-link]');
    if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault();
    navigate(a.getAttribute('href'));
  });
  window.addEventListener('popstate', () => render());
  render();
}

/**
 * Shows `path`; `replace` when the page left behind must not come back with Back (a used
 * token). `message` is shown once on the new page, as a success unless `kind` says 'error'.
 */
export function navigate(path, message = null, { replace = false, kind = 'success' } = {}) {
  flash = message ? { kind, message } : null;
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  render();
}

/** Shows the page the address names (again). */
export async function render() {
  const page = routes[location.pathname] ?? notFound;
  const params = new URLSearchParams(location.search);
  try {
    await page(params);
  } catch (e) {
    show(h('h1', {}, 'Something went wrong'), alertBox(e), h('p', {}, link('/', 'Back to the start')));
  }
  if (!firstRender) {
    // Move focus to the new page's heading, so a screen reader announces the change.
    main.querySelector('h1')?.focus();
  }
  firstRender = false;
}

/** Sets the message the next page shows once. */
export function setFlash(message, kind = 'success') {
  flash = { kind, message };
}

/** The message left for this page, if any, as a status box; shown once. */
export function flashBox() {
  if (!flash) return null;
  const box = statusBox();
  setStatus(box, flash.kind, flash.message);
  flash = null;
  return box;
}
