// Numbers pass through the gateway exactly, both ways: what a double cannot hold (1e400,
// 23-digit integers, 0.1000000000000000055511151231257827, -0) arrives as it was sent, and the
// gateway never writes Infinity or NaN.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { NODE, PROTOCOL_VERSION, openSession, post, useGateway } from './helpers.mjs';

const HOSTILE_JS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'hostile_server.mjs');
// The same text the fixture's `numbers` tool writes.
const NUMBERS = '{"big":1e400,"tiny":-1e-400,"long":12345678901234567890123,' +
  '"precise":0.1000000000000000055511151231257827,"plain":2.5,"neg":-0,"int":42}';
const ARGS = '{"big":1e400,"long":-98765432109876543210987,"precise":0.30000000000000004441,"neg":-0}';

describe('exact numbers', () => {
  const ctx = useGateway({
    mcpServers: { h: { command: NODE, args: [HOSTILE_JS] } },
    gateway: { timeouts: { callMs: 10000, drainMs: 2000 } },
  });
  const headers = (sid) => ({ 'mcp-session-id': sid, 'mcp-protocol-version': PROTOCOL_VERSION,
    accept: 'application/json' });

  test('arguments reach the server with every number as the client wrote it', async () => {
    const sid = await openSession(ctx.gw.url);
    const body = `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"h__raw","arguments":${ARGS}}}`;
    const r = await post(ctx.gw.url, body, headers(sid));
    assert.equal(r.status, 200, r.text);
    const line = r.json.result.content[0].text;  // what the server read on its stdin
    assert.ok(line.includes(`"arguments":${ARGS}`), `the server got: ${line}`);
  });

  test('a result reaches the client with every number as the server wrote it', async () => {
    const sid = await openSession(ctx.gw.url);
    const r = await post(ctx.gw.url, { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'h__numbers', arguments: {} } }, headers(sid));
    assert.equal(r.status, 200, r.text);
    assert.ok(r.text.includes(`"structuredContent":${NUMBERS}`), r.text);
    assert.doesNotMatch(r.text, /Infinity|NaN/);
  });

  test('an id that is not an integer (1e400, 1.5, -0) gets a valid -32600 reply, in a batch too', async () => {
    const sid = await openSession(ctx.gw.url);
    const one = await post(ctx.gw.url, '{"jsonrpc":"2.0","id":1e400,"method":"ping"}', headers(sid));
    assert.equal(one.status, 400, one.text);
    assert.equal(one.json.error.code, -32600);
    assert.equal(one.json.id, null);
    const batch = await post(ctx.gw.url,
      '[{"jsonrpc":"2.0","id":1e400,"method":"ping"},{"jsonrpc":"2.0","id":-0,"method":"ping"},' +
      '{"jsonrpc":"2.0","id":1.5,"method":"ping"},{"jsonrpc":"2.0","id":7,"method":"ping"}]',
      { ...headers(sid), 'mcp-protocol-version': '2025-03-26' });
    assert.equal(batch.status, 200, batch.text);
    assert.ok(Array.isArray(batch.json), `a JSON array: ${batch.text}`);
    assert.equal(batch.json.filter((r) => r.error?.code === -32600 && r.id === null).length, 3);
    assert.deepEqual(batch.json.find((r) => r.id === 7), { jsonrpc: '2.0', id: 7, result: {} });
    assert.doesNotMatch(batch.text, /Infinity|NaN/);
  });
});
