// The security page (/security): two-step verification with an authenticator app (TOTP),
// turned on by scanning a QR code drawn here (qr.js: the secret goes to no image service),
// with recovery codes shown once; and passkeys (passkeys.js).

import { ApiError, gql } from './api.js';
import { accountNav, busy, button, field, h, onSubmit, show, statusBox } from './dom.js';
import { passkeySection } from './passkeys.js';
import { encodeQr } from './qr.js';
import { flashBox, navigate, render, setFlash } from './router.js';

const Q_SECURITY = 'query Security { authProviders me { id email totpEnabled } }';
const M_ENROLL = 'mutation EnrollTotp { enrollTotp { secret otpauthUrl } }';
const M_CONFIRM = 'mutation ConfirmTotp($code: String!) { confirmTotp(code: $code) }';
const M_DISABLE = 'mutation DisableTotp($code: String!) { disableTotp(code: $code) }';

const FEATURE = { feature: 'two-step verification' };

export async function securityPage() {
  const { authProviders, me } = await gql(Q_SECURITY);
  if (!me) {
    navigate('/', 'Sign in to see your security settings.', { replace: true, kind: 'info' });
    return;
  }
  const status = statusBox();
  show(
    accountNav('/security'),
    h('h1', { tabindex: '-1' }, 'Security'),
    h('p', { class: 'muted' }, `How ${me.email} signs in.`),
    flashBox(),
    status,
    totpSection(me),
    // Offered when the server has the provider (AUTHQL_APP_URL names a domain).
    authProviders.includes('passkey') ? await passkeySection() : null,
  );
}

// ---------------------------------------------------------------------------------------
// Two-step verification (TOTP)

function totpSection(me) {
  const section = h('section', { 'aria-labelledby': 'totp-heading', 'data-section': 'totp' });
  const heading = h(
    'h2',
    { id: 'totp-heading' },
    'Two-step verification ',
    me.totpEnabled ? h('span', { class: 'badge ok', 'data-field': 'totp-state' }, 'On') : h('span', { class: 'badge warn', 'data-field': 'totp-state' }, 'Off'),
  );
  const about = h(
    'p',
    { class: 'muted' },
    'With it on, signing in asks for a code from an authenticator app on your phone (such as Aegis, Google Authenticator or 1Password) after your password or Google, GitHub or any other way you sign in.',
  );
  section.append(heading, about, me.totpEnabled ? disableForm() : enrolStart(section));
  return section;
}

function enrolStart(section) {
  const status = statusBox();
  const start = button('Set up an authenticator app', { class: 'primary' }, async (btn) => {
    await busy(btn, status, async () => {
      const { enrollTotp } = await gql(M_ENROLL, {}, FEATURE);
      wrap.replaceWith(enrolment(enrollTotp, section));
      section.querySelector('[data-step=scan] h3')?.focus();
    });
  });
  const wrap = h('div', {}, status, h('p', { class: 'actions' }, start));
  return wrap;
}

/** Scan (or type) the secret, then prove it with a code: nothing is on until then. */
function enrolment({ secret, otpauthUrl }, section) {
  const status = statusBox();
  const code = field(
    'Code from the app',
    { type: 'text', name: 'totp-code', inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9 ]{6,7}', maxlength: 7, required: true },
    'The 6 digits the app shows for authql now.',
  );
  const form = h('form', { class: 'stack', 'aria-label': 'Turn on two-step verification' }, code.wrap, h('button', { type: 'submit', class: 'primary' }, 'Turn on'), status);
  onSubmit(form, status, async () => {
    let codes;
    try {
      ({ confirmTotp: codes } = await gql(M_CONFIRM, { code: code.input.value.trim() }, FEATURE));
    } catch (e) {
      code.input.select();
      if (e instanceof ApiError && e.message === 'Invalid code') {
        throw new ApiError('That code is not right. Enter the code the app shows now, and check that your device’s clock is correct.');
      }
      throw e;
    }
    section.replaceWith(recoveryCodes(codes));
    return undefined;
  });
  return h(
    'ol',
    { class: 'steps' },
    h(
      'li',
      { 'data-step': 'scan' },
      h('h3', { tabindex: '-1' }, 'Scan this QR code with your authenticator app'),
      h('div', { class: 'qr-box' }, qrSvg(otpauthUrl, 'QR code of your authenticator app’s secret for authql')),
      h(
        'p',
        {},
        'Cannot scan it? Add an account in the app by hand, time-based, with this key: ',
        h('code', { class: 'secret', 'data-field': 'totp-secret' }, groupsOfFour(secret)),
      ),
      h('p', {}, h('a', { href: otpauthUrl, 'data-field': 'otpauth-url' }, 'Open in an authenticator app on this device')),
    ),
    h('li', { 'data-step': 'confirm' }, h('h3', {}, 'Enter the code the app shows'), form),
  );
}

/** Shown once, right after confirmTotp: the server never tells them again. */
function recoveryCodes(codes) {
  const status = statusBox();
  const list = h('ol', { class: 'codes', 'data-field': 'recovery-codes' }, ...codes.map((c) => h('li', {}, h('code', {}, c))));
  const copy = button('Copy the codes', {}, async (btn) => {
    await busy(btn, status, async () => {
      await navigator.clipboard.writeText(`${codes.join('\n')}\n`);
      return 'The codes are copied: paste them somewhere safe.';
    });
  });
  const done = button('I have stored them', { class: 'primary' }, () => {
    setFlash('Two-step verification is on.');
    render();
  });
  return h(
    'section',
    { 'aria-labelledby': 'codes-heading', 'data-section': 'recovery-codes' },
    h('h2', { id: 'codes-heading', tabindex: '-1' }, 'Two-step verification is on: store your recovery codes now'),
    h(
      'p',
      { class: 'notice', role: 'alert' },
      'Store these recovery codes now, somewhere safe (a password manager, or on paper). They are shown only this once: after you leave this page, nobody can show them again. Each code signs you in once if you lose your authenticator app.',
    ),
    list,
    status,
    h('p', { class: 'actions inline' }, copy, done),
  );
}

function disableForm() {
  const status = statusBox();
  const code = field(
    'Code from the app, or a recovery code',
    { type: 'text', name: 'disable-code', autocomplete: 'one-time-code', autocapitalize: 'none', spellcheck: 'false', required: true },
    'Proves it is you before turning two-step verification off.',
  );
  const form = h('form', { class: 'stack', 'aria-label': 'Turn off two-step verification' }, code.wrap, h('button', { type: 'submit', class: 'danger' }, 'Turn off'), status);
  onSubmit(form, status, async () => {
    try {
      await gql(M_DISABLE, { code: code.input.value.trim() }, FEATURE);
    } catch (e) {
      code.input.select();
      if (e instanceof ApiError && e.message === 'Invalid code') {
        throw new ApiError('That code is not right: enter the code your app shows now, or an unused recovery code.');
      }
      throw e;
    }
    setFlash('Two-step verification is off: signing in asks for no code.');
    await render();
    return undefined;
  });
  return h('details', { class: 'more' }, h('summary', {}, 'Turn off two-step verification'), form);
}

/** "ABCD EFGH ...": a key typed by hand is easier to check in groups (apps ignore the spaces). */
function groupsOfFour(secret) {
  return secret.replace(/(.{4})(?=.)/g, '$1 ');
}

const SVG = 'http://www.w3.org/2000/svg';
const QUIET_ZONE = 4;

/**
 * An SVG drawing of `text` as a QR code: dark modules on a light square with the four-module
 * quiet zone, light even in dark mode (readers expect dark on light). `label` is its
 * accessible name.
 */
function qrSvg(text, label) {
  const { size, modules } = encodeQr(text);
  const side = size + 2 * QUIET_ZONE;
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${side} ${side}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  svg.setAttribute('shape-rendering', 'crispEdges');
  svg.setAttribute('class', 'qr');
  const background = document.createElementNS(SVG, 'rect');
  background.setAttribute('width', String(side));
  background.setAttribute('height', String(side));
  background.setAttribute('fill', '#fff');
  let d = '';
  for (let r = 0; r < size; r++) {
    for (let c = 0; c < size; c++) {
      if (modules[r][c]) d += `M${c + QUIET_ZONE} ${r + QUIET_ZONE}h1v1h-1z`;
    }
  }
  const path = document.createElementNS(SVG, 'path');
  path.setAttribute('d', d);
  path.setAttribute('fill', '#000');
  svg.append(background, path);
  return svg;
}
