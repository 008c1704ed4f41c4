// The app's DOM helpers: elements from createElement and textContent only (never innerHTML
// with data), labelled fields, status boxes read out by screen readers, and dates.

export const main = document.getElementById('main');

/** Creates an element: attributes (false/null skipped, true as empty) and children. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v == null) continue;
    if (k === 'value') el.value = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function show(...nodes) {
  document.title = `${nodes.find((n) => n?.tagName === 'H1')?.textContent ?? 'authql'} · authql`;
  main.replaceChildren(...nodes.filter(Boolean));
}

export function link(href, text) {
  return h('a', { href, 'data-link': true }, text);
}

let fieldIds = 0;

/** A labelled input; `hint` is tied to it with aria-describedby. */
export function field(label, attrs, hint = null) {
  const id = `f${++fieldIds}`;
  const hintId = hint ? `${id}-hint` : null;
  const input = h('input', { id, 'aria-describedby': hintId, ...attrs });
  const wrap = h('div', { class: 'field' }, h('label', { for: id }, label), input, hint ? h('p', { id: hintId, class: 'hint' }, hint) : null);
  return { input, wrap };
}

export function newPasswordField(label) {
  return field(label, { type: 'password', name: 'new-password', autocomplete: 'new-password', required: true, minlength: 8, maxlength: 128 }, '8 to 128 characters. Common passwords are refused.');
}

export function button(text, attrs, onClick) {
  const b = h('button', { type: 'button', ...attrs }, text);
  b.addEventListener('click', () => onClick(b));
  return b;
}

/** A live region for a form's outcome: read out by screen readers when it changes. */
export function statusBox() {
  return h('div', { class: 'status', role: 'status', 'aria-live': 'polite' });
}

export function setStatus(box, kind, message) {
  box.className = `status ${kind}`;
  box.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  box.textContent = message;
}

export function errorBox(message) {
  const box = statusBox();
  setStatus(box, 'error', message);
  return box;
}

export function alertBox(e) {
  return errorBox(e instanceof Error ? e.message : String(e));
}

/** Runs `action` while `btn` is disabled; its message (or error) goes to `status`. */
export async function busy(btn, status, action) {
  btn.disabled = true;
  btn.setAttribute('aria-busy', 'true');
  setStatus(status, '', '');
  try {
    const message = await action();
    if (typeof message === 'string') setStatus(status, 'success', message);
  } catch (e) {
    setStatus(status, 'error', e instanceof Error ? e.message : String(e));
  } finally {
    btn.disabled = false;
    btn.removeAttribute('aria-busy');
  }
}

export function onSubmit(form, status, action) {
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(form.querySelector('button[type=submit]'), status, action);
  });
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

export function when(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : dateFormat.format(d);
}

// The session table has three times side by side: the year only when it is not this one,
// and the full date in the tooltip.
const shortFormat = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });

export function timeCell(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return h('time', {}, iso);
  const text = d.getFullYear() === new Date().getFullYear() ? shortFormat.format(d) : dateFormat.format(d);
  return h('time', { datetime: iso, title: dateFormat.format(d) }, text);
}

/** The signed-in pages' navigation; `current` is the path of the page shown. */
export function accountNav(current) {
  const item = (href, text) => h('a', { href, 'data-link': true, 'aria-current': href === current ? 'page' : null }, text);
  return h('nav', { class: 'tabs', 'aria-label': 'Your account' }, item('/', 'Account'), item('/security', 'Security'));
}
