// Broken servers and their processes: a server's bad reply fails its call at once, a server
// that stops reading cannot make the gateway queue without end, clients cannot make it fork
// without end, and no server process outlives the gateway, however the gateway ends.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  NODE, connect, processState, sleep, startGateway, textOf, useGateway, waitFor, withTimeout,
} from './helpers.mjs';

const HOSTILE_JS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'hostile_server.mjs');
const hostile = (env = {}, extra = {}) => ({ command: NODE, args: [HOSTILE_JS], env, ...extra });

/** A process is gone once it no longer exists or is only a zombie waiting for init. */
const gone = (pid) => { const s = processState(pid); return s === null || s === 'Z'; };

describe('a reply that cannot be read fails its call at once', () => {
  const ctx = useGateway({
    mcpServers: { h: hostile() },
    gateway: { timeouts: { callMs: 30000, drainMs: 2000 } },
  });

  for (const [tool, why] of [['badjson', /not JSON/], ['deep', /maxJsonDepth/]]) {
    test(`${tool}: an error well before the 30 s deadline`, async () => {
      const { client } = await connect(ctx.gw, { ctx });
      const t0 = Date.now();
      await assert.rejects(withTimeout(client.callTool({ name: `h__${tool}`, arguments: {} }), 5000, tool),
        (e) => /cannot be read/.test(e.message) && why.test(e.message));
      assert.ok(Date.now() - t0 < 3000, `answered after ${Date.now() - t0} ms`);
      const pid = await client.callTool({ name: 'h__pid', arguments: {} });
      assert.match(textOf(pid), /^\d+$/, 'the server still serves');
    });
  }
});

describe('a server that stops reading', () => {
  const ctx = useGateway({
    mcpServers: { h: hostile() },
    gateway: { limits: { maxBackendQueueBytes: 300000 }, timeouts: { callMs: 60000, drainMs: 2000 } },
  });

  test('calls beyond maxBackendQueueBytes fail at once instead of queueing', async () => {
    const { client } = await connect(ctx.gw, { ctx });
    client.callTool({ name: 'h__stall', arguments: {} }).catch(() => {});
    await sleep(200);
    const pad = 'q'.repeat(50000);
    const calls = [];
    for (let i = 0; i < 20; i += 1) {
      const t0 = Date.now();
      calls.push(client.callTool({ name: 'h__pid', arguments: { pad } }, undefined, { timeout: 70000 })
        .then(() => ({ ok: true }), (e) => ({ ok: false, message: e.message, ms: Date.now() - t0 })));
    }
    const refused = await withTimeout(Promise.race(calls.map((p) => p.then((r) => (r.ok ? new Promise(() => {}) : r)))),
      10000, 'a refused call');
    assert.match(refused.message, /not reading its input.*maxBackendQueueBytes/);
    assert.ok(refused.ms < 5000, `refused after ${refused.ms} ms`);
    const health = await ctx.gw.health();
    assert.equal(health.status, 'ok', 'the gateway itself is fine');
  });
});

describe('limits.maxProcesses', () => {
  const ctx = useGateway({
    mcpServers: { h: hostile(), g: hostile() },
    gateway: {
      limits: { maxProcesses: 3 },
      servers: { h: { isolation: 'session', maxProcesses: 2 } },
      timeouts: { drainMs: 2000, listMs: 1500 },
    },
  });

  test('sessions beyond the caps get a clear error, not a process', async () => {
    // g is shared (one process); h runs one per session, at most 2, and 3 in all.
    const a = await connect(ctx.gw, { ctx, name: 'a' });
    const b = await connect(ctx.gw, { ctx, name: 'b' });
    for (const { client } of [a, b]) {
      assert.match(textOf(await client.callTool({ name: 'h__pid', arguments: {} })), /^\d+$/);
    }
    const c = await connect(ctx.gw, { ctx, name: 'c' });
    await assert.rejects(c.client.callTool({ name: 'h__pid', arguments: {} }),
      (e) => /maxProcesses/.test(e.message));
    assert.match(textOf(await c.client.callTool({ name: 'g__pid', arguments: {} })), /^\d+$/,
      'the shared server still serves the third session');
    const h = await ctx.gw.health();
    assert.equal(h.load.processes, 3);
    assert.equal(h.limits.maxProcesses, 3);
    // When a session ends, its process slot goes to the session that waited for one.
    await a.transport.terminateSession();
    await a.client.close();
    await waitFor(async () => {
      const r = await c.client.callTool({ name: 'h__pid', arguments: {} }).catch(() => null);
      return r && /^\d+$/.test(textOf(r));
    }, { ms: 15000, interval: 300, label: 'the waiting session gets its process' });
    assert.equal((await ctx.gw.health()).load.processes, 3);
  });
});

describe('server processes never outlive the gateway', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-children-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A gateway whose server runs behind `sh -c`, ignores SIGTERM and stdin EOF. */
  async function start(name) {
    const pidfile = path.join(dir, `${name}.pid`);
    const cmd = `"${NODE}" "${HOSTILE_JS}"; echo wrapper-done`;
    const gw = await startGateway({
      mcpServers: { h: { command: '/bin/sh', args: ['-c', cmd], env: { IGNORE_TERM: '1', IGNORE_EOF: '1', PIDFILE: pidfile } } },
      gateway: { timeouts: { drainMs: 1000 } },
    });
    const pid = Number(readFileSync(pidfile, 'utf8'));
    assert.ok(!gone(pid), 'the server runs');
    return { gw, pid };
  }

  test('after SIGTERM: the gateway exits 0 and the server behind sh -c is gone', async () => {
    const { gw, pid } = await start('term');
    const exit = await gw.stop(15000);
    assert.deepEqual({ code: exit.code, forced: exit.forced }, { code: 0, forced: false }, gw.stderr.slice(-2000));
    await waitFor(() => gone(pid), { ms: 5000, label: `server ${pid} gone` });
  });

  test('a process a server detached into its own session is killed when the gateway exits', async () => {
    const detached = path.join(dir, 'detached.pid');
    const cmd = `PIDFILE="${detached}" IGNORE_TERM=1 IGNORE_EOF=1 setsid "${NODE}" "${HOSTILE_JS}" & exec "${NODE}" "${HOSTILE_JS}"`;
    const gw = await startGateway({
      mcpServers: { h: { command: '/bin/sh', args: ['-c', cmd] } },
      gateway: { timeouts: { drainMs: 1000 } },
    });
    const pid = Number(await waitFor(() => { try { return readFileSync(detached, 'utf8'); } catch { return false; } },
      { label: 'detached pid file' }));
    assert.ok(!gone(pid), 'the detached process runs');
    const exit = await gw.stop(15000);
    assert.equal(exit.code, 0);
    assert.match(gw.stderr, /killed 1 process\(es\) that servers left behind/);
    await waitFor(() => gone(pid), { ms: 5000, label: `detached ${pid} gone` });
  });

  test('after SIGKILL: the keeper ends the server within seconds', async () => {
    const { gw, pid } = await start('kill');
    process.kill(gw.pid, 'SIGKILL');
    await gw.exited;
    await waitFor(() => gone(pid), { ms: 8000, label: `server ${pid} gone after the gateway was killed` });
    await gw.stop();
  });
});

describe('a remote server whose replies Beast cannot hold', () => {
  // A raw HTTP server: every reply carries a 70,000-byte header field, or a chunked body with
  // a 70,000-byte trailer field (Beast's field container throws for either).
  const servers = [];
  const start = (reply) => new Promise((resolve) => {
    const srv = net.createServer((sock) => {
      sock.on('error', () => {});
      sock.once('data', () => sock.end(reply));
    });
    srv.listen(0, '127.0.0.1', () => resolve(srv));
    servers.push(srv);
  });
  const big = 'a'.repeat(70000);
  const up = {};
  before(async () => {
    up.header = await start(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Big: ${big}\r\nContent-Length: 2\r\n\r\n{}`);
    up.trailer = await start('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n' +
      `2\r\n{}\r\n0\r\nX-Big: ${big}\r\n\r\n`);
  });
  after(() => { for (const s of servers) s.close(); });
  const ctx = useGateway(() => ({
    mcpServers: {
      header: { type: 'http', url: `http://127.0.0.1:${up.header.address().port}/mcp` },
      trailer: { type: 'http', url: `http://127.0.0.1:${up.trailer.address().port}/mcp` },
      h: hostile(),
    },
    gateway: { servers: { header: { shareable: true }, trailer: { shareable: true } }, timeouts: { drainMs: 2000, startupMs: 3000 } },
  }), { ready: false });

  test('the servers are down with a reason, and the gateway serves the others', async () => {
    const health = await waitFor(async () => {
      const h = await ctx.gw.health();
      return h.servers.header.state === 'down' && h.servers.trailer.state === 'down' ? h : false;
    }, { ms: 15000, label: 'both remote servers down' });
    for (const name of ['header', 'trailer']) {
      assert.ok(health.servers[name].reason, `${name} has a reason: ${JSON.stringify(health.servers[name])}`);
    }
    assert.equal(ctx.gw.exit, null);
    const { client } = await connect(ctx.gw, { ctx });
    assert.match(textOf(await client.callTool({ name: 'h__pid', arguments: {} })), /^\d+$/);
  });
});
