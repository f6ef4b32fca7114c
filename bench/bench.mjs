// mcpgw's benchmark. `make bench`: mcpgw in front of its own stdio echo server (mcpgw-demo),
// driven over Streamable HTTP by wrk at several connection counts, every reply checked; CPU per
// call; idle memory; memory with 1,000 and 10,000 idle sessions (Streamable HTTP with open GET
// streams, and legacy SSE) and after they close. `make bench-peers` (--peers) runs the same load,
// in the same run, against supergateway, mcp-proxy and nginx with a fixed reply, and prints ratios.
// The production setup's share of the default gateway's throughput is measured apart, in
// alternating runs (`--pairs N` of `--pair-seconds S` per connection count; 0 pairs: skipped).
//
//   node bench/bench.mjs [--peers] [--duration S] [--conns 1,16,64] [--sessions 1000,10000]
//                        [--rounds N] [--out FILE] [--only mcpgw,mcpgw-gate,...]
//                        [--pairs N] [--pair-seconds S]
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { cpuSeconds, freePort, handshake, ownCpuSeconds, rssKb, sleep, start, treeRssKb, waitPort, wrk } from './lib.mjs';
import { idleSessions } from './sessions.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const peers = process.argv.includes('--peers');
const duration = Number(arg('duration', peers ? 6 : 8));
const conns = arg('conns', '1,16,64').split(',').map(Number);
const sessionCounts = arg('sessions', '1000,10000').split(',').filter(Boolean).map(Number);
const rounds = Number(arg('rounds', 1));
// The production setup's share of the default gateway's throughput: alternating runs (0: off).
const pairs = Number(arg('pairs', 6));
const pairSeconds = Number(arg('pair-seconds', 3));
const only = arg('only', '').split(',').filter(Boolean);  // target names; default: all
const outFile = arg('out', path.join(root, 'bench', 'results', peers ? 'peers.json' : 'mcpgw.json'));
// MCPGW_BIN: another build of the gateway (a before/after comparison); the demo server stays.
const MCPGW = process.env.MCPGW_BIN ? path.resolve(process.env.MCPGW_BIN) : path.join(root, 'build', 'mcpgw');
const DEMO = path.join(root, 'build', 'mcpgw-demo');
const SCRIPT = path.join(here, 'mcp_call.lua');
const NODE = process.execPath;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'mcpgw-bench-'));

/** Where traced targets send their spans: a sink in this process that accepts every batch. */
let otlpSink = null;
async function startOtlpSink() {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => { otlpSink.batches += 1; res.writeHead(200, { 'content-type': 'application/json' }); res.end('{}'); });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  otlpSink = { server, batches: 0, url: `http://127.0.0.1:${server.address().port}/v1/traces` };
}

function mcpgwConfig({ upstreamPort = 0, audit, gate, traced, bare } = {}) {
  const file = path.join(tmp, `mcpgw${upstreamPort ? '-remote' : ''}${audit === false ? '-noaudit' : ''}${gate ? `-gate-${gate}` : ''}${traced ? '-traced' : ''}${bare ? '-bare' : ''}.json`);
  // Traced: spans of 1% of the calls (a production setting) exported to the sink. Bare: no
  // metrics either (nothing counted), the baseline of what observability costs.
  const tracing = traced ? { tracing: { endpoint: otlpSink.url, sampleRatio: 0.01 } } : {};
  const metrics = bare ? { metrics: { enabled: false } } : {};
  // The security gate's default chain (fence → pin → inspect → taint) on every call. "trusted":
  // the demo server is labelled all false (the filters run, nothing is fenced); "public": it is
  // a public source, so every result is also scanned for injection and fenced.
  // "flow": the demo server holds secrets and is a sink, so every call's arguments are checked
  // for the secret values the session read (seeded once, see `seed`).
  const trust = (v) => ({ public_source: v, secret_data: false, public_sink: false, dangerous_writes: false });
  const flow = { public_source: false, secret_data: true, public_sink: true, dangerous_writes: false };
  const security = gate ? { security: {}, servers: { demo: { trust: gate === 'flow' ? flow : trust(gate === 'public') } } } : {};
  // With an upstream port: the demo server is reached over Streamable HTTP, through a second
  // mcpgw that runs it (so the remote path is measured, not a slow server).
  const demo = upstreamPort ? { type: 'http', url: `http://127.0.0.1:${upstreamPort}/mcp/demo` } : { command: DEMO };
  writeFileSync(file, JSON.stringify({
    mcpServers: { demo },
    gateway: { logLevel: 'warn', limits: { maxSessions: 20000, maxSessionsPerClient: 20000, maxConnectionsPerClient: 20000 }, ...(audit === false ? { audit: { enabled: false } } : {}), ...security, ...tracing, ...metrics },
  }));
  return file;
}

/** One call whose result puts 50 secret-looking values into the session's scope. */
async function seedSecrets(url, session) {
  const values = Array.from({ length: 50 }, (_, i) => `Sk${i}x${Math.random().toString(36).slice(2, 14)}Q`);
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream',
      'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 'seed', method: 'tools/call',
      params: { name: 'echo', arguments: { message: values.join(' ') } } }),
  });
  const text = await res.text();
  if (!text.includes(values[49])) throw new Error(`seeding the scope failed: ${text.slice(0, 200)}`);
}

/** Everything measured, with how to start it. */
function targets() {
  const sg = path.join(here, 'peers', 'node_modules', 'supergateway', 'dist', 'index.js');
  const mp = path.join(here, 'peers', 'node_modules', 'mcp-proxy', 'dist', 'bin', 'mcp-proxy.mjs');
  const list = [
    { name: 'mcpgw', path: '/mcp/demo', tool: 'echo', cmd: (p) => [MCPGW, ['serve', '--config', mcpgwConfig(), '--listen', `127.0.0.1:${p}`]] },
    // 2026-07-28: stateless requests (the envelope in _meta, the mirrored headers, no session).
    { name: 'mcpgw-modern', path: '/mcp/demo', tool: 'echo', noSession: true, modern: true,
      cmd: (p) => [MCPGW, ['serve', '--config', mcpgwConfig(), '--listen', `127.0.0.1:${p}`]] },
    // Observability's cost: no metrics and no tracing ("bare"), against metrics (on by default)
    // and tracing sampled at 1%, exported to a sink ("traced").
    { name: 'mcpgw-bare', path: '/mcp/demo', tool: 'echo',
      cmd: (p) => [MCPGW, ['serve', '--config', mcpgwConfig({ bare: true }), '--listen', `127.0.0.1:${p}`]] },
    { name: 'mcpgw-traced', path: '/mcp/demo', tool: 'echo',
      cmd: (p) => [MCPGW, ['serve', '--config', mcpgwConfig({ traced: true }), '--listen', `127.0.0.1:${p}`]] },
    { name: 'mcpgw-aggregate', path: '/mcp', tool: 'demo__echo', cmd: (p) => [MCPGW, ['serve', '--config', mcpgwConfig(), '--listen', `127.0.0.1:${p}`]] },
    // Every request authenticated with an API key (SHA-256, store check, rate bucket); the
    // audit trail on (its default with keys), then off.
    { name: 'mcpgw-keys', path: '/mcp/demo', tool: 'echo', apiKey: true,
      cmd: (p) => [MCPGW, ['serve', '--config', mcpgwConfig(), '--listen', `127.0.0.1:${p}`,
        '--auth', 'keys', '--store', path.join(tmp, 'keys.db')]] },
    { name: 'mcpgw-keys-noaudit', path: '/mcp/demo', tool: 'echo', apiKey: true,
      cmd: (p) => [MCPGW, ['serve', '--config', mcpgwConfig({ audit: false }), '--listen', `127.0.0.1:${p}`,
        '--auth', 'keys', '--store', path.join(tmp, 'keys.db')]] },
    { name: 'mcpgw-gate', path: '/mcp/demo', tool: 'echo',
      cmd: (p) => [MCPGW, ['serve', '--config', mcpgwConfig({ gate: 'trusted' }), '--listen', `127.0.0.1:${p}`]] },
    { name: 'mcpgw-gate-fenced', path: '/mcp/demo', tool: 'echo',
      cmd: (p) => [MCPGW, ['serve', '--config', mcpgwConfig({ gate: 'public' }), '--listen', `127.0.0.1:${p}`]] },
    // Value tracking: the session first reads 50 secret values; each call is then checked.
    { name: 'mcpgw-gate-flow', path: '/mcp/demo', tool: 'echo', seed: true,
      cmd: (p) => [MCPGW, ['serve', '--config', mcpgwConfig({ gate: 'flow' }), '--listen', `127.0.0.1:${p}`]] },
    // A production setup: API keys, the audit trail and the gate's default chain, together.
    { name: 'mcpgw-prod', path: '/mcp/demo', tool: 'echo', apiKey: true,
      cmd: (p) => [MCPGW, ['serve', '--config', mcpgwConfig({ gate: 'trusted' }), '--listen', `127.0.0.1:${p}`,
        '--auth', 'keys', '--store', path.join(tmp, 'keys.db')]] },
    // The front gateway's server is remote (Streamable HTTP); CPU is the front gateway's alone.
    { name: 'mcpgw-remote', path: '/mcp/demo', tool: 'echo', upstream: true,
      cmd: (p, up) => [MCPGW, ['serve', '--config', mcpgwConfig({ upstreamPort: up }), '--listen', `127.0.0.1:${p}`]] },
  ];
  if (peers) {
    list.push(
      { name: 'supergateway', path: '/mcp', tool: 'echo', peer: true,
        cmd: (p) => [NODE, ['-r', path.join(here, 'force_loopback.cjs'), sg, '--stdio', DEMO, '--outputTransport', 'streamableHttp',
          '--stateful', '--logLevel', 'none', '--port', String(p)]] },
      { name: 'mcp-proxy', path: '/mcp', tool: 'echo', peer: true,
        cmd: (p) => [NODE, [mp, '--host', '127.0.0.1', '--port', String(p), '--', DEMO]] },
      { name: 'nginx-fixed-reply', path: '/mcp', tool: 'echo', reference: true, noSession: true,
        cmd: (p) => {
          const dir = mkdtempSync(path.join(tmp, 'nginx-'));
          const conf = path.join(dir, 'nginx.conf');
          writeFileSync(conf, readFileSync(path.join(here, 'nginx.conf'), 'utf8').replace('PORT', String(p)));
          return ['nginx', ['-p', dir, '-c', conf, '-e', 'stderr']];
        } },
    );
  }
  return list;
}

/** Starts a target (and its upstream) and opens its session: ready for wrk. */
async function launch(t) {
  let upstream = null;
  let upPort = 0;
  if (t.upstream) {
    upPort = await freePort();
    upstream = start(MCPGW, ['serve', '--config', mcpgwConfig(), '--listen', `127.0.0.1:${upPort}`], { cwd: tmp });
    await waitPort(upPort);
  }
  let apiKey = '';
  if (t.apiKey) {
    apiKey = execFileSync(MCPGW, ['keys', 'create', '--name', `bench-${Date.now()}`, '--rate', '100000000/s',
      '--store', path.join(tmp, 'keys.db')], { encoding: 'utf8' }).trim().split('\n').at(-1);
  }
  const port = await freePort();
  const [cmd, args] = t.cmd(port, upPort);
  const proc = start(cmd, args, { cwd: tmp });
  const stop = async () => {
    await proc.stop();
    await upstream?.stop();
  };
  try {
    await waitPort(port);
    const url = `http://127.0.0.1:${port}${t.path}`;
    const session = t.noSession ? '' : await handshake(url, undefined, apiKey);
    if (t.seed) await seedSecrets(url, session);
    const load = (c, seconds) => wrk(url, { conns: c, seconds, session, tool: t.tool, script: SCRIPT, apiKey, modern: t.modern });
    return { proc, load, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

async function measure(t) {
  const { proc, load, stop } = await launch(t);
  try {
    await sleep(300);
    const idle = { rss_kb: rssKb(proc.pid), tree_rss_kb: treeRssKb(proc.pid) };
    // Warm up (connections, caches, JIT for the Node peers), then the measured runs.
    load(16, 1);
    const runs = [];
    for (const c of conns) {
      const cpu0 = cpuSeconds(proc.pid);
      const t0 = process.hrtime.bigint();
      const r = load(c, duration);
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      const cpu = cpuSeconds(proc.pid) - cpu0;
      r.cpu_cores = Math.round((cpu / wall) * 100) / 100;
      r.cpu_us_per_call = r.ok > 0 ? Math.round((cpu / r.ok) * 1e6 * 10) / 10 : null;
      runs.push(r);
      process.stderr.write(`  ${t.name} c=${c}: ${r.rps.toFixed(0)}/s p50 ${r.p50_ms} ms, ${r.bad_status + r.bad_body} bad\n`);
    }
    return { name: t.name, peer: !!t.peer, reference: !!t.reference, idle, runs };
  } finally {
    await stop();
  }
}

/**
 * The production setup's throughput as a share of the gateway with its defaults, measured so
 * that the machine's drift cancels: both run at once (the idle one costs nothing) and short
 * wrk runs alternate between them, A B B A, `pairs` times per connection count. The share is
 * the median of the pairs' ratios. Beside it, the gateway process's own CPU per call (its
 * server aside), as a ratio too: what the share is where the gateway's CPU is the limit, and
 * much steadier than calls/s on a machine whose neighbours come and go.
 */
async function pairedShare(base, other, { pairs, seconds }) {
  const a = await launch(base);
  try {
    const b = await launch(other);
    try {
      a.load(16, 1);
      b.load(16, 1);
      const run = (t, c) => {
        const cpu0 = ownCpuSeconds(t.proc.pid);
        const r = t.load(c, seconds);
        r.cpu_per_call = r.ok > 0 ? (ownCpuSeconds(t.proc.pid) - cpu0) / r.ok : null;
        return r;
      };
      return conns.map((c) => {
        const ratios = [];
        const cpuRatios = [];
        let bad = 0;
        for (let i = 0; i < pairs; i += 1) {
          const [first, second] = i % 2 === 0 ? [a, b] : [b, a];
          const r1 = run(first, c);
          const r2 = run(second, c);
          const [ra, rb] = first === a ? [r1, r2] : [r2, r1];
          bad += ra.bad_status + ra.bad_body + rb.bad_status + rb.bad_body;
          if (ra.rps > 0) ratios.push(rb.rps / ra.rps);
          if (ra.cpu_per_call && rb.cpu_per_call) cpuRatios.push(ra.cpu_per_call / rb.cpu_per_call);
        }
        const share = median(ratios);
        const cpuShare = median(cpuRatios);
        process.stderr.write(`  ${other.name} ÷ ${base.name} c=${c}: ${(share * 100).toFixed(1)}% (${ratios.map((x) => Math.round(x * 100)).join(' ')}); CPU per call ${(cpuShare * 100).toFixed(1)}% (${cpuRatios.map((x) => Math.round(x * 100)).join(' ')})\n`);
        return { conns: c, share, min: Math.min(...ratios), max: Math.max(...ratios), cpu_share: cpuShare, pairs: ratios.length, bad };
      });
    } finally {
      await b.stop();
    }
  } finally {
    await a.stop();
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : null;
};

async function main() {
  await startOtlpSink();
  const all = targets().filter((t) => !only.length || only.includes(t.name));
  const results = new Map(all.map((t) => [t.name, []]));
  for (let round = 0; round < rounds; round += 1) {
    // Rotate the order every round so no target always runs on a warmer machine.
    const order = all.map((_, i) => all[(i + round) % all.length]);
    for (const t of order) {
      process.stderr.write(`round ${round + 1}/${rounds}: ${t.name}\n`);
      results.get(t.name).push(await measure(t));
    }
  }
  // One row per target and connection count: the median over rounds.
  const summary = all.map((t) => {
    const rs = results.get(t.name);
    return {
      name: t.name, peer: !!t.peer, reference: !!t.reference,
      idle_rss_kb: median(rs.map((r) => r.idle.rss_kb)),
      idle_tree_rss_kb: median(rs.map((r) => r.idle.tree_rss_kb)),
      runs: conns.map((c, i) => ({
        conns: c,
        rps: median(rs.map((r) => r.runs[i].rps)),
        p50_ms: median(rs.map((r) => r.runs[i].p50_ms)),
        p99_ms: median(rs.map((r) => r.runs[i].p99_ms)),
        cpu_us_per_call: median(rs.map((r) => r.runs[i].cpu_us_per_call)),
        cpu_cores: median(rs.map((r) => r.runs[i].cpu_cores)),
        bad: rs.reduce((n, r) => n + r.runs[i].bad_status + r.runs[i].bad_body, 0),
        first_bad: rs.map((r) => r.runs[i].first_bad).find(Boolean) || undefined,
      })),
    };
  });

  // Keys + audit + the gate's default chain, against the same gateway without them.
  let production = [];
  const base = all.find((t) => t.name === 'mcpgw');
  const prod = all.find((t) => t.name === 'mcpgw-prod');
  if (base && prod && pairs > 0) {
    process.stderr.write(`paired: ${prod.name} against ${base.name}\n`);
    production = await pairedShare(base, prod, { pairs, seconds: pairSeconds });
  }

  let sessions = [];
  if (sessionCounts.length) {
    const port = await freePort();
    for (const mode of ['streamable', 'legacy']) {
      const proc = start(MCPGW, ['serve', '--config', mcpgwConfig(), '--listen', `127.0.0.1:${port}`], { cwd: tmp });
      try {
        await waitPort(port);
        process.stderr.write(`idle sessions: ${mode}\n`);
        sessions.push(await idleSessions({ base: `http://127.0.0.1:${port}`, pid: proc.pid, mode, checkpoints: sessionCounts }));
      } finally {
        await proc.stop();
      }
    }
  }

  const report = { date: new Date().toISOString(), machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model,
    memory_gb: Math.round(os.totalmem() / 2 ** 30) }, duration_s: duration, rounds, summary, production, pair_seconds: pairSeconds, sessions };
  writeFileSync(outFile, JSON.stringify(report, null, 2));
  console.log(render(report));
  otlpSink.server.close();
}

function render(report) {
  const lines = [];
  lines.push(`# mcpgw benchmark, ${report.date.slice(0, 10)}`);
  lines.push('');
  lines.push(`${report.machine.cpus} CPUs (${report.machine.model}), ${report.machine.memory_gb} GiB; wrk ${report.duration_s} s per level, ${report.rounds} round(s), medians; every reply checked.`);
  lines.push('');
  lines.push('| target | conns | calls/s | p50 ms | p99 ms | server CPU µs/call | bad replies |');
  lines.push('|---|---|---|---|---|---|---|');
  for (const t of report.summary) {
    for (const r of t.runs) {
      lines.push(`| ${t.name} | ${r.conns} | ${Math.round(r.rps)} | ${r.p50_ms ?? '-'} | ${r.p99_ms ?? '-'} | ${r.cpu_us_per_call ?? '-'} | ${r.bad} |`);
    }
  }
  lines.push('');
  lines.push('| target | RSS after one handshake (gateway) | (with its server) |');
  lines.push('|---|---|---|');
  for (const t of report.summary) {
    lines.push(`| ${t.name} | ${(t.idle_rss_kb / 1024).toFixed(1)} MB | ${(t.idle_tree_rss_kb / 1024).toFixed(1)} MB |`);
  }
  const bare = report.summary.find((t) => t.name === 'mcpgw-bare');
  const traced = report.summary.find((t) => t.name === 'mcpgw-traced');
  if (bare && traced) {
    lines.push('');
    lines.push('| conns | no metrics, no tracing calls/s | metrics + tracing at 1% calls/s | cost |');
    lines.push('|---|---|---|---|');
    bare.runs.forEach((r, i) => {
      const t = traced.runs[i].rps;
      lines.push(`| ${r.conns} | ${Math.round(r.rps)} | ${Math.round(t)} | ${((1 - t / r.rps) * 100).toFixed(1)}% |`);
    });
  }
  if (report.production?.length) {
    lines.push('');
    lines.push(`| conns | mcpgw-prod ÷ mcpgw calls/s (median of ${report.production[0].pairs} alternating pairs of ${report.pair_seconds} s) | lowest | highest | mcpgw ÷ mcpgw-prod gateway CPU per call | bad replies |`);
    lines.push('|---|---|---|---|---|---|');
    for (const p of report.production) {
      lines.push(`| ${p.conns} | ${(p.share * 100).toFixed(1)}% | ${(p.min * 100).toFixed(0)}% | ${(p.max * 100).toFixed(0)}% | ${(p.cpu_share * 100).toFixed(1)}% | ${p.bad} |`);
    }
  }
  const mine = report.summary.find((t) => t.name === 'mcpgw');
  const peerRows = report.summary.filter((t) => t.peer);
  const nginx = report.summary.find((t) => t.reference);
  if (mine && (peerRows.length || nginx)) {
    lines.push('');
    lines.push('| conns | mcpgw calls/s | best peer | mcpgw ÷ best peer | mcpgw ÷ nginx fixed reply |');
    lines.push('|---|---|---|---|---|');
    mine.runs.forEach((r, i) => {
      const best = peerRows.map((p) => ({ name: p.name, rps: p.runs[i].rps })).sort((a, b) => b.rps - a.rps)[0];
      const ng = nginx?.runs[i].rps;
      lines.push(`| ${r.conns} | ${Math.round(r.rps)} | ${best ? `${best.name} ${Math.round(best.rps)}` : '-'} | ${best ? (r.rps / best.rps).toFixed(1) + '×' : '-'} | ${ng ? Math.round((r.rps / ng) * 100) + '%' : '-'} |`);
    });
  }
  if (report.sessions.length) {
    lines.push('');
    lines.push('| idle sessions | gateway RSS before | at each checkpoint (KiB per session) | after they closed |');
    lines.push('|---|---|---|---|');
    for (const s of report.sessions) {
      const pts = s.points.map((p) => `${p.sessions}: ${(p.rss_kb / 1024).toFixed(1)} MB (${p.kb_per_session} KiB)`).join('; ');
      lines.push(`| ${s.mode === 'legacy' ? 'legacy SSE' : 'Streamable HTTP + GET stream'} | ${(s.baseline_kb / 1024).toFixed(1)} MB | ${pts} | ${(s.after_kb / 1024).toFixed(1)} MB (${s.after_vs_baseline_pct >= 0 ? '+' : ''}${s.after_vs_baseline_pct}%) |`);
    }
  }
  return lines.join('\n');
}

main().then(() => rmSync(tmp, { recursive: true, force: true }), (e) => {
  console.error(e);
  rmSync(tmp, { recursive: true, force: true });
  process.exit(1);
});
