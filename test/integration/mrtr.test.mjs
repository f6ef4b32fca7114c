// 2026-07-28 MRTR through the gateway: a server of an older revision asks its client something
// mid-call (elicitation, sampling, roots) while the client is stateless. The gateway ends the
// round with `input_required` and a sealed requestState; the v2 SDK client answers and
// retries; the same call goes on at the server. Also the gate's own approval question, the
// checks on requestState (altered, another caller's, replayed, for another request), and one
// audit row per logical call.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { MCPGW_BIN, NODE, textOf, useGateway, waitFor, withTimeout } from './helpers.mjs';
import { GATE_TRUST, gateServer } from './fixtures/gate.mjs';
import { ENVELOPE, modernPost } from './fixtures/modern_post.mjs';
import { REMOTE_JS } from './fixtures/remote.mjs';
import { v2Connect } from './fixtures/v2_client.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-mrtr-'));
const STORE = path.join(dir, 'keys.db');
const AUDIT = path.join(dir, 'keys.audit.db');
after(() => rmSync(dir, { recursive: true, force: true }));

const createKey = (name) => execFileSync(MCPGW_BIN, ['keys', 'create', '--name', name, '--store', STORE], { encoding: 'utf8' })
  .trim().split('\n').at(-1);
const auditRows = (target) => execFileSync(MCPGW_BIN, ['audit', 'query', '--store', AUDIT, '--json'], { encoding: 'utf8' })
  .trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((r) => r.target === target);

const ELICIT_CAPS = {
  ...ENVELOPE,
  'io.modelcontextprotocol/clientCapabilities': { elicitation: { form: {} } },
};

/** A v2 client (pinned to 2026-07-28) that answers the questions it declares it can. */
async function modernClient(url, key, { elicit, sample, roots } = {}) {
  const capabilities = {};
  if (elicit) capabilities.elicitation = { form: {} };
  if (sample) capabilities.sampling = {};
  if (roots) capabilities.roots = {};
  const client = await v2Connect(url, { headers: { authorization: `Bearer ${key}` }, capabilities });
  const asked = [];
  if (elicit) client.setRequestHandler('elicitation/create', async (req) => { asked.push(req.params); return elicit(req.params); });
  if (sample) client.setRequestHandler('sampling/createMessage', async (req) => { asked.push(req.params); return sample(req.params); });
  if (roots) client.setRequestHandler('roots/list', async () => { asked.push('roots'); return { roots: roots.map((uri) => ({ uri, name: uri })) }; });
  return { client, asked };
}

const callText = async (client, name, args) =>
  textOf(await withTimeout(client.callTool({ name, arguments: args }), 15000, name));

describe('MRTR: a server of an older revision asks a stateless client', () => {
  const keys = {};
  before(() => { keys.alice = createKey('alice'); keys.bob = createKey('bob'); });
  const ctx = useGateway(() => ({
    mcpServers: { remote: { command: NODE, args: [REMOTE_JS, '--transport', 'stdio', '--name', 'remote'] } },
    gateway: { auth: { mode: 'keys', store: STORE }, timeouts: { drainMs: 1000 } },
  }));
  const clients = [];
  after(async () => { for (const c of clients) await c.close().catch(() => {}); });
  const open = async (opts, key = keys.alice) => {
    const made = await modernClient(ctx.gw.url, key, opts);
    clients.push(made.client);
    return made;
  };

  test('an elicitation is answered and the call completes with the answer', async () => {
    const { client, asked } = await open({ elicit: () => ({ action: 'accept', content: { answer: 'forty-two' } }) });
    assert.equal(client.getNegotiatedProtocolVersion(), '2026-07-28');
    assert.equal(await callText(client, 'remote__elicit', { question: 'The answer?' }), 'elicited: accept {"answer":"forty-two"}');
    assert.equal(asked.length, 1);
    assert.equal(asked[0].message, 'The answer?');
  });

  test('a declined elicitation reaches the server as declined', async () => {
    const { client } = await open({ elicit: () => ({ action: 'decline' }) });
    assert.equal(await callText(client, 'remote__elicit', { question: 'q' }), 'elicited: decline null');
  });

  test('a sampling request is answered by the client\'s model', async () => {
    const { client, asked } = await open({
      sample: () => ({ role: 'assistant', model: 'stand-in', content: { type: 'text', text: 'sampled by the client' } }),
    });
    assert.equal(await callText(client, 'remote__sample', { prompt: 'say hi' }), 'sampled: sampled by the client');
    assert.equal(asked[0].messages[0].content.text, 'say hi');
  });

  test('the roots are the client\'s', async () => {
    const { client } = await open({ roots: ['file:///projects/a', 'file:///projects/b'] });
    assert.equal(await callText(client, 'remote__roots', {}), '["file:///projects/a","file:///projects/b"]');
  });

  test('a client that declares no elicitation: -32021 naming it; the server is told, not hung', async () => {
    const { client } = await open({});
    await assert.rejects(withTimeout(client.callTool({ name: 'remote__elicit', arguments: { question: 'q' } }), 15000, 'call'),
      (e) => e.code === -32021 && /elicitation/.test(e.message) && e.data?.requiredCapabilities?.elicitation !== undefined);
    assert.match(await callText(client, 'remote__echo', { message: 'still fine' }), /still fine/);
  });

  test('one audit row per logical call, however many rounds', async () => {
    // bob's first call of the tool: his rows are this call's.
    const { client } = await open({ elicit: () => ({ action: 'accept', content: { answer: 'x' } }) }, keys.bob);
    await callText(client, 'remote__elicit', { question: 'q' });
    const bobs = () => auditRows('remote__elicit').filter((r) => r.principal === 'bob');
    await waitFor(() => bobs().length > 0, { ms: 5000, label: 'audit row' });
    await new Promise((r) => setTimeout(r, 300));
    const rows = bobs();
    assert.equal(rows.length, 1, JSON.stringify(rows));
    assert.equal(rows[0].outcome, 'ok');
  });

  test('two clients of one caller: each request is judged by what it declared', async () => {
    // alice's elicitation-capable call is waiting at its server when her other client, which
    // declares nothing, sends a request: the question still goes to the first as a round.
    const auth = { authorization: `Bearer ${keys.alice}` };
    const asking = modernPost(ctx.gw.url, 'tools/call', { name: 'remote__elicit', arguments: { question: 'who?', delayMs: 600 } },
      { headers: auth, meta: ELICIT_CAPS });
    await new Promise((r) => setTimeout(r, 150));
    const other = await modernPost(ctx.gw.url, 'tools/list', {}, { headers: auth });
    assert.equal(other.status, 200, other.text);
    const r = await asking;
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.result?.resultType, 'input_required', r.text);
    // And the other way: a request that declared nothing is refused the question (-32021)
    // although a capable request of the same caller came after it.
    const bare = modernPost(ctx.gw.url, 'tools/call', { name: 'remote__elicit', arguments: { question: 'who?', delayMs: 600 } },
      { headers: auth });
    await new Promise((r2) => setTimeout(r2, 150));
    await modernPost(ctx.gw.url, 'tools/list', {}, { headers: auth, meta: ELICIT_CAPS });
    const refused = await bare;
    assert.equal(refused.json.error?.code, -32021, refused.text);
  });

  describe('requestState is the gateway\'s, bound to its caller, used once', () => {
    const auth = (key) => ({ authorization: `Bearer ${key}` });
    const ask = async (key = keys.alice) => {
      const r = await modernPost(ctx.gw.url, 'tools/call', { name: 'remote__elicit', arguments: { question: 'raw?' } },
        { headers: auth(key), meta: ELICIT_CAPS, id: 7 });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.id, 7);
      assert.equal(r.json.result.resultType, 'input_required', r.text);
      const [[qid, question]] = Object.entries(r.json.result.inputRequests);
      assert.equal(question.method, 'elicitation/create');
      assert.equal(question.params.message, 'raw?');
      assert.equal(typeof r.json.result.requestState, 'string');
      return { qid, state: r.json.result.requestState };
    };
    const retry = (key, state, answers, { name = 'remote__elicit', id = 8 } = {}) => modernPost(ctx.gw.url, 'tools/call',
      { name, arguments: { question: 'raw?' }, inputResponses: answers, requestState: state },
      { headers: auth(key), meta: ELICIT_CAPS, id });
    const accept = (qid) => ({ [qid]: { action: 'accept', content: { answer: 'raw' } } });
    const refused = (r, pattern) => {
      assert.equal(r.json?.error?.code, -32602, r.text);
      assert.match(r.json.error.message, pattern);
    };

    test('altered, someone else\'s, for another request, or answering nothing asked: -32602', async () => {
      const { qid, state } = await ask();
      const flipped = state.slice(0, 20) + (state[20] === 'A' ? 'B' : 'A') + state.slice(21);
      refused(await retry(keys.alice, flipped, accept(qid)), /not one this gateway issued/);
      refused(await retry(keys.alice, 'not-a-token', accept(qid)), /not one this gateway issued/);
      refused(await retry(keys.bob, state, accept(qid)), /another caller/);
      refused(await retry(keys.alice, state, accept(qid), { name: 'remote__echo' }), /must repeat the request/);
      refused(await retry(keys.alice, state, { 'mcpgw-999999': { action: 'accept' } }), /answers no question/);
      // None of those consumed it: the caller's own retry completes the call.
      const ok = await retry(keys.alice, state, accept(qid), { id: 'retry-1' });
      assert.equal(ok.json.id, 'retry-1');
      assert.equal(ok.json.result.resultType, 'complete');
      assert.equal(textOf(ok.json.result), 'elicited: accept {"answer":"raw"}');
      refused(await retry(keys.alice, state, accept(qid)), /used already|has ended/);
      // bob's attempt is on the audit trail: refused, and why.
      await waitFor(() => auditRows('remote__elicit').some((r) => r.principal === 'bob' && r.outcome === 'denied'),
        { ms: 5000, label: 'the refused retry\'s audit row' });
      const bobs = auditRows('remote__elicit').filter((r) => r.principal === 'bob' && r.outcome === 'denied');
      assert.match(bobs.at(-1).detail, /another caller/);
    });
  });
});

describe('MRTR: the gate\'s approval question to a stateless client', () => {
  const keys = {};
  before(() => { keys.carol = createKey('carol'); });
  const ctx = useGateway(() => ({
    mcpServers: { web: gateServer('web'), mail: gateServer('mail') },
    gateway: {
      auth: { mode: 'keys', store: STORE },
      security: { approvalTimeoutS: 5, filters: [{ type: 'fence' }, { type: 'taint' }] },
      servers: { web: GATE_TRUST.web, mail: GATE_TRUST.mail },
      timeouts: { drainMs: 1000 },
    },
  }));

  for (const [answer, expect] of [['accept', /^sent to boss@example\.com$/], ['decline', /declined by the user/]]) {
    test(`after an untrusted read, send_email asks for approval in a round; ${answer}`, async () => {
      const { client, asked } = await modernClient(ctx.gw.url, keys.carol, { elicit: () => ({ action: answer }) });
      try {
        await callText(client, 'web__fetch_page', { url: 'https://example.com' });
        const r = await withTimeout(client.callTool({ name: 'mail__send_email', arguments: { to: 'boss@example.com', subject: 's', body: 'b' } })
          .then((res) => textOf(res), (e) => e.message), 15000, 'send_email');
        assert.match(r, expect);
        assert.equal(asked.length, 1);
        assert.match(asked[0].message, /mail\/send_email/);
      } finally {
        await client.close().catch(() => {});
      }
    });
  }
});

describe('MRTR: a parked call\'s round expires', () => {
  const ctx = useGateway(() => ({
    mcpServers: { remote: { command: NODE, args: [REMOTE_JS, '--transport', 'stdio', '--name', 'remote'] } },
    gateway: { timeouts: { callMs: 1000, drainMs: 1000 } },
  }));

  test('a retry later than gateway.timeouts.callMs after the round is refused, and the server is not left asking', async () => {
    const ask = (params = {}) => modernPost(ctx.gw.url, 'tools/call',
      { name: 'remote__elicit', arguments: { question: 'late?' }, ...params }, { meta: ELICIT_CAPS });
    const first = await ask();
    assert.equal(first.json.result?.resultType, 'input_required', first.text);
    const [qid] = Object.keys(first.json.result.inputRequests);
    await new Promise((r) => setTimeout(r, 1300));
    const late = await ask({ inputResponses: { [qid]: { action: 'accept', content: { answer: 'x' } } },
      requestState: first.json.result.requestState });
    assert.equal(late.json.error?.code, -32602, late.text);
    assert.match(late.json.error.message, /expired|has ended/);
    // The gateway still serves the server: the parked call did not wedge it.
    const echo = await modernPost(ctx.gw.url, 'tools/call', { name: 'remote__echo', arguments: { message: 'after' } });
    assert.match(textOf(echo.json.result), /after/);
  });
});
