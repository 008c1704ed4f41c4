// The second step of a sign-in: when the account has two-step verification on, a first
// factor (password, Google, any redirect provider) answers with an mfaTicket instead of a
// session, and this page asks for a code from the authenticator app or a recovery code.
// The ticket lives only in this page's memory: a reload starts the sign-in again.

import { ApiError, AUTH_RESULT_FIELDS, gql } from './api.js';
import { button, field, h, link, onSubmit, show, statusBox } from './dom.js';
import { navigate } from './router.js';

const M_VERIFY = `mutation VerifySecondFactor($ticket: String!, $method: String!, $code: String!) {
  verifySecondFactor(ticket: $ticket, method: $method, code: $code) { ${AUTH_RESULT_FIELDS} }
}`;

// The server's reasons (AuthResult.error) for the two refusals the page tells apart.
const INVALID_CODE = 'Invalid code';
const INVALID_TICKET = 'Invalid or expired ticket';

const METHODS = {
  totp: {
    label: '6-digit code',
    hint: 'The code your authenticator app shows for authql now.',
    attrs: { inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9 ]{6,7}', maxlength: 7 },
    wrong: 'That code is not right. Enter the code your authenticator app shows now (check that your device’s clock is correct).',
    switchTo: 'Use the code from your authenticator app instead',
  },
  recovery_code: {
    label: 'Recovery code',
    hint: 'One of the recovery codes you stored when you turned two-step verification on. Each works once.',
    attrs: { autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false' },
    wrong: 'That recovery code is not right, or it was used already. Each recovery code works only once.',
    switchTo: 'Use a recovery code instead',
  },
};

/**
 * Ends a sign-in mutation: signed in (to `/`, with a greeting), a second factor to ask for,
 * or a failure thrown as ApiError (`failure` when the server gave no reason).
 */
export function finishSignIn(result, { replace = false, failure = 'Sign-in failed.', welcome = null } = {}) {
  const greet = welcome ?? ((user) => `Signed in as ${user.email}.`);
  if (result.mfaTicket) {
    secondFactorPage(result.mfaTicket, result.mfaMethods ?? ['totp'], { replace, greet });
    return;
  }
  if (!result.success || !result.user) throw new ApiError(result.error ?? failure);
  navigate('/', greet(result.user), { replace });
}

function secondFactorPage(ticket, methods, { replace, greet }) {
  const offered = methods.filter((m) => m in METHODS);
  let method = offered[0] ?? 'totp';
  const status = statusBox();
  const code = field(METHODS[method].label, { type: 'text', name: 'code', required: true, ...METHODS[method].attrs }, METHODS[method].hint);
  const label = code.wrap.querySelector('label');
  const hint = code.wrap.querySelector('.hint');
  const intro = h('p', { class: 'muted' });
  const form = h(
    'form',
    { class: 'stack', 'aria-label': 'Second factor' },
    code.wrap,
    h('button', { type: 'submit', class: 'primary' }, 'Verify'),
  );

  const other = () => offered.find((m) => m !== method);
  const switcher = other()
    ? button('', { class: 'link-like', 'data-action': 'switch-method' }, () => {
        method = other();
        apply();
        code.input.value = '';
        code.input.focus();
      })
    : null;

  // Shows the fields of the chosen method; the input keeps its id, so its label stays tied.
  function apply() {
    const m = METHODS[method];
    label.textContent = m.label;
    hint.textContent = m.hint;
    for (const attr of ['inputmode', 'autocomplete', 'pattern', 'maxlength', 'autocapitalize', 'spellcheck']) {
      code.input.removeAttribute(attr);
    }
    for (const [k, v] of Object.entries(m.attrs)) code.input.setAttribute(k, String(v));
    intro.textContent =
      method === 'totp'
        ? 'Your account has two-step verification on. Open your authenticator app and enter the code it shows for authql.'
        : 'Your account has two-step verification on. Enter one of your recovery codes.';
    if (switcher) switcher.textContent = METHODS[other()].switchTo;
  }
  apply();

  onSubmit(form, status, async () => {
    const { verifySecondFactor: result } = await gql(M_VERIFY, { ticket, method, code: code.input.value.trim() });
    if (result.success && result.user) {
      navigate('/', greet(result.user), { replace });
      return undefined;
    }
    // A refused code leaves the ticket for another try; a spent or expired ticket does not.
    if (result.error === INVALID_TICKET) {
      navigate('/', 'This sign-in took too long or was already completed. Sign in again.', { replace: true, kind: 'error' });
      return undefined;
    }
    code.input.select();
    throw new ApiError(result.error === INVALID_CODE ? METHODS[method].wrong : (result.error ?? 'Sign-in failed.'));
  });

  show(
    h('h1', { tabindex: '-1' }, 'Two-step verification'),
    intro,
    status,
    form,
    switcher ? h('p', {}, switcher) : null,
    h('p', {}, link('/', 'Cancel and start again')),
  );
  code.input.focus();
}
