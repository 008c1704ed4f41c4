// "Sign in with Google" in a real browser, end to end: the web app calls
// authenticate("google"), the browser goes to the provider's login page, comes back to the
// app's /auth/callback, and the app completes with validateCallback. The provider is
// oidc-provider-mock (a real OpenID Connect provider on a loopback port) standing in for
// Google, the same one tests/api/google.rs uses.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  freePort,
  launchBrowser,
  oidcProviderBinary,
  screenshots,
  startOidcProvider,
  startServer,
  watch,
} from './harness.mjs';

const screenshot = screenshots('google');
// scripts/test runs cargo test first, which installs it; scripts/test-browser alone may not have it.
const skip = oidcProviderBinary() ? false : 'oidc-provider-mock is not installed yet: run `cargo test` first (it installs it)';
let idp;
let server;
let chrome;

before(async () => {
  if (skip) return;
  idp = await startOidcProvider();
  await idp.setUser('alice', { email: 'alice@example.com', email_verified: true, name: 'Alice Liddell' });
  // google sends the browser back to a URL fixed in the configuration: the app's own page,
  // so the port must be known before the server starts.
  const port = await freePort();
  server = await startServer('google', {
    AUTHQL_BIND: `127.0.0.1:${port}`,
    AUTHQL_APP_URL: `http://127.0.0.1:${port}`,
    AUTHQL_GOOGLE_CLIENT_ID: 'authql-browser-test',
    AUTHQL_GOOGLE_CLIENT_SECRET: 'browser-test-secret',
    AUTHQL_GOOGLE_CALLBACK_URL: `http://127.0.0.1:${port}/auth/callback`,
    AUTHQL_GOOGLE_ISSUER: idp.issuer,
  });
  chrome = await launchBrowser();
}, { timeout: 60_000 });

after(async () => {
  await chrome?.close();
  await server?.stop();
  await idp?.stop();
});

/**
 * A browser context that reaches only loopback: the mock's login page links a style sheet
 * from a CDN, and these tests must not depend on (or wait for) the internet.
 */
async function loopbackOnly() {
  const context = await chrome.newContext();
  await context.route('**/*', (route) => {
    const { hostname } = new URL(route.request().url());
    return hostname === '127.0.0.1' ? route.continue() : route.abort();
  });
  return context;
}

test('Sign in with Google goes to the provider and back through /auth/callback', { timeout: 60_000, skip }, async () => {
  const context = await loopbackOnly();
  const page = await context.newPage();
  try {
    const watcher = watch(page, server.url, { allowOrigins: [idp.issuer] });
    await page.goto(`${server.url}/`);
    const google = page.getByRole('button', { name: 'Sign in with Google' });
    await google.waitFor();
    await screenshot(page, 'sign-in-with-google-offered');

    await google.click();
    await page.waitForURL((url) => url.href.startsWith(`${idp.issuer}/`));
    await page.locator('input[name=sub]').fill('alice');
    await page.getByRole('button', { name: 'Authorize' }).click();

    await page.getByRole('heading', { name: 'Hello, Alice Liddell' }).or(page.getByRole('heading', { name: 'You are signed in' })).waitFor();
    assert.equal(new URL(page.url()).pathname, '/', 'the callback page hands over to the signed-in view');
    assert.equal(await page.locator('[data-field=email]').innerText(), 'alice@example.com');
    assert.match(await page.locator('[data-field=verified]').innerText(), /Verified/, 'google proved the address');
    assert.equal(await page.locator('table.sessions tbody tr').count(), 1);
    await screenshot(page, 'signed-in-with-google');

    // Back does not replay the used code: the callback address was replaced.
    assert.ok(!(await page.evaluate(() => location.search)).includes('code='));
    assert.deepEqual(watcher.problems(), []);
  } finally {
    await context.close();
  }
});

test('a sign-in refused at the provider is reported on /auth/callback', { timeout: 60_000, skip }, async () => {
  const context = await loopbackOnly();
  const page = await context.newPage();
  try {
    await page.goto(`${server.url}/`);
    await page.getByRole('button', { name: 'Sign in with Google' }).click();
    await page.waitForURL((url) => url.href.startsWith(`${idp.issuer}/`));
    await page.getByRole('button', { name: 'Deny' }).click();
    await page.getByRole('heading', { name: 'Sign-in was not completed' }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/auth/callback');
    assert.match(await page.locator('.status.error').innerText(), /Google answered: .*access_denied|denied/i);
    await screenshot(page, 'google-denied');
  } finally {
    await context.close();
  }
});
