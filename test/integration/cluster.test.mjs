// Replicas behind a plain round-robin balancer (nginx, no stickiness): with gateway.cluster,
// a session's id is sealed with the replicas' shared key and carries what the session was
// opened with, so any replica serves any request of it, and a replica's death does not end it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { GATE_JS, GATE_TRUST, gateServer } from './fixtures/gate.mjs';
import { startNginx } from './fixtures/nginx.mjs';
import { ENVELOPE, modernPost } from './fixtures/modern_post.mjs';
import { REMOTE_JS } from './fixtures/remote.mjs';
import { startPostgres } from './fixtures/postgres.mjs';
import { startServer as startModernServer } from './fixtures/v2_server.mjs';
import { startRedis } from './fixtures/redis.mjs';
import {
  connect, initializeBody, MCPGW_BIN, NODE, post, PROTOCOL_VERSION, readSse, servers, startGateway, textOf,
  waitFor, withTimeout,
} from './helpers.mjs';

const REPLICAS = ['a', 'b', 'c'];
const SLOW_JS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'slow_server.mjs');
const ADMIN_TOKEN = 'cluster-admin-token-0123456789';

/** The admin API of replica `gw`. */
const admin = (gw, p, init = {}) => fetch(`${gw.base}${p}`, {
  ...init, headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
});

/** Waits (bounded) until replica `gw`'s /admin/approvals lists one for `target`; returns it. */
async function heldApproval(gw, target) {
  for (let i = 0; i < 100; i++) {
    const { approvals } = await (await admin(gw, '/admin/approvals')).json();
    const found = approvals.find((a) => a.target === target);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no approval for ${target} listed by replica ${gw.port}`);
}

function replicaConfig(keyFile, replica) {
  return {
    mcpServers: { demo: servers.demo() },
    gateway: {
      timeouts: { callMs: 30000, listMs: 5000, drainMs: 1000 },
      cluster: { sessionKeyFile: keyFile, replica },
    },
  };
}

/** Requests nginx passed to each replica's port, from its access log. */
function servedBy(lb, ports) {
  const counts = Object.fromEntries(ports.map((p) => [p, 0]));
  for (const line of lb.accessLog()) {
    const last = line.split(' ').pop();
    const port = Number(last.split(':').pop());
    if (port in counts) counts[port] += 1;
  }
  return counts;
}

const initializeLines = (gws) => gws.reduce((n, gw) => n + (gw.stderr.match(/: initialize from /g) ?? []).length, 0);

describe('three replicas behind nginx round-robin', () => {
  const ctx = { gws: [], clients: [] };
  let dir;
  let keyFile;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-cluster-'));
    keyFile = path.join(dir, 'session.keys');
    writeFileSync(keyFile, `# shared by the replicas\n${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    for (const name of REPLICAS) {
      ctx.gws.push(await startGateway(replicaConfig(keyFile, name)));
    }
    ctx.lb = await startNginx(ctx.gws.map((gw) => gw.port));
    ctx.endpoint = (p) => new URL(p, ctx.lb.base);
  });

  after(async () => {
    for (const c of ctx.clients.splice(0)) {
      await withTimeout(c.close().catch(() => {}), 3000, 'client close').catch(() => {});
    }
    await ctx.lb?.stop();
    for (const gw of ctx.gws) {
      if (gw.exit) continue; // the one the test killed
      const exit = await gw.stop();
      assert.equal(exit.code, 0, `replica exits 0 on SIGTERM; log tail:\n${gw.stderr.slice(-3000)}`);
      assert.doesNotMatch(gw.stderr, /ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:/);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test('an SDK session makes 100 calls spread over the replicas; one is killed mid-run and the session goes on', async () => {
    const { client, transport } = await connect(ctx, { ctx, name: 'cluster-client' });
    const sid = transport.sessionId;
    assert.ok(sid && sid.length > 64, `a sealed session id (got ${sid})`);
    assert.match(sid, /^[A-Za-z0-9_-]+$/, 'visible ASCII, URL-safe');
    const { tools } = await client.listTools();
    assert.ok(tools.some((t) => t.name === 'demo__echo'));
    const call = async (i) => {
      const r = await withTimeout(client.callTool({ name: 'demo__echo', arguments: { message: `m${i}` } }),
        10000, `call ${i}`);
      assert.equal(textOf(r), `Echo: m${i}`);
    };
    for (let i = 0; i < 50; i++) await call(i);
    const ports = ctx.gws.map((gw) => gw.port);
    const half = servedBy(ctx.lb, ports);
    for (const p of ports) assert.ok(half[p] >= 10, `each replica served part of it: ${JSON.stringify(half)}`);

    const victim = ctx.gws[1];
    process.kill(victim.pid, 'SIGKILL'); // a replica this test started
    await victim.exited;
    for (let i = 50; i < 100; i++) await call(i);
    assert.equal(transport.sessionId, sid, 'the same session throughout');
    assert.equal(initializeLines(ctx.gws), 1, 'initialized once, on one replica');
    const revived = ctx.gws.filter((gw) => / revived: opened on replica "/.test(gw.stderr));
    assert.ok(revived.length >= 2, 'the replicas that did not open it served it from its id');
    const after = servedBy(ctx.lb, ports);
    assert.ok(after[ports[0]] > half[ports[0]] && after[ports[2]] > half[ports[2]],
      `the living replicas took the rest: ${JSON.stringify(after)}`);
  });

  test('an altered id, and an id sealed with another key, get 404 -32001 (the client re-initializes)', async () => {
    const init = await post(ctx.endpoint('/mcp'), initializeBody());
    assert.equal(init.status, 200, init.text);
    const sid = init.headers.get('mcp-session-id');
    const headers = { 'mcp-session-id': sid, 'mcp-protocol-version': PROTOCOL_VERSION };
    const ping = { jsonrpc: '2.0', id: 2, method: 'ping' };
    for (let i = 0; i < 3; i++) {
      const ok = await post(ctx.endpoint('/mcp'), ping, headers);
      assert.equal(ok.status, 200, `ping ${i} on whichever replica: ${ok.text}`);
    }
    const flip = sid.slice(0, 40) + (sid[40] === 'A' ? 'B' : 'A') + sid.slice(41);
    const altered = await post(ctx.endpoint('/mcp'), ping, { ...headers, 'mcp-session-id': flip });
    assert.equal(altered.status, 404);
    assert.equal(altered.json?.error?.code, -32001);

    const otherDir = mkdtempSync(path.join(tmpdir(), 'mcpgw-cluster-other-'));
    const otherKeys = path.join(otherDir, 'keys');
    writeFileSync(otherKeys, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    const other = await startGateway(replicaConfig(otherKeys, 'elsewhere'));
    try {
      const foreign = await post(other.endpoint('/mcp'), ping, headers);
      assert.equal(foreign.status, 404, 'another cluster does not open this cluster\'s ids');
      assert.equal(foreign.json?.error?.code, -32001);
    } finally {
      await other.stop();
      rmSync(otherDir, { recursive: true, force: true });
    }
  });

  test('a session its client ended (DELETE) is not served again by the replica that ended it', async () => {
    const replica = ctx.gws[0];
    const init = await post(replica.endpoint('/mcp'), initializeBody());
    const sid = init.headers.get('mcp-session-id');
    const headers = { 'mcp-session-id': sid, 'mcp-protocol-version': PROTOCOL_VERSION };
    const del = await fetch(replica.endpoint('/mcp'), { method: 'DELETE', headers });
    assert.equal(del.status, 200);
    const again = await post(replica.endpoint('/mcp'), { jsonrpc: '2.0', id: 3, method: 'ping' }, headers);
    assert.equal(again.status, 404);
    assert.equal(again.json?.error?.code, -32001);
  });

  test('a legacy SSE session is bound to its replica: another replica says which one', async () => {
    const [a, , c] = ctx.gws;
    const res = await fetch(a.endpoint('/sse'), { headers: { accept: 'text/event-stream' } });
    assert.equal(res.status, 200);
    const { events, reader } = await readSse(res, { until: (evs) => evs.some((e) => e.event === 'endpoint'), keepOpen: true });
    const endpoint = events.find((e) => e.event === 'endpoint').data;
    const sessionId = new URL(endpoint, a.base).searchParams.get('sessionId');
    assert.ok(sessionId);
    const elsewhere = await post(new URL(endpoint, c.base), { jsonrpc: '2.0', id: 1, method: 'ping' });
    assert.equal(elsewhere.status, 404);
    assert.match(elsewhere.json?.error?.message ?? '', /bound to replica "a" \(its SSE stream is there\)/);
    const home = await post(new URL(endpoint, a.base), initializeBody());
    assert.equal(home.status, 202, 'its own replica takes it');
    await reader.cancel().catch(() => {});
  });
});

// The security gate across replicas: taint scopes live in Redis (gateway.cluster.redis), so
// a scope's marks follow its calls from replica to replica.
describe('three replicas sharing taint through Redis', () => {
  const ctx = { gws: [] };
  let dir;

  function gatedConfig(keyFile, replica, redisUrl) {
    return {
      mcpServers: { web: gateServer('web'), vault: gateServer('vault'), mail: gateServer('mail') },
      gateway: {
        timeouts: { callMs: 30000, listMs: 5000, drainMs: 1000 },
        cluster: { sessionKeyFile: keyFile, replica, redis: redisUrl, redisTimeoutMs: 300 },
        security: { approvalTimeoutS: 10, filters: [{ type: 'taint' }] },
        servers: { web: GATE_TRUST.web, vault: GATE_TRUST.vault, mail: GATE_TRUST.mail },
      },
    };
  }

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-cluster-gate-'));
    const keyFile = path.join(dir, 'session.keys');
    ctx.keyFile = keyFile;
    ctx.key = randomBytes(32).toString('hex');
    writeFileSync(keyFile, `${ctx.key}\n`, { mode: 0o600 });
    ctx.redis = await startRedis();
    for (const name of REPLICAS) {
      ctx.gws.push(await startGateway(gatedConfig(keyFile, name, ctx.redis.url), { env: { MCPGW_ADMIN_TOKEN: ADMIN_TOKEN } }));
    }
  });

  after(async () => {
    for (const gw of ctx.gws) {
      const exit = await gw.stop();
      assert.equal(exit.code, 0, `replica exits 0 on SIGTERM; log tail:\n${gw.stderr.slice(-3000)}`);
      assert.doesNotMatch(gw.stderr, /ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:/);
    }
    await ctx.redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A session opened on replica `gw`; `call(gw, tool, args)` sends a tools/call to any replica. */
  async function session(gw) {
    const init = await post(gw.endpoint('/mcp'), initializeBody());
    assert.equal(init.status, 200, init.text);
    const sid = init.headers.get('mcp-session-id');
    const headers = { 'mcp-session-id': sid, 'mcp-protocol-version': PROTOCOL_VERSION, accept: 'application/json' };
    await post(gw.endpoint('/mcp'), { jsonrpc: '2.0', method: 'notifications/initialized' }, headers);
    let id = 10;
    return async (on, name, args = {}) => {
      const r = await post(on.endpoint('/mcp'), { jsonrpc: '2.0', id: id++, method: 'tools/call', params: { name, arguments: args } }, headers);
      assert.equal(r.status, 200, r.text);
      return r.json;
    };
  }

  test('a trifecta whose three calls land on three replicas is held, and an approval granted through another replica releases it', async () => {
    const [a, b, c] = ctx.gws;
    const call = await session(a);
    assert.ok((await call(a, 'vault__get_secret', { name: 'aws' })).result, 'secret read on replica a');
    assert.ok((await call(b, 'web__fetch_page', { url: 'https://example.com' })).result, 'page read on replica b');
    // Held on replica c; listed by replica a's admin API, and denied there.
    const held = call(c, 'mail__post_status', { text: 'AKIAIOSFODNN7EXAMPLE' });
    const approval = await heldApproval(a, 'mail/post_status');
    assert.equal(approval.replica, 'c', 'the approval names the replica that holds the call');
    assert.match(approval.reason, /holds secrets \(read vault\/get_secret\)/);
    assert.match(approval.reason, /untrusted \(read web\/fetch_page\)/);
    const deny = await admin(a, `/admin/approvals/${approval.id}`, { method: 'POST', body: JSON.stringify({ decision: 'deny' }) });
    assert.equal(deny.status, 200, await deny.clone().text());
    const sink = await held;
    assert.ok(sink.error, `the sink call on replica c is refused: ${JSON.stringify(sink)}`);
    assert.match(sink.error.message, /denied by an administrator/);

    // Held on replica a this time; approved through replica b, and the call goes on.
    const again = call(a, 'mail__post_status', { text: 'status report' });
    const second = await heldApproval(b, 'mail/post_status');
    assert.equal(second.replica, 'a');
    const ok = await admin(b, `/admin/approvals/${second.id}`, { method: 'POST', body: JSON.stringify({ decision: 'approve' }) });
    assert.equal(ok.status, 200);
    assert.ok((await again).result, 'released by the approval granted on another replica');
    const none = await admin(c, '/admin/approvals/0123456789abcdef', { method: 'POST', body: JSON.stringify({ decision: 'approve' }) });
    assert.equal(none.status, 404, 'an approval nobody holds');
    const { approvals } = await (await admin(c, '/admin/approvals')).json();
    assert.equal(approvals.length, 0, 'released approvals are withdrawn everywhere');

    const other = await session(b);
    assert.ok((await other(a, 'web__fetch_page', { url: 'https://example.com' })).result);
    const post2 = await other(c, 'mail__post_status', { text: 'hello' });
    assert.ok(post2.result, `another session's scope is its own (untrusted, no secrets): ${JSON.stringify(post2)}`);
  });

  test('a secret value read through one replica is found in a call through another: held, and it never reaches the sink', async () => {
    const [a, b] = ctx.gws;
    const call = await session(a);
    assert.ok((await call(a, 'vault__get_secret', { name: 'aws' })).result, 'secret read on replica a');
    // Nothing untrusted was read: no label stops this call; only the value it carries does.
    const held = call(b, 'mail__post_status', { text: 'status: all good, key AKIA-IOSFODNN7-EXAMPLE' });
    const approval = await heldApproval(b, 'mail/post_status');
    assert.equal(approval.replica, 'b');
    assert.match(approval.reason, /carry a secret value read from vault\/get_secret \(as it was\)/);
    const deny = await admin(a, `/admin/approvals/${approval.id}`, { method: 'POST', body: JSON.stringify({ decision: 'deny' }) });
    assert.equal(deny.status, 200);
    assert.match((await held).error?.message ?? '', /denied by an administrator/);
    const sent = textOf((await call(b, 'mail__sent')).result);
    assert.doesNotMatch(sent, /IOSFODNN7/, `the value never reached replica b's sink: ${sent}`);
  });

  test('a session ended through one replica is ended on every replica', async () => {
    const [a, b, c] = ctx.gws;
    const init = await post(a.endpoint('/mcp'), initializeBody());
    const sid = init.headers.get('mcp-session-id');
    const headers = { 'mcp-session-id': sid, 'mcp-protocol-version': PROTOCOL_VERSION };
    const ping = { jsonrpc: '2.0', id: 2, method: 'ping' };
    assert.equal((await post(c.endpoint('/mcp'), ping, headers)).status, 200, 'served by c before');
    const del = await fetch(b.endpoint('/mcp'), { method: 'DELETE', headers });
    assert.equal(del.status, 200);
    for (const gw of [a, b, c]) {
      const after = await post(gw.endpoint('/mcp'), ping, headers);
      assert.equal(after.status, 404, `replica ${gw.port} no longer serves it: ${after.text}`);
      assert.equal(after.json?.error?.code, -32001);
    }
  });

  test('a reload rotates the key ring and keeps the Redis connection; sessions sealed with the old key go on', async () => {
    const [a, b] = ctx.gws;
    const clientIds = () => new Set(execFileSync('redis-cli', ['-p', String(ctx.redis.port), 'CLIENT', 'LIST'], { encoding: 'utf8' })
      .split('\n').filter((l) => l && !/ cmd=client/.test(l)).map((l) => l.match(/^id=(\d+)/)[1]));
    const old = await session(a);
    assert.ok((await old(a, 'web__fetch_page', { url: 'https://example.com' })).result);
    const before = clientIds();
    // The new key goes in front (it seals from now on); the old one stays (it still opens).
    writeFileSync(ctx.keyFile, `${randomBytes(32).toString('hex')}\n${ctx.key}\n`, { mode: 0o600 });
    const mark = a.stderr.length;
    process.kill(a.pid, 'SIGHUP');
    await waitFor(() => /reload \(SIGHUP\)/.test(a.stderr.slice(mark)), { ms: 5000, label: 'the reload log line' });
    assert.ok((await old(a, 'web__fetch_page', { url: 'https://example.com' })).result, 'a session sealed with the old key');
    assert.deepEqual(clientIds(), before, 'the same Redis connections: a reload that leaves Redis as it was keeps them');
    const init = await post(a.endpoint('/mcp'), initializeBody());
    const fresh = { 'mcp-session-id': init.headers.get('mcp-session-id'), 'mcp-protocol-version': PROTOCOL_VERSION };
    const ping = { jsonrpc: '2.0', id: 3, method: 'ping' };
    assert.equal((await post(b.endpoint('/mcp'), ping, fresh)).status, 404, 'b does not have the new key yet');
    process.kill(b.pid, 'SIGHUP');
    await waitFor(async () => (await post(b.endpoint('/mcp'), ping, fresh)).status === 200,
      { ms: 5000, label: 'b opens sessions sealed with the new key after its reload' });
  });

  test('Redis down: gated calls are refused (fail closed) and /readyz says why; Redis back: calls go on', async () => {
    const [a, b] = ctx.gws;
    const call = await session(a);
    assert.ok((await call(b, 'web__fetch_page', { url: 'https://example.com' })).result);
    const port = ctx.redis.port;
    await ctx.redis.stop();
    const refused = await call(a, 'mail__post_status', { text: 'hello' });
    assert.ok(refused.error, JSON.stringify(refused));
    assert.match(refused.error.message, /shared taint state \(Redis\) cannot be read .*fails closed/);
    const ready = await (await fetch(`${a.base}/readyz`)).json();
    assert.equal(ready.cluster?.sharedState?.redis, 'down', JSON.stringify(ready));
    assert.ok(ready.cluster.sharedState.error);
    ctx.redis = await startRedis({ port });
    // This Redis keeps nothing on disk: the marks it held are gone with it (docs/scale-out.md:
    // run Redis with persistence). The call goes on with what replica a knows itself.
    const back = await call(a, 'mail__post_status', { text: 'hello' });
    assert.ok(back.result, `served again once Redis is back: ${JSON.stringify(back)}`);
    const readyAgain = await (await fetch(`${a.base}/readyz`)).json();
    assert.equal(readyAgain.cluster?.sharedState?.redis, 'up');
  });
});

describe('three replicas with their API keys in PostgreSQL', () => {
  const ctx = { gws: [] };
  let dir;
  /** `mcpgw keys …` against the shared store; returns stdout. */
  const keys = (...args) => execFileSync(MCPGW_BIN, ['keys', ...args, '--store', ctx.pg.url], { encoding: 'utf8' });
  const createKey = (name) => keys('create', '--name', name).trim().split('\n').at(-1);

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-cluster-keys-'));
    const keyFile = path.join(dir, 'session.keys');
    writeFileSync(keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    ctx.pg = await startPostgres();
    ctx.redis = await startRedis();
    ctx.alice = createKey('alice');
    ctx.bob = createKey('bob');
    ctx.metered = keys('create', '--name', 'metered', '--rate', '6/min').trim().split('\n').at(-1);
    ctx.modern = await startModernServer();
    for (const replica of REPLICAS) {
      ctx.gws.push(await startGateway({
        mcpServers: {
          demo: servers.demo(),
          modern: { url: `http://127.0.0.1:${ctx.modern.port}/mcp` },
          older: { command: NODE, args: [REMOTE_JS, '--transport', 'stdio', '--name', 'older'] },
          slow: { command: NODE, args: [SLOW_JS] },
        },
        gateway: {
          store: ctx.pg.url,
          auth: { mode: 'keys' },
          timeouts: { drainMs: 1000 },
          cluster: { sessionKeyFile: keyFile, replica, redis: ctx.redis.url, redisTimeoutMs: 300 },
          // Stateless (2026-07-28 only): one upstream session serves everyone, so sessions that
          // see it are not bound to a replica.
          servers: { modern: { shareable: true } },
        },
      }));
    }
    ctx.lb = await startNginx(ctx.gws.map((gw) => gw.port));
  });

  after(async () => {
    await ctx.lb?.stop();
    for (const gw of ctx.gws) {
      const exit = await gw.stop();
      assert.equal(exit.code, 0, `replica exits 0 on SIGTERM; log tail:\n${gw.stderr.slice(-3000)}`);
      assert.doesNotMatch(gw.stderr, /ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:/);
    }
    await ctx.pg?.stop();
    await ctx.redis?.stop();
    await ctx.modern?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const auth = (key) => ({ Authorization: `Bearer ${key}` });

  test("a session is served by every replica for its own key only, not for another key's", async () => {
    const init = await post(new URL('/mcp', ctx.lb.base), initializeBody(), auth(ctx.alice));
    assert.equal(init.status, 200, init.text);
    const sid = init.headers.get('mcp-session-id');
    const session = { 'mcp-session-id': sid, 'mcp-protocol-version': PROTOCOL_VERSION };
    const ping = { jsonrpc: '2.0', id: 2, method: 'ping' };
    for (const gw of ctx.gws) {
      const ok = await post(gw.endpoint('/mcp'), ping, { ...session, ...auth(ctx.alice) });
      assert.equal(ok.status, 200, `replica ${gw.port} serves alice's session: ${ok.text}`);
      const other = await post(gw.endpoint('/mcp'), ping, { ...session, ...auth(ctx.bob) });
      assert.equal(other.status, 404, `replica ${gw.port} does not serve it to bob: ${other.text}`);
      assert.equal(other.json?.error?.code, -32001);
    }
  });

  test('the audit trail in PostgreSQL has one row per call, whichever replica served it', async () => {
    const lb = new URL('/mcp', ctx.lb.base);
    const init = await post(lb, initializeBody(), auth(ctx.alice));
    assert.equal(init.status, 200, init.text);
    const headers = {
      ...auth(ctx.alice), 'mcp-session-id': init.headers.get('mcp-session-id'),
      'mcp-protocol-version': PROTOCOL_VERSION, accept: 'application/json',
    };
    await post(lb, { jsonrpc: '2.0', method: 'notifications/initialized' }, headers);
    const CALLS = 30;
    for (let i = 0; i < CALLS; i++) {
      const r = await post(lb, { jsonrpc: '2.0', id: 100 + i, method: 'tools/call',
        params: { name: 'demo__echo', arguments: { message: `audited ${i}` } } }, headers);
      assert.equal(r.json?.result?.content?.[0]?.text, `Echo: audited ${i}`, r.text);
    }
    const rows = () => execFileSync(MCPGW_BIN, ['audit', 'query', '--json', '--key', 'alice', '--tool', 'demo__echo',
      '--store', ctx.pg.url], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
    await waitFor(() => rows().length >= CALLS, { ms: 5000, interval: 100, label: `${CALLS} rows` });
    const written = rows();
    assert.equal(written.length, CALLS, 'one row per call, no more');
    const byReplica = {};
    for (const r of written) byReplica[r.replica] = (byReplica[r.replica] ?? 0) + 1;
    assert.deepEqual(Object.keys(byReplica).sort(), REPLICAS, `rows from every replica: ${JSON.stringify(byReplica)}`);
    assert.equal(new Set(written.map((r) => r.session)).size, 1, 'all of one session');
  });

  test("a stateless client's question round, asked through one replica, is answered through another", async () => {
    const [a, b] = ctx.gws;
    const meta = { ...ENVELOPE, 'io.modelcontextprotocol/clientCapabilities': { elicitation: { form: {} } } };
    const ask = (gw, params = {}) => modernPost(gw.url, 'tools/call',
      { name: 'modern__elicit', arguments: {}, ...params }, { meta, headers: auth(ctx.alice) });
    const first = await ask(a);
    assert.equal(first.json?.result?.resultType, 'input_required', first.text);
    const answer = { inputResponses: { who: { action: 'accept', content: { name: 'Ada' } } },
      requestState: first.json.result.requestState };
    const done = await ask(b, answer);
    assert.equal(done.json?.result?.resultType, 'complete', done.text);
    assert.equal(textOf(done.json.result), 'hello Ada');
    const stranger = await modernPost(b.url, 'tools/call', { name: 'modern__elicit', arguments: {}, ...answer },
      { meta, headers: auth(ctx.bob) });
    assert.match(stranger.text, /requestState belongs to another caller/, 'still bound to its caller');

    // A server of an earlier revision asks in the middle of a call that stays open on the
    // replica that made it: a retry elsewhere is told where.
    const parked = await modernPost(a.url, 'tools/call', { name: 'older__elicit', arguments: { question: 'who?' } },
      { meta, headers: auth(ctx.alice) });
    assert.equal(parked.json?.result?.resultType, 'input_required', parked.text);
    const elsewhere = await modernPost(b.url, 'tools/call', { name: 'older__elicit', arguments: { question: 'who?' },
      inputResponses: Object.fromEntries(Object.keys(parked.json.result.inputRequests)
        .map((k) => [k, { action: 'accept', content: { answer: 'x' } }])),
      requestState: parked.json.result.requestState }, { meta, headers: auth(ctx.alice) });
    assert.match(elsewhere.json?.error?.message ?? elsewhere.text,
      /the call this requestState continues waits on replica "a", not "b"; its retry must reach that replica/);
  });

  test('a key revoked through the store is refused by every replica within a second', async (t) => {
    for (const gw of ctx.gws) {
      assert.equal((await post(gw.endpoint('/mcp'), initializeBody(), auth(ctx.bob))).status, 200);
    }
    keys('revoke', 'bob');
    const t0 = Date.now();
    await Promise.all(ctx.gws.map((gw) => waitFor(async () => {
      const r = await post(gw.endpoint('/mcp'), initializeBody(), auth(ctx.bob));
      return r.status === 401 && /revoked/.test(r.text);
    }, { ms: 1000, interval: 20, label: `replica ${gw.port} refuses bob` })));
    t.diagnostic(`every replica refused the revoked key ${Date.now() - t0} ms after the CLI returned`);
    for (let i = 0; i < 6; i++) {
      const r = await post(new URL('/mcp', ctx.lb.base), initializeBody(), auth(ctx.bob));
      assert.equal(r.status, 401, `through the balancer, request ${i}`);
    }
    const still = await post(new URL('/mcp', ctx.lb.base), initializeBody(), auth(ctx.alice));
    assert.equal(still.status, 200, 'the other key is not touched');
  });

  test('a reply stream cut on one replica is resumed through another with Last-Event-ID: nothing lost, nothing repeated', async () => {
    const [a, b] = ctx.gws;
    const init = await post(a.endpoint('/mcp'), initializeBody(), auth(ctx.alice));
    assert.equal(init.status, 200, init.text);
    const headers = { ...auth(ctx.alice), 'content-type': 'application/json', accept: 'application/json, text/event-stream',
      'mcp-session-id': init.headers.get('mcp-session-id'), 'mcp-protocol-version': '2025-11-25' };
    await post(a.endpoint('/mcp'), { jsonrpc: '2.0', method: 'notifications/initialized' }, headers);
    const res = await fetch(a.endpoint('/mcp'), { method: 'POST', headers, body: JSON.stringify({
      jsonrpc: '2.0', id: 7, method: 'tools/call',
      params: { name: 'slow__steps', arguments: { count: 4, ms: 150 }, _meta: { progressToken: 'tok' } } }) });
    // The priming event and the first progress through replica a; then the connection drops.
    const first = await readSse(res, { until: (evs) => evs.some((e) => e.data.includes('progress')) });
    const lastId = first.events.at(-1).id;
    assert.match(lastId, /^a\/\d+-\d+$/, 'the event id names the replica that sent it');
    const resumed = await fetch(b.endpoint('/mcp'), { method: 'GET', headers: { ...auth(ctx.alice),
      accept: 'text/event-stream', 'mcp-session-id': headers['mcp-session-id'], 'mcp-protocol-version': '2025-11-25',
      'last-event-id': lastId } });
    assert.equal(resumed.status, 200);
    const rest = await readSse(resumed, { until: (evs) => evs.some((e) => e.data.includes('"result"')), ms: 5000 });
    const messages = rest.events.filter((e) => e.data).map((e) => JSON.parse(e.data));
    const result = messages.find((m) => m.id === 7);
    assert.ok(result, `the response, sent by replica a, arrives through replica b: ${JSON.stringify(messages)}`);
    assert.equal(result.result.content[0].text, 'done');
    const seen = first.events.filter((e) => e.data.includes('progress')).map((e) => JSON.parse(e.data).params.progress);
    const progress = messages.filter((m) => m.method === 'notifications/progress').map((m) => m.params.progress);
    assert.deepEqual([...seen, ...progress], [1, 2, 3, 4], 'no progress event lost or repeated');
    assert.ok(rest.events.every((e) => !e.data || e.id.startsWith('a/')), 'replayed under their own ids');
  });

  test("a key's rate limit counts across the replicas; with Redis down it fails closed, and keys without a limit go on", async () => {
    const lb = new URL('/mcp', ctx.lb.base);
    const statuses = [];
    for (let i = 0; i < 9; i++) {
      const r = await post(lb, initializeBody(), auth(ctx.metered));
      statuses.push(r.status);
      if (r.status === 429) {
        assert.match(r.text, /rate limit is spent/);
        assert.ok(Number(r.headers.get('retry-after')) >= 1);
      }
    }
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200, 429, 429, 429],
      'six a minute for the whole cluster, not six per replica');

    const port = ctx.redis.port;
    await ctx.redis.stop();
    const refused = await post(lb, initializeBody(), auth(ctx.metered));
    assert.equal(refused.status, 503, refused.text);
    assert.match(refused.text, /rate limit is shared through Redis, which cannot be read now/);
    assert.equal((await post(lb, initializeBody(), auth(ctx.alice))).status, 200, 'a key without a limit needs no Redis');
    ctx.redis = await startRedis({ port });
    const back = await post(lb, initializeBody(), auth(ctx.metered));
    assert.equal(back.status, 200, `a fresh Redis has a full bucket: ${back.text}`);
  });
});

describe('three replicas sharing tool pins in PostgreSQL', () => {
  const ctx = { gws: [] };
  let dir;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-cluster-pins-'));
    const keyFile = path.join(dir, 'session.keys');
    writeFileSync(keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    // Each replica runs its own rug process; the state file makes them one server, which
    // changes under every replica when one of them flips it (as a remote server would).
    const state = path.join(dir, 'rug.state');
    ctx.pg = await startPostgres();
    for (const replica of REPLICAS) {
      ctx.gws.push(await startGateway({
        mcpServers: { rug: { command: NODE, args: [GATE_JS, '--role', 'rug', '--state', state] } },
        gateway: {
          store: ctx.pg.url,
          timeouts: { drainMs: 1000 },
          cluster: { sessionKeyFile: keyFile, replica },
          security: { filters: [{ type: 'pin' }] },
          servers: { rug: GATE_TRUST.rug },
        },
      }, { env: { MCPGW_ADMIN_TOKEN: ADMIN_TOKEN } }));
    }
  });

  after(async () => {
    for (const gw of ctx.gws) {
      const exit = await gw.stop();
      assert.equal(exit.code, 0, `replica exits 0 on SIGTERM; log tail:\n${gw.stderr.slice(-3000)}`);
      assert.doesNotMatch(gw.stderr, /ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:/);
    }
    await ctx.pg?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A session on replica `gw`: its tools' names, and calls. */
  async function open(gw) {
    const init = await post(gw.endpoint('/mcp'), initializeBody());
    assert.equal(init.status, 200, init.text);
    const headers = { 'mcp-session-id': init.headers.get('mcp-session-id'), 'mcp-protocol-version': PROTOCOL_VERSION,
      accept: 'application/json' };
    await post(gw.endpoint('/mcp'), { jsonrpc: '2.0', method: 'notifications/initialized' }, headers);
    let id = 10;
    const rpc = async (method, params) => (await post(gw.endpoint('/mcp'), { jsonrpc: '2.0', id: id++, method, params }, headers)).json;
    return {
      names: async () => (await rpc('tools/list', {})).result.tools.map((t) => t.name),
      call: (name, args = {}) => rpc('tools/call', { name, arguments: args }),
    };
  }
  const weather = (s) => s.call('rug__weather', { city: 'Oslo' });
  const status = async (gw) => (await (await admin(gw, '/admin/tools')).json()).tools.find((t) => t.tool === 'weather')?.status;

  test('a rug pull one replica sees is held by all within a second, and an approval through another releases it everywhere', async () => {
    const [a, b, c] = ctx.gws;
    const sessions = [await open(a), await open(b), await open(c)];
    for (const s of sessions) {
      assert.ok((await s.names()).includes('rug__weather'));
      assert.equal(textOf((await weather(s)).result), 'sunny in Oslo');
    }
    const row = async () => (await ctx.pg.psql(
      "SELECT (hash <> '')::text || ',' || (pending_hash <> '')::text FROM mcpgw_tool_pins WHERE server = 'rug' AND tool = 'weather'")).trim();
    assert.equal(await row(), 'true,false', 'one pin for the cluster, in PostgreSQL');

    // The server changes under every replica; a's process says so to a alone.
    const [sa, sb, sc] = sessions;
    assert.equal(textOf((await sa.call('rug__flip')).result), 'flipped');
    assert.ok(!(await sa.names()).includes('rug__weather'), 'a lists it again and hides it');
    const seen = Date.now();
    // b and c still hold the list from before, in which weather is as pinned: they hear of the
    // quarantine through PostgreSQL and list the server again before the next call.
    for (const gw of [b, c]) {
      await waitFor(async () => (await status(gw)) === 'quarantined', { ms: 1000, interval: 10, label: `replica ${gw.port} hears of it` });
    }
    const heard = Date.now() - seen;
    for (const s of [sb, sc]) {
      const refused = await weather(s);
      assert.equal(refused.error?.code, -32003, JSON.stringify(refused));
      assert.match(refused.error.message, /tool rug\/weather is quarantined: its description changed since it was pinned/);
    }
    assert.equal(await row(), 'true,true', 'the quarantine is stored');

    // An administrator approves the new definition through replica c.
    const ok = await admin(c, '/admin/tools/approve', { method: 'POST', body: JSON.stringify({ server: 'rug', tool: 'weather' }) });
    assert.equal(ok.status, 200, await ok.text());
    for (const [gw, s] of [[a, sa], [b, sb], [c, sc]]) {
      await waitFor(async () => (await status(gw)) === 'pinned', { ms: 1000, interval: 10, label: `replica ${gw.port} hears of the approval` });
      assert.equal(textOf((await weather(s)).result), 'sunny in Oslo', `served by replica ${gw.port} again`);
      assert.ok((await s.names()).includes('rug__weather'));
    }
    assert.equal(await row(), 'true,false');
    process.stderr.write(`# quarantine heard by the other replicas within ${heard} ms\n`);
  });

  test('/readyz shows the shared pin store', async () => {
    const ready = await (await fetch(`${ctx.gws[0].base}/readyz`)).json();
    assert.equal(ready.pinStore?.usable, true, JSON.stringify(ready));
    assert.equal(ready.pinStore.loaded, true);
    assert.match(ready.pinStore.detail, /^postgres(ql)?:\/\/.*: up$/);
    assert.doesNotMatch(ready.pinStore.detail, /password|:[^/@]*@/, 'no password shown');
  });
});
