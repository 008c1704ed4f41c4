// The security page and the second step of sign-in, in a real browser: two-step verification
// (TOTP) turned on by reading the page's QR code with jsQR (a decoder none of us wrote) and
// computing the codes here from the secret, as a phone would; recovery codes shown once and
// each accepted once; wrong codes and a spent ticket told plainly; passkeys made and used by
// Chromium's virtual authenticator (DevTools WebAuthn domain). One server and one Chromium
// for the file; the tests run in order and tell one story, each leaving screenshots in
// test-artifacts/screenshots/ (security-NN-*.png).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { gql, readQr, screenshots, startApp, watch } from './harness.mjs';
import { STEP_MS, currentStep, totp } from './totp.mjs';

const EMAIL = 'grace@example.com';
const PASSWORD = 'a sturdy pass phrase for grace';
const COOKIE = 'authql_session';

const screenshot = screenshots('security');
let server;
// The app's address in the browser: localhost, not 127.0.0.1, since WebAuthn wants a domain
// (AUTHQL_APP_URL names it, and passkeys are bound to it) in a secure context (localhost is one).
let app;
let chrome;
let page;
// What the story learns on the way: the secret (read from the QR code) and the recovery codes.
let secret;
let recoveryCodes;
// The tab's DevTools session and its virtual authenticator.
let cdp;
let authenticator;
const PASSKEY_NAME = 'Test laptop';

let opened;

before(async () => {
  opened = await startApp('security', { host: 'localhost' });
  ({ app, server, chrome, page } = opened);
}, { timeout: 60_000 });

after(async () => {
  await opened?.close();
});

/** Runs a test body; on failure leaves a screenshot of the page beside the others. */
function story(name, body) {
  test(name, { timeout: 90_000 }, async () => {
    const watcher = watch(page, app);
    try {
      await body();
    } catch (e) {
      await screenshot(page, `FAILED-${name.replace(/\W+/g, '-')}`).catch(() => {});
      throw e;
    }
    assert.deepEqual(watcher.problems(), [], 'the page loaded only from authql, broke no CSP, logged no error');
  });
}

let lastStep = 0;

/**
 * A code the server has not taken yet: each step's code is accepted once, and one step
 * either side of now is accepted, so the next unused step is at most one ahead (else wait).
 */
async function nextCode() {
  const now = currentStep();
  const step = Math.max(now, lastStep + 1);
  if (step > now + 1) await new Promise((resolve) => setTimeout(resolve, (step - 1) * STEP_MS - Date.now() + 500));
  lastStep = step;
  return totp(secret, step);
}

/** Six digits that no step near now has as its code. */
function wrongCode() {
  const now = currentStep();
  const valid = new Set([-2, -1, 0, 1, 2].map((d) => totp(secret, now + d)));
  return ['000000', '123456', '999999'].find((c) => !valid.has(c));
}

// ---------------------------------------------------------------------------------------
// Steps

async function statusText() {
  const boxes = page.locator('.status:not(:empty)');
  await boxes.first().waitFor();
  return (await boxes.allTextContents()).join(' | ');
}

async function signIn(email, password) {
  const form = page.getByRole('form', { name: 'Sign in or create an account' });
  await form.getByLabel('E-mail').fill(email);
  await form.getByLabel('Password').fill(password);
  await form.getByRole('button', { name: 'Continue' }).click();
}

async function signOut() {
  await page.getByRole('navigation', { name: 'Your account' }).getByRole('link', { name: 'Account' }).click();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in or create an account' }).waitFor();
}

async function sessionCookie() {
  return (await chrome.context.cookies(app)).find((c) => c.name === COOKIE);
}

/** Whom the browser's cookie signs in now (a cookie of an ended session signs in nobody). */
async function cookieUser() {
  const cookie = await sessionCookie();
  if (!cookie) return null;
  return (await gql(server.url, '{ me { email } }', {}, cookie.value)).me?.email ?? null;
}

/** Signs in with the password and waits for the second step. */
async function toSecondStep() {
  await signIn(EMAIL, PASSWORD);
  await page.getByRole('heading', { name: 'Two-step verification' }).waitFor();
  assert.equal(await cookieUser(), null, 'no session before the second factor');
}

async function enterCode(code) {
  const form = page.getByRole('form', { name: 'Second factor' });
  await form.getByRole('textbox').fill(code);
  await form.getByRole('button', { name: 'Verify' }).click();
}

async function signedIn() {
  await page.getByRole('heading', { name: 'You are signed in' }).waitFor();
  assert.match(await statusText(), new RegExp(`Signed in as ${EMAIL}`));
  const cookie = await sessionCookie();
  assert.ok(cookie, 'a session cookie');
  assert.equal((await gql(server.url, '{ me { email } }', {}, cookie.value)).me.email, EMAIL);
}

// ---------------------------------------------------------------------------------------
// The story

story('a new person turns two-step verification on by scanning the QR code', async () => {
  await page.goto(`${app}/`);
  await signIn(EMAIL, PASSWORD);
  await page.getByRole('heading', { name: 'You are signed in' }).waitFor();
  await page.getByRole('navigation', { name: 'Your account' }).getByRole('link', { name: 'Security' }).click();
  await page.getByRole('heading', { name: 'Security', exact: true }).waitFor();
  assert.equal(new URL(page.url()).pathname, '/security');
  assert.equal(await page.locator('[data-field=totp-state]').innerText(), 'Off');
  await screenshot(page, 'security-off');

  const enrolled = page.waitForResponse(async (r) => r.url().endsWith('/graphql') && r.request().postData()?.includes('enrollTotp'));
  await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
  const { enrollTotp } = (await (await enrolled).json()).data;
  const qr = page.getByRole('img', { name: /QR code/ });
  await qr.waitFor();
  await screenshot(page, 'scan-qr');

  // The phone's view: what the QR code says, read by a decoder of its own.
  const scanned = await readQr(chrome.context, qr);
  assert.ok(scanned, 'jsQR finds a QR code in the page');
  assert.equal(scanned, enrollTotp.otpauthUrl, 'the QR code carries the URL the server made');
  assert.equal(await page.locator('[data-field=otpauth-url]').getAttribute('href'), scanned);
  const url = new URL(scanned);
  assert.equal(url.protocol, 'otpauth:');
  secret = url.searchParams.get('secret');
  assert.equal(secret, enrollTotp.secret);
  const shown = (await page.locator('[data-field=totp-secret]').innerText()).replace(/\s+/g, '');
  assert.equal(shown, secret, 'the key for typing by hand is the same secret');

  const form = page.getByRole('form', { name: 'Turn on two-step verification' });
  await form.getByLabel('Code from the app').fill(wrongCode());
  await form.getByRole('button', { name: 'Turn on' }).click();
  await form.locator('.status.error').filter({ hasText: 'That code is not right' }).waitFor();

  await form.getByLabel('Code from the app').fill(await nextCode());
  await form.getByRole('button', { name: 'Turn on' }).click();
  const codes = page.locator('[data-field=recovery-codes] li');
  await codes.first().waitFor();
  assert.match(await page.getByRole('alert').filter({ hasText: 'recovery codes' }).innerText(), /Store these recovery codes now.*shown only this once/s);
  recoveryCodes = (await codes.allInnerTexts()).map((c) => c.trim());
  assert.equal(recoveryCodes.length, 10);
  assert.equal(new Set(recoveryCodes).size, 10);
  await screenshot(page, 'recovery-codes');

  await page.getByRole('button', { name: 'I have stored them' }).click();
  await page.locator('[data-field=totp-state]').filter({ hasText: 'On' }).waitFor();
  assert.match(await statusText(), /Two-step verification is on/);
  assert.equal(await page.locator('[data-field=recovery-codes]').count(), 0, 'the codes are gone');
  const html = await page.content();
  assert.ok(!html.includes(recoveryCodes[0]) && !html.includes(secret), 'neither codes nor secret remain in the page');
  await page.reload();
  await page.locator('[data-field=totp-state]').filter({ hasText: 'On' }).waitFor();
  assert.ok(!(await page.content()).includes(recoveryCodes[0]), 'nor do they come back');
  await screenshot(page, 'security-on');
});

story('signing in with the password asks for the code; the right code signs in', async () => {
  await signOut();
  await toSecondStep();
  await screenshot(page, 'code-asked');
  await enterCode(await nextCode());
  await signedIn();
  await screenshot(page, 'signed-in-with-code');
});

story('a recovery code signs in once; used again, and a wrong code, are refused plainly', async () => {
  await signOut();
  await toSecondStep();
  await page.getByRole('button', { name: 'Use a recovery code instead' }).click();
  await page.getByRole('form', { name: 'Second factor' }).getByLabel('Recovery code').waitFor();
  await enterCode(recoveryCodes[0]);
  await signedIn();

  await signOut();
  await toSecondStep();
  await page.getByRole('button', { name: 'Use a recovery code instead' }).click();
  await enterCode(recoveryCodes[0]);
  await page.locator('.status.error').filter({ hasText: 'That recovery code is not right, or it was used already' }).waitFor();
  assert.equal(await cookieUser(), null);
  await screenshot(page, 'recovery-code-used-twice');

  await page.getByRole('button', { name: 'Use the code from your authenticator app instead' }).click();
  await page.getByRole('form', { name: 'Second factor' }).getByLabel('6-digit code').waitFor();
  await enterCode(wrongCode());
  await page.locator('.status.error').filter({ hasText: 'That code is not right' }).waitFor();
  assert.equal(await cookieUser(), null);
  await screenshot(page, 'wrong-code');

  // The same ticket still takes a right code (an unused recovery code; the app's next code
  // is kept for turning two-step verification off).
  await page.getByRole('button', { name: 'Use a recovery code instead' }).click();
  await enterCode(recoveryCodes[3]);
  await signedIn();
});

story('a sign-in whose ticket is spent elsewhere goes back to sign-in, saying so', async () => {
  await signOut();
  const answered = page.waitForResponse(async (r) => r.url().endsWith('/graphql') && r.request().postData()?.includes('Authenticate'));
  await toSecondStep();
  const { authenticate } = (await (await answered).json()).data;
  assert.equal(authenticate.error, 'A second factor is required');
  assert.deepEqual(authenticate.mfaMethods, ['totp', 'recovery_code']);
  // Another client completes this sign-in with the same ticket first.
  const { verifySecondFactor } = await gql(
    server.url,
    'mutation($t: String!, $c: String!) { verifySecondFactor(ticket: $t, method: "recovery_code", code: $c) { success } }',
    { t: authenticate.mfaTicket, c: recoveryCodes[1] },
  );
  assert.equal(verifySecondFactor.success, true);
  await enterCode(wrongCode());
  await page.getByRole('heading', { name: 'Sign in or create an account' }).waitFor();
  assert.match(await statusText(), /took too long or was already completed/);
  assert.equal(await page.locator('.status.error').count(), 1, 'shown as an error');
  assert.equal(await cookieUser(), null);
  await screenshot(page, 'ticket-spent');
});

/**
 * Chromium's virtual authenticator (DevTools WebAuthn domain) on the tab: a platform
 * authenticator with resident keys and user verification that always verifies the user.
 */
async function addVirtualAuthenticator() {
  cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  authenticator = authenticatorId;
}

async function authenticatorCredentials() {
  return (await cdp.send('WebAuthn.getCredentials', { authenticatorId: authenticator })).credentials;
}

story('a passkey is added and named on the security page', async () => {
  await toSecondStep();
  await page.getByRole('button', { name: 'Use a recovery code instead' }).click();
  await enterCode(recoveryCodes[2]);
  await signedIn();
  await page.getByRole('navigation', { name: 'Your account' }).getByRole('link', { name: 'Security' }).click();
  const section = page.locator('[data-section=passkeys]');
  await section.getByText('You have no passkeys yet.').waitFor();

  await addVirtualAuthenticator();
  const form = page.getByRole('form', { name: 'Add a passkey' });
  await form.getByLabel('Name of the new passkey (optional)').fill(PASSKEY_NAME);
  await form.getByRole('button', { name: 'Add a passkey' }).click();
  await page.locator('.status.success').filter({ hasText: `The passkey “${PASSKEY_NAME}” is added` }).waitFor();
  const rows = page.locator('[data-section=passkeys] tbody tr');
  assert.equal(await rows.count(), 1);
  assert.match(await rows.first().innerText(), new RegExp(PASSKEY_NAME));
  assert.equal(await rows.first().locator('[data-field=last-used]').innerText(), 'Never');
  // The authenticator holds it as a discoverable credential for this site.
  const held = await authenticatorCredentials();
  assert.equal(held.length, 1);
  assert.equal(held[0].isResidentCredential, true);
  assert.equal(held[0].rpId, 'localhost');
  await screenshot(page, 'passkey-added');
});

story('the passkey signs in with neither password nor code, though two-step verification is on', async () => {
  await signOut();
  const answered = page.waitForResponse(async (r) => r.url().endsWith('/graphql') && r.request().postData()?.includes('PasskeySignIn'));
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  const { validateCallback } = (await (await answered).json()).data;
  assert.equal(validateCallback.success, true, validateCallback.error);
  assert.equal(validateCallback.mfaTicket, null, 'no second factor asked');
  await signedIn();
  assert.equal((await authenticatorCredentials())[0].signCount > 0, true, 'the authenticator signed');
  await screenshot(page, 'signed-in-with-passkey');

  await page.getByRole('navigation', { name: 'Your account' }).getByRole('link', { name: 'Security' }).click();
  assert.equal(await page.locator('[data-field=totp-state]').innerText(), 'On');
  const lastUsed = page.locator('[data-section=passkeys] tbody tr [data-field=last-used] time');
  await lastUsed.waitFor();
  const at = Date.parse(await lastUsed.getAttribute('datetime'));
  assert.ok(Math.abs(at - Date.now()) < 60_000, `last used just now: ${await lastUsed.getAttribute('datetime')}`);
  await screenshot(page, 'passkey-last-used');
});

story('a removed passkey no longer signs in, and the page says why', async () => {
  await page.getByRole('button', { name: `Remove the passkey “${PASSKEY_NAME}”` }).click();
  // This session was signed in with that passkey: it ends with it.
  await page.getByRole('heading', { name: 'Sign in or create an account' }).waitFor();
  assert.match(await statusText(), new RegExp(`The passkey “${PASSKEY_NAME}” is removed.*signed out`));
  assert.equal(await cookieUser(), null);

  // The authenticator still offers it; the server no longer knows it.
  assert.equal((await authenticatorCredentials()).length, 1);
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  await page.locator('.status.error').filter({ hasText: 'This passkey is not registered here' }).waitFor();
  assert.match(await statusText(), /sign in another way/);
  assert.equal(await cookieUser(), null);
  await screenshot(page, 'removed-passkey-refused');
});

story('two-step verification is turned off with a code; then the password alone signs in', async () => {
  await toSecondStep();
  await page.getByRole('button', { name: 'Use a recovery code instead' }).click();
  await enterCode(recoveryCodes[4]);
  await signedIn();
  await page.getByRole('navigation', { name: 'Your account' }).getByRole('link', { name: 'Security' }).click();
  await page.locator('[data-field=totp-state]').filter({ hasText: 'On' }).waitFor();
  await page.getByText('Turn off two-step verification').click();
  const form = page.getByRole('form', { name: 'Turn off two-step verification' });
  const code = form.getByLabel('Code from the app, or a recovery code');
  await code.fill(wrongCode());
  await form.getByRole('button', { name: 'Turn off' }).click();
  await form.locator('.status.error').filter({ hasText: 'That code is not right' }).waitFor();
  assert.equal(await page.locator('[data-field=totp-state]').innerText(), 'On');

  await code.fill(await nextCode());
  await form.getByRole('button', { name: 'Turn off' }).click();
  await page.locator('[data-field=totp-state]').filter({ hasText: 'Off' }).waitFor();
  assert.match(await statusText(), /Two-step verification is off/);
  await screenshot(page, 'totp-off');

  await signOut();
  await signIn(EMAIL, PASSWORD);
  await signedIn();

  // Signed out, the page sends people to sign in first.
  await signOut();
  await page.goto(`${app}/security`);
  await page.getByRole('heading', { name: 'Sign in or create an account' }).waitFor();
  assert.match(await statusText(), /Sign in to see your security settings/);
  assert.equal(new URL(page.url()).pathname, '/');
});
