// Upstream state and credentials: a stateful remote server keeps its state per client session
// (one upstream session each, ended with DELETE), or one shared state when marked shareable;
// configured headers reach it with ${ENV} expanded; the client's own Authorization does not,
// unless the server is configured to receive it; headers a client passes for one server
// (x-mcp-{server}-{header}, passHeaders) reach that server only.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { MCPGW_BIN, connect, textOf, useGateway, waitFor, withTimeout } from './helpers.mjs';
import { startRemote } from './fixtures/remote.mjs';

const count = async (client, server) => Number(textOf(await withTimeout(
  client.callTool({ name: `${server}__counter`, arguments: {} }), 10000, 'counter')));
const whoami = async (client, server) => JSON.parse(textOf(await withTimeout(
  client.callTool({ name: `${server}__whoami`, arguments: {} }), 10000, 'whoami')));

describe('remote state and credentials', () => {
  const up = { remote: null };
  before(async () => {
    up.remote = await startRemote({ transport: 'streamable', name: 'counter' });
  });
  const ctx = useGateway(() => ({
    mcpServers: {
      counter: {
        type: 'http', url: up.remote.url,
        headers: { 'X-Upstream-Token': 'Bearer ${UPSTREAM_TOKEN}', 'X-Team': 'it' },
      },
      shared: { type: 'http', url: up.remote.url },
      forwarded: { type: 'http', url: up.remote.url },
      passed: { type: 'http', url: up.remote.url },
    },
    gateway: {
      servers: {
        shared: { shareable: true },
        forwarded: { forwardAuthorization: true },
        passed: { passHeaders: ['X-Tenant', 'Authorization'] },
      },
      timeouts: { drainMs: 2000 },
      // These tests count the server's connections and sessions: no background probes.
      health: { probe: false },
    },
  }), { env: { UPSTREAM_TOKEN: 'upstream-secret-42' } });
  after(() => up.remote?.stop());

  test('a stateful server keeps its count across one session\'s calls and apart per session', async () => {
    const { client: a } = await connect(ctx.gw, { mode: 'both', ctx });
    const { client: b } = await connect(ctx.gw, { mode: 'json', ctx });
    assert.deepEqual([await count(a, 'counter'), await count(a, 'counter'), await count(a, 'counter')], [1, 2, 3]);
    assert.deepEqual([await count(b, 'counter'), await count(b, 'counter')], [1, 2]);
    assert.equal(await count(a, 'counter'), 4, 'session A\'s count went on where it was');
    const wa = await whoami(a, 'counter');
    const wb = await whoami(b, 'counter');
    assert.ok(wa.sessionId && wb.sessionId, 'the server gave each upstream session an id');
    assert.notEqual(wa.sessionId, wb.sessionId, 'one upstream session per client session');
  });

  test('the upstream session ends (DELETE) when the client session ends', async () => {
    const { client, transport } = await connect(ctx.gw, { mode: 'both' });
    await count(client, 'counter');
    const before = await up.remote.stats();
    await withTimeout(transport.terminateSession(), 5000, 'client DELETE');
    await client.close();
    await waitFor(async () => (await up.remote.stats()).deletes > before.deletes,
      { ms: 5000, label: 'the gateway sent DELETE upstream' });
  });

  test('connections to the server are kept alive and reused', async () => {
    const { client } = await connect(ctx.gw, { mode: 'both', ctx });
    await count(client, 'shared');  // the upstream session exists
    const before = (await up.remote.stats()).connections;
    for (let i = 0; i < 30; i += 1) await count(client, 'shared');
    const opened = (await up.remote.stats()).connections - before;
    assert.ok(opened <= 2, `30 sequential calls opened ${opened} new connection(s)`);
  });

  test('shareable: every client session uses one upstream session', async () => {
    const { client: a } = await connect(ctx.gw, { mode: 'both', ctx });
    const { client: b } = await connect(ctx.gw, { mode: 'both', ctx });
    const first = await count(a, 'shared');
    assert.equal(await count(b, 'shared'), first + 1);
    assert.equal((await whoami(a, 'shared')).sessionId, (await whoami(b, 'shared')).sessionId);
  });

  test('configured headers reach the server with ${ENV} expanded; the client\'s Authorization does not', async () => {
    const { client } = await connect(ctx.gw, {
      mode: 'both', ctx, headers: { Authorization: 'Bearer client-credential' },
    });
    const w = await whoami(client, 'counter');
    assert.equal(w.headers['x-upstream-token'], 'Bearer upstream-secret-42');
    assert.equal(w.headers['x-team'], 'it');
    assert.equal(w.authorization, null, 'the client\'s credential stays at the gateway');
    assert.equal(w.headers['mcp-protocol-version'], '2025-11-25', 'the negotiated revision is sent');
    assert.equal(w.headers['mcp-session-id'], w.sessionId, 'the upstream session is named');
    const shared = await whoami(client, 'shared');
    assert.equal(shared.authorization, null);
    assert.doesNotMatch(ctx.gw.stderr, /upstream-secret-42|client-credential/, 'no secret in the log');
  });

  test('forwardAuthorization: the client\'s Authorization reaches that server only', async () => {
    const { client } = await connect(ctx.gw, {
      mode: 'both', ctx, headers: { Authorization: 'Bearer client-credential' },
    });
    assert.equal((await whoami(client, 'forwarded')).authorization, 'Bearer client-credential');
    assert.equal((await whoami(client, 'counter')).authorization, null);
  });

  test('passHeaders: x-mcp-{server}-{header} reaches that server alone, per session, and is never logged', async () => {
    const { client } = await connect(ctx.gw, {
      mode: 'both', ctx,
      headers: {
        'x-mcp-passed-x-tenant': 'acme', 'x-mcp-passed-authorization': 'Bearer user-own-token-7',
        'x-mcp-counter-x-tenant': 'not-allowed-for-counter', 'x-mcp-passed-x-other': 'not-listed',
      },
    });
    const passed = await whoami(client, 'passed');
    assert.equal(passed.headers['x-tenant'], 'acme');
    assert.equal(passed.authorization, 'Bearer user-own-token-7');
    assert.equal(passed.headers['x-other'], undefined, 'only the listed headers pass');
    assert.ok(!Object.keys(passed.headers).some((k) => k.startsWith('x-mcp-')), 'the x-mcp-… headers themselves stay at the gateway');
    const counter = await whoami(client, 'counter');
    assert.equal(counter.headers['x-tenant'], undefined, 'a server without passHeaders gets none');
    assert.equal(counter.authorization, null);
    const { client: other } = await connect(ctx.gw, { mode: 'both', ctx });
    const otherPassed = await whoami(other, 'passed');
    assert.equal(otherPassed.headers['x-tenant'], undefined, 'another session has its own (none)');
    assert.equal(otherPassed.authorization, null);
    assert.doesNotMatch(ctx.gw.stderr, /user-own-token-7|acme/, 'no passed header in the log');
  });

  test('/healthz shows each remote server, its URL and its instances', async () => {
    const h = await ctx.gw.health();
    assert.equal(h.servers.counter.transport, 'http');
    assert.equal(h.servers.counter.isolation, 'session');
    assert.equal(h.servers.counter.url, up.remote.url);
    assert.ok(h.servers.counter.instances >= 1);
    assert.equal(h.servers.counter.state, 'ready');
    assert.equal(h.servers.shared.isolation, 'shared');
    assert.equal(h.servers.shared.state, 'ready');
  });
});

describe('forwardAuthorization with API keys on', () => {
  const up = { remote: null };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mcpgw-fwd-'));
  const store = path.join(dir, 'keys.db');
  let key = '';
  before(async () => {
    up.remote = await startRemote({ transport: 'streamable', name: 'forwarded' });
    key = execFileSync(MCPGW_BIN, ['keys', 'create', '--name', 'fwd', '--store', store],
      { encoding: 'utf8' }).trim().split('\n').at(-1);
  });
  const ctx = useGateway(() => ({
    mcpServers: { forwarded: { type: 'http', url: up.remote.url } },
    gateway: {
      auth: { mode: 'keys', store },
      servers: { forwarded: { forwardAuthorization: true } },
      timeouts: { drainMs: 2000 },
      health: { probe: false },
    },
  }));
  after(() => {
    up.remote?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the gateway\'s own API key never reaches the server', async () => {
    const { client } = await connect(ctx.gw, {
      mode: 'both', ctx, headers: { Authorization: `Bearer ${key}` },
    });
    assert.equal((await whoami(client, 'forwarded')).authorization, null);
    const { client: both } = await connect(ctx.gw, {
      mode: 'both', ctx, headers: { 'x-api-key': key, Authorization: `Bearer ${key}` },
    });
    assert.equal((await whoami(both, 'forwarded')).authorization, null, 'the key sent in both headers');
  });

  test('a key in x-api-key leaves the Authorization header the user\'s own, and it is passed on', async () => {
    const { client } = await connect(ctx.gw, {
      mode: 'both', ctx, headers: { 'x-api-key': key, Authorization: 'Bearer user-own-token-9' },
    });
    assert.equal((await whoami(client, 'forwarded')).authorization, 'Bearer user-own-token-9');
    assert.doesNotMatch(ctx.gw.stderr, /user-own-token-9/, 'the user\'s token is never logged');
    assert.ok(!ctx.gw.stderr.includes(key), 'the key is never logged');
  });

  test('the gateway warns at start that the server gets the client\'s token', () => {
    assert.match(ctx.gw.stderr, /forwardAuthorization.*token passthrough/);
  });
});
