// The redirect providers (Google, GitHub, each OpenID Connect issuer) on the app's pages: a
// "Sign in with" button each, and which one a callback comes back from.

import { ApiError } from './api.js';
import { busy, button, h } from './dom.js';

/** An OAuth start: the server answers with the provider's URL to send the browser to. */
function followLocation(result) {
  if (result.location) {
    location.assign(result.location);
    return;
  }
  throw new ApiError(result.error ?? 'The server did not say where to continue.');
}

// Providers that sign in by sending the browser elsewhere and back: every registered one but
// these (which take their input on this page).
const NOT_REDIRECTS = ['emailpass', 'passkey'];
// Where the callback page learns which provider the browser is coming back from: the
// provider's own redirect carries only code and state.
const CALLBACK_PROVIDER_KEY = 'authql.callbackProvider';

/** "Google", "GitHub", "Acme": a provider's name as people read it (as the server's messages do). */
export function providerLabel(name) {
  const known = { google: 'Google', github: 'GitHub' };
  return known[name] ?? name.charAt(0).toUpperCase() + name.slice(1);
}

/** One button per registered redirect provider, each `verb` + its label, after an "or" (and `first`). */
export function redirectButtons(providers, verb, status, start, first = []) {
  const names = providers.filter((p) => !NOT_REDIRECTS.includes(p));
  if (names.length === 0 && first.length === 0) return [];
  return [
    h('p', { class: 'divider' }, h('span', {}, 'or')),
    ...first,
    ...names.map((name) =>
      button(`${verb} ${providerLabel(name)}`, { class: `provider ${name}`, 'data-provider': name }, async (btn) => {
        await busy(btn, status, async () => {
          const r = await start(name);
          sessionStorage.setItem(CALLBACK_PROVIDER_KEY, name);
          followLocation(r);
        });
      }),
    ),
  ];
}

/** The provider a callback is for: `?provider=` when the callback URL names it, else the one
 * this tab started with, else google (callback URLs configured before there were others). */
export function callbackProvider(params) {
  const remembered = sessionStorage.getItem(CALLBACK_PROVIDER_KEY);
  sessionStorage.removeItem(CALLBACK_PROVIDER_KEY);
  return params.get('provider') || remembered || 'google';
}
