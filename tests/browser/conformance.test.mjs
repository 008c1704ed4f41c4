// GraphQL over HTTP as software nobody here wrote sees it: the graphql-http package's server
// audit (every MUST and SHOULD must be ok), then three real clients (graphql-request current
// and 4.x, Apollo Client) reading each kind of answer authql gives: data, a request error,
// an execution error and a 503. All against the real binary (see harness.mjs).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';

import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql as apolloGql } from '@apollo/client';
import { serverAudits } from 'graphql-http';
import { ClientError, GraphQLClient } from 'graphql-request';
import graphqlRequest4 from 'graphql-request-4';

import { gql, startServer } from './harness.mjs';

const SIGN_UP = `mutation($input: JSON!) {
  authenticate(provider: "emailpass", input: $input) { success error session { token } }
}`;

/** Signs someone up on `url`; their session token. */
async function signUp(url, email) {
  const data = await gql(url, SIGN_UP, { input: { email, password: 'a long pass phrase for tests' } });
  assert.equal(data.authenticate.success, true, data.authenticate.error);
  return data.authenticate.session.token;
}

describe('the graphql-http server audit', () => {
  let server;
  before(async () => {
    server = await startServer('conformance');
  }, { timeout: 60_000 });
  after(async () => {
    await server?.stop();
  });

  test('every MUST and SHOULD audit is ok', { timeout: 60_000 }, async () => {
    const results = [];
    for (const audit of serverAudits({ url: `${server.url}/graphql` })) {
      results.push(await audit.fn());
    }
    for (const r of results) {
      const reason = r.status === 'ok' ? '' : ` (${r.reason})`;
      console.log(`${r.status.padEnd(6)} ${r.id} ${r.name}${reason}`);
    }
    const failing = results.filter((r) => !r.name.startsWith('MAY') && r.status !== 'ok');
    assert.deepEqual(
      failing.map((r) => `${r.id} ${r.name}: ${r.reason}`),
      [],
      'every MUST and SHOULD audit passes',
    );
    // The audit must have found its MUSTs and SHOULDs: an empty list would pass the check above.
    assert.ok(results.filter((r) => r.name.startsWith('MUST')).length >= 10, 'the MUST audits ran');
    assert.ok(results.filter((r) => r.name.startsWith('SHOULD')).length >= 15, 'the SHOULD audits ran');
  });
});

// ---- real clients, each kind of answer ----

/** A TCP relay to PostgreSQL that can be cut: the database "goes away" for authql alone. */
async function pgRelay() {
  const sockets = new Set();
  let up = true;
  const relay = net.createServer((client) => {
    if (!up) return client.destroy();
    const pg = net.connect(5432, '127.0.0.1');
    for (const s of [client, pg]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(pg).pipe(client);
    client.on('close', () => pg.destroy());
    pg.on('close', () => client.destroy());
  });
  await new Promise((resolve) => relay.listen(0, '127.0.0.1', resolve));
  return {
    port: relay.address().port,
    cut() {
      up = false;
      for (const s of sockets) s.destroy();
    },
    close: () => new Promise((resolve) => relay.close(resolve)),
  };
}

const psql = (sql) =>
  promisify(execFile)('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-d', 'test', '-v', 'ON_ERROR_STOP=1', '-c', sql]);

// Each kind of answer, and what a client must make of it.
const DATA = '{ authProviders }';
const REQUEST_ERROR = '{ noSuchField }';
const EXECUTION_ERROR = '{ users { totalCount } }'; // needs a session: UNAUTHENTICATED, data null
const NEEDS_DATABASE = '{ me { email } }';

describe('real clients read every kind of answer', () => {
  let server; // on SQLite
  let pgServer; // on PostgreSQL behind a relay, for the 503
  let relay;
  let schema;
  let token; // a session on pgServer

  before(async () => {
    server = await startServer('clients');
    relay = await pgRelay();
    schema = `conformance_${randomUUID().replaceAll('-', '')}`;
    await psql(`CREATE SCHEMA ${schema}`);
    const url = `postgres://postgres@127.0.0.1:${relay.port}/test?options=-csearch_path%3D${schema}&application_name=${schema}`;
    pgServer = await startServer('clients-postgres', { AUTHQL_DATABASE_URL: url, AUTHQL_DB_TIMEOUT: '5s' });
    token = await signUp(pgServer.url, 'olga@example.com');
    relay.cut();
  }, { timeout: 60_000 });

  after(async () => {
    await server?.stop();
    await pgServer?.stop();
    await relay?.close();
    if (schema) await psql(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
  });

  /** The raw answer, to know what each client was given. */
  async function raw(url, query, accept, bearer) {
    const headers = { 'content-type': 'application/json' };
    if (accept) headers.accept = accept;
    if (bearer) headers.authorization = `Bearer ${bearer}`;
    const resp = await fetch(`${url}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query }) });
    return { status: resp.status, type: resp.headers.get('content-type'), body: await resp.json() };
  }

  test('the answers the clients get', { timeout: 30_000 }, async () => {
    const grj = 'application/graphql-response+json, application/json;q=0.9';
    const request = await raw(server.url, REQUEST_ERROR, grj);
    assert.equal(request.status, 400);
    assert.match(request.type, /^application\/graphql-response\+json/);
    assert.equal('data' in request.body, false);
    const legacy = await raw(server.url, REQUEST_ERROR, 'application/json');
    assert.equal(legacy.status, 200);
    assert.match(legacy.type, /^application\/json/);
    const execution = await raw(server.url, EXECUTION_ERROR, grj);
    assert.equal(execution.status, 200);
    assert.equal(execution.body.data, null);
    assert.equal(execution.body.errors[0].extensions.code, 'UNAUTHENTICATED');
    const outage = await raw(pgServer.url, NEEDS_DATABASE, grj, token);
    assert.equal(outage.status, 503);
    assert.equal(outage.body.errors[0].extensions.code, 'UNAVAILABLE');
  });

  /** The codes of the GraphQL errors a graphql-request ClientError carries. */
  function clientErrorCodes(e, status) {
    assert.ok(e instanceof Error, `an error, not ${e}`);
    assert.equal(e.response?.status, status, `HTTP ${status}: ${e.message}`);
    return e.response.errors.map((err) => err.extensions?.code);
  }

  test('graphql-request (current)', { timeout: 30_000 }, async () => {
    const client = new GraphQLClient(`${server.url}/graphql`);
    const data = await client.request(DATA);
    assert.ok(data.authProviders.includes('emailpass'));
    await assert.rejects(client.request(REQUEST_ERROR), (e) => {
      assert.ok(e instanceof ClientError);
      assert.deepEqual(clientErrorCodes(e, 400), ['BAD_USER_INPUT']);
      assert.match(e.response.errors[0].message, /noSuchField/);
      return true;
    });
    await assert.rejects(client.request(EXECUTION_ERROR), (e) => {
      assert.deepEqual(clientErrorCodes(e, 200), ['UNAUTHENTICATED']);
      return true;
    });
    const down = new GraphQLClient(`${pgServer.url}/graphql`, { headers: { authorization: `Bearer ${token}` } });
    await assert.rejects(down.request(NEEDS_DATABASE), (e) => {
      assert.deepEqual(clientErrorCodes(e, 503), ['UNAVAILABLE']);
      return true;
    });
  });

  test('graphql-request 4.x (application/json)', { timeout: 30_000 }, async () => {
    const { GraphQLClient: Client4, ClientError: ClientError4 } = graphqlRequest4;
    const client = new Client4(`${server.url}/graphql`);
    const data = await client.request(DATA);
    assert.ok(data.authProviders.includes('emailpass'));
    await assert.rejects(client.request(REQUEST_ERROR), (e) => {
      assert.ok(e instanceof ClientError4);
      assert.deepEqual(clientErrorCodes(e, 200), ['BAD_USER_INPUT']);
      return true;
    });
    await assert.rejects(client.request(EXECUTION_ERROR), (e) => {
      assert.deepEqual(clientErrorCodes(e, 200), ['UNAUTHENTICATED']);
      return true;
    });
    const down = new Client4(`${pgServer.url}/graphql`, { headers: { authorization: `Bearer ${token}` } });
    await assert.rejects(down.request(NEEDS_DATABASE), (e) => {
      assert.deepEqual(clientErrorCodes(e, 503), ['UNAVAILABLE']);
      return true;
    });
  });

  test('@apollo/client', { timeout: 30_000 }, async () => {
    const apollo = (url, headers = {}) =>
      new ApolloClient({
        link: ApolloLink.from([new HttpLink({ uri: `${url}/graphql`, headers })]),
        cache: new InMemoryCache(),
        defaultOptions: { query: { fetchPolicy: 'no-cache', errorPolicy: 'all' } },
      });
    /** The codes of the GraphQL errors Apollo reports (it parses the body, whatever the status). */
    const codes = (result) => {
      assert.ok(result.error, 'an error is reported');
      assert.ok(Array.isArray(result.error.errors), `GraphQL errors, not ${result.error.name}: ${result.error.message}`);
      return result.error.errors.map((e) => e.extensions?.code);
    };
    const client = apollo(server.url);
    const data = await client.query({ query: apolloGql(DATA) });
    assert.equal(data.error, undefined);
    assert.ok(data.data.authProviders.includes('emailpass'));
    // A document Apollo sends as written: an unknown field is the server's to reject.
    assert.deepEqual(codes(await client.query({ query: apolloGql(REQUEST_ERROR) })), ['BAD_USER_INPUT']);
    const execution = await client.query({ query: apolloGql(EXECUTION_ERROR) });
    assert.deepEqual(codes(execution), ['UNAUTHENTICATED']);
    const down = apollo(pgServer.url, { authorization: `Bearer ${token}` });
    assert.deepEqual(codes(await down.query({ query: apolloGql(NEEDS_DATABASE) })), ['UNAVAILABLE']);
  });
});
