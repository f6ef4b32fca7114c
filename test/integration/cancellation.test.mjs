// Cancellation: a client that aborts a call gets its abort at once, the server behind the
// gateway is told (notifications/cancelled with the id it knows the request by), and the
// session goes on working. The probe fixture records the cancellations it receives.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { connect, defaultConfig, servers, textOf, useGateway, waitFor, withTimeout } from './helpers.mjs';

describe('cancellation', () => {
  const ctx = useGateway(defaultConfig({ mcpServers: { probe: servers.probe() } }));
  let session;
  const errors = [];
  const connected = async () => {
    if (!session) {
      session = await connect(ctx.gw, { ctx });
      session.client.onerror = (e) => errors.push(String(e?.message ?? e));
    }
    return session;
  };
  const probeInFlight = async () => (await ctx.gw.health()).servers.probe.inFlight;

  test('aborting a call rejects at once; the next call on the session works', async () => {
    const { client } = await connected();
    const ac = new AbortController();
    const call = client.callTool({ name: 'probe__wait', arguments: { ms: 30000 } }, undefined,
      { signal: ac.signal, timeout: 60000 });
    call.catch(() => {});
    // The request must have reached the server before we cancel it.
    await waitFor(async () => (await probeInFlight()) === 1, { ms: 5000, label: 'probe call in flight' });
    const t0 = Date.now();
    ac.abort('test gave up');
    await assert.rejects(withTimeout(call, 1000, 'aborted call'), (e) => {
      assert.match(String(e.message), /test gave up/);
      return true;
    });
    assert.ok(Date.now() - t0 < 1000, 'abort is reported within 1 s');

    const echo = await withTimeout(client.callTool({ name: 'demo__echo', arguments: { message: 'still here' } }), 5000, 'echo');
    assert.equal(textOf(echo), 'Echo: still here');
    const who = await withTimeout(client.callTool({ name: 'probe__whoami', arguments: {} }), 5000, 'whoami');
    assert.match(textOf(who), /^\d+$/);
  });

  test('the server receives notifications/cancelled for the request it is working on', async () => {
    const { client } = await connected();
    const seen = await waitFor(async () => {
      const r = await client.callTool({ name: 'probe__cancellations', arguments: {} });
      const list = JSON.parse(textOf(r));
      return list.length > 0 ? list : false;
    }, { ms: 5000, label: 'probe saw a cancellation' });
    assert.equal(seen.length, 1, `one cancellation: ${JSON.stringify(seen)}`);
    assert.match(seen[0].reason, /test gave up/, 'the reason is forwarded');
    // The server stopped working on it, and the gateway no longer counts it in flight.
    await waitFor(async () => (await probeInFlight()) === 0, { ms: 5000, label: 'probe in-flight back to 0' });
    assert.match(ctx.gw.stderr, /probe: request \S+ cancelled/, 'server log relayed by the gateway');
  });

  test('no response is delivered for a cancelled request (spec: receivers SHOULD NOT respond)', async () => {
    await connected();
    const stray = errors.filter((m) => /response for an unknown message ID/i.test(m));
    assert.deepEqual(stray, [], 'the gateway sent the client a response for the request it cancelled');
  });

  test('cancelling a call on server-everything leaves the session usable', async () => {
    const { client } = await connected();
    const ac = new AbortController();
    const call = client.callTool(
      { name: 'everything__trigger-long-running-operation', arguments: { duration: 3, steps: 3 } },
      undefined, { signal: ac.signal, onprogress: () => {}, timeout: 60000 });
    call.catch(() => {});
    await waitFor(async () => (await ctx.gw.health()).servers.everything.inFlight === 1,
      { ms: 5000, label: 'everything call in flight' });
    const t0 = Date.now();
    ac.abort('stop the long one');
    await assert.rejects(withTimeout(call, 1000, 'aborted call'), /stop the long one/);
    assert.ok(Date.now() - t0 < 1000);
    // The gateway stops counting it at once, whether or not the server honours the cancel.
    await waitFor(async () => (await ctx.gw.health()).servers.everything.inFlight === 0,
      { ms: 2000, label: 'everything in-flight back to 0' });
    const sum = await withTimeout(client.callTool({ name: 'everything__get-sum', arguments: { a: 1, b: 2 } }), 5000, 'get-sum');
    assert.equal(textOf(sum), 'The sum of 1 and 2 is 3.');
  });
});
