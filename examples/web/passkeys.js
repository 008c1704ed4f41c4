// Passkeys on the security page (add, name, list, remove) and "Sign in with a passkey" on
// the sign-in page. The browser's side of WebAuthn is in webauthn.js.

import { ApiError, AUTH_RESULT_FIELDS, gql } from './api.js';
import { busy, button, field, h, onSubmit, statusBox, timeCell } from './dom.js';
import { navigate, render, setFlash } from './router.js';
import { finishSignIn } from './second-factor.js';
import { createPasskey, passkeysAvailable, usePasskey } from './webauthn.js';

const Q_PASSKEYS = 'query Passkeys { passkeys { id name createdAt lastUsedAt } }';
const Q_ME = 'query Me { me { id } }';
const M_BEGIN = 'mutation BeginPasskeyRegistration { beginPasskeyRegistration }';
const M_FINISH = `mutation FinishPasskeyRegistration($credential: JSON!, $name: String) {
  finishPasskeyRegistration(credential: $credential, name: $name) { id name }
}`;
const M_DELETE = 'mutation DeletePasskey($id: ID!) { deletePasskey(id: $id) }';
// `options` only here: a server without passkeys has no such field, and the other sign-ins
// must keep working there.
const M_START = 'mutation PasskeyOptions { authenticate(provider: "passkey", input: {}) { success error options } }';
const M_FINISH_SIGN_IN = `mutation PasskeySignIn($input: JSON!) {
  validateCallback(provider: "passkey", input: $input) { ${AUTH_RESULT_FIELDS} }
}`;

const FEATURE = { feature: 'passkeys' };
const UNAVAILABLE = 'This browser cannot use passkeys on this page: they need a secure address (HTTPS, or localhost).';

/** "Sign in with a passkey", for the sign-in page's status box. */
export function passkeySignInButton(status) {
  return button('Sign in with a passkey', { class: 'provider passkey', 'data-provider': 'passkey' }, async (btn) => {
    await busy(btn, status, async () => {
      if (!passkeysAvailable()) throw new ApiError(UNAVAILABLE);
      const { authenticate: start } = await gql(M_START, {}, FEATURE);
      if (!start.options) throw new ApiError(start.error ?? 'The server offered no passkey sign-in.');
      const credential = await usePasskey(start.options);
      const { validateCallback: result } = await gql(M_FINISH_SIGN_IN, { input: { credential } }, FEATURE);
      if (!result.success && !result.mfaTicket) {
        throw new ApiError(`${result.error ?? 'The passkey did not sign you in'}. If it was removed from your account, sign in another way and add it again.`);
      }
      finishSignIn(result);
    });
  });
}

/** The security page's passkeys: the list and the form to add one. */
export async function passkeySection() {
  const status = statusBox();
  const list = h('div', { 'data-field': 'passkeys' });
  const section = h(
    'section',
    { 'aria-labelledby': 'passkeys-heading', 'data-section': 'passkeys' },
    h('h2', { id: 'passkeys-heading' }, 'Passkeys'),
    h(
      'p',
      { class: 'muted' },
      'A passkey signs you in with this device’s fingerprint, face or screen lock: no password, and no code, since it is two factors in one.',
    ),
    status,
    list,
    addForm(),
  );
  let passkeys;
  try {
    ({ passkeys } = await gql(Q_PASSKEYS, {}, FEATURE));
  } catch (e) {
    list.replaceChildren(h('p', { class: 'status error', role: 'alert' }, e.message));
    return section;
  }
  list.replaceChildren(passkeys.length === 0 ? h('p', {}, 'You have no passkeys yet.') : passkeyTable(passkeys, status));
  return section;
}

function passkeyTable(passkeys, status) {
  const rows = passkeys.map((p) => {
    const name = p.name || 'Unnamed passkey';
    const remove = button('Remove', { class: 'small danger', 'aria-label': `Remove the passkey “${name}”` }, async (btn) => {
      await busy(btn, status, async () => {
        await gql(M_DELETE, { id: p.id }, FEATURE);
        // The sessions signed in with it end too: this one may have been among them.
        const { me } = await gql(Q_ME);
        if (!me) {
          navigate('/', `The passkey “${name}” is removed. This browser was signed in with it, so you are signed out.`, { kind: 'info' });
          return undefined;
        }
        setFlash(`The passkey “${name}” is removed: it no longer signs you in.`);
        await render();
        return undefined;
      });
    });
    return h(
      'tr',
      { 'data-passkey': p.id },
      h('td', { class: 'device' }, name),
      h('td', { 'data-label': 'Added' }, timeCell(p.createdAt)),
      h('td', { 'data-label': 'Last used', 'data-field': 'last-used' }, p.lastUsedAt ? timeCell(p.lastUsedAt) : 'Never'),
      h('td', { class: 'right' }, remove),
    );
  });
  return h(
    'table',
    { class: 'sessions passkeys' },
    h('caption', { class: 'visually-hidden' }, `Your ${passkeys.length} passkey${passkeys.length === 1 ? '' : 's'}`),
    h(
      'thead',
      {},
      h('tr', {}, h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Added'), h('th', { scope: 'col' }, 'Last used'), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions'))),
    ),
    h('tbody', {}, ...rows),
  );
}

function addForm() {
  const status = statusBox();
  const name = field(
    'Name of the new passkey (optional)',
    { type: 'text', name: 'passkey-name', maxlength: 64, autocomplete: 'off' },
    'Tells your passkeys apart, e.g. the device that holds it: “Work laptop”.',
  );
  const form = h('form', { class: 'stack', 'aria-label': 'Add a passkey' }, name.wrap, h('button', { type: 'submit', class: 'primary' }, 'Add a passkey'), status);
  onSubmit(form, status, async () => {
    if (!passkeysAvailable()) throw new ApiError(UNAVAILABLE);
    const { beginPasskeyRegistration: options } = await gql(M_BEGIN, {}, FEATURE);
    const credential = await createPasskey(options);
    const label = name.input.value.trim();
    const { finishPasskeyRegistration: added } = await gql(M_FINISH, { credential, name: label || null }, FEATURE);
    const what = added.name ? `The passkey “${added.name}”` : 'Your passkey';
    setFlash(`${what} is added: use “Sign in with a passkey” next time.`);
    await render();
    return undefined;
  });
  return form;
}
