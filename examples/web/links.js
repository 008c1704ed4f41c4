// The pages that e-mailed links open: choosing a new password (/reset-password?token=) and
// verifying the address (/verify-email?token=).

import { ApiError, gql } from './api.js';
import { errorBox, field, h, link, main, newPasswordField, onSubmit, setStatus, show, statusBox } from './dom.js';

const M_RESET = 'mutation Reset($token: String!, $input: JSON!) { resetPassword(token: $token, input: $input) }';
const M_VERIFY = 'mutation Verify($token: String!) { verifyEmail(token: $token) }';

export function resetPasswordPage(params) {
  const token = params.get('token');
  if (!token) {
    show(h('h1', { tabindex: '-1' }, 'Reset your password'), errorBox('This link has no reset token. Open the link from the e-mail, or ask for a new one on the sign-in page.'), h('p', {}, link('/', 'Go to sign-in')));
    return;
  }
  const status = statusBox();
  const password = newPasswordField('New password');
  const confirm = field('Repeat the new password', { type: 'password', name: 'confirm', autocomplete: 'new-password', required: true });
  const form = h('form', { class: 'stack', 'aria-label': 'Choose a new password' }, password.wrap, confirm.wrap, h('button', { type: 'submit', class: 'primary' }, 'Set new password'));
  onSubmit(form, status, async () => {
    if (password.input.value !== confirm.input.value) throw new ApiError('The two passwords differ.');
    const { resetPassword: ok } = await gql(M_RESET, { token, input: { password: password.input.value } }, { feature: 'password reset' });
    if (!ok) throw new ApiError('This reset link is invalid, already used or has expired. Ask for a new one on the sign-in page.');
    form.remove();
    main.append(h('p', {}, link('/', 'Sign in with your new password')));
    return 'Your password is changed, and every session of your account was signed out.';
  });
  show(h('h1', { tabindex: '-1' }, 'Reset your password'), h('p', { class: 'muted' }, 'Choose a new password: 8 to 128 characters; common passwords are refused.'), status, form);
}

export async function verifyEmailPage(params) {
  const token = params.get('token');
  const title = h('h1', { tabindex: '-1' }, 'Verify your e-mail address');
  const status = statusBox();
  show(title, status);
  if (!token) {
    setStatus(status, 'error', 'This link has no verification token. Open the link from the e-mail.');
  } else {
    setStatus(status, 'info', 'Checking your link…');
    try {
      const { verifyEmail: ok } = await gql(M_VERIFY, { token }, { feature: 'e-mail verification' });
      if (ok) {
        title.textContent = 'E-mail address verified';
        setStatus(status, 'success', 'Thank you: your e-mail address is verified.');
      } else {
        setStatus(status, 'error', 'This verification link is invalid, already used or has expired. Sign in and ask for a new one.');
      }
    } catch (e) {
      // The link only works in the account it was mailed to, signed in: whoever opens it
      // elsewhere (a mail scanner, another browser) must not verify an address for someone.
      if (e.code === 'UNAUTHENTICATED') {
        setStatus(status, 'error', 'Sign in to the account this link was sent to, then open the link again.');
      } else if (e.code === 'FORBIDDEN') {
        setStatus(status, 'error', 'This link was sent to another account. Sign out, sign in to that account, then open the link again.');
      } else {
        setStatus(status, 'error', e.message);
      }
    }
  }
  main.append(h('p', {}, link('/', 'Continue to your account')));
}
