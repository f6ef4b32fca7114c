// Access control with API keys: every request authenticated (401 with WWW-Authenticate
// otherwise), lists show exactly what a key may use, a hidden or denied tool gets exactly the
// error an unknown tool gets, no denied call reaches a server (its own counters say so),
// sessions belong to their key, revocation holds from the next request, rate limits answer 429.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import {
  MCPGW_BIN, NODE, connect, initializeBody, post, textOf, useGateway, withTimeout,
} from './helpers.mjs';
import { REMOTE_JS } from './fixtures/remote.mjs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

/** An OAuth client as MCP clients have one (nothing registered, no tokens yet). */
function freshOAuthProvider() {
  return {
    get redirectUrl() { return 'http://127.0.0.1:9/callback'; },
    get clientMetadata() {
      return { client_name: 'it-oauth', redirect_uris: ['http://127.0.0.1:9/callback'],
        grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'none' };
    },
    clientInformation: () => undefined,
    saveClientInformation: () => {},
    tokens: () => undefined,
    saveTokens: () => {},
    redirectToAuthorization: () => { throw new Error('no authorization should be attempted'); },
    saveCodeVerifier: () => {},
    codeVerifier: () => '',
  };
}

const dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-access-'));
const STORE = path.join(dir, 'keys.db');

/** Runs `mcpgw keys …` on the test's store; returns stdout. */
function keys(...args) {
  return execFileSync(MCPGW_BIN, ['keys', ...args, '--store', STORE], { encoding: 'utf8' });
}
/** Creates a key; the key is the last line of stdout. */
function createKey(name, ...opts) {
  const out = keys('create', '--name', name, ...opts).trim().split('\n');
  return out.at(-1);
}

const SERVERS = ['alpha', 'beta'];
const TOOLS = ['echo', 'add'];
/** Who may call what: the model the gateway must match exactly. */
const KEYS = {
  full: { opts: [], may: () => true },
  alphaOnly: { opts: ['--servers', 'alpha'], may: (s) => s === 'alpha' },
  echoOnly: { opts: ['--tools', '*__echo,beta__add', '--deny-tools', 'beta__add'], may: (s, t) => t === 'echo' },
  noAdd: { opts: ['--deny-tools', '*__add'], may: (s, t) => t !== 'add' },
};
const HEADER_STYLES = [
  (k) => ({ Authorization: `Bearer ${k}` }),
  (k) => ({ 'x-api-key': k }),
  (k) => ({ 'x-litellm-api-key': `Bearer ${k}` }),
];

describe('access control with API keys', () => {
  const secret = {};
  before(() => {
    for (const [name, k] of Object.entries(KEYS)) secret[name] = createKey(name, ...k.opts);
    secret.admin = createKey('admin');
  });
  const ctx = useGateway(() => ({
    mcpServers: Object.fromEntries(SERVERS.map((s) => [s, { command: NODE, args: [REMOTE_JS, '--transport', 'stdio', '--name', s] }])),
    gateway: { auth: { mode: 'keys', store: STORE }, timeouts: { drainMs: 2000 } },
  }));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const callsSeen = async (admin) => {
    const out = {};
    for (const s of SERVERS) {
      out[s] = JSON.parse(textOf(await admin.callTool({ name: `${s}__stats`, arguments: {} }))).calls;
    }
    return out;
  };

  test('keys list shows names and prefixes, never the keys', () => {
    const out = keys('list');
    for (const name of Object.keys(KEYS)) assert.match(out, new RegExp(`^${name}\\s`, 'm'));
    for (const k of Object.values(secret)) assert.ok(!out.includes(k), 'a key in keys list');
    assert.match(out, /alphaOnly\s+mcpgw-\w{6}…\s+active\s+alpha\s/);
  });

  test('no key, or a wrong one: 401 with WWW-Authenticate, and no session', async () => {
    const none = await post(ctx.gw.url, initializeBody());
    assert.equal(none.status, 401);
    assert.match(none.headers.get('www-authenticate'), /^Bearer realm="mcpgw"/);
    assert.equal(none.headers.get('mcp-session-id'), null);
    assert.match(none.json.error.message, /Unauthorized/);
    const wrong = await post(ctx.gw.url, initializeBody(), { Authorization: 'Bearer mcpgw-not-a-key' });
    assert.equal(wrong.status, 401);
    assert.match(wrong.headers.get('www-authenticate'), /error="invalid_token"/);
    const sse = await fetch(ctx.gw.endpoint('/sse'), { headers: { accept: 'text/event-stream' } });
    assert.equal(sse.status, 401, 'legacy SSE too');
    await sse.body?.cancel();
  });

  test("the key in x-litellm-api-key or x-api-key wins over an Authorization that carries the user's own token", async () => {
    for (const header of ['x-litellm-api-key', 'x-api-key']) {
      const r = await post(ctx.gw.url, initializeBody(), {
        Authorization: 'Bearer user-own-upstream-token', [header]: `Bearer ${secret.alphaOnly}`,
      });
      assert.equal(r.status, 200, `${header}: ${r.text}`);
      assert.ok(r.headers.get('mcp-session-id'));
    }
    const wrong = await post(ctx.gw.url, initializeBody(), {
      Authorization: `Bearer ${secret.admin}`, 'x-api-key': 'mcpgw-not-a-key',
    });
    assert.equal(wrong.status, 401, 'a wrong key in x-api-key is not rescued by Authorization');
  });

  test('an OAuth client without a key is told to send one, not left with a bare 404 from registration', async () => {
    const client = new Client({ name: 'it-oauth', version: '1' });
    const transport = new StreamableHTTPClientTransport(new URL(ctx.gw.url), { authProvider: freshOAuthProvider() });
    const err = await withTimeout(client.connect(transport).then(() => null, (e) => e), 10000, 'connect');
    await client.close().catch(() => {});
    assert.ok(err, 'connect fails without a key');
    assert.match(String(err.message), /This gateway takes API keys, not OAuth: send the key as "Authorization: Bearer <key>"/);
    const reg = await fetch(ctx.gw.endpoint('/register'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(reg.status, 400);
    assert.equal((await reg.json()).error, 'invalid_client_metadata');
  });

  test('the permission matrix: lists match exactly, allowed calls work, others look unknown, none reach a server', async () => {
    const { client: admin } = await connect(ctx.gw, { ctx, headers: { Authorization: `Bearer ${secret.admin}` } });
    const unknown = await admin.callTool({ name: 'alpha__no_such_tool', arguments: {} }).then(() => null, (e) => e.message);
    assert.match(unknown, /Unknown tool: alpha__no_such_tool/);
    let styleIndex = 0;
    for (const [name, k] of Object.entries(KEYS)) {
      const style = HEADER_STYLES[styleIndex++ % HEADER_STYLES.length];
      for (const mode of ['both', 'legacy']) {
        const { client } = await connect(ctx.gw, { mode, ctx, headers: style(secret[name]) });
        const { tools } = await withTimeout(client.listTools(), 10000, 'tools/list');
        const listed = new Set(tools.map((t) => t.name));
        for (const s of SERVERS) {
          for (const t of TOOLS) {
            assert.equal(listed.has(`${s}__${t}`), k.may(s, t), `${name} (${mode}) sees ${s}__${t}`);
          }
        }
        if (name === 'alphaOnly') assert.ok(![...listed].some((n) => n.startsWith('beta__')), 'no beta tool at all');

        const before = await callsSeen(admin);
        let allowed = { alpha: { echo: 0, add: 0 }, beta: { echo: 0, add: 0 } };
        for (const s of SERVERS) {
          for (const t of TOOLS) {
            const exposed = `${s}__${t}`;
            const args = t === 'echo' ? { message: `${name}` } : { a: 2, b: 3 };
            const outcome = await client.callTool({ name: exposed, arguments: args })
              .then((r) => ({ ok: textOf(r) }), (e) => ({ error: e.message }));
            if (k.may(s, t)) {
              assert.equal(outcome.ok, t === 'echo' ? `Echo: ${name}` : '5', `${name} calls ${exposed}`);
              allowed[s][t] += 1;
            } else {
              assert.equal(outcome.error, unknown.replace('alpha__no_such_tool', exposed),
                `${name} calling ${exposed} gets the unknown-tool error`);
            }
          }
        }
        const afterCalls = await callsSeen(admin);
        for (const s of SERVERS) {
          for (const t of TOOLS) {
            assert.equal((afterCalls[s][t] ?? 0) - (before[s][t] ?? 0), allowed[s][t],
              `${s} saw exactly the allowed ${t} calls of ${name}`);
          }
        }
        await client.close();
      }
    }
  });

  test('endpoints and x-mcp-servers only narrow what a key may use', async () => {
    const headers = { Authorization: `Bearer ${secret.alphaOnly}` };
    const perServer = await post(ctx.gw.endpoint('/mcp/beta'), initializeBody(), headers);
    assert.equal(perServer.status, 404, 'a server the key may not use is an unknown server');
    const narrowed = await post(ctx.gw.url, initializeBody(), { ...headers, 'x-mcp-servers': 'beta' });
    assert.equal(narrowed.status, 404);
    const { client } = await connect(ctx.gw, { ctx, path: '/mcp/alpha', headers });
    const { tools } = await client.listTools();
    assert.ok(tools.some((t) => t.name === 'echo'), 'per-server endpoint: original names');
  });

  test('LiteLLM\'s path forms: /{server}/mcp and /mcp/{a},{b}', async () => {
    const headers = { Authorization: `Bearer ${secret.full}` };
    const { client: one } = await connect(ctx.gw, { ctx, path: '/beta/mcp', headers });
    const oneTools = (await one.listTools()).tools.map((t) => t.name);
    assert.ok(oneTools.includes('echo') && !oneTools.some((n) => n.includes('__')), 'one server, its own names');
    assert.equal(textOf(await one.callTool({ name: 'echo', arguments: { message: 'b' } })), 'Echo: b');
    const { client: both } = await connect(ctx.gw, { ctx, path: '/mcp/alpha,beta', headers });
    const bothTools = (await both.listTools()).tools.map((t) => t.name);
    assert.ok(bothTools.includes('alpha__echo') && bothTools.includes('beta__echo'), 'both, prefixed');
    const narrowed = await post(ctx.gw.endpoint('/mcp/alpha,beta'), initializeBody(),
      { Authorization: `Bearer ${secret.alphaOnly}` });
    assert.equal(narrowed.status, 404, 'a listed server the key may not use is unknown');
  });

  test('the LiteLLM REST surface: same keys, same permissions, same audit', async () => {
    const get = (p, k) => fetch(ctx.gw.endpoint(p), { headers: { 'x-litellm-api-key': `Bearer ${k}` } });
    const call = (body, k) => fetch(ctx.gw.endpoint('/mcp-rest/tools/call'), {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-litellm-api-key': `Bearer ${k}` },
      body: JSON.stringify(body),
    });
    const v1 = await (await get('/v1/mcp/tools', secret.alphaOnly)).json();
    assert.ok(v1.tools.length > 0);
    assert.ok(v1.tools.every((t) => t.name.startsWith('alpha__') && t.mcp_info.server_name === 'alpha'));
    const listed = await (await get('/mcp-rest/tools/list?server_id=beta', secret.echoOnly)).json();
    assert.deepEqual(listed.tools.map((t) => t.name), ['beta__echo'], 'filtered by key and server_id');
    assert.equal(listed.error, null);

    const ok = await call({ name: 'alpha__echo', arguments: { message: 'rest' } }, secret.full);
    assert.equal(ok.status, 200);
    assert.equal(textOf(await ok.json()), 'Echo: rest');
    const byServer = await call({ name: 'echo', server_id: 'beta', arguments: { message: 'b' } }, secret.full);
    assert.equal(textOf(await byServer.json()), 'Echo: b');
    const denied = await call({ name: 'alpha__add', arguments: { a: 1, b: 1 } }, secret.echoOnly);
    assert.equal(denied.status, 404);
    assert.match((await denied.json()).error, /Unknown tool: alpha__add/);
    const anonymous = await fetch(ctx.gw.endpoint('/v1/mcp/tools'));
    assert.equal(anonymous.status, 401);

    const servers = await (await get('/v1/mcp/server', secret.alphaOnly)).json();
    assert.deepEqual(servers.map((x) => [x.server_id, x.status]), [['alpha', 'ready']]);

    const k = createKey('rest-temp');
    assert.equal((await call({ name: 'alpha__echo', arguments: { message: 'x' } }, k)).status, 200);
    keys('revoke', 'rest-temp');
    assert.equal((await call({ name: 'alpha__echo', arguments: { message: 'x' } }, k)).status, 401);
  });

  test('a session belongs to its key', async () => {
    const { transport } = await connect(ctx.gw, { ctx, headers: { Authorization: `Bearer ${secret.full}` } });
    const sid = transport.sessionId;
    assert.ok(sid);
    const stolen = await post(ctx.gw.url, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, {
      Authorization: `Bearer ${secret.noAdd}`, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18',
    });
    assert.equal(stolen.status, 404, 'another key cannot use the session');
    assert.equal(stolen.json.error.code, -32001);
  });

  test('revocation holds from the next request, without a restart', async () => {
    const k = createKey('temp');
    const { client } = await connect(ctx.gw, { headers: { Authorization: `Bearer ${k}` } });
    assert.equal(textOf(await client.callTool({ name: 'alpha__echo', arguments: { message: 'x' } })), 'Echo: x');
    assert.match(keys('revoke', 'temp'), /revoked key 'temp'/);
    const err = await client.callTool({ name: 'alpha__echo', arguments: { message: 'y' } }).then(() => null, (e) => e);
    assert.ok(err, 'the revoked key must be refused');
    const again = await post(ctx.gw.url, initializeBody(), { Authorization: `Bearer ${k}` });
    assert.equal(again.status, 401);
    assert.match(again.json.error.message, /revoked/);
    assert.match(keys('list'), /^temp\s+\S+\s+revoked/m);
    await client.close().catch(() => {});
  });

  test('a key past its rate gets 429 with Retry-After', async () => {
    const k = createKey('slow', '--rate', '3/min');
    const statuses = [];
    let retryAfter = null;
    for (let i = 0; i < 5; i += 1) {
      const r = await post(ctx.gw.url, initializeBody(), { 'x-api-key': k });
      statuses.push(r.status);
      if (r.status === 429) retryAfter = r.headers.get('retry-after');
    }
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
    assert.ok(Number(retryAfter) >= 1, `Retry-After: ${retryAfter}`);
  });

  test('no key appears in the gateway log', () => {
    for (const k of Object.values(secret)) assert.ok(!ctx.gw.stderr.includes(k), 'a key in the log');
  });
});
