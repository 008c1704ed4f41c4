// The browser tests' harness: a real `authql serve` on a fresh SQLite file, and Debian's
// Chromium driven by playwright-core (which never downloads a browser of its own here).

import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import jsQR from 'jsqr';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SCREENSHOTS = path.join(ROOT, 'test-artifacts', 'screenshots');
const ARTIFACTS = path.join(ROOT, 'test-artifacts');

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * The authql binary: $AUTHQL_BIN (a relative path is taken from the repository root, since
 * the scripts change directory), else the newest of the release and debug builds.
 */
export function authqlBinary() {
  if (process.env.AUTHQL_BIN) {
    const bin = path.resolve(ROOT, process.env.AUTHQL_BIN);
    if (!fs.existsSync(bin)) throw new Error(`AUTHQL_BIN names no file: ${bin}`);
    return bin;
  }
  const target = path.resolve(ROOT, process.env.CARGO_TARGET_DIR ?? 'target');
  const builds = ['release', 'debug']
    .map((profile) => path.join(target, profile, 'authql'))
    .filter((p) => fs.existsSync(p))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  if (builds.length === 0) throw new Error(`no authql binary under ${target}: run \`cargo build\` first`);
  return builds[0];
}

/** The environment for the binary: only the settings given, none inherited from the caller. */
function authqlEnv(dir, extra = {}) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AUTHQL_')));
  return {
    ...env,
    AUTHQL_DATABASE_URL: `sqlite://${path.join(dir, 'authql.db')}`,
    AUTHQL_BIND: '127.0.0.1:0',
    // Without AUTHQL_SMTP_URL, e-mails are logged (with their links) by authql::mail: the
    // tests read the links there, as a developer would.
    AUTHQL_LOG: 'warn,authql::mail=info',
    AUTHQL_LOG_FORMAT: 'json',
    ...extra,
  };
}

/**
 * Starts `authql serve` with `extra` settings and waits for the address it prints. Its output
 * goes to test-artifacts/browser-<name>.log.
 */
export async function startServer(name, extra = {}) {
  const bin = authqlBinary();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'authql-browser-'));
  const env = authqlEnv(dir, extra);
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const log = fs.createWriteStream(path.join(ARTIFACTS, `browser-${name}.log`));
  const child = spawn(bin, ['serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const mails = [];
  let partial = '';
  child.stderr.on('data', (chunk) => {
    log.write(chunk);
    const lines = (partial + chunk).split('\n');
    partial = lines.pop();
    for (const line of lines) {
      try {
        const event = JSON.parse(line);
        if (event.target === 'authql::mail' && event.link) mails.push(event);
      } catch {
        // Not a JSON log line (e.g. a panic message): it is in the log file.
      }
    }
  });
  const listening = new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`authql did not start in 30 s:\n${seen}`)), 30_000);
    child.on('error', (err) => reject(new Error(`cannot run ${bin}: ${err.message}`)));
    child.on('exit', (code) => reject(new Error(`authql exited (${code}) before listening:\n${seen}`)));
    let waiting = true;
    child.stdout.on('data', (chunk) => {
      log.write(chunk);
      if (!waiting) return;
      seen += chunk;
      const m = /authql listening on (http:\/\/\S+)/.exec(seen);
      if (m) {
        waiting = false;
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
  let url;
  try {
    url = await listening;
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  return {
    url,
    bin,
    /** The link of the latest e-mail of `kind` (e.g. password_reset) to `to`, waiting for it. */
    async mailLink(kind, to, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const mail = mails.findLast((m) => m.kind === kind && m.to === to);
        if (mail) return mail.link;
        if (Date.now() > deadline) throw new Error(`no ${kind} e-mail to ${to} in the log within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    /** Runs an `authql` command (e.g. `user create`) on the same database. */
    cli: (args) => promisify(execFile)(bin, args, { env }),
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// Every browser context alike, so screenshots compare run to run.
const CONTEXT = { viewport: { width: 1000, height: 760 }, locale: 'en-GB', timezoneId: 'UTC' };
// Fail a step in seconds rather than hang the suite.
const STEP_TIMEOUT_MS = 15_000;

/**
 * Launches Chromium on a fresh profile directory (removed on close). `context` is its first
 * browser context; `newContext()` opens another, as a second device would be.
 */
export async function launchBrowser() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'authql-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    ...CONTEXT,
  });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  const browser = context.browser();
  return {
    context,
    async newContext(options = {}) {
      const other = await browser.newContext({ ...CONTEXT, ...options });
      other.setDefaultTimeout(STEP_TIMEOUT_MS);
      return other;
    },
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * A test file's screenshots: `<prefix>-NN-<name>.png`, numbered in the order taken. The
 * file's earlier screenshots are removed first, so what is there is this run's.
 */
export function screenshots(prefix) {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  for (const f of fs.readdirSync(SCREENSHOTS)) {
    if (f.startsWith(`${prefix}-`)) fs.rmSync(path.join(SCREENSHOTS, f));
  }
  let n = 0;
  return async function screenshot(page, name) {
    n += 1;
    const file = path.join(SCREENSHOTS, `${prefix}-${String(n).padStart(2, '0')}-${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    return file;
  };
}

/** A free loopback port (for a server whose own URL must be known before it starts). */
export async function freePort() {
  const srv = net.createServer();
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/** Where `cargo test` installs oidc-provider-mock; null before it has. */
export function oidcProviderBinary() {
  // tests/api/peers.rs installs under the repository's own target/, whatever
  // CARGO_TARGET_DIR says (the peers are not build output).
  const bin = path.join(ROOT, 'target', 'test-peers', 'venv', 'bin', 'oidc-provider-mock');
  return fs.existsSync(bin) ? bin : null;
}

/**
 * Starts `oidc-provider-mock`, a real OpenID Connect provider, to stand in for Google. It is
 * the one tests/api uses, from the virtualenv `cargo test` installs under
 * target/test-peers (pinned in tests/api/peers.rs); null when that is not there yet.
 */
export async function startOidcProvider() {
  const bin = oidcProviderBinary();
  if (!bin) return null;
  const child = spawn(bin, ['--port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const issuer = await new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`oidc-provider-mock did not start in 30 s:\n${seen}`)), 30_000);
    child.on('error', (err) => reject(new Error(`cannot run ${bin}: ${err.message}`)));
    child.on('exit', (code) => reject(new Error(`oidc-provider-mock exited (${code}):\n${seen}`)));
    // It reports its address on stderr only: `... Uvicorn running on http://127.0.0.1:PORT (...)`.
    child.stderr.on('data', (chunk) => {
      seen += chunk;
      const m = /Uvicorn running on (http:\/\/\S+)/.exec(seen);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  }).catch((e) => {
    child.kill('SIGKILL');
    throw e;
  });
  return {
    issuer,
    /** Sets the claims the provider reports for `sub`. */
    async setUser(sub, claims) {
      const resp = await fetch(`${issuer}/users/${encodeURIComponent(sub)}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(claims),
      });
      if (resp.status !== 204) throw new Error(`oidc-provider-mock: PUT /users answered ${resp.status}`);
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

/**
 * Watches a page for what a strict, self-contained app must never do: load from another
 * origin (but `allowOrigins`, e.g. an identity provider the app sends the browser to, whose
 * own pages are not judged), break its CSP, throw, log an error, or get a 4xx/5xx (but for `allowMissing` paths).
 * `problems()` lists what was seen.
 */
export function watch(page, origin, { allowMissing = [], allowOrigins = [] } = {}) {
  const seen = [];
  const onResponse = (resp) => {
    const url = new URL(resp.url());
    if (resp.status() >= 400 && !allowMissing.includes(url.pathname)) seen.push(`${resp.status()} for ${resp.url()}`);
  };
  const onRequest = (req) => {
    const url = req.url();
    // What an allowed site's own pages load is that site's business, not authql's.
    const from = req.frame().url();
    if (allowOrigins.some((o) => from.startsWith(`${o}/`))) return;
    const allowed = [origin, ...allowOrigins].some((o) => url.startsWith(`${o}/`)) || url.startsWith('data:');
    if (!allowed) seen.push(`request to another origin: ${url}`);
  };
  const onError = (err) => seen.push(`uncaught: ${err.message}`);
  const onConsole = (msg) => {
    // Failed loads are reported (with their URL) by onResponse.
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) {
      seen.push(`console error: ${msg.text()}`);
    }
  };
  page.on('request', onRequest);
  page.on('response', onResponse);
  page.on('pageerror', onError);
  page.on('console', onConsole);
  return {
    /** What went wrong so far; stops watching. */
    problems() {
      page.off('request', onRequest);
      page.off('response', onResponse);
      page.off('pageerror', onError);
      page.off('console', onConsole);
      return seen.splice(0);
    },
  };
}

/** POSTs a GraphQL operation from node (as an API client would); returns `data`. */
export async function gql(url, query, variables = {}, token = null) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const resp = await fetch(`${url}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  const body = await resp.json();
  if (body.errors) throw new Error(`GraphQL error: ${JSON.stringify(body.errors)}`);
  return body.data;
}

/**
 * Decodes what the browser shows of `locator` with jsQR (a decoder none of us wrote): a screenshot of it, turned back into pixels by
 * the browser's own PNG decoder on a blank page, then read by jsQR. Null if jsQR finds none.
 */
export async function readQr(context, locator) {
  const png = await locator.screenshot();
  const scratch = await context.newPage();
  try {
    const { width, height, rgba } = await scratch.evaluate(async (b64) => {
      const img = new Image();
      img.src = `data:image/png;base64,${b64}`;
      await img.decode();
      const canvas = document.createElement('canvas');
      canvas.width = img.naturalWidth;
      canvas.height = img.naturalHeight;
      const ctx = canvas.getContext('2d');
      ctx.drawImage(img, 0, 0);
      const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      let binary = '';
      for (let i = 0; i < data.length; i += 0x8000) binary += String.fromCharCode(...data.subarray(i, i + 0x8000));
      return { width: canvas.width, height: canvas.height, rgba: btoa(binary) };
    }, png.toString('base64'));
    const found = jsQR(new Uint8ClampedArray(Buffer.from(rgba, 'base64')), width, height);
    return found?.data ?? null;
  } finally {
    await scratch.close();
  }
}

/**
 * The web app as a person meets it: a server whose AUTHQL_APP_URL is its own address (e-mailed
 * links and passkeys name it; `host` is how the browser reaches it: WebAuthn wants a domain, so
 * `localhost` for passkeys) and a Chromium with one tab. `close()` stops both.
 */
export async function startApp(name, { host = '127.0.0.1' } = {}) {
  const port = await freePort();
  const app = `http://${host}:${port}`;
  const server = await startServer(name, { AUTHQL_BIND: `127.0.0.1:${port}`, AUTHQL_APP_URL: app });
  const chrome = await launchBrowser();
  const page = chrome.context.pages()[0] ?? (await chrome.context.newPage());
  return {
    app,
    server,
    chrome,
    page,
    async close() {
      await chrome.close();
      await server.stop();
    },
  };
}
