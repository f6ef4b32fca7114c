// OAuth access tokens (auth mode jwt): tokens signed by keys this test makes with openssl and
// signs with node's own crypto, checked by the gateway against a JWKS served over HTTP (and,
// in the second suite, from a file). Valid RS256/PS256/ES256 tokens work through the official
// SDK client; expired, wrong audience, wrong issuer, bad signature, unknown kid, alg "none",
// HS256 and tampered tokens get 401 invalid_token; a token without a mapped scope gets 403
// insufficient_scope; scopes narrow what is listed and callable; a rotated key is fetched on
// demand and a removed key stops working; the SDK discovers the protected-resource metadata.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac, createPrivateKey, createPublicKey, sign as cryptoSign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { discoverOAuthProtectedResourceMetadata, extractWWWAuthenticateParams } from '@modelcontextprotocol/sdk/client/auth.js';

import {
  MCPGW_BIN, NODE, connect, initializeBody, post, sleep, textOf, useGateway, waitFor, withTimeout,
} from './helpers.mjs';
import { REMOTE_JS } from './fixtures/remote.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-jwt-'));
const ISSUER = 'https://issuer.test';
const AUDIENCE = 'https://gateway.test/mcp';

/** A key pair made by the openssl command line; `jwk` is its public half as a JWK. */
function makeKey(kid, algorithm, opts) {
  const file = path.join(dir, `${kid}.pem`);
  execFileSync('openssl', ['genpkey', '-algorithm', algorithm, ...opts.flatMap((o) => ['-pkeyopt', o]), '-out', file],
    { stdio: 'ignore' });
  const privateKey = createPrivateKey(readFileSync(file));
  const jwk = { ...createPublicKey(privateKey).export({ format: 'jwk' }), kid, use: 'sig' };
  return { kid, privateKey, jwk };
}
const rsaKey = (kid) => makeKey(kid, 'RSA', ['rsa_keygen_bits:2048']);
const ecKey = (kid) => makeKey(kid, 'EC', ['ec_paramgen_curve:P-256']);

const b64url = (data) => Buffer.from(data).toString('base64url');

/** Signs a JWT. `over` changes the header; claims default to a valid token for alice. */
function jwt(key, claims = {}, { alg = 'RS256', header = {} } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const body = { iss: ISSUER, aud: AUDIENCE, sub: 'alice', iat: now, exp: now + 600, scope: 'tools:all', ...claims };
  for (const [k, v] of Object.entries(body)) if (v === undefined) delete body[k];
  const head = { alg, typ: 'JWT', kid: key?.kid, ...header };
  const input = `${b64url(JSON.stringify(head))}.${b64url(JSON.stringify(body))}`;
  let sig;
  if (alg === 'none') sig = '';
  else if (alg.startsWith('ES')) sig = cryptoSign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
  else if (alg.startsWith('PS')) sig = cryptoSign('sha256', Buffer.from(input), { key: key.privateKey, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: 32 });
  else sig = cryptoSign('sha256', Buffer.from(input), key.privateKey);
  return `${input}.${b64url(sig)}`;
}

const SERVERS = ['alpha', 'beta'];
const serversConfig = () => Object.fromEntries(SERVERS.map((s) => [s, { command: NODE, args: [REMOTE_JS, '--transport', 'stdio', '--name', s] }]));
const GRANTS = {
  'tools:all': {},
  'alpha:echo': { servers: ['alpha'], tools: ['alpha__echo'] },
};

/** The refusal a plain HTTP client sees for `token`. */
async function refusal(gw, token) {
  const res = await post(gw.url, initializeBody(), { Authorization: `Bearer ${token}` });
  return { status: res.status, message: res.json?.error?.message, challenge: res.headers.get('www-authenticate'), session: res.headers.get('mcp-session-id'), res };
}

describe('OAuth access tokens against a JWKS URL (auth mode keys,jwt)', () => {
  const rsa1 = rsaKey('rsa-1');
  const ec1 = ecKey('ec-1');
  const rsa2 = rsaKey('rsa-2');
  const impostor = rsaKey('rsa-1'); // same kid, different key
  const STORE = path.join(dir, 'keys.db');
  let jwks = { keys: [rsa1.jwk, ec1.jwk] };
  let fetches = 0;
  let jwksUrl;
  const jwksServer = http.createServer((req, res) => {
    fetches += 1;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(jwks));
  });
  before(async () => {
    await new Promise((r) => jwksServer.listen(0, '127.0.0.1', r));
    jwksUrl = `http://127.0.0.1:${jwksServer.address().port}/jwks.json`;
  });
  after(() => jwksServer.close());

  const ctx = useGateway(() => ({
    mcpServers: serversConfig(),
    gateway: {
      auth: {
        mode: 'keys,jwt', store: STORE,
        jwt: { issuer: ISSUER, audience: AUDIENCE, jwks: jwksUrl, grants: GRANTS, refetchCooldownS: 1 },
      },
      timeouts: { drainMs: 2000 },
    },
  }));

  test('valid RS256, PS256 and ES256 tokens: the SDK client lists and calls', async () => {
    for (const [label, token] of [['RS256', jwt(rsa1)], ['PS256', jwt(rsa1, {}, { alg: 'PS256' })], ['ES256', jwt(ec1, {}, { alg: 'ES256' })]]) {
      const { client } = await connect(ctx.gw, { ctx, headers: { Authorization: `Bearer ${token}` } });
      const { tools } = await withTimeout(client.listTools(), 10000, 'tools/list');
      const names = tools.map((t) => t.name);
      assert.ok(names.includes('alpha__echo') && names.includes('beta__add'), `${label}: all tools listed`);
      assert.equal(textOf(await client.callTool({ name: 'beta__echo', arguments: { message: label } })), `Echo: ${label}`);
      await client.close();
    }
  });

  test('every kind of bad token gets 401 invalid_token with the reason, and no session', async () => {
    const now = Math.floor(Date.now() / 1000);
    const good = jwt(rsa1);
    const [h, p, s] = good.split('.');
    const tampered = `${h}.${b64url(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url')), sub: 'mallory' }))}.${s}`;
    const hsHead = b64url(JSON.stringify({ alg: 'HS256', kid: 'rsa-1' }));
    const hsBody = b64url(JSON.stringify({ iss: ISSUER, aud: AUDIENCE, sub: 'alice', exp: now + 600, scope: 'tools:all' }));
    const hs256 = `${hsHead}.${hsBody}.${createHmac('sha256', JSON.stringify(rsa1.jwk)).update(`${hsHead}.${hsBody}`).digest('base64url')}`;
    const cases = [
      ['expired', jwt(rsa1, { exp: now - 3600, iat: now - 7200 }), /expired/],
      ['wrong audience', jwt(rsa1, { aud: 'https://other.test/mcp' }), /audience/],
      ['wrong issuer', jwt(rsa1, { iss: 'https://evil.test' }), /issuer/],
      ['bad signature', jwt(impostor), /signature does not verify/],
      ['tampered claims', tampered, /signature does not verify/],
      ['unknown kid', jwt(rsa2), /unknown key \(kid "rsa-2"\)/],
      ['alg none', jwt(null, {}, { alg: 'none' }), /algorithm "none" is not accepted/],
      ['HS256 keyed with the public key', hs256, /algorithm "HS256" is not accepted/],
      ['no expiry', jwt(rsa1, { exp: undefined }), /no expiry/],
      ['not valid yet', jwt(rsa1, { nbf: now + 3600 }), /not valid yet/],
      ['no subject', jwt(rsa1, { sub: undefined }), /no "sub" claim/],
      ['ES256 token naming an RSA key', jwt(rsa1, {}, { alg: 'ES256', header: { kid: 'rsa-1' } }).replace(/\.[^.]*$/, `.${b64url(Buffer.alloc(64, 1))}`), /signature does not verify/],
    ];
    for (const [label, token, reason] of cases) {
      const r = await refusal(ctx.gw, token);
      assert.equal(r.status, 401, `${label}: status`);
      assert.match(r.message, reason, `${label}: message`);
      const params = extractWWWAuthenticateParams(r.res);
      assert.equal(params.error, 'invalid_token', `${label}: challenge ${r.challenge}`);
      assert.equal(params.resourceMetadataUrl?.href, `${ctx.gw.base}/.well-known/oauth-protected-resource/mcp`, `${label}: resource_metadata`);
      assert.equal(r.session, null, `${label}: no session`);
    }
  });

  test('a token none of whose scopes is mapped gets 403 insufficient_scope', async () => {
    const r = await refusal(ctx.gw, jwt(rsa1, { scope: 'profile email' }));
    assert.equal(r.status, 403);
    assert.match(r.message, /none of the scopes/);
    const params = extractWWWAuthenticateParams(r.res);
    assert.equal(params.error, 'insufficient_scope');
    assert.equal(params.scope, 'alpha:echo tools:all');
  });

  test('scopes narrow lists and calls exactly, and denied calls reach no server', async () => {
    const admin = (await connect(ctx.gw, { ctx, headers: { Authorization: `Bearer ${jwt(rsa1, { sub: 'admin' })}` } })).client;
    const seen = async () => JSON.parse(textOf(await admin.callTool({ name: 'beta__stats', arguments: {} }))).calls;
    const narrow = jwt(ec1, { sub: 'bob', scope: undefined, scp: ['alpha:echo', 'unmapped'] }, { alg: 'ES256' });
    const { client } = await connect(ctx.gw, { ctx, headers: { Authorization: `Bearer ${narrow}` } });
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name), ['alpha__echo'], 'scp array read when scope is absent');
    assert.equal(textOf(await client.callTool({ name: 'alpha__echo', arguments: { message: 'hi' } })), 'Echo: hi');
    const before = await seen();
    const unknown = await client.callTool({ name: 'beta__echo', arguments: { message: 'x' } }).then(() => null, (e) => e.message);
    assert.match(unknown, /Unknown tool: beta__echo/);
    const stillUnknown = await client.callTool({ name: 'alpha__add', arguments: { a: 1, b: 2 } }).then(() => null, (e) => e.message);
    assert.match(stillUnknown, /Unknown tool: alpha__add/);
    assert.deepEqual(await seen(), before, 'beta saw no call from bob');
    const rest = await (await fetch(`${ctx.gw.base}/mcp-rest/tools/list`, { headers: { Authorization: `Bearer ${narrow}` } })).json();
    assert.deepEqual(rest.tools.map((t) => t.name), ['alpha__echo'], 'the REST surface follows the same grants');
  });

  test('a session belongs to its token subject', async () => {
    const alice = await post(ctx.gw.url, initializeBody(), { Authorization: `Bearer ${jwt(rsa1)}` });
    const sid = alice.headers.get('mcp-session-id');
    assert.ok(sid);
    const other = await post(ctx.gw.url, { jsonrpc: '2.0', id: 2, method: 'tools/list' },
      { Authorization: `Bearer ${jwt(rsa1, { sub: 'carol' })}`, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' });
    assert.equal(other.status, 404);
    assert.equal(other.json.error.code, -32001);
  });

  test('API keys work beside tokens in mode keys,jwt', async () => {
    const out = execFileSync(MCPGW_BIN, ['keys', 'create', '--name', 'ci', '--servers', 'beta', '--store', STORE], { encoding: 'utf8' });
    const key = out.trim().split('\n').at(-1);
    const { client } = await connect(ctx.gw, { ctx, headers: { 'x-api-key': key } });
    const { tools } = await client.listTools();
    assert.ok(tools.every((t) => t.name.startsWith('beta__')) && tools.length > 0);
    assert.throws(
      () => execFileSync(MCPGW_BIN, ['keys', 'create', '--name', 'jwt:alice', '--store', STORE], { encoding: 'utf8', stdio: 'pipe' }),
      (e) => /must not start with "jwt:"/.test(e.stderr),
      'a key may not take a token subject\'s name');
  });

  test('the SDK discovers the protected-resource metadata from the 401', async () => {
    const res = await fetch(ctx.gw.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify(initializeBody()) });
    assert.equal(res.status, 401);
    const { resourceMetadataUrl, error } = extractWWWAuthenticateParams(res);
    assert.equal(error, undefined, 'no error code when no token was sent');
    await res.body?.cancel();
    const meta = await discoverOAuthProtectedResourceMetadata(ctx.gw.url, { resourceMetadataUrl });
    assert.equal(meta.resource, `${ctx.gw.base}/mcp`);
    assert.deepEqual(meta.authorization_servers, [ISSUER]);
    assert.deepEqual(meta.scopes_supported, ['alpha:echo', 'tools:all']);
    const plain = await discoverOAuthProtectedResourceMetadata(ctx.gw.url);
    assert.equal(plain.resource, `${ctx.gw.base}/mcp`, 'found by the path-inserted well-known URL');
  });

  test('a rotated-in key is fetched on demand; a removed key stops working', async () => {
    const rotated = jwt(rsa2, { sub: 'dave' });
    const old = jwt(rsa1, { sub: 'erin' });
    assert.equal((await refusal(ctx.gw, old)).status, 200, 'rsa-1 works (and is now cached)');
    jwks = { keys: [rsa1.jwk, ec1.jwk, rsa2.jwk] };
    await sleep(1100); // the refetch cooldown
    const before = fetches;
    assert.equal((await refusal(ctx.gw, rotated)).status, 200, 'the new key was fetched on demand');
    assert.equal(fetches, before + 1, 'exactly one JWKS fetch');
    jwks = { keys: [ec1.jwk, rsa2.jwk] };
    await sleep(1100);
    // Any unknown kid triggers a refetch; the new set no longer holds rsa-1.
    assert.equal((await refusal(ctx.gw, jwt(rsaKey('rsa-9')))).status, 401);
    const r = await refusal(ctx.gw, old);
    assert.equal(r.status, 401, 'a cached token of a removed key is refused');
    assert.match(r.message, /unknown key \(kid "rsa-1"\)/);
    // Unknown kids cannot make the gateway fetch more than once per cooldown.
    const burst = fetches;
    await Promise.all(Array.from({ length: 20 }, (_, i) => refusal(ctx.gw, jwt(rsaKeyCache(i)))));
    assert.ok(fetches - burst <= 1, `at most one fetch for a burst of unknown kids, saw ${fetches - burst}`);
  });

  test('no token ever appears in the gateway log', () => {
    assert.doesNotMatch(ctx.gw.stderr, /eyJ[\w-]+\.[\w-]+\./, 'a JWT in the log');
  });
});

// Unknown-kid tokens for the burst: the kid differs, one key signs them all.
let burstKey;
function rsaKeyCache(i) {
  burstKey ??= rsaKey('burst');
  return { ...burstKey, kid: `burst-${i}` };
}

describe('OAuth access tokens against a JWKS file (auth mode jwt)', () => {
  const file = path.join(dir, 'jwks.json');
  const k1 = ecKey('file-1');
  const k2 = ecKey('file-2');
  writeFileSync(file, JSON.stringify({ keys: [k1.jwk] }));
  const ctx = useGateway(() => ({
    mcpServers: serversConfig(),
    gateway: {
      auth: { mode: 'jwt', jwt: { issuer: ISSUER, resource: AUDIENCE, jwks: file } },
      audit: { enabled: true, store: path.join(dir, 'file.audit.db') },
      timeouts: { drainMs: 2000 },
    },
  }));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('audience defaults to the resource; without grants a valid token may use everything', async () => {
    const { client } = await connect(ctx.gw, { ctx, headers: { Authorization: `Bearer ${jwt(k1, { scope: undefined }, { alg: 'ES256' })}` } });
    const { tools } = await client.listTools();
    assert.ok(tools.some((t) => t.name === 'alpha__add') && tools.some((t) => t.name === 'beta__echo'));
    assert.equal(textOf(await client.callTool({ name: 'alpha__add', arguments: { a: 2, b: 3 } })), '5');
    const meta = await (await fetch(`${ctx.gw.base}/.well-known/oauth-protected-resource`)).json();
    assert.equal(meta.resource, AUDIENCE, 'the configured resource');
  });

  test('an API key is not a token in mode jwt', async () => {
    const r = await refusal(ctx.gw, 'mcpgw-0123456789abcdef');
    assert.equal(r.status, 401);
    assert.match(r.message, /not a well-formed JWT/);
  });

  test('a key added to the file is used within seconds, without restart', async () => {
    const token = jwt(k2, {}, { alg: 'ES256' });
    assert.equal((await refusal(ctx.gw, token)).status, 401);
    writeFileSync(file, JSON.stringify({ keys: [k1.jwk, k2.jwk] }));
    await waitFor(async () => (await refusal(ctx.gw, token)).status === 200, { ms: 5000, label: 'new key in use' });
  });

  test('audit rows name the token subject, and hold no token', async () => {
    const token = jwt(k1, { sub: 'frank' }, { alg: 'ES256' });
    const { client } = await connect(ctx.gw, { ctx, headers: { Authorization: `Bearer ${token}` } });
    await client.callTool({ name: 'alpha__echo', arguments: { message: 'audited' } });
    await client.close();
    await refusal(ctx.gw, jwt(k1, { sub: 'frank', exp: 1 }, { alg: 'ES256' }));
    const query = () => execFileSync(MCPGW_BIN, ['audit', 'query', '--store', path.join(dir, 'file.audit.db'), '--key', 'jwt:frank', '--json'], { encoding: 'utf8' })
      .trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const rows = await waitFor(() => { const r = query(); return r.length >= 2 ? r : false; }, { ms: 5000, label: 'audit rows' });
    assert.deepEqual(rows.map((r) => [r.method, r.outcome]), [['tools/call', 'ok'], ['http', 'denied']]);
    assert.equal(rows[0].target, 'alpha__echo');
    assert.match(rows[1].detail, /expired/);
    const raw = readFileSync(path.join(dir, 'file.audit.db')).toString('latin1') +
      (() => { try { return readFileSync(path.join(dir, 'file.audit.db-wal')).toString('latin1'); } catch { return ''; } })();
    assert.ok(!raw.includes(token.split('.')[2]), 'a token signature in the audit store');
  });
});

describe('authentication reloaded into mode jwt with a JWKS URL (SIGHUP)', () => {
  const key = rsaKey('reload-1');
  let fetches = 0;
  let jwksUrl;
  const jwksServer = http.createServer((req, res) => {
    fetches += 1;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [key.jwk] }));
  });
  before(async () => {
    await new Promise((r) => jwksServer.listen(0, '127.0.0.1', r));
    jwksUrl = `http://127.0.0.1:${jwksServer.address().port}/jwks.json`;
  });
  after(() => jwksServer.close());
  const config = (auth) => ({ mcpServers: serversConfig(), gateway: { ...(auth ? { auth } : {}), timeouts: { drainMs: 2000 } } });
  const ctx = useGateway(() => config(null));

  async function reload(auth) {
    const mark = ctx.gw.stderr.length;
    writeFileSync(path.join(ctx.gw.dir, 'mcpgw.json'), JSON.stringify(config(auth)));
    process.kill(ctx.gw.pid, 'SIGHUP');
    await waitFor(() => /reload \(SIGHUP\)/.test(ctx.gw.logSince(mark)), { label: 'the reload' });
    return ctx.gw.logSince(mark);
  }

  test('tokens are checked from the next request, against keys the new fetcher gets; a new audience applies the same way', async () => {
    assert.equal((await post(ctx.gw.url, initializeBody())).status, 200, 'open at first');
    const jwtAuth = (audience) => ({ mode: 'jwt', jwt: { issuer: ISSUER, audience, jwks: jwksUrl, grants: GRANTS } });
    assert.match(await reload(jwtAuth(AUDIENCE)), /authentication is now "jwt"/);
    await waitFor(() => fetches > 0, { label: 'the JWKS fetched by the new fetcher' });
    const none = await refusal(ctx.gw, '');
    assert.equal(none.status, 401);
    const { client } = await connect(ctx.gw, { ctx, headers: { Authorization: `Bearer ${jwt(key)}` } });
    assert.equal(textOf(await client.callTool({ name: 'alpha__echo', arguments: { message: 'reloaded' } })), 'Echo: reloaded');

    const other = 'https://other-gateway.test/mcp';
    assert.match(await reload(jwtAuth(other)), /authentication is now "jwt"/);
    const old = await refusal(ctx.gw, jwt(key));
    assert.equal(old.status, 401);
    assert.match(old.message, /audience/);
    assert.equal((await refusal(ctx.gw, jwt(key, { aud: other }))).status, 200);
    await client.close();
  });
});
