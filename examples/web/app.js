// The authql web app: sign-up and sign-in (with a second factor when the account has one),
// "Sign in with" each redirect provider (Google, GitHub, any OpenID Connect issuer), the
// signed-in view with sessions, the security page (security.js), invites, and the pages of
// e-mailed links (links.js). Plain DOM, no framework, no build step; the DOM helpers (dom.js) build
// pages with createElement and textContent only, so nothing a server or a URL says can turn
// into markup.

import { ApiError, AUTH_RESULT_FIELDS, USER_FIELDS, gql } from './api.js';
import { accountNav, alertBox, busy, button, errorBox, field, h, link, main, newPasswordField, onSubmit, setStatus, show, statusBox, timeCell, when } from './dom.js';
import { flashBox, navigate, render, setFlash, startRouter } from './router.js';
import { resetPasswordPage, verifyEmailPage } from './links.js';
import { passkeySignInButton } from './passkeys.js';
import { callbackProvider, providerLabel, redirectButtons } from './providers.js';
import { finishSignIn } from './second-factor.js';
import { securityPage } from './security.js';

// ---------------------------------------------------------------------------------------
// GraphQL operations. The token is never asked for: the cookie carries the session.

const Q_HOME = `query Home { authProviders me { ${USER_FIELDS} } }`;
const Q_SESSIONS = 'query Sessions { sessions { id createdAt lastSeenAt expiresAt userAgent current } }';
const M_AUTHENTICATE = `mutation Authenticate($provider: String!, $input: JSON!) {
  authenticate(provider: $provider, input: $input) { ${AUTH_RESULT_FIELDS} }
}`;
const M_CALLBACK = `mutation Callback($provider: String!, $input: JSON!) {
  validateCallback(provider: $provider, input: $input) { ${AUTH_RESULT_FIELDS} }
}`;
const Q_INVITE = `query Invite($token: String!) {
  authProviders
  invite(token: $token) { email role accepted expiresAt }
  me { ${USER_FIELDS} }
}`;
const M_ACCEPT_INVITE = `mutation AcceptInvite($token: String!, $provider: String!, $input: JSON!) {
  acceptInvite(token: $token, provider: $provider, input: $input) { ${AUTH_RESULT_FIELDS} }
}`;
const M_LOGOUT = 'mutation Logout { logout }';
const M_REVOKE = 'mutation Revoke($id: ID!) { revokeSession(id: $id) }';
const M_REQUEST_RESET = `mutation RequestReset($entityId: String!) {
  requestPasswordReset(provider: "emailpass", entityId: $entityId)
}`;
const M_REQUEST_VERIFICATION = 'mutation RequestVerification { requestEmailVerification }';
const M_CHANGE_PASSWORD = `mutation ChangePassword($input: JSON!) {
  updateProvider(provider: "emailpass", input: $input)
}`;

// ---------------------------------------------------------------------------------------
// Pages

const ROUTES = {
  '/': homePage,
  '/auth/callback': callbackPage,
  '/invite': invitePage,
  '/reset-password': resetPasswordPage,
  '/security': securityPage,
  '/verify-email': verifyEmailPage,
};

async function homePage() {
  const { authProviders, me } = await gql(Q_HOME);
  if (me) {
    await signedInPage(me);
  } else {
    signInPage(authProviders);
  }
}

function signInPage(providers) {
  const status = statusBox();
  const email = field('E-mail', { type: 'email', name: 'email', autocomplete: 'username', required: true });
  const password = field('Password', {
    type: 'password',
    name: 'password',
    autocomplete: 'current-password',
    required: true,
  });
  const form = h(
    'form',
    { class: 'stack', 'aria-label': 'Sign in or create an account' },
    email.wrap,
    password.wrap,
    h('button', { type: 'submit', class: 'primary' }, 'Continue'),
  );
  onSubmit(form, status, async () => {
    const { authenticate: r } = await gql(M_AUTHENTICATE, {
      provider: 'emailpass',
      input: { email: email.input.value, password: password.input.value },
    });
    finishSignIn(r);
  });

  const passkey = providers.includes('passkey') ? [passkeySignInButton(status)] : [];
  const redirects = redirectButtons(providers, 'Sign in with', status, async (provider) => {
    const { authenticate: r } = await gql(M_AUTHENTICATE, { provider, input: {} });
    return r;
  }, passkey);

  show(
    h('h1', { tabindex: '-1' }, 'Sign in or create an account'),
    h('p', { class: 'muted' }, 'Use your e-mail address and a password. If you have no account yet, this creates one.'),
    flashBox(),
    status,
    form,
    ...redirects,
    forgotPassword(email.input),
  );
}

/** "Forgot your password?": asks the server to mail a reset link. */
function forgotPassword(signInEmail) {
  const status = statusBox();
  const email = field('E-mail', { type: 'email', name: 'reset-email', autocomplete: 'username', required: true });
  const form = h(
    'form',
    { class: 'stack', 'aria-label': 'Request a password reset' },
    h('p', { class: 'muted' }, 'We will e-mail you a link to choose a new password.'),
    email.wrap,
    h('button', { type: 'submit' }, 'Send reset link'),
    status,
  );
  onSubmit(form, status, async () => {
    await gql(M_REQUEST_RESET, { entityId: email.input.value }, { feature: 'password reset' });
    return `If an account exists for ${email.input.value.trim()}, a link to reset its password is on its way.`;
  });
  const details = h('details', { class: 'more' }, h('summary', {}, 'Forgot your password?'), form);
  details.addEventListener('toggle', () => {
    if (details.open && !email.input.value) email.input.value = signInEmail.value;
  });
  return details;
}

async function signedInPage(me) {
  const status = statusBox();
  const sessions = h('div', { id: 'sessions' }, h('p', { class: 'muted' }, 'Loading sessions…'));
  const verified = me.emailVerified
    ? h('span', { class: 'badge ok' }, 'Verified')
    : h(
        'span',
        { class: 'inline' },
        h('span', { class: 'badge warn' }, 'Not verified'),
        button('Send verification e-mail', { class: 'small' }, async (btn) => {
          await busy(btn, status, async () => {
            await gql(M_REQUEST_VERIFICATION, {}, { feature: 'e-mail verification' });
            return `A verification link was sent to ${me.email}.`;
          });
        }),
      );
  const name = [me.firstName, me.lastName].filter(Boolean).join(' ');
  show(
    accountNav('/'),
    h('h1', { tabindex: '-1' }, name ? `Hello, ${name}` : 'You are signed in'),
    flashBox(),
    status,
    h(
      'dl',
      { class: 'facts', 'aria-label': 'Your account' },
      h('dt', {}, 'E-mail'),
      h('dd', { 'data-field': 'email' }, me.email),
      h('dt', {}, 'Role'),
      h('dd', { 'data-field': 'role' }, me.role.toLowerCase()),
      h('dt', {}, 'E-mail verified'),
      h('dd', { 'data-field': 'verified' }, verified),
    ),
    h(
      'p',
      { class: 'actions' },
      button('Sign out', {}, async (btn) => {
        await busy(btn, status, async () => {
          await gql(M_LOGOUT);
          navigate('/', 'You are signed out.');
        });
      }),
    ),
    h('h2', {}, 'Your sessions'),
    h('p', { class: 'muted' }, 'Every browser or client signed in to your account. Revoke any you do not recognise.'),
    sessions,
    changePassword(() => loadSessions(sessions, status)),
  );
  await loadSessions(sessions, status);
}

async function loadSessions(container, status) {
  let list;
  try {
    ({ sessions: list } = await gql(Q_SESSIONS));
  } catch (e) {
    container.replaceChildren(alertBox(e));
    return;
  }
  const rows = list.map((s) => {
    const device = describeAgent(s.userAgent);
    const revoke = button('Revoke', { class: 'small danger', 'aria-label': `Revoke the session of ${device}, signed in ${when(s.createdAt)}` }, async (btn) => {
      await busy(btn, status, async () => {
        await gql(M_REVOKE, { id: s.id });
        if (s.current) {
          navigate('/', 'This session was revoked: you are signed out.');
        } else {
          setFlash('Session revoked.');
          await render();
        }
      });
    });
    return h(
      'tr',
      { 'data-session': s.id, class: s.current ? 'current' : '' },
      h(
        'td',
        {},
        h('div', { class: 'device' }, device, s.current ? h('span', { class: 'badge' }, 'This browser') : null),
        h('div', { class: 'agent' }, s.userAgent ?? 'No user agent was sent'),
      ),
      // data-label names the column where a narrow screen hides the table head.
      h('td', { 'data-label': 'Signed in' }, timeCell(s.createdAt)),
      h('td', { 'data-label': 'Last active', 'data-field': 'last-active' }, timeCell(s.lastSeenAt)),
      h('td', { 'data-label': 'Expires unless used' }, timeCell(s.expiresAt)),
      h('td', { class: 'right' }, revoke),
    );
  });
  container.replaceChildren(
    h(
      'table',
      { class: 'sessions' },
      h('caption', { class: 'visually-hidden' }, `Your ${list.length} active session${list.length === 1 ? '' : 's'}`),
      h(
        'thead',
        {},
        h('tr', {}, h('th', { scope: 'col' }, 'Device'), h('th', { scope: 'col' }, 'Signed in'), h('th', { scope: 'col' }, 'Last active'), h('th', { scope: 'col' }, 'Expires unless used'), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions'))),
      ),
      h('tbody', {}, ...rows),
    ),
  );
}

/** The change-password form; `onChanged` runs after a change (other sessions have ended). */
function changePassword(onChanged) {
  const status = statusBox();
  const current = field('Current password', { type: 'password', name: 'current-password', autocomplete: 'current-password', required: true });
  const next = newPasswordField('New password');
  const form = h('form', { class: 'stack', 'aria-label': 'Change your password' }, current.wrap, next.wrap, h('button', { type: 'submit' }, 'Change password'), status);
  onSubmit(form, status, async () => {
    const { updateProvider: ok } = await gql(
      M_CHANGE_PASSWORD,
      { input: { currentPassword: current.input.value, password: next.input.value } },
      { feature: 'password changes' },
    );
    if (!ok) throw new ApiError('The password was not changed. Check your current password.');
    form.reset();
    await onChanged();
    return 'Your password is changed. Your other sessions were signed out.';
  });
  return h('details', { class: 'more' }, h('summary', {}, 'Change your password'), form);
}

async function callbackPage(params) {
  const provider = callbackProvider(params);
  const title = h('h1', { tabindex: '-1' }, 'Signing you in…');
  const status = statusBox();
  show(title, status);
  const providerError = params.get('error');
  if (providerError) {
    title.textContent = 'Sign-in was not completed';
    const said = (params.get('error_description') || providerError).replace(/\.$/, '');
    setStatus(status, 'error', `${providerLabel(provider)} answered: ${said}.`);
    main.append(h('p', {}, link('/', 'Back to sign-in')));
    return;
  }
  const code = params.get('code');
  const state = params.get('state');
  if (!code || !state) {
    title.textContent = 'Nothing to complete here';
    const label = providerLabel(provider);
    setStatus(status, 'error', `This page finishes a sign-in with ${label}: it needs the code and state ${label} sends back.`);
    main.append(h('p', {}, link('/', 'Back to sign-in')));
    return;
  }
  // The code and state are single use: keep them out of the history and of a reload.
  history.replaceState(null, '', '/auth/callback');
  try {
    const { validateCallback: r } = await gql(M_CALLBACK, { provider, input: { code, state } });
    if (r.location && r.success) {
      location.assign(r.location);
      return;
    }
    finishSignIn(r, { replace: true });
  } catch (e) {
    title.textContent = 'Sign-in was not completed';
    setStatus(status, 'error', e.message);
    main.append(h('p', {}, link('/', 'Back to sign-in')));
  }
}

async function invitePage(params) {
  const token = params.get('token');
  if (!token) {
    show(h('h1', { tabindex: '-1' }, 'Invitation'), errorBox('This link has no invitation token. Open the link from your invitation e-mail.'));
    return;
  }
  const { authProviders, invite, me } = await gql(Q_INVITE, { token });
  if (!invite || invite.accepted) {
    show(
      h('h1', { tabindex: '-1' }, 'Invitation'),
      errorBox('This invitation is invalid, already used or has expired. Ask whoever invited you for a new one.'),
      h('p', {}, link('/', 'Go to sign-in')),
    );
    return;
  }
  const status = statusBox();
  const email = field('E-mail', { type: 'email', name: 'email', autocomplete: 'username', readonly: true, value: invite.email });
  const password = newPasswordField('Choose a password');
  const form = h('form', { class: 'stack', 'aria-label': 'Accept the invitation' }, email.wrap, password.wrap, h('button', { type: 'submit', class: 'primary' }, 'Accept and create account'));
  onSubmit(form, status, async () => {
    const { acceptInvite: r } = await gql(M_ACCEPT_INVITE, {
      token,
      provider: 'emailpass',
      input: { email: invite.email, password: password.input.value },
    });
    finishSignIn(r, {
      replace: true,
      failure: 'The invitation could not be accepted.',
      welcome: (user) => `Welcome! Your account ${user.email} is ready and you are signed in.`,
    });
  });
  const redirects = redirectButtons(authProviders, 'Accept with', status, async (provider) => {
    const { acceptInvite: r } = await gql(M_ACCEPT_INVITE, { token, provider, input: {} });
    return r;
  });
  show(
    h('h1', { tabindex: '-1' }, 'You are invited'),
    h(
      'p',
      {},
      'Join as ',
      h('strong', {}, invite.role.toLowerCase()),
      ' with the address ',
      h('strong', {}, invite.email),
      `. This invitation expires ${when(invite.expiresAt)}.`,
    ),
    me ? h('p', { class: 'notice' }, `You are signed in as ${me.email}; accepting signs you in to the new account instead.`) : null,
    status,
    form,
    ...redirects,
  );
}

function notFoundPage() {
  show(h('h1', { tabindex: '-1' }, 'Page not found'), h('p', {}, link('/', 'Back to the start')));
}

/** "Chrome on Linux" from a User-Agent; the full string is shown beside it. */
function describeAgent(ua) {
  if (!ua) return 'Unknown device';
  const browsers = [
    [/Edg\//, 'Edge'],
    [/OPR\//, 'Opera'],
    [/Firefox\//, 'Firefox'],
    [/Chrom(e|ium)\//, 'Chrome'],
    [/Safari\//, 'Safari'],
    [/^curl\//, 'curl'],
  ];
  const systems = [
    [/Windows/, 'Windows'],
    [/Android/, 'Android'],
    [/iPhone|iPad/, 'iOS'],
    [/Mac OS X/, 'macOS'],
    [/Linux/, 'Linux'],
  ];
  const browser = browsers.find(([re]) => re.test(ua))?.[1];
  const system = systems.find(([re]) => re.test(ua))?.[1];
  if (browser && system) return `${browser} on ${system}`;
  return browser ?? system ?? ua.split(/[\s/]/)[0].slice(0, 40);
}

startRouter(ROUTES, notFoundPage);
