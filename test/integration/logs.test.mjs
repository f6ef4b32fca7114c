// Logs as an operator's pipeline reads them: with --log-format json every stderr line is one
// JSON object with a timestamp that carries its zone; each exchange has an access line whose
// request id is the X-Request-Id the client got back; names a client sends cannot break a text
// line; gateway.accessLog false turns access lines off.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { connect, defaultConfig, initializeBody, startGateway, waitFor } from './helpers.mjs';

const TS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$/;

/** Opens a Streamable HTTP session by hand; returns its id. */
async function session(gw, headers = {}) {
  const res = await fetch(gw.url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify(initializeBody()),
  });
  assert.equal(res.status, 200);
  await res.text();
  const sid = res.headers.get('mcp-session-id');
  await fetch(gw.url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', 'Mcp-Session-Id': sid },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  });
  return sid;
}

const callEcho = (gw, sid, headers = {}, name = 'demo__echo') => fetch(gw.url, {
  method: 'POST',
  headers: {
    'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', 'Mcp-Session-Id': sid, ...headers,
  },
  body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name, arguments: { message: 'hi' } } }),
});

describe('JSON logs', () => {
  test('every line is a JSON object; access lines carry the X-Request-Id the client got', async () => {
    const gw = await startGateway(defaultConfig(), { args: ['--log-format', 'json'] });
    let stopped = false;
    try {
      const sid = await session(gw);
      const mine = await callEcho(gw, sid, { 'X-Request-Id': 'trace-abc.123' });
      assert.equal(mine.status, 200);
      assert.equal(mine.headers.get('x-request-id'), 'trace-abc.123', 'a well-formed id is kept');
      await mine.text();
      const made = await callEcho(gw, sid, { 'X-Request-Id': 'has spaces and "quotes"' });
      const madeId = made.headers.get('x-request-id');
      assert.match(madeId, /^[0-9a-f]{14}$/, 'a malformed id is replaced by one of the gateway\'s');
      await made.text();
      const { client } = await connect(gw);
      await client.callTool({ name: 'demo__echo', arguments: { message: 'sdk' } });
      await client.close();
      await waitFor(() => gw.stderr.includes(madeId), { ms: 5000, label: 'access line written' });
      stopped = true;
      assert.equal((await gw.stop()).code, 0);
      const lines = gw.stderr.split('\n').filter(Boolean);
      assert.ok(lines.length > 5);
      const entries = lines.map((line) => {
        let e;
        assert.doesNotThrow(() => { e = JSON.parse(line); }, `a JSON line: ${line}`);
        assert.match(e.ts, TS, `a timestamp with its zone: ${line}`);
        assert.ok(['trace', 'debug', 'info', 'warning', 'error', 'critical'].includes(e.level), line);
        assert.ok(typeof e.msg === 'string' || e.log === 'access', line);
        return e;
      });
      assert.ok(entries.some((e) => /listening on http:\/\/127\.0\.0\.1:\d+\/mcp/.test(e.msg ?? '')));
      const access = entries.filter((e) => e.log === 'access');
      const kept = access.find((e) => e.request_id === 'trace-abc.123');
      assert.ok(kept, `an access line for the client's id among ${JSON.stringify(access)}`);
      assert.equal(kept.method, 'tools/call');
      assert.equal(kept.target, 'demo__echo');
      assert.equal(kept.server, 'demo');
      assert.equal(kept.outcome, 'ok');
      assert.equal(kept.principal, '-');
      assert.equal(kept.session, sid);
      assert.equal(typeof kept.latency_ms, 'number');
      assert.ok(kept.bytes_out > 0);
      assert.ok(access.some((e) => e.request_id === madeId));
      assert.ok(access.some((e) => e.method === 'initialize'), 'methods the gateway answers have lines too');
    } finally {
      if (!stopped) await gw.stop();
    }
  });

  test('gateway.logFormat "json" in the config does the same; accessLog false turns access lines off', async () => {
    const gw = await startGateway(defaultConfig({ gateway: { logFormat: 'json', accessLog: false } }));
    try {
      const sid = await session(gw);
      const res = await callEcho(gw, sid);
      await res.text();
      assert.match(res.headers.get('x-request-id'), /^[0-9a-f]{14}$/);
    } finally {
      assert.equal((await gw.stop()).code, 0);
    }
    const entries = gw.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    assert.ok(entries.length > 0);
    assert.equal(entries.filter((e) => e.log === 'access').length, 0);
  });
});

describe('text logs', () => {
  test('an access line per exchange; a name with a line break stays on its line', async () => {
    const gw = await startGateway(defaultConfig());
    try {
      const sid = await session(gw);
      const res = await callEcho(gw, sid, { 'X-Request-Id': 'text-1' }, 'demo__echo\n2030-01-01T00:00:00.000+00:00 error forged');
      await res.text();
      await waitFor(() => /access text-1 /.test(gw.stderr), { ms: 5000, label: 'access line' });
    } finally {
      assert.equal((await gw.stop()).code, 0);
    }
    const line = gw.stderr.split('\n').find((l) => l.includes('access text-1 '));
    assert.match(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d info +access text-1 tools\/call demo__echo\?2030/);
    assert.ok(!gw.stderr.split('\n').some((l) => l.startsWith('2030-01-01')), 'no forged line');
  });
});
