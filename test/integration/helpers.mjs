// Shared helpers for mcpgw's integration tests: start the gateway binary on a free port with a
// temporary config, stop it (and check it exits cleanly), connect SDK clients in each transport
// mode, and talk plain HTTP for protocol-level checks.
//
// Environment:
//   MCPGW_BIN       gateway binary (default build/mcpgw in the repository; point it at a sanitizer build)
//   MCPGW_DEMO_BIN  demo server (default: mcpgw-demo next to MCPGW_BIN, else build/mcpgw-demo)
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import assert from 'node:assert/strict';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '..', '..');
export const MCPGW_BIN = process.env.MCPGW_BIN ? path.resolve(process.env.MCPGW_BIN) : path.join(ROOT, 'build', 'mcpgw');
// The demo server is a fixture, not what is tested: a sanitizer build dir may not have one.
export const DEMO_BIN = process.env.MCPGW_DEMO_BIN
  || [path.join(path.dirname(MCPGW_BIN), 'mcpgw-demo'), path.join(ROOT, 'build', 'mcpgw-demo')].find((p) => existsSync(p))
  || path.join(ROOT, 'build', 'mcpgw-demo');
/** The Node that runs these tests (Node 22 from node_modules) also runs the Node servers. */
export const NODE = process.execPath;
export const EVERYTHING_JS = path.join(
  ROOT, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');
export const PROBE_JS = path.join(here, 'fixtures', 'probe_server.mjs');

/** Under sanitizers everything is slower: waits for the gateway's own startup scale with this. */
export const SANITIZED = /asan|sanitize/i.test(MCPGW_BIN);
export const SLOW = Number(process.env.MCPGW_TEST_SLOWDOWN || (SANITIZED ? 3 : 1));

export const servers = {
  everything: () => ({ command: NODE, args: [EVERYTHING_JS, 'stdio'] }),
  demo: () => ({ command: DEMO_BIN }),
  probe: () => ({ command: NODE, args: [PROBE_JS] }),
};

/** The default config: server-everything and the demo server, short drain so stops are quick. */
export function defaultConfig(extra = {}) {
  return {
    mcpServers: { everything: servers.everything(), demo: servers.demo(), ...(extra.mcpServers ?? {}) },
    gateway: {
      timeouts: { callMs: 120000, listMs: 5000, drainMs: 2000, ...(extra.timeouts ?? {}) },
      ...(extra.gateway ?? {}),
    },
  };
}

// -------------------------------------------------------------------------------------------
// Small utilities

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Rejects with `label` if `promise` does not settle within `ms`. */
export async function withTimeout(promise, ms, label = 'operation') {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${label} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Polls `fn` every `interval` ms until it returns a truthy value; fails after `ms`. `label`
 * (a string, or a function called on failure) names the condition in the error.
 */
export async function waitFor(fn, { ms = 10000, interval = 50, label = 'condition' } = {}) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      const name = typeof label === 'function' ? label() : label;
      throw new Error(`${name} not reached within ${ms} ms (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    }
    await sleep(interval);
  }
}

/**
 * State of process `pid` from /proc: null when it is gone (exited and reaped), else its state
 * letter ('S', 'R', … or 'Z' for a zombie: exited but not reaped by its parent).
 */
export function processState(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return null;
  }
}

/**
 * The bytes of SQLite file `name` in `dir` and of its write-ahead log, as one latin1 string, for
 * checks that a secret is not stored in the clear.
 */
export function storeBytes(dir, name) {
  return [name, `${name}-wal`].map((f) => path.join(dir, f)).filter(existsSync)
    .map((f) => readFileSync(f).toString('latin1')).join('');
}

/** Text of a tool result's content items, joined. */
export function textOf(result) {
  return (result?.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
}

// -------------------------------------------------------------------------------------------
// The gateway process

/** Gateways still running: killed (by pid) if this test process exits without stopping them. */
const running = new Set();
process.on('exit', () => {
  for (const pid of running) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
});

export class Gateway {
  constructor(child, dir) {
    this.child = child;
    this.dir = dir;
    this.pid = child.pid;
    this.stderr = '';
    this.stdout = '';
    this.exit = null; // {code, signal} once exited
    running.add(child.pid);
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        running.delete(child.pid);
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
    child.stderr.setEncoding('utf8');
    child.stdout.setEncoding('utf8');
    child.stderr.on('data', (d) => { this.stderr += d; });
    child.stdout.on('data', (d) => { this.stdout += d; });
  }

  get base() { return `http://127.0.0.1:${this.port}`; }
  get url() { return `${this.base}/mcp`; }
  endpoint(p = '/mcp') { return new URL(p, this.base); }

  async health() {
    const res = await fetch(`${this.base}/healthz`);
    assert.equal(res.status, 200, 'GET /healthz');
    return res.json();
  }

  /**
   * Waits (bounded) until every named server (default: every shared one; servers with
   * isolation "session" have no process before a session) reports state "ready".
   */
  async waitReady(names, ms = 20000 * SLOW) {
    return waitFor(async () => {
      const h = await this.health();
      const want = names ?? Object.entries(h.servers ?? {})
        .filter(([, s]) => s.isolation !== 'session').map(([n]) => n);
      return want.every((n) => h.servers?.[n]?.state === 'ready') ? h : false;
    }, { ms, label: `servers ${names ?? 'all'} ready` });
  }

  /** Gateway log lines written since `mark` (a length of this.stderr). */
  logSince(mark) { return this.stderr.slice(mark); }

  /**
   * SIGTERM, then SIGKILL after `graceMs`. Resolves to {code, signal, forced}. Only ever
   * signals this gateway's own pid.
   */
  async stop(graceMs = 5000 * SLOW) {
    if (this.exit) return { ...this.exit, forced: false };
    try { process.kill(this.pid, 'SIGTERM'); } catch { /* already gone */ }
    let forced = false;
    const timer = setTimeout(() => {
      forced = true;
      try { process.kill(this.pid, 'SIGKILL'); } catch { /* gone */ }
    }, graceMs);
    const exit = await this.exited;
    clearTimeout(timer);
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    return { ...exit, forced };
  }
}

/**
 * Starts `MCPGW_BIN serve --config <tmp>/mcpgw.json --listen 127.0.0.1:0` (or `listen`, e.g. to
 * come back on the same port after a restart) and resolves once
 * it logs its listening line (with `port` set). Rejects if it exits first or takes too long.
 * `configFile`: serve that file (e.g. a LiteLLM config.yaml) instead of writing `config`.
 */
export async function startGateway(config = defaultConfig(), {
  ready = true, env = {}, wrap = [], configFile, listen = '127.0.0.1:0', args = [], bin = MCPGW_BIN,
} = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-it-'));
  const file = configFile ?? path.join(dir, 'mcpgw.json');
  if (!configFile) writeFileSync(file, JSON.stringify(config, null, 2));
  // `wrap`: a command that execs the gateway (e.g. prlimit), so the pid is still the gateway's.
  const argv = [bin, 'serve', '--config', file, '--listen', listen, ...args];
  const child = spawn(wrap.length ? wrap[0] : argv[0], [...wrap.slice(1), ...(wrap.length ? argv : argv.slice(1))], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const gw = new Gateway(child, dir);
  const spawnError = new Promise((_, reject) => child.on('error', reject));
  const listening = waitFor(() => {
    if (gw.exit) throw Object.assign(new Error('exited'), { fatal: true });
    const m = /listening on http:\/\/127\.0\.0\.1:(\d+)\/mcp/.exec(gw.stderr);
    return m ? Number(m[1]) : false;
  }, { ms: 15000 * SLOW, interval: 20, label: 'gateway listening line' });
  const exitedEarly = gw.exited.then((e) => {
    throw new Error(`gateway exited before listening (code ${e.code}, signal ${e.signal}):\n${gw.stderr}`);
  });
  try {
    gw.port = await Promise.race([listening, exitedEarly, spawnError]);
  } catch (e) {
    await gw.stop(1000);
    throw e;
  }
  exitedEarly.catch(() => {});
  if (ready) {
    try {
      await gw.waitReady();
    } catch (e) {
      await gw.stop(1000);
      throw new Error(`${e.message}\ngateway log:\n${gw.stderr.slice(-3000)}`);
    }
  }
  return gw;
}

/**
 * Registers before()/after() hooks (call inside a describe()) that start a gateway and stop it,
 * asserting that it exits with code 0 on SIGTERM (no crash, no sanitizer report). Returns a
 * holder whose `gw` is set once the gateway runs; `clients` are closed before the stop.
 */
export function useGateway(config = defaultConfig(), options = {}) {
  const ctx = { gw: null, clients: [] };
  before(async () => {
    ctx.gw = await startGateway(typeof config === 'function' ? config() : config, options);
  });
  after(async () => {
    for (const c of ctx.clients.splice(0)) {
      await withTimeout(c.close().catch(() => {}), 3000, 'client close').catch(() => {});
    }
    if (!ctx.gw) return;
    const exit = await ctx.gw.stop();
    assert.deepEqual(
      { code: exit.code, signal: exit.signal, forced: exit.forced },
      { code: 0, signal: null, forced: false },
      `gateway must exit 0 on SIGTERM; log tail:\n${ctx.gw.stderr.slice(-4000)}`,
    );
    assert.doesNotMatch(ctx.gw.stderr, /ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:/,
      'sanitizer report in the gateway log');
  });
  return ctx;
}

// -------------------------------------------------------------------------------------------
// SDK clients

/**
 * A fetch that rewrites the Accept header of POSTs (and, with `getAccept`, of GETs), for
 * clients that accept only JSON or only SSE. Records every response's content type.
 */
export function acceptRewritingFetch(postAccept, { getAccept, log } = {}) {
  return async (url, init = {}) => {
    const headers = new Headers(init.headers);
    const method = (init.method ?? 'GET').toUpperCase();
    if (method === 'POST' && postAccept) headers.set('accept', postAccept);
    if (method === 'GET' && getAccept) headers.set('accept', getAccept);
    const res = await fetch(url, { ...init, headers });
    log?.push({ method, status: res.status, contentType: res.headers.get('content-type'), body: init.body });
    return res;
  };
}

export const MODES = ['both', 'json', 'sse', 'legacy'];

/**
 * Connects an SDK Client to the gateway.
 *   mode: 'both' (SDK default Accept), 'json' (POST Accept application/json only),
 *         'sse' (POST Accept text/event-stream only), 'legacy' (SSEClientTransport on /sse).
 *   path: endpoint path ('/mcp', '/mcp/demo'; for legacy '/sse', '/sse/demo').
 * Returns { client, transport, log } — `log` lists every HTTP response the client got.
 */
export async function connect(gw, {
  mode = 'both', path: p, capabilities = {}, headers = {}, name = `it-${mode}`, ctx,
} = {}) {
  const log = [];
  const client = new Client({ name, version: '1.0.0' }, { capabilities });
  let transport;
  const requestInit = { headers };
  if (mode === 'legacy') {
    transport = new SSEClientTransport(gw.endpoint(p ?? '/sse'), {
      requestInit,
      fetch: acceptRewritingFetch(null, { log }),
    });
  } else {
    const postAccept = { both: null, json: 'application/json', sse: 'text/event-stream' }[mode];
    transport = new StreamableHTTPClientTransport(gw.endpoint(p ?? '/mcp'), {
      requestInit,
      fetch: acceptRewritingFetch(postAccept, { log }),
    });
  }
  try {
    await withTimeout(client.connect(transport), 15000 * SLOW, `${mode} client connect`);
  } catch (e) {
    // End what may have been opened (a session whose handshake failed after initialize).
    if (transport.sessionId && transport.terminateSession) await transport.terminateSession().catch(() => {});
    await client.close().catch(() => {});
    throw e;
  }
  ctx?.clients.push(client);
  return { client, transport, log };
}

// -------------------------------------------------------------------------------------------
// Plain HTTP

export const PROTOCOL_VERSION = '2025-06-18';

export function initializeBody(id = 1, extra = {}) {
  return {
    jsonrpc: '2.0', id, method: 'initialize',
    params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'it-fetch', version: '1' }, ...extra },
  };
}

/**
 * POSTs `body` (an object, or a raw string) to `url`. Resolves to
 * { status, headers, contentType, text, json } (json undefined when the body is not JSON).
 */
export async function post(url, body, headers = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return readResponse(res);
}

export async function readResponse(res) {
  const text = await res.text();
  let json;
  try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
  return { status: res.status, headers: res.headers, contentType: res.headers.get('content-type'), text, json };
}

/** Opens a session with a plain initialize + notifications/initialized; returns its id. */
export async function openSession(url, headers = {}) {
  const init = await post(url, initializeBody(), headers);
  assert.equal(init.status, 200, `initialize: ${init.text}`);
  const sid = init.headers.get('mcp-session-id');
  assert.ok(sid, 'initialize response carries Mcp-Session-Id');
  const note = await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' },
    { 'mcp-session-id': sid, 'mcp-protocol-version': PROTOCOL_VERSION, ...headers });
  assert.equal(note.status, 202);
  return sid;
}

/**
 * Reads SSE events from a fetch Response body until `until(events)` is true or `ms` pass.
 * Each event: { event, data, id }. Cancels the body afterwards unless `keepOpen`.
 */
export async function readSse(res, { until = (evs) => evs.length > 0, ms = 5000, keepOpen = false } = {}) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const events = [];
  let buf = '';
  const deadline = Date.now() + ms;
  try {
    while (!until(events)) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      const chunk = await withTimeout(reader.read(), left, 'SSE read').catch(() => null);
      if (!chunk || chunk.done) break;
      buf += decoder.decode(chunk.value, { stream: true }).replace(/\r\n/g, '\n');
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const ev = { event: 'message', data: '', id: undefined };
        let hasField = false;
        const data = [];
        for (const line of block.split('\n')) {
          if (line.startsWith(':') || line === '') continue;
          const [k, ...rest] = line.split(':');
          const v = rest.join(':').replace(/^ /, '');
          hasField = true;
          if (k === 'event') ev.event = v;
          else if (k === 'data') data.push(v);
          else if (k === 'id') ev.id = v;
        }
        ev.data = data.join('\n');
        if (hasField) events.push(ev);
      }
    }
  } finally {
    if (!keepOpen) await reader.cancel().catch(() => {});
  }
  return { events, reader };
}
