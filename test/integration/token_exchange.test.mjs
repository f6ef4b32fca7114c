// Token exchange toward a remote server (gateway.servers.NAME.auth.type "tokenExchange", RFC 8693):
// each caller's OAuth access token is traded at a token endpoint for one meant for the server,
// which then sees the caller's own subject and never the caller's token. Exchanged tokens are
// cached per caller token and renewed before they expire; a 401 from the server leads to one
// new exchange and a retry; a refused exchange is a clear error; bad settings are config errors;
// no token or secret is ever logged.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes, sign as cryptoSign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { MCPGW_BIN, NODE, connect, sleep, startGateway, textOf, useGateway, withTimeout } from './helpers.mjs';
import { startTokenExchange } from './fixtures/token_exchange.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-te-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const ISSUER = 'https://issuer.test';
const AUDIENCE = 'https://gateway.test/mcp';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const SECRET = `crm-secret-${randomBytes(8).toString('hex')}`;
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const JWKS = path.join(dir, 'jwks.json');
writeFileSync(JWKS, JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'te-1', use: 'sig', alg: 'RS256' }] }));

/** Every caller token this test made. */
const minted = [];
/** A fresh RS256 access token for `sub` (each one distinct). */
function jwt(sub) {
  const now = Math.floor(Date.now() / 1000);
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const input = `${b64({ alg: 'RS256', typ: 'JWT', kid: 'te-1' })}.${b64({ iss: ISSUER, aud: AUDIENCE, sub, iat: now, exp: now + 600, jti: randomBytes(8).toString('hex') })}`;
  const token = `${input}.${cryptoSign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
  minted.push(token);
  return token;
}

const crmAuth = (tokenUrl) => ({
  type: 'tokenExchange', tokenUrl, audience: 'crm-api', scope: 'crm.read', clientId: 'mcpgw', clientSecret: '${CRM_CLIENT_SECRET}',
});

function config(te) {
  return {
    mcpServers: { crm: { type: 'http', url: te.mcpUrl }, pub: { type: 'http', url: te.mcpUrl } },
    gateway: {
      auth: { mode: 'jwt', jwt: { issuer: ISSUER, audience: AUDIENCE, jwks: JWKS } },
      servers: {
        crm: { auth: crmAuth(te.tokenUrl) },
        // A public client (no secret) with its own resource and no scope.
        pub: { auth: { type: 'tokenExchange', tokenUrl: te.tokenUrl, audience: 'pub-api', resource: 'https://pub.test/mcp', clientId: 'mcpgw-public' } },
      },
      timeouts: { drainMs: 2000 },
      health: { probe: false },
    },
  };
}

describe('token exchange toward a remote server', () => {
  let te;
  before(async () => {
    te = await startTokenExchange({ publicKey, clients: { mcpgw: SECRET, 'mcpgw-public': null } });
  });
  const ctx = useGateway(() => config(te), { env: { CRM_CLIENT_SECRET: SECRET }, args: ['--log-level', 'debug'] });
  after(() => te?.stop());

  const session = async (token) => (await connect(ctx.gw, { ctx, headers: { Authorization: `Bearer ${token}` } })).client;
  const whoami = async (client, server = 'crm') => JSON.parse(textOf(await withTimeout(
    client.callTool({ name: `${server}__whoami`, arguments: {} }), 10000, `${server}__whoami`)));
  const exchangesOf = (sub, audience = 'crm-api') => te.exchanges.filter((e) => e.sub === sub && e.audience === audience);
  /** Every request the server got carried a token the endpoint issued: never a caller's JWT. */
  const assertOnlyIssuedTokens = () => {
    assert.ok(te.authorizations.length > 0);
    for (const auth of te.authorizations) {
      assert.ok(!minted.some((t) => auth?.includes(t)), 'a caller JWT reached the server');
      assert.ok(te.issued.has(/^Bearer (\S+)$/.exec(auth ?? '')?.[1]), `the server got Authorization ${String(auth).slice(0, 24)}…, not an issued token`);
    }
  };

  test('each caller reaches the server as its own subject, through a token exchanged for its own JWT', async () => {
    const alice = jwt('alice');
    const bob = jwt('bob');
    const a = await session(alice);
    const b = await session(bob);
    assert.equal((await whoami(a)).sub, 'alice');
    assert.equal((await whoami(b)).sub, 'bob');
    const crm = te.exchanges.filter((e) => e.audience === 'crm-api');
    assert.deepEqual([...new Set(crm.map((e) => e.subjectToken))].sort(), [alice, bob].sort(), 'the endpoint saw exactly the callers\' JWTs');
    for (const e of crm) {
      assert.deepEqual(
        { ok: e.ok, client: e.client, resource: e.resource, scope: e.scope, requestedTokenType: e.requestedTokenType },
        { ok: true, client: { id: 'mcpgw', via: 'basic', ok: true }, resource: te.mcpUrl, scope: 'crm.read', requestedTokenType: ACCESS_TOKEN });
      assert.match(e.contentType, /^application\/x-www-form-urlencoded/);
    }

    assert.equal((await whoami(a, 'pub')).sub, 'alice');
    const [pub] = exchangesOf('alice', 'pub-api');
    assert.deepEqual(
      { ok: pub?.ok, client: pub?.client, resource: pub?.resource, scope: pub?.scope, subjectToken: pub?.subjectToken },
      { ok: true, client: { id: 'mcpgw-public', via: 'form', ok: true }, resource: 'https://pub.test/mcp', scope: undefined, subjectToken: alice },
      'a public client sends client_id in the form; resource as configured; no scope when none is set');
    assertOnlyIssuedTokens();
  });

  test('repeated calls and a second session with the same caller token cause one exchange', async () => {
    const frank = jwt('frank');
    const s1 = await session(frank);
    const first = await whoami(s1);
    assert.equal(first.sub, 'frank');
    for (let i = 0; i < 3; i += 1) assert.deepEqual(await whoami(s1), first);
    assert.deepEqual(await whoami(await session(frank)), first, 'the second session uses the same exchanged token');
    assert.equal(exchangesOf('frank').length, 1);
    assert.equal((await whoami(await session(jwt('frank')))).sub, 'frank');
    assert.equal(exchangesOf('frank').length, 2, 'another caller token of the same subject is exchanged for itself');
  });

  test('a short-lived exchanged token is renewed before it expires, and calls keep working', async () => {
    te.expiresIn = 3;
    try {
      const c = await session(jwt('carol'));
      const refusedBefore = te.unauthorized;
      const seen = [];
      for (let i = 0; i < 9; i += 1) {
        const w = await whoami(c);
        assert.equal(w.sub, 'carol', `call ${i}`);
        seen.push(w.token_n);
        await sleep(1000);
      }
      assert.ok(new Set(seen).size >= 3, `9 calls over 9 s with 3 s tokens used tokens ${seen.join(',')}`);
      assert.ok(exchangesOf('carol').length >= 3, `${exchangesOf('carol').length} exchanges`);
      assert.equal(te.unauthorized, refusedBefore, 'renewed before expiry: the server refused no request');
    } finally {
      te.expiresIn = 3600;
    }
  });

  test('a 401 from the server leads to one new exchange and a retry; the call succeeds', async () => {
    const d = await session(jwt('dave'));
    const before = await whoami(d);
    const refusedBefore = te.unauthorized;
    te.invalidateAll();
    const afterCall = await whoami(d);
    assert.equal(afterCall.sub, 'dave');
    assert.notEqual(afterCall.token_n, before.token_n, 'a new token');
    assert.ok(te.unauthorized > refusedBefore, 'the server did refuse the old token');
    assert.equal(exchangesOf('dave').length, 2);
    assert.deepEqual(await whoami(d), afterCall, 'the new token is cached');
    assert.equal(exchangesOf('dave').length, 2);
  });

  test('a client that renews its token within a session has the new one exchanged', async () => {
    const first = jwt('gina');
    const send = (token, body, sid) => fetch(ctx.gw.url, { method: 'POST', body: JSON.stringify(body), headers: {
      authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream',
      ...(sid ? { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' } : {}) } });
    const init = await send(first, { jsonrpc: '2.0', id: 1, method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'renewing', version: '1' } } });
    const sid = init.headers.get('mcp-session-id');
    await init.text();
    const call = async (token, id) => (await send(token, { jsonrpc: '2.0', id, method: 'tools/call',
      params: { name: 'crm__whoami', arguments: {} } }, sid)).json();
    assert.equal(JSON.parse((await call(first, 2)).result.content[0].text).sub, 'gina');
    const renewed = jwt('gina');
    te.invalidateAll();  // the token exchanged for the first one is refused from now on
    const reply = await call(renewed, 3);
    assert.equal(JSON.parse(reply.result?.content?.[0]?.text ?? '{}').sub, 'gina', JSON.stringify(reply));
    assert.deepEqual(exchangesOf('gina').map((e) => e.subjectToken), [first, renewed],
      'the second exchange starts from the token the client sent last');
  });

  test('a refused exchange fails the call with the endpoint\'s error, without the caller\'s token', async () => {
    te.refuse('eve');
    const eve = jwt('eve');
    const e = await session(eve);
    const err = await e.callTool({ name: 'crm__whoami', arguments: {} })
      .then((r) => assert.fail(`expected a JSON-RPC error, got ${JSON.stringify(r)}`), (x) => x);
    assert.match(err.message, /token exchange/i);
    assert.match(err.message, /invalid_grant/);
    assert.match(err.message, /subject revoked/);
    assert.ok(!JSON.stringify({ m: err.message, d: err.data }).includes(eve.split('.')[2]), 'the caller\'s JWT in the error');
    assert.ok(exchangesOf('eve').length >= 1 && exchangesOf('eve').every((x) => x.error === 'invalid_grant'));
  });

  test('a caller authenticated by an API key has nothing exchanged, whatever its Authorization holds', async () => {
    const store = path.join(dir, 'keys-jwt.db');
    const made = spawnSync(MCPGW_BIN, ['keys', 'create', '--name', 'ops', '--store', store], { encoding: 'utf8' });
    const key = made.stdout.trim().split('\n').at(-1);
    const cfg = config(te);
    cfg.gateway.auth = { ...cfg.gateway.auth, mode: 'keys,jwt', store };
    const gw = await startGateway(cfg, { env: { CRM_CLIENT_SECRET: SECRET } });
    try {
      const before = te.exchanges.length;
      const { client } = await connect(gw, { headers: { 'x-api-key': key, Authorization: `Bearer ${jwt('victim')}` } });
      await assert.rejects(withTimeout(client.callTool({ name: 'crm__whoami', arguments: {} }), 10000, 'crm__whoami'),
        /this caller has none \(an API key is never exchanged\)/);
      assert.equal(te.exchanges.length, before, 'the token beside the key was not exchanged');
      await client.close();
    } finally {
      assert.equal((await gw.stop()).code, 0, gw.stderr.slice(-2000));
    }
  });

  test('nothing leaks: the server got only issued tokens; the debug log holds no JWT, access token or secret', () => {
    assertOnlyIssuedTokens();
    const log = ctx.gw.stderr;
    assert.match(log, / debug /, 'debug lines are logged');
    assert.ok(te.issued.size >= 6 && minted.length >= 6);
    for (const t of minted) assert.ok(!log.includes(t.split('.')[2]), 'a caller JWT in the log');
    assert.doesNotMatch(log, /eyJ[\w-]+\.[\w-]+/, 'a JWT in the log');
    for (const t of te.issued.keys()) assert.ok(!log.includes(t), 'an exchanged access token in the log');
    assert.ok(!log.includes(SECRET), 'the client secret in the log');
  });
});

describe('token exchange settings', () => {
  const run = (name, cfg) => {
    const file = path.join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify(cfg));
    const r = spawnSync(MCPGW_BIN, ['check-config', '--no-start', file], { encoding: 'utf8', env: { ...process.env, CRM_CLIENT_SECRET: SECRET } });
    return { code: r.status, text: `${r.stdout}${r.stderr}` };
  };
  const base = () => config({ mcpUrl: 'http://127.0.0.1:9/mcp', tokenUrl: 'http://127.0.0.1:9/token' });

  test('check-config accepts a valid setup and refuses each unworkable one', () => {
    const ok = run('ok', base());
    assert.equal(ok.code, 0, ok.text);
    const cases = {
      'a stdio server': (c) => { c.mcpServers.crm = { command: NODE, args: ['-e', ''] }; },
      'API keys only (no caller token to exchange)': (c) => { c.gateway.auth = { mode: 'keys', store: path.join(dir, 'keys.db') }; },
      'together with forwardAuthorization': (c) => { c.gateway.servers.crm.forwardAuthorization = true; },
      'a shared upstream session': (c) => { c.gateway.servers.crm.isolation = 'shared'; },
      'no tokenUrl': (c) => { delete c.gateway.servers.crm.auth.tokenUrl; },
      'a tokenUrl that is not http(s)': (c) => { c.gateway.servers.crm.auth.tokenUrl = 'ftp://127.0.0.1/token'; },
    };
    for (const [label, change] of Object.entries(cases)) {
      const cfg = base();
      change(cfg);
      const r = run(label.replace(/\W+/g, '_'), cfg);
      assert.notEqual(r.code, 0, `${label}: accepted`);
      assert.match(r.text, /tokenExchange|auth/, `${label}: ${r.text}`);
    }
  });
});
