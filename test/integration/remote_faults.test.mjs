// Remote servers that misbehave: one that stops answering, one that answers 500, one that drops
// its reply stream mid-call, one that forgets the session (404), one that goes away. Every
// client request is answered within its deadline, the other servers keep working, and
// /healthz tells which server is in trouble and why.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

import { connect, servers, textOf, useGateway, waitFor, withTimeout } from './helpers.mjs';
import { startRemote } from './fixtures/remote.mjs';

const CALL_MS = 1500;

describe('remote faults', () => {
  const up = { remote: null };
  before(async () => {
    up.remote = await startRemote({ transport: 'streamable', name: 'flaky' });
  });
  const ctx = useGateway(() => ({
    mcpServers: {
      flaky: { type: 'http', url: up.remote.url },
      demo: servers.demo(),
    },
    gateway: {
      servers: { flaky: { shareable: true, callTimeoutMs: CALL_MS } },
      timeouts: { drainMs: 2000, listMs: 2000, restartMaxBackoffMs: 1000 },
    },
  }));
  before(async () => {
    ({ client: ctx.client } = await connect(ctx.gw, { ctx }));
  });
  after(() => up.remote?.stop());

  const flaky = (args = { message: 'x' }) => withTimeout(
    ctx.client.callTool({ name: 'flaky__echo', arguments: args }, undefined, { timeout: 10000 }),
    CALL_MS + 3000, 'flaky call');
  const demoWorks = async () => {
    const r = await withTimeout(ctx.client.callTool({ name: 'demo__echo', arguments: { message: 'still here' } }),
      3000, 'demo call');
    assert.equal(textOf(r), 'Echo: still here');
  };
  const serverState = async (name) => (await ctx.gw.health()).servers[name];

  test('a server that stops answering: the call fails at its deadline, others are untouched', async () => {
    await up.remote.fault('hang');
    try {
      const started = Date.now();
      const slow = flaky().then(() => null, (e) => e);
      await demoWorks();
      const err = await slow;
      assert.ok(err, 'the call must fail');
      assert.match(err.message, /timed out after 1500 ms/);
      assert.ok(Date.now() - started < CALL_MS + 2000, `answered in ${Date.now() - started} ms`);
      const s = await serverState('flaky');
      assert.equal(s.state, 'degraded');
      assert.match(s.reason, /no response/);
    } finally {
      await up.remote.fault('none');
    }
    assert.equal(textOf(await flaky({ message: 'back' })), 'Echo: back');
    assert.equal((await serverState('flaky')).state, 'ready', 'a success clears degraded');
  });

  test('a server that answers 500: a clear error, health says degraded with the status', async () => {
    await up.remote.fault('500');
    try {
      const err = await flaky().then(() => null, (e) => e);
      assert.ok(err, 'the call must fail');
      assert.match(err.message, /HTTP 500/);
      assert.match(err.message, /boom/);
      const s = await serverState('flaky');
      assert.equal(s.state, 'degraded');
      assert.match(s.reason, /HTTP 500/);
      await demoWorks();
    } finally {
      await up.remote.fault('none');
    }
    assert.equal(textOf(await flaky({ message: 'ok again' })), 'Echo: ok again');
  });

  test('a reply stream dropped mid-call: answered (resumed or failed) within the deadline', async () => {
    await up.remote.fault('drop');
    const started = Date.now();
    const outcome = await withTimeout(
      ctx.client.callTool({ name: 'flaky__progress', arguments: { steps: 3, ms: 100 } }, undefined, { timeout: 10000 })
        .then((r) => ({ ok: textOf(r) }), (e) => ({ error: e.message })),
      CALL_MS + 3000, 'dropped call');
    await up.remote.fault('none');
    assert.ok(Date.now() - started < CALL_MS + 2000);
    if (outcome.ok) {
      // The server numbered its events: the gateway resumed with Last-Event-ID.
      assert.equal(outcome.ok, 'done 3');
      assert.match(ctx.gw.stderr, /\[flaky\] resumed a broken reply stream/);
    } else {
      assert.match(outcome.error, /closed the reply stream|timed out/);
    }
    await demoWorks();
    assert.equal(textOf(await flaky({ message: 'after drop' })), 'Echo: after drop');
  });

  test('a reply stream cut after its first event: resumed with Last-Event-ID, nothing lost', async () => {
    const before = await up.remote.stats();
    await up.remote.fault('cut');
    const progress = [];
    const r = await withTimeout(ctx.client.callTool({ name: 'flaky__progress', arguments: { steps: 3, ms: 100 } },
      undefined, { timeout: 10000, onprogress: (p) => progress.push(p.progress) }), CALL_MS + 3000, 'cut call');
    assert.equal(textOf(r), 'done 3');
    const after = await up.remote.stats();
    assert.equal(after.drops, before.drops + 1, 'the connection was cut once');
    assert.ok(after.resumes > before.resumes, 'the gateway resumed with Last-Event-ID');
    assert.match(ctx.gw.stderr, /\[flaky\] resumed a broken reply stream after event/);
    await waitFor(() => progress.length >= 2, { ms: 2000, label: 'progress after the cut' });
    assert.deepEqual(progress.slice(0, 2), [1, 2], 'progress in order, none lost before the result');
  });

  test('a session the server forgot (404): re-initialized and retried once, transparently', async () => {
    const before = await up.remote.stats();
    await up.remote.fault('expire');
    try {
      assert.equal(textOf(await flaky({ message: 'new session' })), 'Echo: new session');
    } finally {
      await up.remote.fault('none');
    }
    const after = await up.remote.stats();
    assert.equal(after.initializes, before.initializes + 1, 'one new initialize upstream');
    assert.match(ctx.gw.stderr, /\[flaky\] the server no longer knows session/);
    assert.equal((await serverState('flaky')).state, 'ready');
  });

  test('a server that goes away: calls fail fast, health says down and why, it comes back', async () => {
    const port = up.remote.port;
    await up.remote.stop();
    // The next call finds it gone; from then on it is down.
    await flaky().then(() => null, (e) => e);
    const s = await waitFor(async () => {
      const x = await serverState('flaky');
      return x.state === 'down' ? x : false;
    }, { ms: 10000, label: 'flaky reported down' });
    assert.match(s.reason, /refused|cannot connect/i);
    const h = await ctx.gw.health();
    assert.equal(h.status, 'degraded', 'the gateway is up, one server is down');
    const started = Date.now();
    const err = await flaky().then(() => null, (e) => e);
    assert.ok(err, 'a call to a down server fails');
    assert.match(err.message, /not available.*(refused|cannot connect)/i);
    assert.ok(Date.now() - started < 1000, `failed fast (${Date.now() - started} ms)`);
    const logs = [];
    ctx.client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => { logs.push(n.params); });
    const { tools } = await ctx.client.listTools();
    assert.ok(!tools.some((t) => t.name.startsWith('flaky__')), 'left out of lists');
    const told = await waitFor(() => logs.find((l) => /server 'flaky' is down/.test(l.data)),
      { ms: 5000, label: 'a logging notification about the down server' });
    assert.equal(told.level, 'warning');
    assert.match(told.data, /refused|cannot connect/i);
    assert.ok(tools.some((t) => t.name === 'demo__echo'));
    await demoWorks();

    // Back on the same port: the gateway reconnects by itself (backoff capped at 1 s here).
    up.remote = await startRemote({ transport: 'streamable', name: 'flaky', port });
    await ctx.gw.waitReady(['flaky'], 10000);
    assert.equal(textOf(await flaky({ message: 'reconnected' })), 'Echo: reconnected');
  });
});

describe('remote faults: a legacy SSE server whose stream drops', () => {
  const up = { remote: null };
  before(async () => {
    up.remote = await startRemote({ transport: 'sse', name: 'old' });
  });
  const ctx = useGateway(() => ({
    mcpServers: { old: { type: 'sse', url: up.remote.url } },
    gateway: {
      servers: { old: { shareable: true, callTimeoutMs: 5000 } },
      timeouts: { drainMs: 2000, restartMaxBackoffMs: 1000 },
    },
  }));
  after(() => up.remote?.stop());

  test('the call in flight fails with the reason, and the gateway reconnects and initializes again', async () => {
    const { client } = await connect(ctx.gw, { ctx });
    assert.equal(textOf(await client.callTool({ name: 'old__echo', arguments: { message: 'before' } })), 'Echo: before');
    const before = await up.remote.stats();
    await up.remote.fault('drop');
    const started = Date.now();
    const err = await withTimeout(
      client.callTool({ name: 'old__sleep', arguments: { ms: 3000 } }).then(() => null, (e) => e),
      6000, 'call on a dropped stream');
    assert.ok(err, 'the call must fail: its answer would have come on the stream that dropped');
    assert.match(err.message, /SSE stream/);
    assert.ok(Date.now() - started < 2500, `failed when the stream dropped (${Date.now() - started} ms)`);
    await ctx.gw.waitReady(['old'], 10000);
    assert.equal(textOf(await client.callTool({ name: 'old__echo', arguments: { message: 'after' } })), 'Echo: after');
    const after = await up.remote.stats();
    assert.equal(after.initializes, before.initializes + 1, 'a new upstream session was initialized');
  });
});
