// A server process that dies mid-call: the client's in-flight call fails at once with an MCP
// error (not a hang until the call timeout), the gateway restarts the server, and the same
// session's next call succeeds.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { McpError } from '@modelcontextprotocol/sdk/types.js';

import { connect, defaultConfig, processState, textOf, useGateway, waitFor, withTimeout } from './helpers.mjs';

/** Kills `server`'s process while `start()`'s call runs; returns {error, ms, oldPid}. */
async function killMidCall(gw, server, start) {
  const before = (await gw.health()).servers[server];
  assert.equal(before.state, 'ready');
  assert.ok(Number.isInteger(before.pid) && before.pid > 0, 'healthz reports the pid');
  const call = start();
  call.catch(() => {});
  await waitFor(async () => (await gw.health()).servers[server].inFlight >= 1,
    { ms: 5000, label: `${server} call in flight` });
  const t0 = Date.now();
  process.kill(before.pid, 'SIGKILL'); // a process the gateway started for this test
  let error;
  try {
    await withTimeout(call, 1000, 'call on a killed server');
  } catch (e) {
    error = e;
  }
  return { error, ms: Date.now() - t0, oldPid: before.pid, restarts: before.restarts };
}

/** Waits (bounded) for `server` to be ready again with a new process. */
async function waitRestarted(gw, server, oldPid, oldRestarts) {
  return waitFor(async () => {
    const s = (await gw.health()).servers[server];
    return s.state === 'ready' && s.pid && s.pid !== oldPid ? s : false;
  }, { ms: 5000, label: `${server} restarted` }).then((s) => {
    assert.ok(s.restarts >= oldRestarts + 1, `restarts counted: ${JSON.stringify(s)}`);
    return s;
  });
}

describe('backend killed mid-call', () => {
  const ctx = useGateway(defaultConfig());

  test('demo server killed during sleep: the call fails within 1 s with an MCP error', async () => {
    const { client } = await connect(ctx.gw, { ctx });
    const { error, ms, oldPid, restarts } = await killMidCall(ctx.gw, 'demo',
      () => client.callTool({ name: 'demo__sleep', arguments: { ms: 10000 } }, undefined, { timeout: 60000 }));
    assert.ok(error, 'the call must fail');
    assert.ok(error instanceof McpError, `an MCP (JSON-RPC) error, got ${error}`);
    assert.ok(ms < 1000, `failed after ${ms} ms`);
    ctx.demo = { oldPid, restarts, client };
  });

  test('demo server restarts and the same session calls it again', async () => {
    assert.ok(ctx.demo, 'previous test ran');
    const t0 = Date.now();
    const s = await waitRestarted(ctx.gw, 'demo', ctx.demo.oldPid, ctx.demo.restarts);
    assert.ok(Date.now() - t0 < 5000);
    assert.equal(s.inFlight, 0);
    const { client } = ctx.demo;
    const echo = await withTimeout(client.callTool({ name: 'demo__echo', arguments: { message: 'back' } }), 5000, 'echo');
    assert.equal(textOf(echo), 'Echo: back');
    const { tools } = await withTimeout(client.listTools(), 5000, 'tools/list');
    assert.ok(tools.some((t) => t.name === 'demo__sleep'), 'demo tools listed again');
  });

  test('the killed process is reaped (no zombie left behind)', async () => {
    assert.ok(ctx.demo, 'first test ran');
    await waitFor(() => processState(ctx.demo.oldPid) === null,
      { ms: 3000, label: () => `killed demo pid ${ctx.demo.oldPid} reaped (state ${processState(ctx.demo.oldPid)})` });
  });

  test('server-everything killed while streaming progress: the call fails within 1 s', async () => {
    const { client } = await connect(ctx.gw, { ctx });
    const progress = [];
    const { error, ms, oldPid, restarts } = await killMidCall(ctx.gw, 'everything',
      () => client.callTool(
        { name: 'everything__trigger-long-running-operation', arguments: { duration: 10, steps: 20 } },
        undefined, { onprogress: (p) => progress.push(p), timeout: 60000 }));
    assert.ok(error, 'the call must fail');
    assert.ok(error instanceof McpError, `an MCP (JSON-RPC) error, got ${error}`);
    assert.ok(ms < 1000, `failed after ${ms} ms`);
    await waitRestarted(ctx.gw, 'everything', oldPid, restarts);
    const sum = await withTimeout(client.callTool({ name: 'everything__get-sum', arguments: { a: 20, b: 22 } }), 5000, 'get-sum');
    assert.equal(textOf(sum), 'The sum of 20 and 22 is 42.');
  });
});
