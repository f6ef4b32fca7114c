// GET /metrics: what a Prometheus server scrapes. promtool (Debian's prometheus package) must
// accept the text; counters move with the calls an SDK client makes; names a client makes up
// never become series; the security gate's decisions, authentication refusals, server restarts
// and held approvals show; gateway.metrics.listen moves /metrics to a listener of its own.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';

import {
  MCPGW_BIN, connect, defaultConfig, startGateway, useGateway, waitFor, withTimeout,
} from './helpers.mjs';
import { GATE_TRUST, gateServer } from './fixtures/gate.mjs';
import { rawExchange } from './raw_http.mjs';

/** The samples of an exposition: [{name, labels, value}]. */
function parse(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `a sample line: ${line}`);
    const labels = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** The sum of the samples named `name` whose labels include `want`. */
function value(samples, name, want = {}) {
  return samples.filter((s) => s.name === name && Object.entries(want).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

async function scrape(base, { check = true } = {}) {
  const res = await fetch(`${base}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  if (check) {
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(r.error, undefined, `promtool runs (Debian package prometheus): ${r.error}`);
    assert.equal(r.status, 0, `promtool accepts /metrics:\n${r.stdout}${r.stderr}`);
  }
  return parse(text);
}

describe('metrics on the main listener', () => {
  const ctx = useGateway(defaultConfig());

  test('promtool accepts the text, and the request counters move with calls', async () => {
    const { client } = await connect(ctx.gw, { ctx });
    const before = await scrape(ctx.gw.base);
    for (let i = 0; i < 5; i++) await client.callTool({ name: 'demo__echo', arguments: { message: `hi ${i}` } });
    const after = await scrape(ctx.gw.base);
    const calls = { method: 'tools/call', server: 'demo', outcome: 'ok' };
    assert.equal(value(after, 'mcpgw_requests_total', calls) - value(before, 'mcpgw_requests_total', calls), 5);
    const tool = { server: 'demo', tool: 'echo', outcome: 'ok' };
    assert.equal(value(after, 'mcpgw_tool_calls_total', tool) - value(before, 'mcpgw_tool_calls_total', tool), 5);
    const latency = { method: 'tools/call', server: 'demo' };
    assert.equal(value(after, 'mcpgw_request_duration_seconds_count', latency)
      - value(before, 'mcpgw_request_duration_seconds_count', latency), 5);
    const inf = { ...latency, le: '+Inf' };
    assert.equal(value(after, 'mcpgw_request_duration_seconds_bucket', inf),
      value(after, 'mcpgw_request_duration_seconds_count', latency), 'the +Inf bucket holds every call');
    assert.ok(value(after, 'mcpgw_sessions', { transport: 'streamable_http' }) >= 1, 'the open session shows');
    assert.equal(value(after, 'mcpgw_server_up', { server: 'demo' }), 1);
    assert.equal(value(after, 'mcpgw_build_info'), 1);
    assert.ok(value(after, 'mcpgw_http_responses_total', { code: '200' }) >= 5);
  });

  test('tool names a client makes up are not series; the unknown tool counts as an error', async () => {
    const { client } = await connect(ctx.gw, { ctx });
    const before = await scrape(ctx.gw.base, { check: false });
    for (let i = 0; i < 20; i++) {
      await assert.rejects(client.callTool({ name: `demo__made_up_${i}`, arguments: {} }));
      await assert.rejects(client.callTool({ name: `nowhere${i}__x`, arguments: {} }));
    }
    await assert.rejects(client.request({ method: `custom/made_up`, params: {} }, ElicitRequestSchema));
    const res = await fetch(`${ctx.gw.base}/metrics`);
    const text = await res.text();
    assert.doesNotMatch(text, /made_up|nowhere/, 'no label carries a name the client sent');
    const after = parse(text);
    const errors = (s) => value(s, 'mcpgw_requests_total', { method: 'tools/call', outcome: 'error' });
    assert.equal(errors(after) - errors(before), 40);
    assert.equal(value(after, 'mcpgw_tool_calls_total', { server: 'demo', tool: '', outcome: 'error' })
      - value(before, 'mcpgw_tool_calls_total', { server: 'demo', tool: '', outcome: 'error' }), 20);
  });

  test('a server killed and restarted is counted', async () => {
    const before = await scrape(ctx.gw.base, { check: false });
    const { pid } = (await ctx.gw.health()).servers.demo;
    process.kill(pid, 'SIGKILL');  // the demo server this test's gateway started
    await waitFor(async () => {
      const s = (await ctx.gw.health()).servers.demo;
      return s.state === 'ready' && s.pid !== pid;
    }, { ms: 10000, label: 'demo restarted' });
    const after = await scrape(ctx.gw.base, { check: false });
    const restarts = (s) => value(s, 'mcpgw_server_restarts_total', { server: 'demo' });
    assert.ok(restarts(after) >= restarts(before) + 1, `restarts ${restarts(before)} → ${restarts(after)}`);
  });

  test('only GET and HEAD', async () => {
    const res = await fetch(`${ctx.gw.base}/metrics`, { method: 'POST', body: '{}' });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'GET, HEAD');
  });
});

describe('metrics of the security gate and of authentication', () => {
  const ADMIN = 'admin-metrics-token-0123456789';
  const dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-metrics-'));
  const store = path.join(dir, 'keys.db');
  let key;
  before(() => {
    key = execFileSync(MCPGW_BIN, ['keys', 'create', '--name', 'alice', '--store', store], { encoding: 'utf8' })
      .trim().split('\n').at(-1);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const ctx = useGateway(() => ({
    mcpServers: { web: gateServer('web'), mail: gateServer('mail') },
    gateway: {
      auth: { mode: 'keys', store },
      security: { approvalTimeoutS: 30, filters: [{ type: 'fence' }, { type: 'taint' }] },
      servers: { web: GATE_TRUST.web, mail: GATE_TRUST.mail },
      timeouts: { drainMs: 2000 },
    },
  }), { env: { MCPGW_ADMIN_TOKEN: ADMIN } });

  const session = async (capabilities) => (await connect(ctx.gw, {
    ctx, headers: { Authorization: `Bearer ${key}` }, capabilities,
  })).client;
  const email = (c) => c.callTool({ name: 'mail__send_email', arguments: { to: 'a@example.com', subject: 's', body: 'b' } })
    .then(() => 'sent', (e) => e.message);

  test('a declined approval and a refused key are counted', async () => {
    const before = await scrape(ctx.gw.base);
    const c = await session({ elicitation: { form: {} } });
    c.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'decline' }));
    await c.callTool({ name: 'web__fetch_page', arguments: { url: 'https://example.com' } });
    assert.match(await email(c), /declined by the user/);
    const bad = await fetch(`${ctx.gw.base}/mcp`, {
      method: 'POST', headers: { Authorization: 'Bearer not-a-key', 'Content-Type': 'application/json' }, body: '{}',
    });
    assert.equal(bad.status, 401);
    const after = await scrape(ctx.gw.base);
    const refused = { filter: 'taint', action: 'approval_refused' };
    assert.equal(value(after, 'mcpgw_gate_decisions_total', refused) - value(before, 'mcpgw_gate_decisions_total', refused), 1);
    const denied = { method: 'tools/call', server: 'mail', outcome: 'denied' };
    assert.equal(value(after, 'mcpgw_requests_total', denied) - value(before, 'mcpgw_requests_total', denied), 1);
    const invalid = { reason: 'invalid' };
    assert.equal(value(after, 'mcpgw_auth_refusals_total', invalid) - value(before, 'mcpgw_auth_refusals_total', invalid), 1);
    assert.ok(value(after, 'mcpgw_http_responses_total', { code: '401' }) >= 1);
  });

  test('a call held for an administrator shows as pending until decided', async () => {
    const c = await session({});
    await c.callTool({ name: 'web__fetch_page', arguments: { url: 'https://example.com' } });
    const held = email(c);
    const admin = { Authorization: `Bearer ${ADMIN}` };
    const id = await waitFor(async () => {
      const list = (await (await fetch(`${ctx.gw.base}/admin/approvals`, { headers: admin })).json()).approvals;
      return list.length === 1 ? list[0].id : false;
    }, { ms: 5000, label: 'a held approval' });
    assert.equal(value(await scrape(ctx.gw.base), 'mcpgw_approvals_pending'), 1);
    await fetch(`${ctx.gw.base}/admin/approvals/${id}`, { method: 'POST', headers: admin, body: JSON.stringify({ decision: 'deny' }) });
    assert.match(await withTimeout(held, 5000, 'denied call'), /denied/);
    assert.equal(value(await scrape(ctx.gw.base), 'mcpgw_approvals_pending'), 0);
  });
});

describe('gateway.metrics', () => {
  test('listen: /metrics moves to its own listener, which serves nothing else', async () => {
    const gw = await startGateway(defaultConfig({ gateway: { metrics: { listen: '127.0.0.1:0' } } }));
    try {
      const m = /metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(gw.stderr);
      assert.ok(m, `the log names the metrics listener:\n${gw.stderr}`);
      const base = `http://127.0.0.1:${m[1]}`;
      assert.equal((await fetch(`${gw.base}/metrics`)).status, 404, 'not on the main listener');
      const samples = await scrape(base);
      assert.equal(value(samples, 'mcpgw_build_info'), 1);
      assert.equal((await fetch(`${base}/mcp`, { method: 'POST', body: '{}' })).status, 404);
      assert.equal((await fetch(`${base}/healthz`)).status, 404);
      const rebound = await rawExchange(Number(m[1]),
        ['GET /metrics HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n']);
      assert.equal(rebound.status, 403, 'a loopback metrics listener checks Host');
      const browser = await fetch(`${base}/metrics`, { headers: { Origin: 'http://evil.example' } });
      assert.equal(browser.status, 403);
    } finally {
      assert.equal((await gw.stop()).code, 0);
    }
  });

  test('enabled: false turns /metrics off', async () => {
    const gw = await startGateway(defaultConfig({ gateway: { metrics: { enabled: false } } }));
    try {
      assert.equal((await fetch(`${gw.base}/metrics`)).status, 404);
    } finally {
      assert.equal((await gw.stop()).code, 0);
    }
  });
});
