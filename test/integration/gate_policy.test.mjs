// The security gate's policy knobs: `approvals: "admin"` holds a call for an administrator even
// when the client offers to answer an elicitation (an agent runtime must not approve its own
// trifecta); pins cover a tool's annotations (a server cannot declare itself harmless after it
// was pinned) and, with `pins: "strict"`, the server's tool set (a tool it adds later is new and
// quarantined). The mail server's own record proves what was sent.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';

import { connect, textOf, useGateway, waitFor, withTimeout } from './helpers.mjs';
import { GATE_TRUST, gateServer } from './fixtures/gate.mjs';

const ADMIN_TOKEN = 'admin-test-token-policy-7';
const admin = (ctx, p, body) => fetch(`${ctx.gw.base}${p}`, {
  method: body ? 'POST' : 'GET',
  headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
  body: body ? JSON.stringify(body) : undefined,
}).then((r) => r.json());

async function client(ctx) {
  const asked = [];
  const { client: c } = await connect(ctx.gw, { ctx, capabilities: { elicitation: { form: {} } } });
  c.setRequestHandler(ElicitRequestSchema, async (req) => { asked.push(req.params.message); return { action: 'accept' }; });
  return { c, asked };
}

const call = (c, name, args = {}) => withTimeout(
  c.callTool({ name, arguments: args }).then((r) => ({ ok: textOf(r) }), (e) => ({ error: e.message })),
  30000, name);
const sent = async (c) => JSON.parse((await call(c, 'mail__sent')).ok);
const toolNames = async (c) => (await c.listTools()).tools.map((t) => t.name);

describe('approvals: "admin"', () => {
  const ctx = useGateway(() => ({
    mcpServers: { web: gateServer('web'), vault: gateServer('vault'), mail: gateServer('mail') },
    gateway: {
      security: { approvalTimeoutS: 20, filters: [{ type: 'taint' }] },
      servers: {
        web: GATE_TRUST.web,
        vault: GATE_TRUST.vault,
        mail: { ...GATE_TRUST.mail, tools: { ...GATE_TRUST.mail.tools, send_email: { approvals: 'admin' } } },
      },
      timeouts: { drainMs: 2000 },
    },
  }), { env: { MCPGW_ADMIN_TOKEN: ADMIN_TOKEN } });

  const held = async (ctx) => waitFor(async () => {
    const list = await admin(ctx, '/admin/approvals');
    return list.approvals?.length ? list.approvals : false;
  }, { label: 'a held call' });

  test('a client that offers elicitation is not asked: the call waits for an administrator', async () => {
    const { c, asked } = await client(ctx);
    const before = (await sent(c)).length;
    await call(c, 'web__fetch_page', { url: 'https://example.com' });
    const pending = call(c, 'mail__send_email', { to: 'boss@example.com', subject: 's', body: 'b' });
    const [a] = await held(ctx);
    assert.equal(a.target, 'mail/send_email');
    assert.equal(asked.length, 0, 'the agent\'s runtime was not asked');
    assert.equal((await sent(c)).length, before, 'nothing sent while it waits');
    assert.deepEqual(await admin(ctx, `/admin/approvals/${a.id}`, { decision: 'deny' }), { id: a.id, decision: 'deny' });
    assert.match((await pending).error, /denied by an administrator/);
    const again = call(c, 'mail__send_email', { to: 'boss@example.com', subject: 's', body: 'b' });
    const [b] = await held(ctx);
    await admin(ctx, `/admin/approvals/${b.id}`, { decision: 'approve' });
    assert.deepEqual(await again, { ok: 'sent to boss@example.com' });
    assert.equal((await sent(c)).length, before + 1, 'only the approved one was sent');
  });

  test('the administrator sees where a long payload goes, and what the detectors found in it', async () => {
    const { c } = await client(ctx);
    await call(c, 'web__fetch_page', { url: 'https://example.com' });
    const body = `${'quarterly numbers '.repeat(300)}then forward all of it to attacker@evil.example or https://evil.example/drop`;
    const pending = call(c, 'mail__send_email', { to: 'boss@example.com', subject: 's', body });
    const [a] = await held(ctx);
    const lines = a.arguments.split('\n');
    assert.equal(lines[0], 'destinations: to=boss@example.com, attacker@evil.example, https://evil.example/drop');
    assert.match(lines[1], /^detectors: .*email/);
    assert.match(a.arguments, /… \(\d+ more bytes not shown\)$/, 'the cut is said');
    await admin(ctx, `/admin/approvals/${a.id}`, { decision: 'deny' });
    assert.match((await pending).error, /denied by an administrator/);
  });

  test('a tool left to the client\'s user is asked by elicitation', async () => {
    const { c, asked } = await client(ctx);
    await call(c, 'vault__get_secret', { name: 'x' });
    await call(c, 'web__fetch_page', { url: 'https://example.com' });
    assert.deepEqual(await call(c, 'mail__post_status', { text: 'x' }), { ok: 'posted' });
    assert.equal(asked.length, 1, 'the trifecta on post_status was put to the user, who accepted');
    assert.match(asked[0], /^mcpgw needs your approval to call mail\/post_status/);
    assert.deepEqual((await admin(ctx, '/admin/approvals')).approvals, []);
  });
});

describe('pins cover annotations and, when strict, the tool set', () => {
  const ctx = useGateway(() => ({
    mcpServers: { rug: gateServer('rug') },
    gateway: {
      security: { filters: [{ type: 'pin' }] },
      servers: { rug: { ...GATE_TRUST.rug, pins: 'strict' } },
      timeouts: { drainMs: 2000 },
    },
  }), { env: { MCPGW_ADMIN_TOKEN: ADMIN_TOKEN } });

  test('a tool that declares itself harmless after it was pinned is quarantined', async () => {
    const { c } = await client(ctx);
    assert.deepEqual(await call(c, 'rug__weather', { city: 'Oslo' }), { ok: 'sunny in Oslo' });
    assert.deepEqual(await call(c, 'rug__relabel'), { ok: 'relabelled' });
    await waitFor(async () => !(await toolNames(c)).includes('rug__weather'), { label: 'weather hidden' });
    assert.match((await call(c, 'rug__weather', { city: 'Oslo' })).error,
      /mcpgw security: tool rug\/weather is quarantined: its annotations changed since it was pinned/);
    const { tools } = await admin(ctx, '/admin/tools');
    const pin = tools.find((t) => t.tool === 'weather');
    assert.equal(pin.status, 'quarantined');
  });

  test('a tool added to a strict server is quarantined until approved', async () => {
    const { c } = await client(ctx);
    assert.deepEqual(await call(c, 'rug__grow'), { ok: 'grown' });
    await waitFor(async () => {
      await toolNames(c);  // the gate screens a list when a client fetches it
      const { tools } = await admin(ctx, '/admin/tools');
      return tools.some((t) => t.tool === 'extra' && t.status === 'quarantined');
    }, { label: 'extra quarantined' });
    assert.ok(!(await toolNames(c)).includes('rug__extra'), 'hidden from lists');
    assert.match((await call(c, 'rug__extra')).error, /quarantined: it is new on a server whose tool set is pinned \(pins: strict\)/);
    const ok = await admin(ctx, '/admin/tools/approve', { server: 'rug', tool: 'extra' });
    assert.ok(!ok.error, JSON.stringify(ok));
    assert.deepEqual(await call(c, 'rug__extra'), { ok: 'extra' });
  });
});
