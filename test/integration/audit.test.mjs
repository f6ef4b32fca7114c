// The audit trail: one row per tools/call, resources/read, prompts/get and refused request,
// with who, which session and client, what, a digest of the arguments (and the arguments with
// secrets redacted when configured), the outcome, the latency and sizes. Rows are written off
// the hot path and flushed on SIGTERM, even in the middle of load. No key ever reaches the
// database or the log.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { MCPGW_BIN, NODE, connect, initializeBody, post, startGateway, textOf, waitFor } from './helpers.mjs';
import { REMOTE_JS } from './fixtures/remote.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-audit-'));
const STORE = path.join(dir, 'mcpgw.db');
const AUDIT = path.join(dir, 'mcpgw.audit.db');

const cli = (...args) => execFileSync(MCPGW_BIN, args, { encoding: 'utf8' });
const rows = (...filters) => cli('audit', 'query', '--store', AUDIT, '--json', ...filters)
  .trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

function config() {
  return {
    mcpServers: { alpha: { command: NODE, args: [REMOTE_JS, '--transport', 'stdio', '--name', 'alpha'] } },
    gateway: {
      auth: { mode: 'keys', store: STORE },
      audit: { arguments: true },
      servers: { alpha: { callTimeoutMs: 500 } },
      timeouts: { drainMs: 3000 },
    },
  };
}

async function stopCleanly(gw) {
  const exit = await gw.stop(8000);
  assert.deepEqual({ code: exit.code, signal: exit.signal, forced: exit.forced },
    { code: 0, signal: null, forced: false }, `gateway log:\n${gw.stderr.slice(-3000)}`);
}

describe('audit trail', () => {
  let key;
  before(() => {
    key = cli('keys', 'create', '--name', 'user', '--deny-tools', '*__add', '--store', STORE).trim().split('\n').at(-1);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('N calls of every outcome give exactly N rows with the right fields', async () => {
    const gw = await startGateway(config());
    let log = '';
    try {
      const { client } = await connect(gw, { name: 'audit-client', headers: { Authorization: `Bearer ${key}` } });
      for (let i = 0; i < 3; i += 1) {
        const args = i === 0 ? { message: 'm0', token: 'tok-123-secret' } : { message: `m${i}` };
        assert.equal(textOf(await client.callTool({ name: 'alpha__echo', arguments: args })), `Echo: m${i}`);
      }
      for (let i = 0; i < 2; i += 1) {
        const r = await client.callTool({ name: 'alpha__echo', arguments: { message: 42 } }).then((x) => x, (e) => e);
        assert.ok(r instanceof Error || r.isError, 'a bad argument is an error');
      }
      for (let i = 0; i < 2; i += 1) {
        await assert.rejects(client.callTool({ name: 'alpha__add', arguments: { a: 1, b: 2 } }), /Unknown tool/);
      }
      await assert.rejects(client.callTool({ name: 'alpha__sleep', arguments: { ms: 3000 } }), /timed out/);
      const read = await client.readResource({ uri: 'mcpgw://alpha/fixture://readme' });
      assert.match(read.contents[0].text, /alpha/);
      const noKey = await post(gw.url, initializeBody());
      assert.equal(noKey.status, 401);
      await client.close();
    } finally {
      await stopCleanly(gw);
      log = gw.stderr;
    }
    const all = rows();
    const count = (o) => all.filter((r) => r.outcome === o).length;
    assert.deepEqual({ ok: count('ok'), error: count('error'), denied: count('denied'), timeout: count('timeout') },
      { ok: 4, error: 2, denied: 3, timeout: 1 }, JSON.stringify(all, null, 1));
    assert.equal(all.length, 10);
    const calls = all.filter((r) => r.method === 'tools/call');
    for (const r of calls) {
      assert.equal(r.principal, 'user');
      assert.equal(r.client, 'audit-client');
      assert.equal(r.server, 'alpha');
      assert.match(r.session, /^[0-9a-f]{32}$/);
      assert.match(r.args_digest, /^[0-9a-f]{64}$/);
      assert.ok(r.latency_us > 0 && r.bytes_out > 0, JSON.stringify(r));
    }
    const denied = all.filter((r) => r.outcome === 'denied' && r.method === 'tools/call');
    assert.deepEqual(denied.map((r) => r.target), ['alpha__add', 'alpha__add']);
    assert.match(denied[0].detail, /not permitted for key 'user'/);
    const refused = all.find((r) => r.method === 'http');
    assert.equal(refused.principal, '-');
    assert.match(refused.detail, /Unauthorized/);
    const timeout = all.find((r) => r.outcome === 'timeout');
    assert.equal(timeout.target, 'alpha__sleep');
    const reads = all.filter((r) => r.method === 'resources/read');
    assert.equal(reads.length, 1);
    assert.equal(reads[0].target, 'mcpgw://alpha/fixture://readme');
    // Arguments are kept (configured), with secrets redacted.
    const first = calls[0];
    assert.deepEqual(JSON.parse(first.arguments), { message: 'm0', token: '[redacted]' });

    // Filters.
    assert.equal(rows('--outcome', 'denied', '--key', 'user').length, 2);
    assert.equal(rows('--tool', 'alpha__ec*').length, 5);
    assert.equal(cli('audit', 'tail', '-n', '2', '--store', AUDIT).trim().split('\n').length, 2);

    // No key and no secret argument in the database files or the log.
    for (const file of [STORE, `${STORE}-wal`, AUDIT, `${AUDIT}-wal`]) {
      if (!existsSync(file)) continue;
      const bytes = readFileSync(file).toString('latin1');
      assert.ok(!bytes.includes(key), `the key in ${path.basename(file)}`);
      assert.ok(!bytes.includes('tok-123-secret'), `a secret argument in ${path.basename(file)}`);
    }
    assert.ok(!log.includes(key), 'the key in the log');
  });

  test('rows survive a SIGTERM in the middle of load', async () => {
    const gw = await startGateway(config());
    const since = Date.now();
    const { client } = await connect(gw, { headers: { Authorization: `Bearer ${key}` } });
    const outcomes = [];
    const errors = new Set();  // what the calls that failed were told (shown if rows are missing)
    const calls = Array.from({ length: 40 }, (_, i) => client.callTool({ name: 'alpha__sleep', arguments: { ms: 50 + (i % 5) * 40 } })
      .then(() => outcomes.push('ok'), (e) => {
        // 'lost': the connection went; 'refused': turned away at the door while draining (503,
        // never reached a server, so no row); anything else was answered by the pipeline.
        const lost = /fetch failed|ECONNREFUSED|closed|terminated/i.test(e.message);
        outcomes.push(lost ? 'lost' : e.code === 503 && /shutting down/i.test(e.message) ? 'refused' : 'answered-error');
        errors.add(e.message);
      }));
    // SIGTERM once calls are in flight at the server (a slow build may take a while to get
    // there): those must be answered and audited while the gateway drains.
    await waitFor(async () => (await gw.health()).servers.alpha.inFlight > 0, { ms: 10000, interval: 5, label: 'calls in flight' });
    const stopping = stopCleanly(gw);
    await Promise.all(calls);
    await stopping;
    const answered = outcomes.filter((o) => o === 'ok' || o === 'answered-error').length;
    assert.ok(answered > 0, 'some calls were answered');
    const written = rows().filter((r) => r.ts_ms >= since && r.target === 'alpha__sleep');
    assert.equal(written.length, answered, `${answered} answered calls, ${written.length} rows; errors: ${[...errors].join(' | ')}`);
  });
});
