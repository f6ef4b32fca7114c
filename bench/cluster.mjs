// What shared state costs a cluster of mcpgw replicas. `make bench-cluster`: mcpgw replicas
// behind nginx round-robin (no stickiness), each running its own stdio echo server (mcpgw-demo),
// sessions sealed with one shared key so any replica serves any request, and the security gate
// (taint filter) keeping each scope's taint in one throwaway Redis. wrk drives tools/call through
// nginx, every reply checked; for each run: calls/s, p50/p99, the replies' check, and the Redis
// commands per call (INFO commandstats before and after). Targets, one after the other:
//   1 replica                  one mcpgw behind nginx (the balancer's cost on both sides)
//   3 replicas                 three behind nginx; the demo server trusted, so the scope stays
//                              clean and each call reads it from Redis first (1 EVAL)
//   3 replicas, tainted scope  the demo server a public source holding secrets: after the first
//                              call the scope is untrusted with secrets, which never clears, so
//                              calls read nothing from Redis before they run
//
//   node bench/cluster.mjs [--duration S] [--conns 16,64] [--out FILE]
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { cpuSeconds, freePort, handshake, start, waitPort, wrk } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const duration = Number(arg('duration', 8));
const conns = arg('conns', '16,64').split(',').map(Number);
const outFile = arg('out', path.join(root, 'bench', 'results', 'cluster.json'));
const MCPGW = process.env.MCPGW_BIN ? path.resolve(process.env.MCPGW_BIN) : path.join(root, 'build', 'mcpgw');
const DEMO = path.join(root, 'build', 'mcpgw-demo');
const NGINX = process.env.MCPGW_NGINX || '/usr/sbin/nginx';
const SCRIPT = path.join(here, 'mcp_call.lua');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'mcpgw-bench-cluster-'));
const keyFile = path.join(tmp, 'session.keys');
writeFileSync(keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });

const TARGETS = [
  { name: '1 replica', replicas: 1, tainted: false },
  { name: '3 replicas', replicas: 3, tainted: false },
  { name: '3 replicas, tainted scope', replicas: 3, tainted: true },
];

/** Everything started and not yet stopped, so an error or Ctrl-C stops it too. */
const running = new Set();
function launch(cmd, args) {
  // A binary that is not there would fail in spawn's 'error' event, past every finally.
  if (path.isAbsolute(cmd)) accessSync(cmd, constants.X_OK);
  const proc = start(cmd, args, { cwd: tmp });
  running.add(proc);
  const stop = proc.stop;
  proc.stop = async () => { running.delete(proc); return stop(); };
  return proc;
}
const stopAll = () => Promise.all([...running].map((p) => p.stop()));

function replicaConfig(replica, redisPort, tainted) {
  const file = path.join(tmp, `${replica}${tainted ? '-tainted' : ''}.json`);
  const trust = { public_source: tainted, secret_data: tainted, public_sink: false, dangerous_writes: false };
  writeFileSync(file, JSON.stringify({
    mcpServers: { demo: { command: DEMO } },
    gateway: {
      logLevel: 'warn',
      limits: { maxSessions: 20000, maxSessionsPerClient: 20000, maxConnectionsPerClient: 20000 },
      cluster: { sessionKeyFile: keyFile, replica, redis: `redis://127.0.0.1:${redisPort}` },
      security: { filters: [{ type: 'taint' }] },
      servers: { demo: { trust } },
    },
  }));
  return file;
}

// Like test/integration/fixtures/nginx.mjs (round robin, streams unbuffered), but with kept-alive
// connections to the replicas: the fixture opens one per request, which would measure TCP
// connects on loopback rather than the replicas.
function nginxConf(dir, port, upstreams) {
  const servers = upstreams.map((p) => `    server 127.0.0.1:${p};`).join('\n');
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${dir}/${t};`).join('\n');
  return `${process.getuid?.() === 0 ? 'user root;' : ''}
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;
${temp}
  upstream mcpgw {
${servers}
    keepalive 256;
    keepalive_requests 10000000;
  }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass http://mcpgw;
      proxy_http_version 1.1;
      proxy_set_header Host $http_host;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 300s;
    }
  }
}
`;
}

async function startNginx(upstreams) {
  const dir = mkdtempSync(path.join(tmp, 'nginx-'));
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  writeFileSync(conf, nginxConf(dir, port, upstreams));
  const proc = launch(NGINX, ['-p', dir, '-c', conf, '-e', 'stderr']);
  await waitPort(port);
  return { proc, port };
}

/** Redis's counters per command (INFO commandstats), less the INFO calls that read them. */
function redisCounts(port) {
  const out = execFileSync('redis-cli', ['-p', String(port), 'INFO', 'commandstats'], { encoding: 'utf8' });
  const counts = {};
  for (const m of out.matchAll(/^cmdstat_(\S+?):calls=(\d+)/gm)) if (m[1] !== 'info') counts[m[1]] = Number(m[2]);
  return counts;
}

// Redis counts the commands a Lua script runs as well as the EVAL that ran it (the scope read is
// EVAL + PEXPIRE + HGETALL), so "commands" is every counter and "round trips" the commands
// mcpgw sends itself on these paths: EVAL for a scope, EXISTS for a session's end. wrk stops with
// up to `conns` calls in flight that the replicas made but wrk does not count: at most
// conns/requests more per call (≈0.003 at 64 connections).
const TOP_LEVEL = ['eval', 'evalsha', 'exists'];
function redisPerCall(before, after, requests) {
  const per = (n) => (requests > 0 ? Math.round((n / requests) * 1000) / 1000 : null);
  const delta = Object.fromEntries(Object.keys(after).map((k) => [k, after[k] - (before[k] ?? 0)]).filter(([, n]) => n > 0));
  const sum = (keys) => keys.reduce((n, k) => n + (delta[k] ?? 0), 0);
  return {
    redis_commands_per_call: per(sum(Object.keys(delta))),
    redis_round_trips_per_call: per(sum(TOP_LEVEL)),
    redis_by_command: Object.fromEntries(Object.entries(delta).map(([k, n]) => [k, per(n)])),
    redis_commands: delta,  // the counts themselves: EXISTS, about one a second per replica
  };
}

/** CPU seconds of the children this process has waited for (wrk, once spawnSync returns). */
function reapedCpuSeconds() {
  const rest = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return (Number(rest[13]) + Number(rest[14])) / 100;
}

/** CPU seconds the whole machine spent busy (/proc/stat: all but idle and iowait). */
function machineCpuSeconds() {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  return (ticks.slice(0, 8).reduce((a, b) => a + b, 0) - ticks[3] - ticks[4]) / 100;
}

/** CPU in cores over the run (`f` runs wrk), by what used it: where the cores went, and how
 *  much went to processes outside the benchmark (a busy machine makes the figures worthless). */
function withCpu(groups, f) {
  const read = () => {
    const cpu = Object.fromEntries(Object.entries(groups).map(([k, pids]) => [k, pids.reduce((s, p) => s + cpuSeconds(p), 0)]));
    return { ...cpu, wrk: reapedCpuSeconds(), machine: machineCpuSeconds() };
  };
  const c0 = read();
  const t0 = process.hrtime.bigint();
  const r = f();
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const c1 = read();
  const cores = (k) => (c1[k] - c0[k]) / wall;
  const ours = Object.keys(c1).filter((k) => k !== 'machine').reduce((s, k) => s + cores(k), 0);
  const round = (x) => Math.round(x * 100) / 100;
  r.cpu_cores = Object.fromEntries(Object.keys(c1).map((k) => [k, round(cores(k))]));
  r.cpu_cores.others = round(Math.max(0, cores('machine') - ours));
  return r;
}

async function measure(t, redis) {
  const redisPort = redis.port;
  const gws = [];
  let lb = null;
  try {
    for (let i = 1; i <= t.replicas; i += 1) {
      const port = await freePort();
      const config = replicaConfig(`r${i}`, redisPort, t.tainted);
      gws.push({ port, proc: launch(MCPGW, ['serve', '--config', config, '--listen', `127.0.0.1:${port}`]) });
      await waitPort(port);
    }
    lb = await startNginx(gws.map((g) => g.port));
    const url = `http://127.0.0.1:${lb.port}/mcp/demo`;
    const session = await handshake(url);
    const load = (c, seconds) => wrk(url, { conns: c, seconds, session, tool: 'echo', script: SCRIPT });
    // Warm up: connections, every replica making the sealed session again, and (tainted) the
    // first call that taints the scope and writes its marks.
    load(16, 1);
    const runs = [];
    for (const c of conns) {
      const before = redisCounts(redisPort);
      const r = withCpu({ gateways: gws.map((g) => g.proc.pid), nginx: [lb.proc.pid], redis: [redis.proc.pid] }, () => load(c, duration));
      Object.assign(r, redisPerCall(before, redisCounts(redisPort), r.requests));
      r.failed = r.ok === 0 || r.bad_status + r.bad_body > 0 || r.raw !== undefined;
      runs.push(r);
      process.stderr.write(`  ${t.name} c=${c}: ${r.rps.toFixed(0)}/s p50 ${r.p50_ms} ms, ` +
        `${r.redis_round_trips_per_call} Redis round trips/call, ${r.bad_status + r.bad_body} bad${r.failed ? ' FAILED' : ''}\n`);
    }
    // Warnings and errors only (logLevel warn): anything here is worth a look.
    const logs = gws.map((g, i) => ({ replica: `r${i + 1}`, log: g.proc.log().trim() })).filter((l) => l.log);
    return { ...t, runs, gateway_logs: logs, nginx_log: lb.proc.log().trim() || undefined };
  } finally {
    await lb?.proc.stop();
    await Promise.all(gws.map((g) => g.proc.stop()));
  }
}

function need(cmd, hint) {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
  } catch {
    throw new Error(`${cmd} not found (${hint})`);
  }
}

async function main() {
  need('wrk', '`make bench-deps` installs it');
  need('redis-server', 'Debian: redis-server');
  need('redis-cli', 'Debian: redis-tools, which redis-server depends on');
  const redisPort = await freePort();
  const redis = launch('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '',
    '--appendonly', 'no', '--daemonize', 'no']);
  await waitPort(redisPort);
  const results = [];
  for (const t of TARGETS) {
    process.stderr.write(`${t.name}\n`);
    results.push(await measure(t, { port: redisPort, proc: redis }));
  }
  await redis.stop();
  const report = { date: new Date().toISOString(), machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model,
    memory_gb: Math.round(os.totalmem() / 2 ** 30) }, duration_s: duration, results };
  mkdirSync(path.dirname(outFile), { recursive: true });
  writeFileSync(outFile, JSON.stringify(report, null, 2));
  console.log(render(report));
  // A run with bad replies is a failed benchmark, not a number.
  return results.some((t) => t.runs.some((r) => r.failed)) ? 1 : 0;
}

function render(report) {
  const { cpus } = report.machine;
  const lines = [`# mcpgw replicas behind nginx round-robin, ${report.date.slice(0, 10)}`, ''];
  lines.push(`${cpus} CPUs (${report.machine.model}); wrk ${report.duration_s} s per level through nginx, every reply checked. ` +
    `On this ${cpus}-core machine the replicas share the cores with nginx, Redis, wrk and one demo server each: ` +
    'the figures show the per-call cost of shared state, not scaling headroom. ' +
    'Redis commands count those run inside EVAL; round trips are the commands mcpgw sent.');
  lines.push('');
  lines.push('| target | conns | calls/s | p50 ms | p99 ms | Redis round trips/call | Redis commands/call | replies ok/bad | ' +
    'CPU cores: gateways+demo / nginx / redis / wrk / not ours |');
  lines.push('|---|---|---|---|---|---|---|---|---|');
  for (const t of report.results) {
    for (const r of t.runs) {
      lines.push(`| ${t.name} | ${r.conns} | ${Math.round(r.rps)} | ${r.p50_ms ?? '-'} | ${r.p99_ms ?? '-'} | ` +
        `${r.redis_round_trips_per_call ?? '-'} | ${r.redis_commands_per_call ?? '-'} | ` +
        `${r.ok}/${r.bad_status + r.bad_body}${r.failed ? ' FAILED' : ''} | ` +
        `${['gateways', 'nginx', 'redis', 'wrk', 'others'].map((k) => r.cpu_cores[k]).join(' / ')} |`);
    }
  }
  const one = report.results.find((t) => t.replicas === 1);
  const three = report.results.find((t) => t.replicas === 3 && !t.tainted);
  lines.push('', '| conns | 1 replica calls/s | 3 replicas calls/s | 3 ÷ 1 |', '|---|---|---|---|');
  one.runs.forEach((r, i) => {
    const r3 = three.runs[i].rps;
    lines.push(`| ${r.conns} | ${Math.round(r.rps)} | ${Math.round(r3)} | ${r.rps > 0 ? (r3 / r.rps).toFixed(2) + '×' : '-'} |`);
  });
  const runs = (keep, say) => report.results.flatMap((t) => t.runs.filter(keep).map((r) => `${t.name} c=${r.conns}${say(r)}`));
  const failed = runs((r) => r.failed, (r) => `: ${r.first_bad || r.raw?.trim().split('\n').at(-1) || 'wrk failed'}`);
  if (failed.length) lines.push('', 'FAILED runs (bad replies):', ...failed.map((f) => `- ${f}`));
  const busy = runs((r) => r.cpu_cores.others > 0.2, () => '');
  if (busy.length) lines.push('', `Other processes used more than 0.2 cores during: ${busy.join(', ')}. Those figures are not comparable.`);
  const logs = report.results.flatMap((t) => t.gateway_logs.map((l) => `- ${t.name} ${l.replica}: ${l.log.split('\n').slice(0, 3).join(' / ')}`));
  if (logs.length) lines.push('', 'Gateway warnings (see the JSON for more):', ...logs);
  return lines.join('\n');
}

let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => {
    if (stopping) return;
    stopping = true;
    await stopAll();
    rmSync(tmp, { recursive: true, force: true });
    process.exit(130);
  });
}

main().then(async (code) => {
  await stopAll();
  rmSync(tmp, { recursive: true, force: true });
  process.exitCode = code;
}, async (e) => {
  console.error(e);
  await stopAll();
  rmSync(tmp, { recursive: true, force: true });
  process.exit(1);
});
