// Deadlines, limits, resumption and keep-alive: what keeps a client from ever hanging.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

import {
  NODE, connect, defaultConfig, initializeBody, openSession, post, readSse, servers, useGateway,
  waitFor, withTimeout,
} from './helpers.mjs';

const SLOW_JS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'slow_server.mjs');
const slow = (env = {}) => ({ command: NODE, args: [SLOW_JS], env });

describe('a slow server never stalls a list', () => {
  const ctx = useGateway({
    mcpServers: { demo: servers.demo(), slow: slow({ SLOW_LIST_MS: '2500' }) },
    gateway: { timeouts: { listMs: 400, drainMs: 2000 } },
  });

  test('tools/list answers by the deadline without the slow server, then list_changed brings it', async () => {
    const { client } = await connect(ctx.gw, { mode: 'both' });
    ctx.clients.push(client);
    let changed = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => { changed += 1; });
    const t0 = Date.now();
    const first = await withTimeout(client.listTools(), 2000, 'tools/list');
    const ms = Date.now() - t0;
    const names = first.tools.map((t) => t.name);
    assert.ok(ms < 1500, `tools/list took ${ms} ms with a 400 ms deadline`);
    assert.ok(names.includes('demo__echo'), `demo tools present: ${names}`);
    assert.ok(!names.some((n) => n.startsWith('slow__')), `slow tools left out: ${names}`);
    await waitFor(() => changed > 0, { ms: 5000, label: 'tools/list_changed' });
    const second = await withTimeout(client.listTools(), 2000, 'second tools/list');
    assert.ok(second.tools.some((t) => t.name === 'slow__quick'), 'slow tools listed once ready');
  });
});

describe('call deadlines', () => {
  const ctx = useGateway({
    mcpServers: { slow: slow() },
    gateway: { timeouts: { drainMs: 2000 }, servers: { slow: { callTimeoutMs: 300 } } },
  });

  test('a call the server never answers fails at the per-server deadline; the session goes on', async () => {
    const { client } = await connect(ctx.gw, { mode: 'both' });
    ctx.clients.push(client);
    const t0 = Date.now();
    await assert.rejects(withTimeout(client.callTool({ name: 'slow__hang', arguments: {} }), 3000, 'hang'),
      (e) => /timed out after 300 ms/.test(e.message));
    assert.ok(Date.now() - t0 < 1500, 'answered near the 300 ms deadline');
    const ok = await client.callTool({ name: 'slow__quick', arguments: {} });
    assert.equal(ok.content[0].text, 'quick');
  });
});

describe('streams: priming, resumption, keep-alive', () => {
  const ctx = useGateway({
    mcpServers: { slow: slow() },
    gateway: { timeouts: { keepAliveMs: 200, drainMs: 2000 } },
  });
  const call = (id, token) => ({
    jsonrpc: '2.0', id, method: 'tools/call',
    params: { name: 'slow__steps', arguments: { count: 4, ms: 150 }, _meta: { progressToken: token } },
  });

  test('an SSE reply to a 2025-11-25 client starts with a priming event; older clients get none', async () => {
    for (const [version, primed] of [['2025-11-25', true], ['2025-06-18', false]]) {
      const sid = await openSession(ctx.gw.url);
      const res = await fetch(ctx.gw.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream',
          'mcp-session-id': sid, 'mcp-protocol-version': version },
        body: JSON.stringify(call(1, 'p')),
      });
      assert.equal(res.headers.get('content-type'), 'text/event-stream');
      const { events } = await readSse(res, { until: (evs) => evs.some((e) => e.data.includes('"result"')) });
      assert.equal(events[0].data === '' && events[0].id !== undefined, primed,
        `${version}: first event ${JSON.stringify(events[0])}`);
      assert.ok(events.every((e) => e.id), 'every event has an id');
      assert.match(events.at(-1).data, /"done"/);
    }
  });

  test('a dropped reply stream resumes with Last-Event-ID on GET', async () => {
    const sid = await openSession(ctx.gw.url);
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream',
      'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
    const res = await fetch(ctx.gw.url, { method: 'POST', headers, body: JSON.stringify(call(7, 'tok')) });
    // Read the priming event and the first progress event, then drop the connection.
    const first = await readSse(res, { until: (evs) => evs.some((e) => e.data.includes('progress')) });
    const lastId = first.events.at(-1).id;
    assert.ok(lastId, 'events carry ids');
    const resumed = await fetch(ctx.gw.url, {
      method: 'GET', headers: { accept: 'text/event-stream', 'mcp-session-id': sid,
        'mcp-protocol-version': '2025-11-25', 'last-event-id': lastId },
    });
    assert.equal(resumed.status, 200);
    const rest = await readSse(resumed, { until: (evs) => evs.some((e) => e.data.includes('"result"')), ms: 5000 });
    const messages = rest.events.filter((e) => e.data).map((e) => JSON.parse(e.data));
    const progress = messages.filter((m) => m.method === 'notifications/progress').map((m) => m.params.progress);
    const result = messages.find((m) => m.id === 7);
    assert.ok(result, `the response arrives on the resumed stream: ${JSON.stringify(messages)}`);
    assert.equal(result.result.content[0].text, 'done');
    const seen = first.events.filter((e) => e.data.includes('progress')).map((e) => JSON.parse(e.data).params.progress);
    assert.deepEqual([...seen, ...progress], [1, 2, 3, 4], 'no progress event lost or repeated');
    assert.ok(messages.every((m) => m.params?.progressToken === undefined || m.params.progressToken === 'tok'),
      'the client sees its own progress token');
  });

  test('an idle GET stream gets keep-alive comments', async () => {
    const sid = await openSession(ctx.gw.url);
    const res = await fetch(ctx.gw.url, { method: 'GET', headers: { accept: 'text/event-stream',
      'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' } });
    const reader = res.body.getReader();
    let text = '';
    const deadline = Date.now() + 2000;
    while (!text.includes(': keep-alive') && Date.now() < deadline) {
      const chunk = await withTimeout(reader.read(), deadline - Date.now(), 'read').catch(() => null);
      if (!chunk || chunk.done) break;
      text += new TextDecoder().decode(chunk.value);
    }
    await reader.cancel().catch(() => {});
    assert.match(text, /^: keep-alive$/m);
  });
});

describe('named limits', () => {
  const ctx = useGateway({
    mcpServers: { demo: servers.demo() },
    gateway: { timeouts: { drainMs: 2000 }, limits: { maxBodyBytes: 2048, maxSessions: 2, maxHeaderBytes: 4096 } },
  });

  test('a body over limits.maxBodyBytes: 413 with a JSON-RPC error', async () => {
    const big = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping', params: { pad: 'x'.repeat(4096) } });
    const r = await post(ctx.gw.url, big);
    assert.equal(r.status, 413);
    assert.equal(r.json.error.code, -32600);
    assert.match(r.json.error.message, /maxBodyBytes/);
  });

  test('headers over limits.maxHeaderBytes: 431', async () => {
    const r = await post(ctx.gw.url, initializeBody(), { 'x-pad': 'y'.repeat(8000) });
    assert.equal(r.status, 431);
  });

  test('sessions over limits.maxSessions: 503 with Retry-After; a freed slot can be used again', async () => {
    const a = await openSession(ctx.gw.url);
    await openSession(ctx.gw.url);
    const third = await post(ctx.gw.url, initializeBody());
    assert.equal(third.status, 503);
    assert.ok(third.headers.get('retry-after'));
    assert.equal(third.json.error.code, -32000);
    const del = await fetch(ctx.gw.url, { method: 'DELETE', headers: { 'mcp-session-id': a } });
    assert.equal(del.status, 200);
    const again = await post(ctx.gw.url, initializeBody());
    assert.equal(again.status, 200);
  });
});
