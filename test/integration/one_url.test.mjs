// One URL, both transports: a legacy HTTP+SSE client (the SDK's SSEClientTransport, Claude
// Code's `--transport sse`) pointed at the MCP URL (/mcp, /mcp/, /mcp/{server}) gets a legacy
// session there, with the same keys, headers (x-mcp-servers, x-mcp-scope) and policy as
// Streamable HTTP. A Streamable HTTP client on the same URL is unaffected.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import {
  MCPGW_BIN, connect, defaultConfig, readSse, textOf, useGateway, withTimeout,
} from './helpers.mjs';

describe('one URL, both transports: without keys', () => {
  const ctx = useGateway(defaultConfig());

  for (const p of ['/mcp', '/mcp/', '/mcp/demo', '/demo/mcp']) {
    test(`SSEClientTransport at ${p}: lists and calls tools`, async () => {
      const { client, log } = await connect(ctx.gw, { mode: 'legacy', path: p, ctx });
      const single = p.includes('demo');
      const { tools } = await client.listTools();
      const echo = single ? 'echo' : 'demo__echo';
      assert.ok(tools.some((t) => t.name === echo), `${echo} in ${tools.map((t) => t.name)}`);
      assert.equal(tools.some((t) => t.name.startsWith('everything__')), !single);
      const r = await client.callTool({ name: echo, arguments: { message: 'one url' } });
      assert.equal(textOf(r), 'Echo: one url');
      // It was the legacy transport: one GET stream, and every POST answered 202.
      assert.equal(log.filter((l) => l.method === 'GET').length, 1);
      const posts = log.filter((l) => l.method === 'POST');
      assert.ok(posts.length >= 3 && posts.every((l) => l.status === 202), JSON.stringify(posts));
      await client.close();
    });
  }

  test('the endpoint event names /message with the new session; GET without one and without SSE still 400', async () => {
    const ac = new AbortController();
    const res = await fetch(ctx.gw.url, { headers: { accept: 'text/event-stream' }, signal: ac.signal });
    try {
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('mcp-session-id'), null, 'a legacy session has no header');
      const { events } = await readSse(res, { keepOpen: true });
      assert.equal(events[0].event, 'endpoint');
      assert.match(events[0].data, /^\/message\?sessionId=[0-9a-f]+$/);
    } finally {
      ac.abort();
    }
    const plain = await fetch(ctx.gw.url, { headers: { accept: 'application/json' } });
    assert.equal(plain.status, 400);
    assert.match((await plain.json()).error.message, /Mcp-Session-Id/);
  });

  test('a Streamable HTTP client on the same URL is unaffected', async () => {
    const { client, transport } = await connect(ctx.gw, { mode: 'both', ctx });
    assert.ok(transport.sessionId, 'a Streamable HTTP session');
    const r = await client.callTool({ name: 'demo__echo', arguments: { message: 'streamable' } });
    assert.equal(textOf(r), 'Echo: streamable');
  });
});

describe('one URL, both transports: with keys', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-one-url-'));
  const store = path.join(dir, 'keys.db');
  const key = {};
  const create = (name, ...opts) => execFileSync(MCPGW_BIN,
    ['keys', 'create', '--name', name, ...opts, '--store', store], { encoding: 'utf8' }).trim().split('\n').at(-1);
  before(() => {
    key.full = create('full');
    key.noEcho = create('no-echo', '--deny-tools', '*__echo');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const ctx = useGateway(() => defaultConfig({ gateway: { auth: { mode: 'keys', store } } }));

  test('a Bearer key and x-mcp-servers on /mcp/: only that server, as its session', async () => {
    const headers = { Authorization: `Bearer ${key.full}`, 'x-mcp-servers': 'demo' };
    const { client } = await connect(ctx.gw, { mode: 'legacy', path: '/mcp/', headers, ctx });
    const { tools } = await client.listTools();
    assert.ok(tools.length > 0);
    assert.ok(tools.every((t) => t.name.startsWith('demo__')), tools.map((t) => t.name).join());
    const r = await client.callTool({ name: 'demo__echo', arguments: { message: 'keyed' } });
    assert.equal(textOf(r), 'Echo: keyed');
  });

  test('no key: 401 before any stream or session', async () => {
    const res = await fetch(`${ctx.gw.url}/`, { headers: { accept: 'text/event-stream' } });
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/);
    await res.body?.cancel();
  });

  test("a key's denied tool is refused over the legacy transport too", async () => {
    const headers = { 'x-api-key': key.noEcho };
    const { client } = await connect(ctx.gw, { mode: 'legacy', path: '/mcp', headers, ctx });
    const { tools } = await client.listTools();
    assert.ok(!tools.some((t) => t.name.endsWith('__echo')), 'echo is hidden');
    const r = await withTimeout(client.callTool({ name: 'demo__echo', arguments: { message: 'x' } })
      .then((v) => ({ v }), (e) => ({ e })), 10000, 'denied call');
    const text = r.e ? String(r.e.message) : JSON.stringify(r.v);
    assert.match(text, /Unknown tool: demo__echo/);
  });

  test('the session belongs to its key: another key posting to its endpoint gets 404', async () => {
    const ac = new AbortController();
    const res = await fetch(ctx.gw.url, {
      headers: { accept: 'text/event-stream', Authorization: `Bearer ${key.full}` }, signal: ac.signal,
    });
    try {
      const { events: [ev] } = await readSse(res, { keepOpen: true });
      const endpoint = new URL(ev.data, ctx.gw.base).href;
      const other = await fetch(endpoint, {
        method: 'POST', body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
        headers: { 'content-type': 'application/json', Authorization: `Bearer ${key.noEcho}` },
      });
      assert.equal(other.status, 404);
    } finally {
      ac.abort();
    }
  });
});
