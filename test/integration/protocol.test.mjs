// Protocol-level checks with plain HTTP: status codes and JSON-RPC error codes of the
// Streamable HTTP endpoint, the GET stream, trailing slashes, DNS-rebinding protection, the
// legacy SSE handshake, reply modes on the wire, and per-session progress-token remapping.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { randomBytes } from 'node:crypto';

import {
  PROTOCOL_VERSION, defaultConfig, initializeBody, openSession, post, readSse, useGateway, withTimeout,
} from './helpers.mjs';

/** A request with full control of the headers (fetch will not send a foreign Host). */
function rawRequest(port, { method = 'GET', path = '/mcp', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, timeout: 5000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        let json;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
    });
    req.on('timeout', () => req.destroy(new Error('raw request timed out')));
    req.on('error', reject);
    if (body !== undefined) req.write(typeof body === 'string' ? body : JSON.stringify(body));
    req.end();
  });
}

const rpc = (id, method, params) => ({ jsonrpc: '2.0', id, method, ...(params ? { params } : {}) });

function assertRpcError(r, status, code, label) {
  assert.equal(r.status, status, `${label}: HTTP status (body ${r.text})`);
  assert.match(r.contentType ?? r.headers?.['content-type'] ?? '', /application\/json/, `${label}: JSON body`);
  assert.equal(r.json?.jsonrpc, '2.0', `${label}: JSON-RPC body`);
  assert.equal(r.json?.error?.code, code, `${label}: error code (body ${r.text})`);
}

describe('protocol: Streamable HTTP endpoint', () => {
  const ctx = useGateway(defaultConfig());
  let sid;
  const H = () => ({ 'mcp-session-id': sid, 'mcp-protocol-version': PROTOCOL_VERSION });

  test('initialize without a session: 200 JSON with an Mcp-Session-Id', async () => {
    const r = await post(ctx.gw.url, initializeBody(), { accept: 'application/json, text/event-stream' });
    assert.equal(r.status, 200, r.text);
    assert.match(r.contentType, /^application\/json/);
    assert.equal(r.json.id, 1);
    assert.equal(r.json.result.protocolVersion, PROTOCOL_VERSION);
    assert.match(r.headers.get('mcp-session-id') ?? '', /^[\x21-\x7e]+$/);
    sid = await openSession(ctx.gw.url);
  });

  test('a request without Mcp-Session-Id: 400', async () => {
    const r = await post(ctx.gw.url, rpc(2, 'tools/list'));
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json?.jsonrpc, '2.0');
    assert.ok(r.json?.error, 'JSON-RPC error body');
  });

  test('an unknown session id: 404 with -32001', async () => {
    const r = await post(ctx.gw.url, rpc(3, 'tools/list'), { 'mcp-session-id': randomBytes(16).toString('hex') });
    assertRpcError(r, 404, -32001, 'unknown session');
  });

  test('malformed JSON: 400 with -32700', async () => {
    assertRpcError(await post(ctx.gw.url, '{"jsonrpc": "2.0", "id": 4, "method": ', H()), 400, -32700, 'malformed');
    assertRpcError(await post(ctx.gw.url, 'not json at all'), 400, -32700, 'malformed, no session');
  });

  test('invalid JSON-RPC: 400 with -32600', async () => {
    assertRpcError(await post(ctx.gw.url, { jsonrpc: '1.0', id: 5, method: 'tools/list' }, H()), 400, -32600, 'jsonrpc 1.0');
    assertRpcError(await post(ctx.gw.url, { jsonrpc: '2.0', id: 6 }, H()), 400, -32600, 'no method, no result');
    assertRpcError(await post(ctx.gw.url, '42', H()), 400, -32600, 'a number');
  });

  test('an unknown method: 200 with -32601 and the request id', async () => {
    const r = await post(ctx.gw.url, rpc(7, 'no/such-method'), H());
    assertRpcError(r, 200, -32601, 'unknown method');
    assert.equal(r.json.id, 7);
  });

  test('a notification: 202 with no body', async () => {
    const r = await post(ctx.gw.url, { jsonrpc: '2.0', method: 'notifications/roots/list_changed' }, H());
    assert.equal(r.status, 202, r.text);
    assert.equal(r.text, '');
  });

  test('a JSON-RPC response from the client: 202', async () => {
    const r = await post(ctx.gw.url, { jsonrpc: '2.0', id: 'nobody-asked', result: {} }, H());
    assert.equal(r.status, 202, r.text);
  });

  test('MCP-Protocol-Version 1999-01-01: 400', async () => {
    const r = await post(ctx.gw.url, rpc(8, 'tools/list'), { ...H(), 'mcp-protocol-version': '1999-01-01' });
    assert.equal(r.status, 400, r.text);
    assert.ok(r.json?.error, 'JSON-RPC error body');
  });

  test('a foreign Host header (DNS rebinding): 403', async () => {
    const r = await rawRequest(ctx.gw.port, {
      method: 'POST', path: '/mcp', body: initializeBody(),
      headers: { host: 'evil.example.com', 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    });
    assert.equal(r.status, 403, r.text);
    const ok = await rawRequest(ctx.gw.port, { path: '/healthz', headers: { host: `localhost:${ctx.gw.port}` } });
    assert.equal(ok.status, 200, 'localhost is allowed');
  });

  test('a foreign Origin header: 403', async () => {
    const r = await post(ctx.gw.url, initializeBody(), { origin: 'http://evil.example.com' });
    assert.equal(r.status, 403, r.text);
  });

  test('server/discover without a session: the revisions, capabilities and identity (2026-07-28)', async () => {
    const r = await post(ctx.gw.url, rpc(9, 'server/discover'));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.id, 9);
    assert.deepEqual(r.json.result.supportedVersions, ['2026-07-28', '2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05']);
    assert.equal(r.json.result._meta['io.modelcontextprotocol/serverInfo'].name, 'mcpgw');
    assert.equal(r.json.result.resultType, 'complete');
    assert.ok(r.json.result.capabilities.tools, 'tools capability');
  });

  test('GET /mcp with a session opens a text/event-stream', async () => {
    const ac = new AbortController();
    const res = await withTimeout(fetch(ctx.gw.url, { headers: { accept: 'text/event-stream', ...H() }, signal: ac.signal }),
      5000, 'GET /mcp');
    try {
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    } finally {
      ac.abort();
    }
  });

  test('GET /mcp without a session: 400 (an event stream then is legacy SSE: one_url.test.mjs); with an unknown one: 404', async () => {
    const r = await fetch(ctx.gw.url, { headers: { accept: 'application/json' } });
    assert.equal(r.status, 400);
    await r.body?.cancel();
    const r2 = await fetch(ctx.gw.url, { headers: { accept: 'text/event-stream', 'mcp-session-id': 'no-such-session' } });
    assert.equal(r2.status, 404);
    await r2.body?.cancel();
  });

  test('/mcp/ works like /mcp, without a redirect', async () => {
    const url = `${ctx.gw.url}/`;
    const res = await fetch(url, {
      method: 'POST', redirect: 'manual', body: JSON.stringify(initializeBody()),
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    });
    assert.equal(res.status, 200, 'no redirect');
    const sid2 = res.headers.get('mcp-session-id');
    assert.ok(sid2);
    await res.body?.cancel();
    const note = await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, { 'mcp-session-id': sid2 });
    assert.equal(note.status, 202);
    const list = await post(url, rpc(10, 'tools/list'), { 'mcp-session-id': sid2, 'mcp-protocol-version': PROTOCOL_VERSION });
    assert.equal(list.status, 200, list.text);
    assert.ok(list.json.result.tools.some((t) => t.name === 'demo__echo'));
    // ... and the session is the same one /mcp knows.
    const same = await post(ctx.gw.url, rpc(11, 'ping'), { 'mcp-session-id': sid2 });
    assert.equal(same.status, 200, same.text);
    assert.deepEqual(same.json.result, {});
  });

  test('reply mode on the wire: JSON for a plain call, SSE when progress comes first', async () => {
    const plain = await post(ctx.gw.url, rpc(12, 'tools/call', { name: 'demo__echo', arguments: { message: 'wire' } }), H());
    assert.equal(plain.status, 200);
    assert.match(plain.contentType, /^application\/json/);
    assert.equal(plain.json.result.content[0].text, 'Echo: wire');

    const res = await fetch(ctx.gw.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...H() },
      body: JSON.stringify(rpc(13, 'tools/call', {
        name: 'everything__trigger-long-running-operation', arguments: { duration: 0.4, steps: 2 },
        _meta: { progressToken: 'wire-token' },
      })),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const { events } = await readSse(res, {
      until: (evs) => evs.some((e) => e.data && JSON.parse(e.data).id === 13), ms: 5000,
    });
    const msgs = events.filter((e) => e.data).map((e) => JSON.parse(e.data));
    const progress = msgs.filter((m) => m.method === 'notifications/progress');
    assert.deepEqual(progress.map((m) => [m.params.progressToken, m.params.progress]),
      [['wire-token', 1], ['wire-token', 2]], 'progress carries the client\'s own token');
    assert.equal(msgs.at(-1).id, 13, 'the result comes last');
    assert.match(msgs.at(-1).result.content[0].text, /Long running operation completed/);
  });

  test('progress tokens are per session: two sessions with the same token each get their own', async () => {
    const sidB = await openSession(ctx.gw.url);
    const call = (session) => fetch(ctx.gw.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream',
        'mcp-session-id': session, 'mcp-protocol-version': PROTOCOL_VERSION },
      body: JSON.stringify(rpc(1, 'tools/call', {
        name: 'everything__trigger-long-running-operation', arguments: { duration: 0.6, steps: 3 },
        _meta: { progressToken: 'same-token' },
      })),
    }).then((res) => readSse(res, { until: (evs) => evs.some((e) => e.data && 'result' in JSON.parse(e.data)), ms: 5000 }));
    const [a, b] = await Promise.all([call(sid), call(sidB)]);
    for (const [label, { events }] of [['A', a], ['B', b]]) {
      const msgs = events.filter((e) => e.data).map((e) => JSON.parse(e.data));
      const progress = msgs.filter((m) => m.method === 'notifications/progress');
      assert.deepEqual(progress.map((m) => [m.params.progressToken, m.params.progress]),
        [['same-token', 1], ['same-token', 2], ['same-token', 3]], `session ${label}: exactly its own progress`);
      assert.equal(msgs.at(-1).id, 1);
      assert.ok(msgs.at(-1).result, `session ${label} got its result`);
    }
  });

  test('unknown paths: 404', async () => {
    const r = await fetch(`${ctx.gw.base}/nope`);
    assert.equal(r.status, 404);
    await r.body?.cancel();
  });

  test('GET /healthz: status and every server ready with a pid', async () => {
    const h = await ctx.gw.health();
    assert.equal(h.status, 'ok');
    for (const name of ['everything', 'demo']) {
      assert.equal(h.servers[name].state, 'ready', name);
      assert.ok(Number.isInteger(h.servers[name].pid) && h.servers[name].pid > 0, `${name} pid`);
      assert.equal(h.servers[name].restarts, 0, `${name} restarts`);
    }
  });
});

describe('protocol: legacy HTTP+SSE', () => {
  const ctx = useGateway(defaultConfig());

  /** Opens GET /sse; resolves with the endpoint event and a reader for further events. */
  async function openLegacy(path = '/sse') {
    const ac = new AbortController();
    const res = await fetch(`${ctx.gw.base}${path}`, { headers: { accept: 'text/event-stream' }, signal: ac.signal });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    const queue = [];
    const next = async (ms = 5000) => {
      const deadline = Date.now() + ms;
      while (queue.length === 0) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error('no SSE event within time');
        const chunk = await withTimeout(reader.read(), left, 'legacy SSE read');
        if (chunk.done) throw new Error('legacy SSE stream ended');
        buf += decoder.decode(chunk.value, { stream: true }).replace(/\r\n/g, '\n');
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev = { event: 'message', data: [] };
          for (const line of block.split('\n')) {
            if (!line || line.startsWith(':')) continue;
            const k = line.slice(0, line.indexOf(':') < 0 ? line.length : line.indexOf(':'));
            const v = line.slice(k.length + 1).replace(/^ /, '');
            if (k === 'event') ev.event = v;
            if (k === 'data') ev.data.push(v);
          }
          if (ev.data.length) queue.push({ event: ev.event, data: ev.data.join('\n') });
        }
      }
      return queue.shift();
    };
    const close = () => ac.abort();
    return { next, close };
  }

  test('the first event is `endpoint` naming /message?sessionId=…', async () => {
    const s = await openLegacy();
    try {
      const ev = await s.next();
      assert.equal(ev.event, 'endpoint');
      assert.match(ev.data, /^\/message\?sessionId=[\x21-\x7e]+$/);
    } finally {
      s.close();
    }
  });

  test('POSTs get 202 and every reply arrives on the stream', async () => {
    const s = await openLegacy();
    try {
      const endpoint = new URL((await s.next()).data, ctx.gw.base).href;
      const send = async (msg) => {
        const r = await post(endpoint, msg, { accept: '*/*' });
        assert.equal(r.status, 202, `POST ${msg.method ?? 'response'}: ${r.text}`);
      };
      await send({ ...initializeBody(1), params: { ...initializeBody(1).params, protocolVersion: '2024-11-05' } });
      const init = await s.next();
      assert.equal(init.event, 'message');
      assert.equal(JSON.parse(init.data).id, 1);
      assert.ok(JSON.parse(init.data).result.serverInfo);
      await send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      await send(rpc(2, 'tools/list'));
      const list = JSON.parse((await s.next()).data);
      assert.equal(list.id, 2, `second reply: ${JSON.stringify(list).slice(0, 200)}`);
      assert.ok(list.result.tools.some((t) => t.name === 'demo__echo'));
      await send(rpc(3, 'tools/call', { name: 'demo__echo', arguments: { message: 'legacy' } }));
      const call = JSON.parse((await s.next()).data);
      assert.equal(call.id, 3);
      assert.equal(call.result.content[0].text, 'Echo: legacy');
    } finally {
      s.close();
    }
  });

  test('progress on the legacy stream: every notification, in order, before the result', async () => {
    const s = await openLegacy();
    try {
      const endpoint = new URL((await s.next()).data, ctx.gw.base).href;
      const send = async (msg) => assert.equal((await post(endpoint, msg, { accept: '*/*' })).status, 202);
      await send({ ...initializeBody(1), params: { ...initializeBody(1).params, protocolVersion: '2024-11-05' } });
      await s.next();
      await send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      await send(rpc(2, 'tools/call', { name: 'everything__trigger-long-running-operation',
        arguments: { duration: 0.4, steps: 4 }, _meta: { progressToken: 'legacy-tok' } }));
      const seen = [];
      for (;;) {
        const msg = JSON.parse((await s.next()).data);
        if (msg.id === 2) {
          assert.match(msg.result.content[0].text, /completed/);
          break;
        }
        assert.equal(msg.method, 'notifications/progress');
        assert.equal(msg.params.progressToken, 'legacy-tok');
        seen.push(msg.params.progress);
      }
      assert.deepEqual(seen, [1, 2, 3, 4]);
    } finally {
      s.close();
    }
  });

  test('POST /message with an unknown sessionId: 404', async () => {
    const r = await post(`${ctx.gw.base}/message?sessionId=${randomBytes(16).toString('hex')}`, rpc(1, 'ping'));
    assert.equal(r.status, 404, r.text);
  });
});
