// authql in a real browser: GraphiQL, and the web app (examples/web) from sign-up to invites.
// One server and one Chromium for the whole file; the tests run in order and tell one story
// (sign up, sign out, sign in, a second device, revoke, an invite, the e-mailed links for
// verification and password reset, a password change), each leaving a screenshot
// in test-artifacts/screenshots/ (app-NN-*.png).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { gql, screenshots, startApp, watch } from './harness.mjs';

const EMAIL = 'ada@example.com';
const PASSWORD = 'correct horse battery staple';
const CHANGED_PASSWORD = 'a changed pass phrase';
const RESET_PASSWORD = 'remembered at last, a new one';
const SECOND_DEVICE_UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0';
const COOKIE = 'authql_session';

const screenshot = screenshots('app');
let server;
let chrome;
let page; // the first browser's tab, signed in through most of the story

let opened;

before(async () => {
  // E-mailed links start with AUTHQL_APP_URL: this server's own address, known in advance.
  opened = await startApp('app');
  ({ server, chrome, page } = opened);
}, { timeout: 60_000 });

after(async () => {
  await opened?.close();
});

/** Runs a test body; on failure leaves a screenshot of `tab` beside the others. */
function story(name, body, watchOptions = {}) {
  test(name, { timeout: 60_000 }, async () => {
    const tab = page;
    const watcher = watch(tab, server.url, watchOptions);
    try {
      await body();
    } catch (e) {
      await screenshot(tab, `FAILED-${name.replace(/\W+/g, '-')}`).catch(() => {});
      throw e;
    }
    assert.deepEqual(watcher.problems(), [], 'the page loaded only from authql, broke no CSP, logged no error');
  });
}

/** The visible text of the page's status/alert boxes. */
async function statusText(tab) {
  const boxes = tab.locator('.status:not(:empty)');
  await boxes.first().waitFor();
  return (await boxes.allTextContents()).join(' | ');
}

async function signIn(tab, email, password) {
  const form = tab.getByRole('form', { name: 'Sign in or create an account' });
  await form.getByLabel('E-mail').fill(email);
  await form.getByLabel('Password').fill(password);
  await form.getByRole('button', { name: 'Continue' }).click();
}

async function sessionRows(tab) {
  await tab.locator('table.sessions').waitFor();
  return tab.locator('table.sessions tbody tr');
}

/** The session cookie's token as the browser holds it (tests may read HttpOnly cookies). */
async function cookieToken(context) {
  return (await context.cookies(server.url)).find((c) => c.name === COOKIE);
}

story('GraphiQL at /graphiql loads and runs { authProviders }', async () => {
  await page.goto(`${server.url}/graphiql`);
  const editor = page.locator('.graphiql-query-editor .CodeMirror');
  await editor.waitFor();
  // The editor is CodeMirror: set its text through its own API (typing would fight the
  // bracket auto-closing), then press the real Run button.
  await editor.evaluate((el) => el.CodeMirror.setValue('{ authProviders }'));
  await page.locator('.graphiql-execute-button').click();
  const result = page.locator('.graphiql-response');
  await result.filter({ hasText: '"emailpass"' }).waitFor();
  const text = await result.innerText();
  assert.match(text, /"authProviders"/);
  assert.doesNotMatch(text, /"me"/, 'the query run is the one typed, not the default');
  await screenshot(page, 'graphiql-auth-providers');
  // GraphiQL's page names no icon, so Chromium asks for /favicon.ico, which authql lacks.
}, { allowMissing: ['/favicon.ico'] });

story('the app signs a new person up with e-mail and password', async () => {
  await page.goto(`${server.url}/`);
  await page.getByRole('heading', { name: 'Sign in or create an account' }).waitFor();
  assert.equal(await page.getByRole('button', { name: 'Sign in with Google' }).count(), 0, 'no google provider: no button');
  await screenshot(page, 'sign-in-form');

  await signIn(page, EMAIL, PASSWORD);
  await page.getByRole('heading', { name: 'You are signed in' }).waitFor();
  assert.match(await statusText(page), new RegExp(`Signed in as ${EMAIL}`));
  assert.equal(await page.locator('[data-field=email]').innerText(), EMAIL);
  assert.equal(await page.locator('[data-field=role]').innerText(), 'member');
  assert.match(await page.locator('[data-field=verified]').innerText(), /Not verified/);
  const rows = await sessionRows(page);
  assert.equal(await rows.count(), 1);
  assert.match(await rows.first().innerText(), /This browser/);
  await screenshot(page, 'signed-up');

  // The session lives in an HttpOnly cookie; the app keeps nothing in storage.
  const cookie = await cookieToken(chrome.context);
  assert.ok(cookie?.httpOnly, 'the session cookie is HttpOnly');
  assert.equal(cookie.sameSite, 'Lax');
  // (GraphiQL, on the same origin, keeps its tabs in localStorage: look for the token itself.)
  const stored = await page.evaluate(() =>
    [localStorage, sessionStorage].flatMap((s) => Object.keys(s).map((k) => `${k}=${s.getItem(k)}`)).join('\n'),
  );
  assert.ok(!stored.includes(cookie.value), 'the token is in neither localStorage nor sessionStorage');
  assert.equal(await page.evaluate(() => document.cookie), '', 'script cannot read the session');

  // Each session says when it was last active: the server's own lastSeenAt, shown as a date.
  assert.equal(await page.getByRole('columnheader', { name: 'Last active' }).count(), 1);
  const lastActive = rows.first().locator('[data-field=last-active] time');
  const { session } = await gql(server.url, '{ session { lastSeenAt } }', {}, cookie.value);
  assert.equal(await lastActive.getAttribute('datetime'), session.lastSeenAt);
  assert.ok(Math.abs(Date.parse(session.lastSeenAt) - Date.now()) < 60_000, `last active just now: ${session.lastSeenAt}`);
  assert.match(await lastActive.innerText(), /\d/, 'a date people can read');
});

story('the app signs out, shows a wrong password plainly, and signs back in', async () => {
  const before = await cookieToken(chrome.context);
  assert.equal((await gql(server.url, '{ me { email } }', {}, before.value)).me.email, EMAIL);

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in or create an account' }).waitFor();
  assert.match(await statusText(page), /You are signed out/);
  assert.equal(await cookieToken(chrome.context), undefined, 'the cookie is cleared');
  assert.equal((await gql(server.url, '{ me { email } }', {}, before.value)).me, null, 'and the session is revoked');
  await screenshot(page, 'signed-out');

  await signIn(page, EMAIL, 'not the password at all');
  await page.locator('.status.error').filter({ hasText: 'Invalid email or password' }).waitFor();
  await screenshot(page, 'wrong-password');

  await signIn(page, EMAIL, PASSWORD);
  await page.getByRole('heading', { name: 'You are signed in' }).waitFor();
  assert.equal(await (await sessionRows(page)).count(), 1);
  await screenshot(page, 'signed-in');
});

story('a second browser signs in; both see two sessions; one is revoked', async () => {
  const second = await chrome.newContext({ userAgent: SECOND_DEVICE_UA });
  try {
    const tab = await second.newPage();
    const secondWatcher = watch(tab, server.url);
    await tab.goto(`${server.url}/`);
    await signIn(tab, EMAIL, PASSWORD);
    await tab.getByRole('heading', { name: 'You are signed in' }).waitFor();
    const theirs = await sessionRows(tab);
    assert.equal(await theirs.count(), 2);
    assert.match(await theirs.filter({ hasText: 'This browser' }).innerText(), /Firefox on Windows/);
    await screenshot(tab, 'second-browser-two-sessions');

    await page.reload();
    const rows = await sessionRows(page);
    assert.equal(await rows.count(), 2);
    const other = rows.filter({ hasText: 'Firefox on Windows' });
    assert.equal(await other.filter({ hasText: 'This browser' }).count(), 0);
    assert.match(await other.innerText(), /rv:128\.0\) Gecko/, 'the full user agent is shown');
    assert.match(await other.locator('[data-field=last-active]').innerText(), /\d/, 'the other device says when it was last active');
    await screenshot(page, 'two-sessions');

    await other.getByRole('button', { name: /^Revoke/ }).click();
    await page.locator('.status.success').filter({ hasText: 'Session revoked.' }).waitFor();
    assert.equal(await (await sessionRows(page)).count(), 1);
    assert.match(await (await sessionRows(page)).innerText(), /This browser/);
    await screenshot(page, 'revoked-one');

    // The revoked browser is signed out at its next request.
    await tab.reload();
    await tab.getByRole('heading', { name: 'Sign in or create an account' }).waitFor();
    await screenshot(tab, 'second-browser-revoked');
    assert.deepEqual(secondWatcher.problems(), []);
  } finally {
    await second.close();
  }
});

story('an invite link is shown and accepted in the browser', async () => {
  const adminEmail = 'admin@example.com';
  const adminPassword = 'a long admin pass phrase';
  await server.cli(['user', 'create', '--email', adminEmail, '--password', adminPassword, '--role', 'admin']);
  const { authenticate } = await gql(
    server.url,
    'mutation($i: JSON!) { authenticate(provider: "emailpass", input: $i) { success error session { token } } }',
    { i: { email: adminEmail, password: adminPassword } },
  );
  assert.ok(authenticate.success, authenticate.error);
  const { createInvite } = await gql(
    server.url,
    'mutation($e: String!) { createInvite(input: { email: $e, role: MEMBER }) { token } }',
    { e: 'grace@example.com' },
    authenticate.session.token,
  );
  const link = `${server.url}/invite?token=${encodeURIComponent(createInvite.token)}`;

  // A fresh browser, as the invited person would open the e-mail's link.
  const invited = await chrome.newContext();
  try {
    const tab = await invited.newPage();
    const watcher = watch(tab, server.url);
    await tab.goto(link);
    await tab.getByRole('heading', { name: 'You are invited' }).waitFor();
    assert.equal(await tab.getByLabel('E-mail').inputValue(), 'grace@example.com');
    assert.match(await tab.locator('main').innerText(), /Join as member/);
    await screenshot(tab, 'invite-shown');

    // Too common a password is refused, and the reason is shown.
    await tab.getByLabel('Choose a password').fill('password123');
    await tab.getByRole('button', { name: 'Accept and create account' }).click();
    await tab.locator('.status.error').filter({ hasText: /common/i }).waitFor();
    await screenshot(tab, 'invite-common-password');

    await tab.getByLabel('Choose a password').fill('grace hopper compiles');
    await tab.getByRole('button', { name: 'Accept and create account' }).click();
    await tab.getByRole('heading', { name: 'You are signed in' }).waitFor();
    assert.equal(new URL(tab.url()).pathname, '/');
    assert.equal(await tab.locator('[data-field=email]').innerText(), 'grace@example.com');
    assert.match(await tab.locator('[data-field=verified]').innerText(), /Verified/, 'an accepted invite proves the address');
    await screenshot(tab, 'invite-accepted');

    // The link is single use.
    await tab.goto(link);
    await tab.locator('.status.error').filter({ hasText: 'invalid, already used or has expired' }).waitFor();
    await screenshot(tab, 'invite-used');
    assert.deepEqual(watcher.problems(), []);
  } finally {
    await invited.close();
  }
});

story('the e-mailed link verifies the address', async () => {
  await page.goto(`${server.url}/`);
  await page.getByRole('button', { name: 'Send verification e-mail' }).click();
  await page.locator('.status.success').filter({ hasText: `A verification link was sent to ${EMAIL}` }).waitFor();
  const link = await server.mailLink('email_verification', EMAIL);
  assert.ok(link.startsWith(`${server.url}/verify-email?token=`), link);

  // Opened where nobody is signed in (a mail scanner, another browser), the link verifies
  // nothing and stays usable.
  const elsewhere = await chrome.newContext();
  try {
    const tab = await elsewhere.newPage();
    await tab.goto(link);
    await tab.locator('.status.error').filter({ hasText: 'Sign in to the account this link was sent to' }).waitFor();
    await screenshot(tab, 'email-verification-needs-the-session');
  } finally {
    await elsewhere.close();
  }

  await page.goto(link);
  await page.getByRole('heading', { name: 'E-mail address verified' }).waitFor();
  await screenshot(page, 'email-verified');
  await page.getByRole('link', { name: 'Continue to your account' }).click();
  await page.getByRole('heading', { name: 'You are signed in' }).waitFor();
  assert.match(await page.locator('[data-field=verified]').innerText(), /Verified/);
  assert.equal(await page.getByRole('button', { name: 'Send verification e-mail' }).count(), 0);

  // The link is single use.
  await page.goto(link);
  await page.locator('.status.error').filter({ hasText: /invalid|expired/i }).waitFor();
  await screenshot(page, 'email-verification-link-used');
});

story('the signed-in person changes their password', async () => {
  await page.goto(`${server.url}/`);
  await page.getByText('Change your password').click();
  const form = page.getByRole('form', { name: 'Change your password' });
  await form.getByLabel('Current password').fill('not my password at all');
  await form.getByLabel('New password').fill(CHANGED_PASSWORD);
  await form.getByRole('button', { name: 'Change password' }).click();
  const refused = await form.locator('.status.error').innerText();
  assert.ok(refused.length > 0, 'a wrong current password is refused with a message');
  await screenshot(page, 'change-password-refused');

  await form.getByLabel('Current password').fill(PASSWORD);
  await form.getByLabel('New password').fill(CHANGED_PASSWORD);
  await form.getByRole('button', { name: 'Change password' }).click();
  await form.locator('.status.success').filter({ hasText: 'Your password is changed' }).waitFor();
  await screenshot(page, 'change-password-done');
  const { authenticate } = await gql(
    server.url,
    'mutation($i: JSON!) { authenticate(provider: "emailpass", input: $i) { success } }',
    { i: { email: EMAIL, password: CHANGED_PASSWORD } },
  );
  assert.ok(authenticate.success, 'the new password signs in');
});

story('a forgotten password is reset through the e-mailed link', async () => {
  await page.goto(`${server.url}/`);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in or create an account' }).waitFor();
  await page.getByText('Forgot your password?').click();
  const ask = page.getByRole('form', { name: 'Request a password reset' });
  await ask.getByLabel('E-mail').fill(EMAIL);
  await ask.getByRole('button', { name: 'Send reset link' }).click();
  await ask.locator('.status.success').filter({ hasText: `If an account exists for ${EMAIL}` }).waitFor();
  await screenshot(page, 'reset-requested');
  const link = await server.mailLink('password_reset', EMAIL);
  assert.ok(link.startsWith(`${server.url}/reset-password?token=`), link);

  await page.goto(link);
  await page.getByRole('heading', { name: 'Reset your password' }).waitFor();
  await page.getByLabel('New password', { exact: true }).fill(RESET_PASSWORD);
  await page.getByLabel('Repeat the new password').fill(`${RESET_PASSWORD} typo`);
  await page.getByRole('button', { name: 'Set new password' }).click();
  await page.locator('.status.error').filter({ hasText: 'The two passwords differ.' }).waitFor();
  await page.getByLabel('Repeat the new password').fill(RESET_PASSWORD);
  await page.getByRole('button', { name: 'Set new password' }).click();
  await page.locator('.status.success').filter({ hasText: 'Your password is changed' }).waitFor();
  await screenshot(page, 'reset-done');

  await page.getByRole('link', { name: 'Sign in with your new password' }).click();
  await signIn(page, EMAIL, CHANGED_PASSWORD);
  await page.locator('.status.error').filter({ hasText: 'Invalid email or password' }).waitFor();
  await signIn(page, EMAIL, RESET_PASSWORD);
  await page.getByRole('heading', { name: 'You are signed in' }).waitFor();
  await screenshot(page, 'signed-in-after-reset');
});

story('bad links and a callback without google report their outcome plainly', async () => {
  await page.goto(`${server.url}/reset-password?token=not-a-real-token`);
  await page.getByLabel('New password', { exact: true }).fill('a brand new pass phrase');
  await page.getByLabel('Repeat the new password').fill('a brand new pass phrase');
  await page.getByRole('button', { name: 'Set new password' }).click();
  await page.locator('.status.error').filter({ hasText: /invalid or has expired/i }).waitFor();
  await screenshot(page, 'reset-password-bad-token');

  // A server without password reset (before it existed) says "Unknown field": the page
  // says the feature is missing rather than showing a schema error.
  const older = (route) =>
    route.request().postData()?.includes('resetPassword')
      ? route.fulfill({
          contentType: 'application/json',
          body: JSON.stringify({
            data: null,
            errors: [{ message: 'Unknown field "resetPassword" on type "Mutation".', extensions: { code: 'BAD_USER_INPUT' } }],
          }),
        })
      : route.continue();
  await page.route('**/graphql', older);
  try {
    await page.getByRole('button', { name: 'Set new password' }).click();
    await page.locator('.status.error').filter({ hasText: 'This server does not offer password reset yet' }).waitFor();
    await screenshot(page, 'reset-password-on-an-older-server');
  } finally {
    await page.unroute('**/graphql', older);
  }

  await page.goto(`${server.url}/verify-email?token=not-a-real-token`);
  await page.locator('.status.error').filter({ hasText: /invalid or has expired/i }).waitFor();
  await screenshot(page, 'verify-email-bad-token');

  // No google provider on this server: the callback page shows the server's own message.
  await page.goto(`${server.url}/auth/callback?code=abc&state=xyz`);
  await page.locator('.status.error').waitFor();
  assert.match(await page.locator('.status.error').innerText(), /Unknown provider "google"/);
  assert.equal(new URL(page.url()).search, '', 'the one-time code is dropped from the address bar');
  await screenshot(page, 'google-callback-without-provider');
});
