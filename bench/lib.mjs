// Shared pieces of the benchmark: processes, /proc readings, the MCP handshake and wrk.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const CLK_TCK = 100;

/** A free loopback port. */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export async function waitPort(port, ms = 30000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${ms} ms`);
}

/** Starts a process; `stop()` ends it and everything it started (by PID, process group). */
export function start(cmd, args, { cwd, env } = {}) {
  const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let log = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { log = (log + d).slice(-20000); });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    pid: child.pid,
    log: () => log,
    exited,
    async stop() {
      try { process.kill(-child.pid, 'SIGTERM'); } catch { /* gone */ }
      const t = setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }, 5000);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
  };
}

function statOf(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(rest[1]), ticks: Number(rest[11]) + Number(rest[12]) };
  } catch {
    return null;
  }
}

/** `pid` and all its descendants. */
export function tree(pid) {
  const children = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = statOf(Number(name));
    if (!st) continue;
    if (!children.has(st.ppid)) children.set(st.ppid, []);
    children.get(st.ppid).push(Number(name));
  }
  const out = [];
  const walk = (p) => { out.push(p); for (const c of children.get(p) ?? []) walk(c); };
  walk(pid);
  return out;
}

/** CPU seconds used so far by `pid` and its descendants. */
export function cpuSeconds(pid) {
  return tree(pid).reduce((sum, p) => sum + (statOf(p)?.ticks ?? 0), 0) / CLK_TCK;
}

/** CPU seconds used so far by `pid` alone (not its children). */
export function ownCpuSeconds(pid) {
  return (statOf(pid)?.ticks ?? 0) / CLK_TCK;
}

/** Resident memory in KiB of one process. */
export function rssKb(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export const treeRssKb = (pid) => tree(pid).reduce((sum, p) => sum + rssKb(p), 0);

/** The Streamable HTTP handshake: initialize + notifications/initialized. Returns the session id. */
export async function handshake(url, version = '2025-06-18', apiKey = '') {
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  if (apiKey) headers.authorization = `Bearer ${apiKey}`;
  const init = await fetch(url, {
    method: 'POST', headers,
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize',
      params: { protocolVersion: version, capabilities: {}, clientInfo: { name: 'mcpgw-bench', version: '1' } } }),
  });
  const text = await init.text();
  if (init.status !== 200 || !text.includes('"result"')) {
    throw new Error(`initialize at ${url}: ${init.status} ${text.slice(0, 200)}`);
  }
  const sid = init.headers.get('mcp-session-id') ?? '';
  const h2 = { ...headers, 'mcp-protocol-version': version };
  if (sid) h2['mcp-session-id'] = sid;
  const note = await fetch(url, { method: 'POST', headers: h2, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
  await note.text();
  return sid;
}

function toMs(value, unit) {
  const v = Number(value);
  return unit === 'us' ? v / 1000 : unit === 's' ? v * 1000 : v;
}

/** Runs wrk against `url`; returns calls/s, latency percentiles and the reply check. */
export function wrk(url, { conns, seconds, session, tool, script, apiKey = '', modern = false }) {
  const threads = conns === 1 ? 1 : 2;
  const r = spawnSync('wrk', ['-t', String(threads), '-c', String(conns), '-d', `${seconds}s`, '--latency',
    '-s', script, url], { encoding: 'utf8', env: { ...process.env, MCP_SESSION_ID: session, MCP_TOOL: tool, MCP_API_KEY: apiKey,
      MCP_MODERN: modern ? '1' : '' },
    timeout: (seconds + 30) * 1000 });
  const out = r.stdout ?? '';
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
  const pct = (p) => {
    const m = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    return m ? toMs(m[1], m[2]) : null;
  };
  const check = JSON.parse(/MCPCHECK (\{.*\})/.exec(out)?.[1] ?? '{"ok":0,"bad_status":0,"bad_body":0,"first_bad":"no output"}');
  const total = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  return { conns, rps, p50_ms: pct(50), p99_ms: pct(99), requests: total, ...check, raw: r.status === 0 ? undefined : out + r.stderr };
}
