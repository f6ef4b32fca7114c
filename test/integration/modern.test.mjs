// The 2026-07-28 revision: stateless requests that name their revision in `_meta`, served on
// the same URLs as the sessions of the older revisions. The v2 SDK client
// (@modelcontextprotocol/client), pinned to 2026-07-28, against mcpgw in front of a stdio
// server of the older revisions; and what a client that gets the envelope wrong is told.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { MCPGW_BIN, NODE, connect, textOf, useGateway, waitFor, withTimeout } from './helpers.mjs';
import { REMOTE_JS } from './fixtures/remote.mjs';
import { v2Connect } from './fixtures/v2_client.mjs';
import { ENVELOPE, MODERN, modernPost } from './fixtures/modern_post.mjs';

function config(extra = {}) {
  return {
    mcpServers: { remote: { command: NODE, args: [REMOTE_JS, '--transport', 'stdio', '--name', 'remote'] } },
    gateway: { timeouts: { drainMs: 1000 }, ...extra },
  };
}

describe('2026-07-28: the v2 SDK client, pinned', () => {
  const ctx = useGateway(config());
  let client;
  after(async () => { await client?.close().catch(() => {}); });

  test('connects with server/discover and sees the gateway', async () => {
    client = await withTimeout(v2Connect(ctx.gw.url), 15000, 'v2 connect');
    assert.equal(client.getServerVersion()?.name, 'mcpgw');
  });

  test('lists and calls tools, with no session', async () => {
    const names = (await client.listTools()).tools.map((t) => t.name);
    for (const t of ['remote__echo', 'remote__add', 'remote__progress']) assert.ok(names.includes(t), `${t} in ${names}`);
    const r = await client.callTool({ name: 'remote__echo', arguments: { message: 'modern' } });
    assert.match(textOf(r), /modern/);
    const sum = await client.callTool({ name: 'remote__add', arguments: { a: 2, b: 40 } });
    assert.match(textOf(sum), /42/);
  });

  test('progress reaches the client on the request\'s own stream', async () => {
    const seen = [];
    const r = await client.callTool({ name: 'remote__progress', arguments: { steps: 3, ms: 30 } },
      { onprogress: (p) => seen.push(p.progress) });
    assert.match(textOf(r), /done 3/);
    assert.deepEqual(seen, [1, 2, 3]);
  });

  test('the trace context in _meta reaches a server of an older revision; the envelope does not', async () => {
    const trace = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', tracestate: 'rojo=00f067aa0ba902b7' };
    const who = JSON.parse(textOf(await client.callTool({ name: 'remote__whoami', arguments: {}, _meta: trace })));
    assert.equal(who.meta?.traceparent, trace.traceparent, JSON.stringify(who));
    assert.equal(who.meta?.tracestate, trace.tracestate, JSON.stringify(who));
    assert.equal(who.meta['io.modelcontextprotocol/protocolVersion'], undefined, 'the server of 2025 gets no envelope');
  });
  test('a 2025-11-25 client (SDK 1.x) on the same URL still gets a session', async () => {
    const { client: old, transport } = await connect(ctx.gw, { mode: 'both', ctx });
    assert.ok(transport.sessionId, 'initialize opened a session');
    const r = await old.callTool({ name: 'remote__echo', arguments: { message: 'legacy' } });
    assert.match(textOf(r), /legacy/);
  });
});

describe('2026-07-28 on the wire', () => {
  const ctx = useGateway(config());

  test('server/discover: every revision, serverInfo in _meta, caching hints', async () => {
    const r = await modernPost(ctx.gw.url, 'server/discover');
    assert.equal(r.status, 200, r.text);
    const res = r.json.result;
    assert.deepEqual(res.supportedVersions, [MODERN, '2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05']);
    assert.equal(res._meta['io.modelcontextprotocol/serverInfo'].name, 'mcpgw');
    assert.equal(res.resultType, 'complete');
    assert.equal(res.ttlMs, 0);
    assert.equal(res.cacheScope, 'private');
    assert.equal(r.headers.get('mcp-session-id'), null, 'no session is handed out');
  });

  test('results carry resultType; lists carry ttlMs and cacheScope', async () => {
    const list = await modernPost(ctx.gw.url, 'tools/list');
    assert.equal(list.status, 200, list.text);
    assert.equal(list.json.result.resultType, 'complete');
    assert.equal(list.json.result.ttlMs, 0);
    assert.equal(list.json.result.cacheScope, 'private');
    const call = await modernPost(ctx.gw.url, 'tools/call', { name: 'remote__echo', arguments: { message: 'x' } }, { id: 2 });
    assert.equal(call.status, 200, call.text);
    assert.equal(call.json.id, 2);
    assert.equal(call.json.result.resultType, 'complete');
    assert.equal(call.json.result.ttlMs, undefined, 'a call result is not cacheable');
  });

  test('a revision the gateway does not speak: 400 -32022 with the supported ones', async () => {
    const r = await modernPost(ctx.gw.url, 'tools/list', {}, {
      meta: { ...ENVELOPE, 'io.modelcontextprotocol/protocolVersion': '2099-01-01' },
      headers: { 'mcp-protocol-version': '2099-01-01' },
    });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.id, 1);
    assert.equal(r.json.error.code, -32022);
    assert.equal(r.json.error.data.requested, '2099-01-01');
    assert.ok(r.json.error.data.supported.includes(MODERN));
  });

  test('mirrored headers that disagree with the body: 400 -32020', async () => {
    const wrongName = await modernPost(ctx.gw.url, 'tools/call', { name: 'remote__echo', arguments: { message: 'x' } },
      { headers: { 'mcp-name': 'remote__add' } });
    assert.equal(wrongName.status, 400, wrongName.text);
    assert.equal(wrongName.json.error.code, -32020);
    assert.match(wrongName.json.error.message, /Mcp-Name/);
    const noMethod = await modernPost(ctx.gw.url, 'tools/list', {}, { headers: { 'mcp-method': '' } });
    assert.equal(noMethod.status, 400);
    assert.equal(noMethod.json.error.code, -32020);
    const wrongVersion = await modernPost(ctx.gw.url, 'tools/list', {}, { headers: { 'mcp-protocol-version': '2025-11-25' } });
    assert.equal(wrongVersion.status, 400);
    assert.equal(wrongVersion.json.error.code, -32020);
    // A name that is not plain ASCII travels Base64-encoded, and is compared decoded.
    const b64 = `=?base64?${Buffer.from('remote__echo').toString('base64')}?=`;
    const encoded = await modernPost(ctx.gw.url, 'tools/call', { name: 'remote__echo', arguments: { message: 'b64' } },
      { headers: { 'mcp-name': b64 } });
    assert.equal(encoded.status, 200, encoded.text);
  });

  test('the 2026-07-28 header without the envelope: 400 -32602, with the request\'s id', async () => {
    for (const method of ['server/discover', 'tools/list']) {
      const r = await modernPost(ctx.gw.url, method, {}, { meta: null, id: 5 });
      assert.equal(r.status, 400, `${method}: ${r.text}`);
      assert.equal(r.json.id, 5);
      assert.equal(r.json.error.code, -32602);
      assert.match(r.json.error.message, /protocolVersion/);
    }
  });

  test('the header and _meta naming different revisions: -32020 before -32022', async () => {
    const r = await modernPost(ctx.gw.url, 'tools/list', {}, {
      meta: { ...ENVELOPE, 'io.modelcontextprotocol/protocolVersion': 'v999.0.0' } });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error.code, -32020);
  });

  test('an unknown resource: -32602 (the revision\'s code), with its URI', async () => {
    const r = await modernPost(ctx.gw.url, 'resources/read', { uri: 'mcpgw://nowhere/x' },
      { headers: { 'mcp-name': 'mcpgw://nowhere/x' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.error.code, -32602);
    assert.equal(r.json.error.data.uri, 'mcpgw://nowhere/x');
  });

  test('an envelope without clientCapabilities: 400 -32602', async () => {
    const { ['io.modelcontextprotocol/clientCapabilities']: _, ...partial } = ENVELOPE;
    const r = await modernPost(ctx.gw.url, 'tools/list', {}, { meta: partial });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error.code, -32602);
    assert.match(r.json.error.message, /clientCapabilities/);
  });

  test('methods the revision removed: 404 -32601', async () => {
    for (const m of ['ping', 'logging/setLevel', 'resources/subscribe']) {
      const r = await modernPost(ctx.gw.url, m);
      assert.equal(r.status, 404, `${m}: ${r.text}`);
      assert.equal(r.json.error.code, -32601);
    }
  });

  test('closing a request\'s stream cancels it at the server', async () => {
    const stats = async () => JSON.parse(textOf((await modernPost(ctx.gw.url, 'tools/call', { name: 'remote__stats', arguments: {} }, { id: 'stats' })).json.result)).cancelled;
    const before = await stats();
    const ac = new AbortController();
    const body = JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'tools/call',
      params: { name: 'remote__sleep', arguments: { ms: 30000 }, _meta: ENVELOPE } });
    const call = fetch(ctx.gw.url, { method: 'POST', signal: ac.signal, body, headers: {
      'content-type': 'application/json', accept: 'application/json, text/event-stream',
      'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': 'remote__sleep' } });
    await new Promise((r) => setTimeout(r, 300));
    ac.abort();
    await assert.rejects(call);
    await waitFor(async () => (await stats()) === before + 1, { ms: 5000, label: 'the server saw the cancel' });
  });

  test('two clients with the same request ids each get their own answer', async () => {
    const [slow, quick] = await Promise.all([
      modernPost(ctx.gw.url, 'tools/call', { name: 'remote__sleep', arguments: { ms: 300 } }, { id: 0 }),
      modernPost(ctx.gw.url, 'tools/call', { name: 'remote__echo', arguments: { message: 'quick' } }, { id: 0 }),
    ]);
    assert.match(textOf(slow.json.result), /slept 300/);
    assert.match(textOf(quick.json.result), /quick/);
    assert.equal(slow.json.id, 0);
    assert.equal(quick.json.id, 0);
  });

  test('a legacy server asking a modern client that declared no elicitation: -32021 with HTTP 400, not a hang', async () => {
    const r = await withTimeout(modernPost(ctx.gw.url, 'tools/call', { name: 'remote__elicit', arguments: { question: 'q?' } }), 10000, 'elicit call');
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error.code, -32021, r.text);
    assert.deepEqual(r.json.error.data.requiredCapabilities, { elicitation: {} }, r.text);
  });
});

describe('2026-07-28 with keys', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-modern-'));
  const store = path.join(dir, 'keys.db');
  const key = (name, ...opts) => execFileSync(MCPGW_BIN, ['keys', 'create', '--name', name, '--store', store, ...opts],
    { encoding: 'utf8' }).trim().split('\n').at(-1);
  const keys = {};
  before(() => { keys.full = key('full'); keys.echoOnly = key('echo-only', '--tools', 'remote__echo'); });
  const ctx = useGateway(() => config({ auth: { mode: 'keys', store } }));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('without a key: 401', async () => {
    const r = await modernPost(ctx.gw.url, 'tools/list');
    assert.equal(r.status, 401, r.text);
  });

  test('each key sees and calls what it is granted, statelessly', async () => {
    const full = await v2Connect(ctx.gw.url, { headers: { authorization: `Bearer ${keys.full}` } });
    const narrow = await v2Connect(ctx.gw.url, { headers: { authorization: `Bearer ${keys.echoOnly}` } });
    try {
      const fullNames = (await full.listTools()).tools.map((t) => t.name);
      const narrowNames = (await narrow.listTools()).tools.map((t) => t.name);
      assert.ok(fullNames.includes('remote__add'));
      assert.deepEqual(narrowNames, ['remote__echo']);
      await assert.rejects(narrow.callTool({ name: 'remote__add', arguments: { a: 1, b: 2 } }), /not allowed|denied|permission|Unknown tool/i);
      assert.match(textOf(await narrow.callTool({ name: 'remote__echo', arguments: { message: 'ok' } })), /ok/);
    } finally {
      await full.close().catch(() => {});
      await narrow.close().catch(() => {});
    }
  });
});
