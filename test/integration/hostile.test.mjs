// Hostile clients: requests built to crash the gateway, exhaust its memory or hold its
// connection slots. Each answer is a clear HTTP error, and the gateway keeps serving.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import {
  MCPGW_BIN, SANITIZED, connect, initializeBody, openSession, post, servers, sleep, textOf, useGateway, waitFor,
} from './helpers.mjs';
import { idleSocket, parseResponse, rawExchange, rssOf } from './raw_http.mjs';

const INIT = JSON.stringify(initializeBody());
const head = (extra = '') =>
  `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
  `Accept: application/json, text/event-stream\r\n${extra}`;
const chunked = head('Transfer-Encoding: chunked\r\n') + '\r\n';
const chunk = (s) => `${Buffer.byteLength(s).toString(16)}\r\n${s}\r\n`;

/** The gateway still answers: /healthz and a whole MCP initialize. */
async function stillServing(gw) {
  assert.equal(gw.exit, null, `the gateway exited: ${JSON.stringify(gw.exit)}\n${gw.stderr.slice(-2000)}`);
  assert.equal((await gw.health()).status, 'ok');
  const init = await post(gw.url, initializeBody());
  assert.equal(init.status, 200, init.text);
}

describe('malformed HTTP never ends the process', () => {
  const ctx = useGateway({
    mcpServers: { demo: servers.demo() },
    gateway: {
      limits: { maxHeaderBytes: 200000, maxBodyBytes: 4096 },
      timeouts: { drainMs: 2000 },
    },
  });

  test('a chunked body with a 70,000-byte trailer field: 431, and the gateway lives', async () => {
    const r = await rawExchange(ctx.gw.port, [
      chunked, chunk(INIT), `0\r\nX-Big: ${'a'.repeat(70000)}\r\n\r\n`,
    ]);
    assert.equal(r.status, 431, r.head);
    assert.equal(r.json?.error?.code, -32600);
    await stillServing(ctx.gw);
  });

  test('a 70,000-byte header under a raised maxHeaderBytes: 431, and the gateway lives', async () => {
    const r = await rawExchange(ctx.gw.port, [
      head(`X-Big: ${'b'.repeat(70000)}\r\nContent-Length: ${INIT.length}\r\n\r\n`), INIT,
    ]);
    assert.equal(r.status, 431, r.head);
    await stillServing(ctx.gw);
  });

  test('a 20 MB chunk extension is refused before it is read, without the memory', async () => {
    const before = await rssOf(ctx.gw.pid);
    const ext = Buffer.alloc(1 << 20, 'e');
    const parts = [chunked, '1;x='];
    for (let i = 0; i < 20; i += 1) parts.push(ext);
    const r = await rawExchange(ctx.gw.port, parts, { ms: 10000 });
    assert.equal(r.status, 431, r.head);
    assert.ok(r.closed, 'the connection is closed');
    const grew = (await rssOf(ctx.gw.pid)) - before;
    assert.ok(grew < 8 * 2 ** 20, `resident memory grew by ${grew >> 20} MiB`);
    await stillServing(ctx.gw);
  });

  test('chunk framing counts against maxBodyBytes: 1,000 bytes in one-byte chunks is 413', async () => {
    const body = `{"jsonrpc":"2.0","id":1,"method":"ping","pad":"${'p'.repeat(950)}"}`;
    assert.ok(body.length < 4096);
    const parts = [chunked, ...[...body].map((c) => `1\r\n${c}\r\n`), '0\r\n\r\n'];
    const r = await rawExchange(ctx.gw.port, [parts.join('')]);
    assert.equal(r.status, 413, r.head);
    assert.match(r.json.error.message, /maxBodyBytes/);
  });

  test('two Host headers: 400', async () => {
    const r = await rawExchange(ctx.gw.port, [
      head(`Host: evil.example\r\nContent-Length: ${INIT.length}\r\n\r\n`), INIT,
    ]);
    assert.equal(r.status, 400, r.head);
    assert.match(r.json.error.message, /more than one Host/);
  });

  test('an Origin that only starts with "127." is not loopback: 403, also on preflight', async () => {
    for (const origin of ['http://127.attacker.example', 'http://127.0.0.1.attacker.example:8080']) {
      const r = await post(ctx.gw.url, initializeBody(), { Origin: origin });
      assert.equal(r.status, 403, `${origin}: ${r.text}`);
      assert.equal(r.headers.get('access-control-allow-origin'), null);
      const pre = await fetch(ctx.gw.url, { method: 'OPTIONS', headers: { Origin: origin } });
      assert.equal(pre.status, 403, `preflight from ${origin}`);
    }
    const local = await post(ctx.gw.url, initializeBody(), { Origin: 'http://127.0.0.1:3000' });
    assert.equal(local.status, 200, 'a page on this machine is still allowed');
  });
});

describe('slow clients are cut off by their deadlines', () => {
  const ctx = useGateway({
    mcpServers: { demo: servers.demo() },
    gateway: { timeouts: { headerMs: 500, writeMs: 500, drainMs: 2000 } },
  });

  test('a request whose headers never finish is closed after timeouts.headerMs', async () => {
    const r = await rawExchange(ctx.gw.port, ['POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n'], { ms: 5000 });
    assert.ok(r.closed, 'the gateway closed the connection');
    assert.ok(r.ms >= 450 && r.ms < 2500, `closed after ${r.ms} ms`);
  });

  test('a client that never reads its result is disconnected after timeouts.writeMs', async () => {
    const sid = await openSession(ctx.gw.url);
    const call = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call',
      params: { name: 'demo__echo', arguments: { message: 'x'.repeat(6e6) } } });
    const { default: net } = await import('node:net');
    const sock = net.connect(ctx.gw.port, '127.0.0.1');
    sock.on('error', () => {});
    await new Promise((r) => sock.on('connect', r));
    let received = 0;
    let ended = false;
    sock.on('data', (d) => { received += d.length; });
    sock.on('close', () => { ended = true; });
    sock.pause();
    sock.write(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
      `Accept: application/json\r\nMcp-Session-Id: ${sid}\r\nMCP-Protocol-Version: 2025-06-18\r\n` +
      `Content-Length: ${call.length}\r\n\r\n${call}`);
    await sleep(2500);  // the gateway's write stalls, and gives up at writeMs
    sock.resume();
    await waitFor(() => ended, { ms: 10000, label: 'connection closed by the gateway' });
    assert.ok(received < 6e6, `got ${received} bytes of a 6 MB result: the gateway kept writing`);
    const { client } = await connect(ctx.gw, { ctx });
    const ok = await client.callTool({ name: 'demo__echo', arguments: { message: 'still here' } });
    assert.match(textOf(ok), /still here/);
  });
});

describe('one client cannot take every slot', () => {
  const ctx = useGateway({
    mcpServers: { demo: servers.demo() },
    gateway: { limits: { maxConnectionsPerClient: 6, maxSessionsPerClient: 3 }, timeouts: { drainMs: 2000 } },
  });

  test('connections over maxConnectionsPerClient get an immediate 503', async () => {
    // fetch() in this process may hold a keep-alive connection or two: fill the rest.
    const held = [];
    let refused = null;
    for (let i = 0; i < 8 && !refused; i += 1) {
      const sock = await idleSocket(ctx.gw.port);
      const got = [];
      sock.on('data', (d) => got.push(d));
      await sleep(150);
      if (got.length) refused = parseResponse(Buffer.concat(got));
      held.push(sock);
    }
    assert.ok(refused, 'a connection over the cap was refused');
    assert.match(refused.json.error.message, /maxConnectionsPerClient/);
    assert.match(refused.head, /Retry-After: 1/i);
    for (const s of held) s.destroy();
    await waitFor(async () => (await ctx.gw.health()).load.connections <= 2, { label: 'connections released' });
    assert.equal((await post(ctx.gw.url, { jsonrpc: '2.0', id: 1, method: 'ping' })).status, 400);
  });

  test('sessions over maxSessionsPerClient: 429 with Retry-After; closing one frees a slot', async () => {
    const sids = [];
    for (let i = 0; i < 3; i += 1) sids.push(await openSession(ctx.gw.url));
    const over = await post(ctx.gw.url, initializeBody());
    assert.equal(over.status, 429, over.text);
    assert.equal(over.headers.get('retry-after'), '5');
    assert.match(over.json.error.message, /maxSessionsPerClient/);
    const del = await fetch(ctx.gw.url, { method: 'DELETE', headers: { 'mcp-session-id': sids[0] } });
    assert.equal(del.status, 200);
    assert.equal((await post(ctx.gw.url, initializeBody())).status, 200);
  });
});

describe('signals', () => {
  const ctx = useGateway({ mcpServers: { demo: servers.demo() }, gateway: { timeouts: { drainMs: 2000 } } });

  test('SIGHUP does not end the gateway; it says so in the log', async () => {
    const { client } = await connect(ctx.gw, { ctx });
    process.kill(ctx.gw.pid, 'SIGHUP');
    await waitFor(() => /SIGHUP/.test(ctx.gw.stderr), { label: 'SIGHUP log line' });
    await sleep(200);
    assert.equal(ctx.gw.exit, null);
    const r = await client.callTool({ name: 'demo__echo', arguments: { message: 'after hup' } });
    assert.match(textOf(r), /after hup/, 'the session survived');
  });
});

describe('one key cannot take every slot, from any number of addresses', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-hostile-'));
  const store = path.join(dir, 'keys.db');
  const create = (name) => execFileSync(MCPGW_BIN, ['keys', 'create', '--name', name, '--store', store],
    { encoding: 'utf8' }).trim().split('\n').at(-1);
  const keyA = create('a');
  const keyB = create('b');
  const ctx = useGateway({
    mcpServers: { demo: servers.demo() },
    gateway: { auth: { mode: 'keys', store }, limits: { maxConnectionsPerPrincipal: 2 }, timeouts: { drainMs: 2000 } },
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A kept-alive connection that sent one authenticated request; its first response. */
  async function authenticated(key) {
    const sock = await idleSocket(ctx.gw.port);
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });
    const got = [];
    sock.on('data', (d) => got.push(d));
    sock.write(`${head(`Authorization: Bearer ${key}\r\n`)}Content-Length: ${body.length}\r\n\r\n${body}`);
    await waitFor(() => parseResponse(Buffer.concat(got)).json !== undefined, { label: 'a whole response' });
    return { sock, res: parseResponse(Buffer.concat(got)) };
  }

  test('connections over maxConnectionsPerPrincipal get 429; other keys and freed slots are served', async () => {
    const a1 = await authenticated(keyA);
    const a2 = await authenticated(keyA);
    // Authenticated and counted: the request itself lacks a session (400).
    assert.deepEqual([a1.res.status, a2.res.status], [400, 400]);
    const a3 = await authenticated(keyA);
    assert.equal(a3.res.status, 429, a3.res.head);
    assert.match(a3.res.json.error.message, /maxConnectionsPerPrincipal/);
    assert.match(a3.res.head, /Retry-After: 1/i);
    const b1 = await authenticated(keyB);
    assert.equal(b1.res.status, 400, 'another key is not affected');
    a1.sock.destroy();
    const again = await waitFor(async () => {
      const a = await authenticated(keyA);
      if (a.res.status === 400) return a;
      a.sock.destroy();
      return false;
    }, { label: 'a freed slot' });
    for (const c of [a2, a3, b1, again]) c.sock.destroy();
    assert.equal((await ctx.gw.health()).limits.maxConnectionsPerPrincipal, 2);
  });
});

describe('wrong credentials are throttled per address', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-hostile-'));
  const store = path.join(dir, 'keys.db');
  const key = execFileSync(MCPGW_BIN, ['keys', 'create', '--name', 'ok', '--store', store],
    { encoding: 'utf8' }).trim().split('\n').at(-1);
  const ctx = useGateway({
    mcpServers: { demo: servers.demo() },
    gateway: { auth: { mode: 'keys', store }, limits: { authFailuresPerMin: 5 }, timeouts: { drainMs: 2000 } },
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('after authFailuresPerMin wrong keys, 429 with Retry-After, even for a right key', async () => {
    assert.equal((await post(ctx.gw.url, initializeBody(), { Authorization: `Bearer ${key}` })).status, 200);
    for (let i = 0; i < 5; i += 1) {
      const r = await post(ctx.gw.url, initializeBody(), { Authorization: `Bearer mcpgw-guess-${i}` });
      assert.equal(r.status, 401, `guess ${i}`);
    }
    const sixth = await post(ctx.gw.url, initializeBody(), { Authorization: 'Bearer mcpgw-guess-6' });
    assert.equal(sixth.status, 429, sixth.text);
    assert.ok(Number(sixth.headers.get('retry-after')) >= 1);
    assert.match(sixth.json.error.message, /authFailuresPerMin/);
    const right = await post(ctx.gw.url, initializeBody(), { Authorization: `Bearer ${key}` });
    assert.equal(right.status, 429, 'a locked address is locked for every credential');
    const missing = await post(ctx.gw.url, initializeBody());
    assert.equal(missing.status, 429);
  });
});

describe('out of file descriptors', () => {
  // The gateway may open only 48 files: a crowd of connections runs it out.
  const ctx = useGateway({ mcpServers: { demo: servers.demo() }, gateway: { timeouts: { drainMs: 2000 } } },
    { wrap: ['prlimit', '--nofile=48:48', '--'] });

  // Not under sanitizers: their runtime needs descriptors of its own (to read /proc/self/maps)
  // and reports its own failure to get one.
  test('accept backs off instead of spinning, and recovers when connections close', { skip: SANITIZED && 'sanitizer build' }, async () => {
    const held = [];
    for (let i = 0; i < 60; i += 1) held.push(await idleSocket(ctx.gw.port));
    const mark = ctx.gw.stderr.length;
    const cpu = () => {
      const stat = readFileSync(`/proc/${ctx.gw.pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(f[11]) + Number(f[12]);  // utime + stime, in clock ticks
    };
    const before = cpu();
    await sleep(2000);
    const ticks = cpu() - before;
    const warnings = (ctx.gw.logSince(mark).match(/accept: /g) ?? []).length;
    assert.ok(warnings <= 4, `${warnings} accept warnings in 2 s`);
    assert.ok(ticks < 100, `${ticks} ticks of CPU in 2 s (200 is two cores)`);
    for (const s of held) s.destroy();
    await waitFor(async () => (await post(ctx.gw.url, initializeBody())).status === 200,
      { ms: 10000, label: 'serving again' });
  });
});

describe('over the memory budget', () => {
  const ctx = useGateway({
    mcpServers: { demo: servers.demo() },
    gateway: { limits: { memoryBudgetBytes: 1048576 }, timeouts: { drainMs: 2000 } },
  });

  test('new requests get 503 with Retry-After; /healthz says overloaded', async () => {
    const h = await waitFor(async () => {
      const health = await ctx.gw.health();
      return health.status === 'overloaded' ? health : false;
    }, { ms: 5000, label: 'overloaded' });
    assert.ok(h.load.shedding);
    assert.equal(h.limits.memoryBudgetBytes, 1048576);
    const r = await post(ctx.gw.url, initializeBody());
    assert.equal(r.status, 503, r.text);
    assert.equal(r.headers.get('retry-after'), '5');
    assert.match(r.json.error.message, /memoryBudgetBytes/);
    assert.match(ctx.gw.stderr, /over the budget/);
  });
});
