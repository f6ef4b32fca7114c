// A stateless client and a server of the same revision (2026-07-28) behind mcpgw: the server's
// questions reach the client as the server asked them (its own inputRequests keys), and its
// requestState travels sealed inside the gateway's. The retry is checked before the server
// sees it: the same caller, the same request, an unaltered state. Each round leaves an audit
// row; a round that ended with questions says so.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { MCPGW_BIN, NODE, connect, textOf, useGateway } from './helpers.mjs';
import { GATE_TRUST, gateServer } from './fixtures/gate.mjs';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { ENVELOPE, modernPost } from './fixtures/modern_post.mjs';
import { v2Connect } from './fixtures/v2_client.mjs';
import { startServer } from './fixtures/v2_server.mjs';

const V2_SERVER_JS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'v2_server.mjs');
const dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-mrtr-passed-'));
const STORE = path.join(dir, 'mcpgw.db');
const AUDIT = path.join(dir, 'mcpgw.audit.db');
const cli = (...args) => execFileSync(MCPGW_BIN, args, { encoding: 'utf8' });
const newKey = (name) => cli('keys', 'create', '--name', name, '--store', STORE).trim().split('\n').at(-1);
const rows = () => cli('audit', 'query', '--store', AUDIT, '--json')
  .trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

const ASKS = {
  ...ENVELOPE,
  'io.modelcontextprotocol/clientCapabilities': { elicitation: { form: {} } },
};
const ANSWER = { action: 'accept', content: { name: 'Ada' } };
const TOKEN = 'ghp_Zq3xV9kLm2Np8Rt5Wy1Bc4Df7Gh0Jk6Ls9Qa';

let v2;
const keys = {};
before(async () => {
  v2 = await startServer();
  keys.ada = newKey('ada');
  keys.eve = newKey('eve');
});
after(async () => {
  await v2?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a 2026-07-28 server asks a 2026-07-28 client, through the gateway', () => {
  const ctx = useGateway(() => ({
    mcpServers: { modern: { url: `http://127.0.0.1:${v2.port}/mcp` } },
    gateway: { auth: { mode: 'keys', store: STORE }, audit: { arguments: true } },
  }));
  const as = (who) => ({ meta: ASKS, headers: { authorization: `Bearer ${keys[who]}` } });
  const ask = (who, params = {}) =>
    modernPost(ctx.gw.url, 'tools/call', { name: 'modern__elicit', arguments: {}, ...params }, as(who));

  test('the question keeps the server\'s key; the retry with the answer completes the call', async () => {
    const first = await ask('ada');
    assert.equal(first.status, 200, first.text);
    const result = first.json.result;
    assert.equal(result.resultType, 'input_required', first.text);
    assert.deepEqual(Object.keys(result.inputRequests), ['who'], 'the server named its question "who"');
    assert.equal(result.inputRequests.who.method, 'elicitation/create');
    assert.equal(typeof result.requestState, 'string');
    assert.notEqual(result.requestState, 'round-1', 'the server\'s own state is not handed out as it is');
    assert.ok(!Buffer.from(result.requestState, 'base64url').toString('latin1').includes('round-1'),
      'the server\'s state is sealed, not just encoded');

    const done = await ask('ada', { inputResponses: { who: ANSWER }, requestState: result.requestState });
    assert.equal(done.status, 200, done.text);
    assert.equal(done.json.result.resultType, 'complete', done.text);
    assert.equal(textOf(done.json.result), 'hello Ada');
  });

  test('a retry from another caller, of another request, or with an altered state never reaches the server', async () => {
    const { json } = await ask('ada');
    const state = json.result.requestState;
    const retry = { inputResponses: { who: ANSWER }, requestState: state };

    const eve = await ask('eve', retry);
    assert.equal(eve.json.error?.code, -32602, eve.text);
    assert.match(eve.json.error.message, /another caller/);

    const otherArgs = await ask('ada', { ...retry, arguments: { extra: 'x' } });
    assert.equal(otherArgs.json.error?.code, -32602, otherArgs.text);
    assert.match(otherArgs.json.error.message, /must repeat the request/);

    const otherTool = await modernPost(ctx.gw.url, 'tools/call',
      { name: 'modern__echo', arguments: {}, ...retry }, as('ada'));
    assert.equal(otherTool.json.error?.code, -32602, otherTool.text);

    const flipped = state.slice(0, 10) + (state[10] === 'A' ? 'B' : 'A') + state.slice(11);
    const altered = await ask('ada', { ...retry, requestState: flipped });
    assert.equal(altered.json.error?.code, -32602, altered.text);
    assert.match(altered.json.error.message, /not one this gateway issued|altered/);

    // The untouched state still works: nothing above consumed it.
    const done = await ask('ada', retry);
    assert.equal(textOf(done.json.result), 'hello Ada', done.text);

    // Each refusal is on the audit trail, with who tried and why.
    let eves = [];
    for (let i = 0; i < 50 && eves.length === 0; i += 1) {
      await new Promise((r) => setTimeout(r, 100));
      eves = rows().filter((r) => r.principal === 'eve');
    }
    assert.deepEqual(eves.map((r) => [r.target, r.outcome]), [['modern__elicit', 'denied']], JSON.stringify(eves));
    assert.match(eves[0].detail, /another caller/);
    const altereds = rows().filter((r) => r.principal === 'ada' && /not one this gateway issued|altered/.test(r.detail ?? ''));
    assert.equal(altereds.length, 1, JSON.stringify(rows()));
    assert.equal(altereds[0].outcome, 'denied');
  });

  test('a client that declared no elicitation gets -32021 with HTTP 400', async () => {
    const r = await modernPost(ctx.gw.url, 'tools/call', { name: 'modern__elicit', arguments: {} },
      { headers: { authorization: `Bearer ${keys.ada}` } });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error.code, -32021, r.text);
  });

  test('each round leaves an audit row; the one that asked says input_required', async () => {
    await new Promise((r) => setTimeout(r, 50));
    const since = Date.now();
    const { json } = await ask('ada');
    await ask('ada', { inputResponses: { who: ANSWER }, requestState: json.result.requestState });
    let mine = [];
    for (let i = 0; i < 50 && mine.length < 2; i += 1) {
      await new Promise((r) => setTimeout(r, 100));
      mine = rows().filter((r) => r.ts_ms >= since).sort((a, b) => a.ts_ms - b.ts_ms);
    }
    assert.deepEqual(mine.map((r) => [r.target, r.outcome]),
      [['modern__elicit', 'input_required'], ['modern__elicit', 'ok']], JSON.stringify(mine));
  });
});

describe('a passed round expires', () => {
  const ctx = useGateway(() => ({
    mcpServers: { modern: { url: `http://127.0.0.1:${v2.port}/mcp` } },
    gateway: { timeouts: { callMs: 1000 } },
  }));

  test('a retry later than gateway.timeouts.callMs after the round is refused', async () => {
    const ask = (params = {}) => modernPost(ctx.gw.url, 'tools/call',
      { name: 'modern__elicit', arguments: {}, ...params }, { meta: ASKS });
    const { json } = await ask();
    const retry = { inputResponses: { who: ANSWER }, requestState: json.result.requestState };
    await new Promise((r) => setTimeout(r, 1300));
    const late = await ask(retry);
    assert.equal(late.json.error?.code, -32602, late.text);
    assert.match(late.json.error.message, /expired/);
  });
});

describe('the security gate holds a passed call once', () => {
  const ctx = useGateway(() => ({
    mcpServers: { web: gateServer('web'), modern: { url: `http://127.0.0.1:${v2.port}/mcp` } },
    gateway: {
      auth: { mode: 'keys', store: STORE },
      security: { approvalTimeoutS: 5, filters: [{ type: 'fence' }, { type: 'taint' }] },
      // The server is a public sink with dangerous writes, as the gate's mail server.
      servers: { web: GATE_TRUST.web, modern: { trust: GATE_TRUST.mail.trust } },
    },
  }));

  test('after an untrusted read, the approval is asked once; the server\'s question follows; the call completes', async () => {
    const client = await v2Connect(ctx.gw.url, {
      headers: { authorization: `Bearer ${keys.eve}` }, capabilities: { elicitation: { form: {} } },
    });
    ctx.clients.push(client);
    const asked = [];
    client.setRequestHandler('elicitation/create', async (req) => {
      asked.push(req.params.message);
      return /your name/.test(req.params.message) ? ANSWER : { action: 'accept' };
    });
    await client.callTool({ name: 'web__fetch_page', arguments: { url: 'https://example.com' } });
    const r = await client.callTool({ name: 'modern__elicit', arguments: {} });
    assert.equal(textOf(r), 'hello Ada');
    assert.equal(asked.length, 2, JSON.stringify(asked));
    assert.match(asked[0], /modern\/elicit/, 'first the gate\'s approval of this call');
    assert.equal(asked[1], 'What is your name?', 'then the server\'s own question, once');
  });
});

describe('the questions of an untrusted stateless server are fenced and attributed, the answers inspected', () => {
  const ctx = useGateway(() => ({
    mcpServers: { modern: { url: `http://127.0.0.1:${v2.port}/mcp` } },
    gateway: {
      auth: { mode: 'keys', store: STORE },
      security: { filters: [{ type: 'fence' }, { type: 'inspect' }, { type: 'taint' }] },
      servers: { modern: GATE_TRUST.web },
    },
  }));
  const unwrap = (text) => text.slice(text.indexOf('>>>\n') + 4, text.lastIndexOf('\n<<<end'));
  const checkQuestion = (message) => {
    assert.match(message, /^Asked by server "modern", not by mcpgw\. It is an untrusted source/);
    assert.match(message, /comes from modern\/(elicit|elicitation\/create), an untrusted source/);
    assert.equal(unwrap(message), 'What is your name?');
  };

  test('passed to a client of the same revision; a secret in its answer is refused before the server', async () => {
    const client = await v2Connect(ctx.gw.url, {
      headers: { authorization: `Bearer ${keys.ada}` }, capabilities: { elicitation: { form: {} } },
    });
    ctx.clients.push(client);
    const asked = [];
    client.setRequestHandler('elicitation/create', async (req) => { asked.push(req.params); return ANSWER; });
    const r = await client.callTool({ name: 'modern__elicit', arguments: {} });
    assert.equal(unwrap(textOf(r)), 'hello Ada');
    assert.equal(asked.length, 1);
    checkQuestion(asked[0].message);
    assert.deepEqual(asked[0].requestedSchema.properties, { name: { type: 'string' } }, 'the form is left as it is');
    client.setRequestHandler('elicitation/create', async () => ({ action: 'accept', content: { name: TOKEN } }));
    const refused = await client.callTool({ name: 'modern__elicit', arguments: {} }).then((x) => textOf(x), (e) => e.message);
    assert.match(refused, /mcpgw security: the answer of modern\/inputResponses contains github_token/);
    assert.doesNotMatch(refused, /hello/, 'the server never answered the retry');
  });

  test('asked by the gateway for an older client; a secret typed in never reaches the server', async () => {
    const asked = [];
    const { client } = await connect(ctx.gw, {
      ctx, headers: { authorization: `Bearer ${keys.eve}` }, capabilities: { elicitation: { form: {} } },
    });
    let answer = ANSWER;
    client.setRequestHandler(ElicitRequestSchema, async (req) => { asked.push(req.params); return answer; });
    assert.equal(unwrap(textOf(await client.callTool({ name: 'modern__elicit', arguments: {} }))), 'hello Ada');
    checkQuestion(asked[0].message);
    answer = { action: 'accept', content: { name: TOKEN } };
    const refused = await client.callTool({ name: 'modern__elicit', arguments: {} }).then(() => null, (e) => e.message);
    assert.match(refused ?? '', /-32003: mcpgw security: the answer of modern\/elicitation\/create contains github_token/);
  });
});

describe('a passed round belongs to its server', () => {
  const ctx = useGateway(() => ({
    mcpServers: {
      a: { url: `http://127.0.0.1:${v2.port}/mcp` },
      b: { command: NODE, args: [V2_SERVER_JS, '--stdio'] },
    },
  }));

  test('a retry sent to another server\'s endpoint, with the same tool name, is refused', async () => {
    const ask = (server, params = {}) => modernPost(ctx.gw.endpoint(`/mcp/${server}`), 'tools/call',
      { name: 'elicit', arguments: {}, ...params }, { meta: ASKS });
    const { json } = await ask('a');
    assert.equal(json.result?.resultType, 'input_required', JSON.stringify(json));
    const retry = { inputResponses: { who: ANSWER }, requestState: json.result.requestState };
    const elsewhere = await ask('b', retry);
    assert.equal(elsewhere.json.error?.code, -32602, elsewhere.text);
    assert.match(elsewhere.json.error.message, /another server/);
    const home = await ask('a', retry);
    assert.equal(textOf(home.json.result), 'hello Ada', home.text);
  });
});
