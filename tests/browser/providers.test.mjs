// Every registered redirect provider on the sign-in page, labelled by name, and a named
// OpenID Connect provider end to end in a real browser: the app's "Sign in with Acme" button,
// the provider's own login and consent pages, back to /auth/callback, which completes the
// flow for the provider this tab started with (not google); and, once the person has turned
// two-step verification on, the same sign-in asking for the app's code on /auth/callback. The
// provider is panva's certified oidc-provider (tests/peers/oidc), the one tests/api/oidc.rs uses.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { ROOT, freePort, gql, launchBrowser, screenshots, startServer, watch } from './harness.mjs';
import { currentStep, totp } from './totp.mjs';

const screenshot = screenshots('providers');
const PEER = path.join(ROOT, 'tests', 'peers', 'oidc');
// .ci/run installs it (npm ci); so does cargo test on first use.
const skip = fs.existsSync(path.join(PEER, 'node_modules', 'oidc-provider'))
  ? false
  : 'tests/peers/oidc is not installed: run `npm ci` there (or `cargo test`, which does)';
let idp;
let server;
let chrome;

/** Starts the Node provider for a client whose callback is `callback`. */
async function startPeer(callback) {
  const options = { alg: 'EdDSA', clientId: 'authql-browser', clientSecret: 'browser-secret', redirectUris: [callback] };
  const child = spawn('node', ['provider.mjs', JSON.stringify(options)], { cwd: PEER, stdio: ['ignore', 'pipe', 'ignore'] });
  const issuer = await new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`the OpenID provider did not start in 30 s:\n${seen}`)), 30_000);
    child.on('exit', (code) => reject(new Error(`the OpenID provider exited (${code}):\n${seen}`)));
    child.stdout.on('data', (chunk) => {
      seen += chunk;
      const m = /\{"issuer":"([^"]+)"\}/.exec(seen);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
  return {
    issuer,
    async setUser(sub, claims) {
      const resp = await fetch(`${issuer}_test/users/${encodeURIComponent(sub)}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(claims),
      });
      if (resp.status !== 204) throw new Error(`PUT /_test/users answered ${resp.status}`);
    },
    stop() {
      child.kill('SIGTERM');
    },
  };
}

before(async () => {
  if (skip) return;
  const port = await freePort();
  const callback = `http://127.0.0.1:${port}/auth/callback`;
  idp = await startPeer(callback);
  await idp.setUser('u-ada', { email: 'ada@example.com', email_verified: true, name: 'Ada Lovelace' });
  server = await startServer('providers', {
    AUTHQL_BIND: `127.0.0.1:${port}`,
    AUTHQL_APP_URL: `http://127.0.0.1:${port}`,
    AUTHQL_OIDC_PROVIDERS: 'acme',
    AUTHQL_OIDC_ACME_ISSUER: idp.issuer,
    AUTHQL_OIDC_ACME_CLIENT_ID: 'authql-browser',
    AUTHQL_OIDC_ACME_CLIENT_SECRET: 'browser-secret',
    AUTHQL_OIDC_ACME_CALLBACK_URL: callback,
    // Only its button is looked at here (tests/api/github.rs has the flow).
    AUTHQL_GITHUB_CLIENT_ID: 'Iv1.browser',
    AUTHQL_GITHUB_CLIENT_SECRET: 'browser-secret',
    AUTHQL_GITHUB_CALLBACK_URL: callback,
  });
  chrome = await launchBrowser();
}, { timeout: 60_000 });

after(async () => {
  await chrome?.close();
  await server?.stop();
  idp?.stop();
});

test('each redirect provider is offered, and a named OpenID provider signs in through /auth/callback', { timeout: 60_000, skip }, async () => {
  const context = await chrome.newContext();
  // The provider's pages link a web font: these tests reach only loopback.
  await context.route('**/*', (route) =>
    new URL(route.request().url()).hostname === '127.0.0.1' ? route.continue() : route.abort(),
  );
  const page = await context.newPage();
  try {
    const watcher = watch(page, server.url, { allowOrigins: [new URL(idp.issuer).origin] });
    await page.goto(`${server.url}/`);
    const acme = page.getByRole('button', { name: 'Sign in with Acme' });
    await acme.waitFor();
    assert.equal(await page.getByRole('button', { name: 'Sign in with GitHub' }).count(), 1);
    assert.equal(await page.getByRole('button', { name: 'Sign in with Google' }).count(), 0, 'google is not registered');
    await screenshot(page, 'providers-offered');

    await acme.click();
    await page.waitForURL((url) => url.href.startsWith(idp.issuer));
    await page.locator('input[name=login]').fill('u-ada');
    await page.locator('input[name=password]').fill('any');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();

    await page.getByRole('heading', { name: 'Hello, Ada Lovelace' }).or(page.getByRole('heading', { name: 'You are signed in' })).waitFor();
    assert.equal(new URL(page.url()).pathname, '/');
    assert.equal(await page.locator('[data-field=email]').innerText(), 'ada@example.com');
    assert.match(await page.locator('[data-field=verified]').innerText(), /Verified/);
    await screenshot(page, 'signed-in-with-acme');
    assert.deepEqual(watcher.problems(), []);
  } finally {
    await context.close();
  }
});

test('with two-step verification on, the OpenID sign-in asks for the code on /auth/callback', { timeout: 60_000, skip }, async () => {
  const context = await chrome.newContext();
  await context.route('**/*', (route) =>
    new URL(route.request().url()).hostname === '127.0.0.1' ? route.continue() : route.abort(),
  );
  const page = await context.newPage();
  const signedIn = page.getByRole('heading', { name: 'Hello, Ada Lovelace' }).or(page.getByRole('heading', { name: 'You are signed in' }));
  /**
   * "Sign in with Acme", through the provider's login and consent pages when it shows them
   * (the second time it remembers the person and sends the browser straight back).
   */
  async function signInWithAcme() {
    const atCallback = (url) => url.href.startsWith(`${server.url}/auth/callback`);
    await page.getByRole('button', { name: 'Sign in with Acme' }).click();
    await page.waitForURL((url) => url.href.startsWith(idp.issuer) || atCallback(url));
    while (page.url().startsWith(idp.issuer)) {
      const login = page.locator('input[name=login]');
      const consent = page.getByRole('button', { name: 'Continue' });
      await login.or(consent).first().waitFor();
      if (await login.count()) {
        await login.fill('u-ada');
        await page.locator('input[name=password]').fill('any');
        await page.getByRole('button', { name: 'Sign-in' }).click();
        await login.waitFor({ state: 'detached' });
      } else {
        await consent.click();
        await page.waitForURL(atCallback);
      }
    }
  }
  try {
    const watcher = watch(page, server.url, { allowOrigins: [new URL(idp.issuer).origin] });
    await page.goto(`${server.url}/`);
    await signInWithAcme();
    await signedIn.waitFor();

    // The person turns TOTP on (through the API here; security.test.mjs does it in the page).
    const token = (await context.cookies(server.url)).find((c) => c.name === 'authql_session').value;
    const { enrollTotp } = await gql(server.url, 'mutation { enrollTotp { secret } }', {}, token);
    const step = currentStep();
    await gql(server.url, 'mutation($c: String!) { confirmTotp(code: $c) }', { c: totp(enrollTotp.secret, step) }, token);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in or create an account' }).waitFor();

    await signInWithAcme();
    await page.getByRole('heading', { name: 'Two-step verification' }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/auth/callback');
    assert.equal(await signedIn.count(), 0);
    await screenshot(page, 'acme-asks-for-the-code');
    const form = page.getByRole('form', { name: 'Second factor' });
    await form.getByLabel('6-digit code').fill(totp(enrollTotp.secret, step + 1));
    await form.getByRole('button', { name: 'Verify' }).click();
    await signedIn.waitFor();
    assert.equal(new URL(page.url()).pathname, '/');
    assert.equal(await page.locator('[data-field=email]').innerText(), 'ada@example.com');
    await screenshot(page, 'signed-in-with-acme-and-code');
    assert.deepEqual(watcher.problems(), []);
  } catch (e) {
    await screenshot(page, 'FAILED-two-step').catch(() => {});
    throw e;
  } finally {
    await context.close();
  }
});
