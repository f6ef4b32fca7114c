// Idle sessions: opens N sessions that stay connected (Streamable HTTP with an open GET stream,
// or legacy SSE), reads the gateway's memory at checkpoints, closes them all and reads it again.
import http from 'node:http';

import { rssKb, sleep } from './lib.mjs';

const pool = new http.Agent({ keepAlive: true, maxSockets: 32 });

function request(base, method, path, { headers = {}, body, stream = false } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${path}`, {
      method, headers, agent: stream ? new http.Agent({ keepAlive: false }) : pool,
    }, (res) => {
      if (stream) {
        resolve(res);
        return;
      }
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.setTimeout(30000, () => req.destroy(new Error(`${method} ${path} timed out`)));
    if (body) req.write(body);
    req.end();
  });
}

const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const initBody = (version) => JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize',
  params: { protocolVersion: version, capabilities: {}, clientInfo: { name: 'bench-idle', version: '1' } } });
const initialized = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' });

/** One Streamable HTTP session with its GET stream open. */
async function openStreamable(base, path) {
  const init = await request(base, 'POST', path, { headers: JSON_HEADERS, body: initBody('2025-06-18') });
  const sid = init.headers['mcp-session-id'];
  if (init.status !== 200 || !sid) throw new Error(`initialize: ${init.status} ${init.text.slice(0, 120)}`);
  const h = { ...JSON_HEADERS, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' };
  await request(base, 'POST', path, { headers: h, body: initialized });
  const res = await request(base, 'GET', path, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid,
    'mcp-protocol-version': '2025-06-18' }, stream: true });
  if (res.statusCode !== 200) throw new Error(`GET stream: ${res.statusCode}`);
  res.on('data', () => {});
  return {
    async close() {
      await request(base, 'DELETE', path, { headers: { 'mcp-session-id': sid } });
      res.destroy();
    },
  };
}

/** One legacy SSE session: the stream open, initialize done over POST /message. */
async function openLegacy(base, path) {
  const res = await request(base, 'GET', path, { headers: { accept: 'text/event-stream' }, stream: true });
  if (res.statusCode !== 200) throw new Error(`GET ${path}: ${res.statusCode}`);
  res.setEncoding('utf8');
  const endpoint = await new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d) => {
      buf += d;
      const m = /event: endpoint\ndata: (\S+)\n\n/.exec(buf);
      if (m) {
        res.off('data', onData);
        res.on('data', () => {});
        resolve(m[1]);
      }
    };
    res.on('data', onData);
    res.on('error', reject);
  });
  const posted = await request(base, 'POST', endpoint, { headers: { 'content-type': 'application/json' }, body: initBody('2024-11-05') });
  if (posted.status !== 202) throw new Error(`POST ${endpoint}: ${posted.status}`);
  await request(base, 'POST', endpoint, { headers: { 'content-type': 'application/json' }, body: initialized });
  return { async close() { res.destroy(); } };
}

/**
 * Holds idle sessions against the gateway at `base` (process `pid`). Returns the gateway's RSS
 * before, at each checkpoint (with KiB per session), and after every session closed.
 */
export async function idleSessions({ base, pid, mode, checkpoints, concurrency = 32 }) {
  const open = mode === 'legacy' ? () => openLegacy(base, '/sse') : () => openStreamable(base, '/mcp');
  await sleep(500);
  const baseline = rssKb(pid);
  const sessions = [];
  const points = [];
  const t0 = Date.now();
  for (const target of checkpoints) {
    while (sessions.length < target) {
      const batch = Math.min(concurrency, target - sessions.length);
      sessions.push(...await Promise.all(Array.from({ length: batch }, open)));
    }
    await sleep(1000);
    const rss = rssKb(pid);
    points.push({ sessions: target, rss_kb: rss, kb_per_session: Math.round(((rss - baseline) / target) * 10) / 10 });
  }
  const openMs = Date.now() - t0;
  for (let i = 0; i < sessions.length; i += concurrency) {
    await Promise.all(sessions.slice(i, i + concurrency).map((s) => s.close()));
  }
  sessions.length = 0;
  await sleep(4500);  // the gateway returns freed memory within a few seconds
  const after = rssKb(pid);
  return { mode, baseline_kb: baseline, points, after_kb: after,
    after_vs_baseline_pct: Math.round(((after - baseline) / baseline) * 1000) / 10, open_ms: openMs };
}
