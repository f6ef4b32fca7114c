// API keys and the audit trail in PostgreSQL (gateway.store): `mcpgw keys` writes the keys,
// every gateway that uses the store follows them (a change is announced by the database), a
// revocation is refused within a second, and a store that cannot be read fails closed (503, not
// ready) unless whenStoreDown is "cached". Audit rows written while the store is down wait and
// are written when it returns; `mcpgw audit` reads them. Users' vault values are kept there
// sealed. A real PostgreSQL is started here.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

import { startPostgres } from './fixtures/postgres.mjs';
import {
  initializeBody, MCPGW_BIN, post, PROTOCOL_VERSION, servers, sleep, startGateway, waitFor,
} from './helpers.mjs';

const run = promisify(execFile);

describe('API keys in PostgreSQL', () => {
  const ctx = {};
  /** `mcpgw keys …` against the test's store: {code, stdout, stderr}. */
  const keys = async (...args) => {
    try {
      const { stdout, stderr } = await run(MCPGW_BIN, ['keys', ...args, '--store', ctx.pg.url]);
      return { code: 0, stdout, stderr };
    } catch (e) {
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };
  const createKey = async (name) => {
    const r = await keys('create', '--name', name);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim().split('\n').at(-1);
  };
  /** The status an initialize with `key` gets from `gw`. */
  const statusWith = async (gw, key) => {
    const res = await post(gw.url, initializeBody(), { Authorization: `Bearer ${key}` });
    return { status: res.status, body: res.text };
  };
  /** The trail's rows, as `mcpgw audit query --json` prints them. */
  const auditRows = async (...args) => {
    const r = await keysLike('audit', 'query', '--json', ...args);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  };
  const keysLike = async (...argv) => {
    try {
      const { stdout, stderr } = await run(MCPGW_BIN, [...argv, '--store', ctx.pg.url]);
      return { code: 0, stdout, stderr };
    } catch (e) {
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };
  /** A session on `gw` with `key`; the function it returns sends demo__echo and gives the reply. */
  const session = async (gw, key) => {
    const init = await post(gw.url, initializeBody(), { Authorization: `Bearer ${key}` });
    assert.equal(init.status, 200, init.text);
    const headers = {
      Authorization: `Bearer ${key}`, 'mcp-session-id': init.headers.get('mcp-session-id'),
      'mcp-protocol-version': PROTOCOL_VERSION, accept: 'application/json',
    };
    await post(gw.url, { jsonrpc: '2.0', method: 'notifications/initialized' }, headers);
    let id = 10;
    return async (message) => (await post(gw.url, { jsonrpc: '2.0', id: id++, method: 'tools/call',
      params: { name: 'demo__echo', arguments: { message } } }, headers)).json;
  };
  const config = (extra = {}) => ({
    mcpServers: { demo: servers.demo() },
    gateway: { store: ctx.pg.url, auth: { mode: 'keys' }, timeouts: { drainMs: 1000 }, ...extra },
  });

  before(async () => {
    ctx.pg = await startPostgres();
    ctx.alice = await createKey('alice');
    ctx.gw = await startGateway(config());
    ctx.cached = await startGateway(config({ whenStoreDown: 'cached', audit: { queue: 10 }, cluster: { replica: 'cached-one' } }));
  });

  after(async () => {
    for (const gw of [ctx.gw, ctx.cached]) {
      if (gw) assert.equal((await gw.stop()).code, 0, gw.stderr.slice(-2000));
    }
    await ctx.pg?.stop();
  });

  test('a key made by the CLI opens a session; an unknown one does not', async () => {
    assert.equal((await statusWith(ctx.gw, ctx.alice)).status, 200);
    const unknown = await statusWith(ctx.gw, 'mcpgw-000000000000000000000000000000000000000000000000');
    assert.equal(unknown.status, 401);
    assert.match(unknown.body, /unknown API key/);
    const ready = await (await fetch(`${ctx.gw.base}/readyz`)).json();
    assert.equal(ready.keyStore.usable, true);
    assert.match(ready.keyStore.detail, /up \(1 keys\)/);
    const list = await keys('list');
    assert.match(list.stdout, /alice\s+mcpgw-\S+\s+active/);
  });

  test('a key created or revoked through the store holds on the gateway within a second', async (t) => {
    const t0 = Date.now();
    const bob = await createKey('bob');
    await waitFor(async () => (await statusWith(ctx.gw, bob)).status === 200, { ms: 1000, interval: 20, label: 'bob accepted' });
    const accepted = Date.now() - t0;
    const revoke = await keys('revoke', 'bob');
    assert.equal(revoke.code, 0, revoke.stderr);
    const t1 = Date.now();
    await waitFor(async () => (await statusWith(ctx.gw, bob)).status === 401, { ms: 1000, interval: 20, label: 'bob refused' });
    const refused = Date.now() - t1;
    const after = await statusWith(ctx.gw, bob);
    assert.match(after.body, /revoked/);
    assert.match((await keys('list')).stdout, /bob\s+mcpgw-\S+\s+revoked/);
    t.diagnostic(`accepted after ${accepted} ms, refused after ${refused} ms`);
    assert.equal((await keys('revoke', 'bob')).code, 1, 'a key is revoked once');
    assert.match((await keys('create', '--name', 'alice')).stderr, /a key named 'alice' exists already/);
  });

  test('each call has one audit row in the store, with the replica that served it', async () => {
    const call = await session(ctx.gw, ctx.alice);
    for (let i = 0; i < 5; i++) assert.equal((await call(`row ${i}`)).result?.content?.[0]?.text, `Echo: row ${i}`);
    const callCached = await session(ctx.cached, ctx.alice);
    assert.ok((await callCached('from the other')).result);
    await waitFor(async () => (await auditRows('--tool', 'demo__echo')).length === 6, { ms: 5000, label: 'six rows' });
    const rows = await auditRows('--tool', 'demo__echo');
    assert.deepEqual(rows.map((r) => r.outcome), Array(6).fill('ok'));
    assert.deepEqual([...new Set(rows.map((r) => r.principal))], ['alice']);
    assert.equal(rows.filter((r) => r.replica === 'cached-one').length, 1);
    assert.equal(rows.filter((r) => r.replica && r.replica !== 'cached-one').length, 5, 'the host name by default');
    const tail = await keysLike('audit', 'tail', '-n', '2');
    assert.match(tail.stdout, /alice\s+ok\s+tools\/call\s+demo\s+demo__echo/);
  });

  test('with the store down: 503 and not ready (refuse), or the keys read last (cached); back when it returns', async () => {
    const before = (await auditRows('--tool', 'demo__echo')).length;
    await ctx.pg.pause();
    await waitFor(async () => (await fetch(`${ctx.gw.base}/readyz`)).status === 503, { ms: 5000, label: 'not ready' });
    const ready = await (await fetch(`${ctx.gw.base}/readyz`)).json();
    assert.equal(ready.keyStore.usable, false);
    assert.match(ready.reason, /the key store cannot be read: postgresql:\/\/postgres@127\.0\.0\.1:\d+\/postgres: down/);
    const refused = await post(ctx.gw.url, initializeBody(), { Authorization: `Bearer ${ctx.alice}` });
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('retry-after'), '1');
    assert.match(refused.text, /key store cannot be read now/);
    // The replica that chose "cached" still serves the keys it had, and says so.
    assert.equal((await statusWith(ctx.cached, ctx.alice)).status, 200);
    const cachedReady = await fetch(`${ctx.cached.base}/readyz`);
    assert.equal(cachedReady.status, 200);
    assert.match((await cachedReady.json()).keyStore.detail, /down: .*the 2 keys read last are kept/);
    assert.match(ctx.gw.stderr, /key store postgresql:\/\/postgres@127\.0\.0\.1:\d+\/postgres: /);

    // Its trail cannot be written: rows wait (audit.queue 10); before the queue is full, new
    // calls are refused rather than the gateway stalling.
    const call = await session(ctx.cached, ctx.alice);
    let served = 0;
    let refusal;
    for (let i = 0; i < 100 && !refusal; i++) {
      const r = await call(`while down ${i}`);
      if (r.result) served += 1;
      else refusal = r.error;
    }
    assert.ok(refusal, 'a call is refused once the trail is saturated');
    assert.match(refusal.message, /audit trail cannot be written now \(\d+ rows wait for its store(: .+)?\); try again later/);
    assert.ok(served >= 9, `served ${served} calls before refusing (audit.queue 10, nine tenths waiting)`);
    assert.equal((await fetch(`${ctx.cached.base}/healthz`)).status, 200, 'the gateway itself is not stalled');
    const audit = (await (await fetch(`${ctx.cached.base}/readyz`)).json()).audit;
    assert.equal(audit.saturated, true, JSON.stringify(audit));
    assert.ok(audit.queued >= 9, JSON.stringify(audit));

    await ctx.pg.resume();
    await waitFor(async () => (await statusWith(ctx.gw, ctx.alice)).status === 200, { ms: 10000, interval: 100, label: 'served again' });
    assert.equal((await fetch(`${ctx.gw.base}/readyz`)).status, 200);
    // Every call served while the store was down has its row now; the refused one has none.
    await waitFor(async () => (await auditRows('--tool', 'demo__echo')).length >= before + served,
      { ms: 15000, interval: 200, label: 'the waiting rows written' });
    const rows = await auditRows('--tool', 'demo__echo');
    assert.equal(rows.length, before + served, 'one row per served call, none for the refused one');
    assert.match(ctx.cached.stderr, /audit: the store takes rows again/);
    const recovered = (await (await fetch(`${ctx.cached.base}/readyz`)).json()).audit;
    assert.deepEqual(recovered, { queued: 0, store: 'up', saturated: false });
  });

  test('a store whose schema is newer than this build is refused, not written to', async () => {
    await ctx.pg.psql("UPDATE mcpgw_schema SET version = 99 WHERE component = 'keys'");
    try {
      const r = await keys('list');
      assert.equal(r.code, 1);
      assert.match(r.stderr, /keys schema is at version 99, newer than this mcpgw knows \(1\): upgrade mcpgw/);
    } finally {
      await ctx.pg.psql("UPDATE mcpgw_schema SET version = 1 WHERE component = 'keys'");
    }
    assert.equal((await keys('list')).code, 0);
  });

  test("each user's own values are sealed in the store and reach only that user's server process", async () => {
    const vaultKey = randomBytes(32).toString('hex');
    const secrets = (input, ...argv) => new Promise((resolve) => {
      const child = execFile(MCPGW_BIN, ['secrets', ...argv, '--store', ctx.pg.url],
        { env: { ...process.env, MCPGW_VAULT_KEY: vaultKey } },
        (e, stdout, stderr) => resolve({ code: e ? e.code : 0, stdout, stderr }));
      child.stdin.end(input);
    });
    const value = `pgv_${randomBytes(12).toString('hex')}`;
    const set = await secrets(`${value}\n`, 'set', '--user', 'alice', '--key', 'tok');
    assert.equal(set.code, 0, set.stderr);
    const stored = await ctx.pg.psql("SELECT principal || ' ' || name || ' ' || value FROM mcpgw_user_secrets");
    assert.match(stored, /^alice tok \S{40,}/);
    assert.ok(!stored.includes(value), 'the value is sealed in the store');
    const listed = await secrets('', 'list');
    assert.match(listed.stdout, /alice\s+tok\s+\d{4}-/);
    assert.ok(!listed.stdout.includes(value));

    const gw = await startGateway({
      mcpServers: { everything: { ...servers.everything(), env: { USER_TOK: '${user:tok}' } } },
      gateway: { store: ctx.pg.url, auth: { mode: 'keys' }, timeouts: { drainMs: 1000 },
        servers: { everything: { isolation: 'session' } } },
    }, { env: { MCPGW_VAULT_KEY: vaultKey } });
    try {
      let init;  // a gateway just started may not have read the keys yet (503)
      await waitFor(async () => (init = await post(gw.url, initializeBody(), { Authorization: `Bearer ${ctx.alice}` })).status !== 503,
        { ms: 5000, interval: 50, label: 'the keys read' });
      assert.equal(init.status, 200, init.text);
      const headers = { Authorization: `Bearer ${ctx.alice}`, 'mcp-session-id': init.headers.get('mcp-session-id'),
        'mcp-protocol-version': PROTOCOL_VERSION, accept: 'application/json' };
      const res = await post(gw.url, { jsonrpc: '2.0', id: 2, method: 'tools/call',
        params: { name: 'everything__get-env', arguments: {} } }, headers);
      const env = JSON.parse(res.json.result.content[0].text);
      assert.equal(env.USER_TOK, value, "alice's process has her value");
      assert.ok(!gw.stderr.includes(value), 'never logged');
    } finally {
      assert.equal((await gw.stop()).code, 0, gw.stderr.slice(-2000));
    }
  });

  test('the password in a store URL is never logged', async () => {
    const gw = await startGateway({
      mcpServers: { demo: servers.demo() },
      gateway: { store: 'postgres://mcpgw:s3cret-pw@127.0.0.1:1/none', storeTimeoutMs: 500, auth: { mode: 'keys' } },
    }, { ready: false });
    try {
      await sleep(700);
      const res = await post(gw.url, initializeBody(), { Authorization: `Bearer ${ctx.alice}` });
      assert.equal(res.status, 503);
      const ready = await (await fetch(`${gw.base}/readyz`)).json();
      assert.match(ready.keyStore.detail, /^postgres:\/\/mcpgw:\*\*\*@127\.0\.0\.1:1\/none: down: /);
      assert.doesNotMatch(gw.stderr + JSON.stringify(ready), /s3cret-pw/);
    } finally {
      assert.equal((await gw.stop()).code, 0);
    }
  });
});
