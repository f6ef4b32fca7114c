// SIGTERM: in-flight calls finish (bounded by drainMs), then the gateway exits 0 and takes its
// server processes with it.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';

import { connect, defaultConfig, startGateway, textOf, waitFor, withTimeout } from './helpers.mjs';

const alive = (pid) => existsSync(`/proc/${pid}`);

describe('graceful shutdown', () => {
  test('an in-flight call finishes, then the gateway exits 0 and no server process is left', async () => {
    const gw = await startGateway(defaultConfig({ timeouts: { drainMs: 5000 } }));
    try {
      const pids = Object.values((await gw.health()).servers).map((s) => s.pid);
      assert.equal(pids.length, 2);
      const { client } = await connect(gw, { mode: 'both' });
      const call = client.callTool({ name: 'demo__sleep', arguments: { ms: 700 } });
      await waitFor(async () => (await gw.health()).servers.demo.inFlight >= 1, { label: 'call in flight' });
      process.kill(gw.pid, 'SIGTERM');
      const result = await withTimeout(call, 5000, 'draining call');
      assert.equal(textOf(result), 'Slept 700 ms');
      const exit = await withTimeout(gw.exited, 10000, 'gateway exit');
      assert.deepEqual(exit, { code: 0, signal: null });
      await waitFor(() => pids.every((p) => !alive(p)), { ms: 5000, label: 'server processes gone' });
      await client.close().catch(() => {});
    } finally {
      await gw.stop(1000);
    }
  });

  test('a gateway killed outright (SIGKILL) leaves no server process behind', async () => {
    const gw = await startGateway(defaultConfig());
    try {
      const pids = Object.values((await gw.health()).servers).map((s) => s.pid);
      assert.equal(pids.length, 2);
      process.kill(gw.pid, 'SIGKILL');
      await withTimeout(gw.exited, 5000, 'gateway exit');
      await waitFor(() => pids.every((p) => !alive(p)), { ms: 5000, label: 'orphaned servers gone' });
    } finally {
      await gw.stop(1000);
    }
  });

  test('a call longer than the drain gets an error reply instead of a dropped connection', async () => {
    const gw = await startGateway(defaultConfig({ timeouts: { drainMs: 300 } }));
    try {
      const { client } = await connect(gw, { mode: 'both' });
      const call = client.callTool({ name: 'demo__sleep', arguments: { ms: 20000 } });
      await waitFor(async () => (await gw.health()).servers.demo.inFlight >= 1, { label: 'call in flight' });
      const t0 = Date.now();
      process.kill(gw.pid, 'SIGTERM');
      await assert.rejects(withTimeout(call, 5000, 'call during shutdown'), (e) => /cancelled|closed|stopping/i.test(e.message));
      assert.ok(Date.now() - t0 < 3000, 'answered soon after the drain ran out');
      const exit = await withTimeout(gw.exited, 10000, 'gateway exit');
      assert.deepEqual(exit, { code: 0, signal: null });
      await client.close().catch(() => {});
    } finally {
      await gw.stop(1000);
    }
  });
});
