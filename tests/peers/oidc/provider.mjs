// A certified OpenID Connect provider (panva's oidc-provider) for tests/api, configured the
// way real issuers run rather than the way authql would like them to:
//   - the issuer ends in a slash (http://127.0.0.1:PORT/);
//   - in the code flow the e-mail and profile are only at UserInfo, not in the ID token
//     (conformIdTokenClaims, the library's default, as OpenID Connect Core §5.4 allows);
//   - ID tokens are signed with EdDSA (Ed25519) or ES256, the key made at start;
//   - the token endpoint accepts client_secret_post only.
// Login and consent are the library's own interaction pages (devInteractions), which the
// tests fill in over HTTP as a browser would.
//
// Usage: node provider.mjs '{"alg": "EdDSA", "clientId": "...", "clientSecret": "...",
//   "redirectUris": ["..."]}'. Prints one line, {"issuer": "..."}, once it listens.
// Test hook: PUT /_test/users/<sub> with the claims to report for that account.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

const options = JSON.parse(process.argv[2] ?? '{}');
const alg = options.alg ?? 'EdDSA';

function signingKey() {
  const { privateKey } =
    alg === 'ES256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : generateKeyPairSync('ed25519');
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg, use: 'sig' };
}

const users = new Map();

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}/`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: options.clientId,
        client_secret: options.clientSecret,
        redirect_uris: options.redirectUris,
        response_types: ['code'],
        grant_types: ['authorization_code'],
        token_endpoint_auth_method: 'client_secret_post',
        id_token_signed_response_alg: alg,
      },
    ],
    clientAuthMethods: ['client_secret_post'],
    // Throwaway keys for signing this process's cookies.
    cookies: { keys: [randomUUID()] },
    jwks: { keys: [signingKey()] },
    enabledJWA: { idTokenSigningAlgValues: [alg] },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name', 'picture'],
    },
    // Code flow only; PKCE (S256) is required of every client, as authql always sends it.
    responseTypes: ['code'],
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
    async findAccount(_ctx, sub) {
      return {
        accountId: sub,
        async claims() {
          return { sub, ...(users.get(sub) ?? {}) };
        },
      };
    },
  });
  // The library accepts either client secret method from a client registered for one of
  // them; issuers that advertise client_secret_post only refuse HTTP Basic outright, and so
  // does this one.
  provider.use(async (ctx, next) => {
    if (ctx.path === '/token' && ctx.headers.authorization) {
      ctx.status = 401;
      ctx.body = { error: 'invalid_client', error_description: 'client_secret_post is the only method' };
      return;
    }
    await next();
  });
  provider.on('server_error', (_ctx, err) => console.error('server_error', err));
  const handle = provider.callback();
  server.on('request', (req, res) => {
    const match = req.method === 'PUT' && req.url.match(/^\/_test\/users\/([^/?]+)$/);
    if (!match) return handle(req, res);
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      users.set(decodeURIComponent(match[1]), JSON.parse(body));
      res.writeHead(204).end();
    });
  });
  console.log(JSON.stringify({ issuer }));
});
