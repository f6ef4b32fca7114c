// A session ends while its own upstream session is still starting against a server that hangs:
// the gateway stops waiting for that backend after its stop grace, and whatever the backend
// does afterwards (its handshake failing at startupMs) never touches the session it belonged to.
// And a stream that ends because a newer GET took it over ends whole, on a connection that
// stays usable (closing it would race a client that reuses it).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';

import { PROTOCOL_VERSION, initializeBody, openSession, post, sleep, useGateway } from './helpers.mjs';
import { startRemote } from './fixtures/remote.mjs';

describe('a session ends while its server hangs', () => {
  const up = { remote: null };
  before(async () => { up.remote = await startRemote({ transport: 'streamable', name: 'stuck' }); });
  const ctx = useGateway(() => ({
    mcpServers: { stuck: { type: 'http', url: up.remote.url } },
    gateway: { timeouts: { drainMs: 2000, listMs: 500, startupMs: 9000 } },
  }));
  after(() => up.remote?.stop());

  test('the gateway outlives the starting backend it stopped waiting for', async () => {
    await up.remote.fault('hang');
    const init = await post(ctx.gw.url, initializeBody());
    const sid = init.headers.get('mcp-session-id');
    assert.ok(sid, init.text);
    const del = await fetch(ctx.gw.url, { method: 'DELETE', headers: { 'mcp-session-id': sid, 'mcp-protocol-version': PROTOCOL_VERSION } });
    assert.equal(del.status, 200);
    await sleep(10000);  // past the 7 s stop grace and the 9 s handshake deadline
    await up.remote.fault('none');
    assert.equal(ctx.gw.exit, null, `the gateway died: ${JSON.stringify(ctx.gw.exit)}`);
    assert.equal((await post(ctx.gw.url, initializeBody())).status, 200);
  });
});

describe('a GET stream taken over by a newer GET', () => {
  const ctx = useGateway();

  /** A raw connection that collects what it receives, and waits for a pattern in it. */
  async function rawConn(port) {
    const sock = net.connect(port, '127.0.0.1');
    sock.on('error', () => {});
    const state = { text: '', closed: false };
    sock.on('data', (d) => { state.text += d.toString('latin1'); });
    sock.on('close', () => { state.closed = true; });
    await once(sock, 'connect');
    const waitFor = async (pattern, ms = 5000) => {
      const t0 = Date.now();
      while (!pattern.test(state.text)) {
        if (state.closed || Date.now() - t0 > ms) return false;
        await sleep(20);
      }
      return true;
    };
    return { sock, state, waitFor };
  }

  test('the first stream ends whole and its connection carries the next request', async () => {
    const sid = await openSession(ctx.gw.url);
    const get = `GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n` +
      `Mcp-Session-Id: ${sid}\r\nMCP-Protocol-Version: ${PROTOCOL_VERSION}\r\n\r\n`;
    const first = await rawConn(ctx.gw.port);
    first.sock.write(get);
    assert.ok(await first.waitFor(/^HTTP\/1\.1 200[^]*\r\n\r\n/), first.state.text);
    assert.doesNotMatch(first.state.text.split('\r\n\r\n')[0], /connection: close/i);

    const second = await rawConn(ctx.gw.port);
    second.sock.write(get);
    assert.ok(await second.waitFor(/^HTTP\/1\.1 200/), second.state.text);
    // The first response ends with the last chunk; the connection stays open for reuse.
    assert.ok(await first.waitFor(/\r\n0\r\n\r\n$/), `first stream: ${JSON.stringify(first.state.text)}`);

    const body = JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'ping' });
    first.state.text = '';
    first.sock.write(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
      `Accept: application/json, text/event-stream\r\nMcp-Session-Id: ${sid}\r\n` +
      `MCP-Protocol-Version: ${PROTOCOL_VERSION}\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    assert.ok(await first.waitFor(/"id":7/), `reply on the reused connection: ${JSON.stringify(first.state.text)} (closed: ${first.state.closed})`);
    assert.match(first.state.text, /^HTTP\/1\.1 200/);
    first.sock.destroy();
    second.sock.destroy();
  });
});
