// The fault and soak suite (`make soak`, not part of `make test`): one gateway, for --minutes,
// under mixed clients (SDK clients on every transport, raw session churn, slow readers that
// never read) while its servers are killed, frozen and made to hang or fail at random.
// Asserts what an operator needs: every request answered by its deadline, no crash, no leaked
// file descriptor or process, and resident memory back within 10% of its baseline once the
// load is gone. Writes a JSON report (--out) and prints a summary.
//   node test/soak/soak.mjs [--minutes 30] [--out test-results/soak.json]
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  NODE, PROTOCOL_VERSION, connect, initializeBody, post, servers, sleep, startGateway,
} from '../integration/helpers.mjs';
import { startRemote } from '../integration/fixtures/remote.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const HOSTILE_JS = path.join(here, '..', 'integration', 'fixtures', 'hostile_server.mjs');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const MINUTES = Number(arg('minutes', '30'));
const OUT = arg('out', path.join(here, '..', '..', 'test-results', 'soak.json'));
const CALL_MS = 8000;
const DEADLINE_MS = CALL_MS + 4000;  // a request unanswered by then counts as lost
const rand = (n) => Math.floor(Math.random() * n);
const log = (...a) => process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${a.join(' ')}\n`);

// -------------------------------------------------------------------------------------------
// What the gateway process holds

function fdCount(pid) { return readdirSync(`/proc/${pid}/fd`).length; }
function rss(pid) { return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024; }
/** Live (non-zombie) processes whose parent is `pid`. */
function children(pid) {
  const out = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(ppid) === pid && state !== 'Z') out.push(Number(d));
    } catch { /* gone */ }
  }
  return out;
}

// -------------------------------------------------------------------------------------------
// Counting requests

const stats = { ok: 0, errors: 0, lost: 0, churned: 0, slowReaders: 0, slowCut: 0, slowStuck: 0, faults: {}, lostSamples: [], churnFailures: [], connectFailures: [] };

/** Runs `fn` with the suite's deadline: an answer (result or error) counts, silence is lost. */
async function request(label, fn) {
  let timer;
  const deadline = new Promise((resolve) => { timer = setTimeout(() => resolve('lost'), DEADLINE_MS); });
  const outcome = await Promise.race([
    fn().then(() => 'ok', (e) => (/timed out|Request timeout/i.test(e?.message ?? '') && e?.code === -32001 ? 'lost' : 'error')),
    deadline,
  ]);
  clearTimeout(timer);
  if (outcome === 'ok') stats.ok += 1;
  else if (outcome === 'error') stats.errors += 1;
  else {
    stats.lost += 1;
    if (stats.lostSamples.length < 20) stats.lostSamples.push(label);
  }
}

// -------------------------------------------------------------------------------------------
// Workers

async function sdkClientLoop(gw, until, mode, p) {
  while (Date.now() < until) {
    let conn;
    try {
      conn = await connect(gw, { mode, path: p, name: `soak-${mode}` });
    } catch (e) {
      stats.errors += 1;
      if (stats.connectFailures.length < 20) stats.connectFailures.push(`${mode}: ${e?.message ?? e}`);
      await sleep(500);
      continue;
    }
    const { client, transport } = conn;
    const end = Math.min(until, Date.now() + 10000 + rand(20000));
    while (Date.now() < end) {
      const pick = rand(6);
      const opts = { timeout: DEADLINE_MS };
      if (pick === 0) await request(`${mode} tools/list`, () => client.listTools(undefined, opts));
      else if (pick === 1) await request(`${mode} remote__echo`, () => client.callTool({ name: 'remote__echo', arguments: { message: 'hi' } }, undefined, opts));
      else if (pick === 2) await request(`${mode} hostile__pid`, () => client.callTool({ name: 'hostile__pid', arguments: {} }, undefined, opts));
      else if (pick === 3) await request(`${mode} iso__echo`, () => client.callTool({ name: 'iso__echo', arguments: { message: 'x'.repeat(rand(5000)) } }, undefined, opts));
      else await request(`${mode} demo__add`, () => client.callTool({ name: 'demo__add', arguments: { a: rand(100), b: 1.5 } }, undefined, opts));
      await sleep(rand(50));
    }
    if (transport.terminateSession) await transport.terminateSession().catch(() => {});
    await client.close().catch(() => {});
  }
}

/** initialize → initialized → one call → DELETE, as fast as it goes. */
async function churnLoop(gw, until) {
  const h = (sid) => ({ 'mcp-session-id': sid, 'mcp-protocol-version': PROTOCOL_VERSION });
  while (Date.now() < until) {
    await request('churn', async () => {
      const init = await post(gw.url, initializeBody());
      const sid = init.headers.get('mcp-session-id');
      if (!sid) throw new Error(`initialize: ${init.status}`);
      let step = 'notifications/initialized';
      try {
        await post(gw.url, { jsonrpc: '2.0', method: 'notifications/initialized' }, h(sid));
        step = 'tools/call';
        await post(gw.url, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'demo__echo', arguments: { message: 'c' } } }, h(sid));
      } catch (e) {
        // A client that lost a reply still ends its session (else it would hold its server
        // process until sessionIdleMs). What failed, when and where, is kept for the report.
        const why = e?.cause?.code ?? e?.message ?? String(e);
        if (stats.churnFailures.length < 20) stats.churnFailures.push(`${new Date().toISOString()} ${sid} ${step}: ${why}`);
        throw e;
      } finally {
        await fetch(gw.url, { method: 'DELETE', headers: h(sid) }).catch(() => {});
      }
      stats.churned += 1;
    });
  }
}

/** Asks for a 2 MB result and reads none of it: the gateway must cut it off (writeMs). */
async function slowReaderLoop(gw, until) {
  while (Date.now() < until) {
    await sleep(5000 + rand(5000));
    const init = await post(gw.url, initializeBody()).catch(() => null);
    const sid = init?.headers.get('mcp-session-id');
    if (!sid) continue;
    stats.slowReaders += 1;
    const body = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'demo__echo', arguments: { message: 'y'.repeat(6e6) } } });
    // 'cut': the gateway closed it mid-result; 'whole': the reply was small (an error, when the
    // chaos loop had just killed the server) and arrived; 'stuck': neither after 30 s.
    const outcome = await new Promise((resolve) => {
      const sock = net.connect(gw.port, '127.0.0.1');
      let got = Buffer.alloc(0);
      const whole = () => {
        const head = got.indexOf('\r\n\r\n');
        const m = head > 0 ? /content-length: (\d+)/i.exec(got.subarray(0, head).toString()) : null;
        return m !== null && got.length >= head + 4 + Number(m[1]);
      };
      sock.on('error', () => {});
      sock.on('data', (d) => {
        got = Buffer.concat([got, d]);
        if (whole()) { clearTimeout(timer); sock.destroy(); resolve('whole'); }
      });
      const timer = setTimeout(() => { sock.destroy(); resolve('stuck'); }, 30000);
      sock.on('close', () => { clearTimeout(timer); resolve(whole() ? 'whole' : 'cut'); });
      sock.on('connect', () => {
        sock.pause();
        sock.write(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json\r\n` +
          `Mcp-Session-Id: ${sid}\r\nMCP-Protocol-Version: ${PROTOCOL_VERSION}\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
        setTimeout(() => sock.resume(), 8000);  // read after the gateway gave up
      });
    });
    if (outcome === 'cut') stats.slowCut += 1;
    if (outcome === 'stuck') stats.slowStuck += 1;
    await fetch(gw.url, { method: 'DELETE', headers: { 'mcp-session-id': sid } }).catch(() => {});
  }
}

/** Kills, freezes and breaks servers at random. */
async function chaosLoop(gw, remote, until) {
  const faults = {
    killDemo: async () => { const pid = (await gw.health()).servers.demo.pid; if (pid) process.kill(pid, 'SIGKILL'); },
    killHostile: async () => { const pid = (await gw.health()).servers.hostile.pid; if (pid) process.kill(pid, 'SIGKILL'); },
    freezeHostile: async () => {
      const pid = (await gw.health()).servers.hostile.pid;
      if (!pid) return;
      process.kill(pid, 'SIGSTOP');
      await sleep(3000 + rand(4000));
      try { process.kill(pid, 'SIGCONT'); } catch { /* restarted meanwhile */ }
    },
    hangRemote: async () => { await remote.fault('hang'); await sleep(4000 + rand(6000)); await remote.fault('none'); },
    failRemote: async () => { await remote.fault('500'); await sleep(2000 + rand(3000)); await remote.fault('none'); },
    dropRemote: async () => { await remote.fault('drop'); await sleep(2000); await remote.fault('none'); },
  };
  const names = Object.keys(faults);
  while (Date.now() < until) {
    await sleep(10000 + rand(20000));
    if (Date.now() >= until) break;
    const name = names[rand(names.length)];
    stats.faults[name] = (stats.faults[name] ?? 0) + 1;
    await faults[name]().catch((e) => log(`fault ${name}: ${e.message}`));
  }
  await remote.fault('none').catch(() => {});
}

// -------------------------------------------------------------------------------------------

async function main() {
  const remote = await startRemote({ transport: 'streamable', name: 'remote' });
  const gw = await startGateway({
    mcpServers: {
      demo: servers.demo(),
      iso: servers.demo(),
      hostile: { command: NODE, args: [HOSTILE_JS] },
      remote: { type: 'http', url: remote.url },
    },
    gateway: {
      limits: { maxConnectionsPerClient: 4096, maxSessionsPerClient: 4096, maxProcesses: 64 },
      timeouts: { callMs: CALL_MS, listMs: 2000, writeMs: 2000, drainMs: 3000, restartMaxBackoffMs: 2000 },
      servers: { iso: { isolation: 'session' } },
    },
  });
  const pid = gw.pid;
  log(`gateway pid ${pid} on port ${gw.port}; ${MINUTES} min`);

  // Warm up, then take the baseline with no client connected.
  await Promise.all([churnLoop(gw, Date.now() + 15000), sdkClientLoop(gw, Date.now() + 15000, 'both')]);
  await sleep(12000);
  const idle = await gw.health();
  const baseline = { rss: rss(pid), heap: idle.load.heapBytes, fds: fdCount(pid), children: children(pid).length, sessions: idle.sessions };
  log(`baseline: rss ${(baseline.rss / 2 ** 20).toFixed(1)} MiB, ${baseline.fds} fds, ${baseline.children} children`);

  const t0 = Date.now();
  const until = t0 + MINUTES * 60000;
  let peak = { rss: 0, fds: 0 };
  const sampler = setInterval(() => {
    try {
      peak = { rss: Math.max(peak.rss, rss(pid)), fds: Math.max(peak.fds, fdCount(pid)) };
    } catch { /* gone: reported below */ }
  }, 1000);
  const progress = setInterval(() => log(`ok ${stats.ok}, errors ${stats.errors}, lost ${stats.lost}, churned ${stats.churned}, slow readers cut ${stats.slowCut}/${stats.slowReaders}`), 60000);
  const workers = [
    ...['both', 'json', 'sse', 'legacy'].map((m) => sdkClientLoop(gw, until, m)),
    sdkClientLoop(gw, until, 'both', '/mcp/demo'),
    sdkClientLoop(gw, until, 'both'),
    churnLoop(gw, until), churnLoop(gw, until),
    slowReaderLoop(gw, until),
    chaosLoop(gw, remote, until),
  ];
  await Promise.all(workers);
  clearInterval(sampler);
  clearInterval(progress);
  const alive = gw.exit === null;
  if (!alive) log(`the gateway exited during the soak: ${JSON.stringify(gw.exit)}`);

  // The load is gone: every session was ended by its client. Let the gateway settle.
  await sleep(20000);
  const health = alive ? await gw.health() : null;
  const after = alive ? { rss: rss(pid), heap: health.load.heapBytes, fds: fdCount(pid), children: children(pid).length, sessions: health.sessions } : null;
  const exit = await gw.stop(15000);
  await remote.stop();

  const report = {
    minutes: MINUTES, ...stats, baseline, peak, after,
    exit: { code: exit.code, signal: exit.signal, forced: exit.forced },
  };
  const checks = {
    'every request answered by its deadline': stats.lost === 0,
    'no crash (alive throughout, exit 0 on SIGTERM)': alive && exit.code === 0 && !exit.forced,
    'no leaked file descriptors (≤ baseline + 4)': after !== null && after.fds <= baseline.fds + 4,
    'no session left (each client ended its own)': after !== null && after.sessions === 0,
    'no leaked processes (same children as at baseline)': after !== null && after.children === baseline.children,
    'resident memory within 10% of baseline': after !== null && after.rss <= baseline.rss * 1.10,
    'sessions churned ≥ 10,000 (30 min runs)': MINUTES < 30 || stats.churned >= 10000,
    'no slow reader left holding its connection': stats.slowStuck === 0,
  };
  report.checks = checks;
  mkdirSync(path.dirname(OUT), { recursive: true });
  writeFileSync(OUT, JSON.stringify(report, null, 2));
  writeFileSync(OUT.replace(/\.json$/, '') + '-gateway.log', gw.stderr);
  const mib = (b) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  console.log(`soak: ${MINUTES} min, ${stats.ok + stats.errors + stats.lost} requests (${stats.ok} ok, ${stats.errors} errors, ${stats.lost} lost), ` +
    `${stats.churned} sessions churned, slow readers cut ${stats.slowCut}/${stats.slowReaders}, faults ${JSON.stringify(stats.faults)}`);
  console.log(`memory: baseline ${mib(baseline.rss)} (heap ${mib(baseline.heap)}), peak ${mib(peak.rss)}, after ${after ? mib(after.rss) : '-'} (heap ${after ? mib(after.heap) : '-'}); ` +
    `fds: baseline ${baseline.fds}, peak ${peak.fds}, after ${after?.fds ?? '-'}; children: ${baseline.children} → ${after?.children ?? '-'}`);
  let failed = 0;
  for (const [name, ok] of Object.entries(checks)) {
    console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${name}`);
    if (!ok) failed += 1;
  }
  if (stats.lostSamples.length) console.log(`  lost: ${stats.lostSamples.join(', ')}`);
  if (stats.churnFailures.length) console.log(`  churn failures: ${stats.churnFailures.join(', ')}`);
  if (stats.connectFailures.length) console.log(`  connect failures: ${stats.connectFailures.join(', ')}`);
  console.log(`${Object.keys(checks).length - failed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
