// Per-user OAuth toward a remote server (gateway.servers.NAME.auth.type "oauth"): each gateway
// user (API key) gets the server's own OAuth access token, obtained once through a browser
// consent flow the gateway drives. A caller who has not connected gets JSON-RPC error -32042 with
// a URL elicitation pointing at the gateway's /oauth/start; the browser goes through the consent
// page, the server's login and the gateway's /oauth/callback; then the same session's next call
// reaches the server as that user. Tokens are refreshed unnoticed, a revoked grant asks to
// connect again, `mcpgw tokens list|revoke` manage the grants, forged callbacks and tickets are
// refused, no token reaches the log, the audit trail or the vault file in the clear, and configs
// that cannot work are refused.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { MCPGW_BIN, NODE, connect, sleep, startGateway, textOf, waitFor, withTimeout } from './helpers.mjs';
import { startOAuthServer } from './fixtures/oauth_server.mjs';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

const URL_ELICITATION_REQUIRED = -32042;
const STEP_MS = 10000;

/** This process's environment without a vault key, so only the config's key file counts. */
const { MCPGW_VAULT_KEY: _unused, ...ENV } = process.env;

/** Runs the gateway's command line in `cwd`. */
function run(args, { cwd, input = '', timeout = 30000 } = {}) {
  const r = spawnSync(MCPGW_BIN, args, { cwd, input, encoding: 'utf8', timeout, env: ENV });
  return { code: r.status, out: r.stdout ?? '', err: r.stderr ?? '' };
}

/** The config: server slack at `url`, per-user OAuth; `slack` and `gateway` are merged in. */
function oauthConfig(url, { slack = {}, gateway = {}, server = {} } = {}) {
  return {
    gateway: {
      auth: { mode: 'keys' },
      vault: { keyFile: 'vault.key' },
      servers: { slack: { isolation: 'session', auth: { type: 'oauth', scope: 'mcp:tools' }, ...server } },
      timeouts: { drainMs: 2000 },
      ...gateway,
    },
    mcpServers: { slack: { type: 'http', url, ...slack } },
  };
}

// ---- HTML and cookies ---------------------------------------------------------------------------

const decodeHtml = (s) => s.replace(/&(amp|lt|gt|quot|#39|#x27);/g, (_, e) => ({
  amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", '#x27': "'" })[e]);

/** The attributes of every `<tag …>` in `html`, as objects (names lower-cased). */
function tags(html, tag) {
  const out = [];
  for (const m of html.matchAll(new RegExp(`<${tag}\\b([^>]*)>`, 'gi'))) {
    const attrs = {};
    for (const a of m[1].matchAll(/([\w-]+)\s*(?:=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?/g)) {
      attrs[a[1].toLowerCase()] = decodeHtml(a[2] ?? a[3] ?? a[4] ?? '');
    }
    out.push(attrs);
  }
  return out;
}

/** name -> value of the hidden inputs in `html`. */
const hiddenInputs = (html) => Object.fromEntries(tags(html, 'input')
  .filter((a) => (a.type ?? '').toLowerCase() === 'hidden' && a.name).map((a) => [a.name, a.value ?? '']));

/** `s` with the character at its middle replaced by another of the same kind. */
function tamper(s) {
  const i = Math.floor(s.length / 2);
  const c = s[i];
  const swap = /[0-9]/.test(c) ? (c === '7' ? '3' : '7') : /[a-z]/.test(c) ? (c === 'q' ? 'x' : 'q')
    : /[A-Z]/.test(c) ? (c === 'Q' ? 'X' : 'Q') : (c === '_' ? '-' : '_');
  return s.slice(0, i) + swap + s.slice(i + 1);
}

/** fetch without following redirects, bounded. */
const get = (url, headers = {}) => fetch(url, { redirect: 'manual', headers, signal: AbortSignal.timeout(STEP_MS) });
const postForm = (url, form, headers = {}) => fetch(url, {
  method: 'POST', redirect: 'manual', signal: AbortSignal.timeout(STEP_MS),
  headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(form).toString(),
});

// ---- the calls ----------------------------------------------------------------------------------

const callWhoami = (client) => withTimeout(client.callTool({ name: 'slack__whoami', arguments: {} }), STEP_MS, 'slack__whoami');

async function whoami(client) {
  const r = await callWhoami(client);
  assert.ok(!r.isError, `slack__whoami failed: ${textOf(r)}`);
  return JSON.parse(textOf(r));
}

/**
 * The -32042 error of a call by a caller who has not connected, checked; resolves to
 * {error, elicitation}.
 */
async function needsConnect(client, gw) {
  const e = await callWhoami(client).then(
    (r) => assert.fail(`expected JSON-RPC error ${URL_ELICITATION_REQUIRED}, got the result ${JSON.stringify(r).slice(0, 300)}`),
    (x) => x);
  assert.equal(e.code, URL_ELICITATION_REQUIRED, `error code (${e.message})`);
  const elicitation = e.data?.elicitations?.[0];
  assert.ok(elicitation, `error.data.elicitations[0] is present: ${JSON.stringify(e.data)}`);
  assert.equal(elicitation.mode, 'url');
  assert.equal(typeof elicitation.elicitationId, 'string');
  assert.ok(elicitation.elicitationId.length > 0);
  assert.equal(typeof elicitation.message, 'string');
  const u = new URL(elicitation.url);
  assert.deepEqual({ origin: u.origin, pathname: u.pathname, server: u.searchParams.get('server') },
    { origin: gw.base, pathname: '/oauth/start', server: 'slack' }, `elicitation url ${elicitation.url}`);
  assert.ok(u.searchParams.get('ticket'), 'the url carries a ticket');
  assert.match(e.message, /slack/, 'the message names the server');
  assert.ok(e.message.includes(elicitation.url), `the message holds the url: ${e.message}`);
  return { error: e, elicitation };
}

/**
 * The browser's part up to the server's redirect back to the gateway: the consent page, its
 * POST, the server's login page and its POST. Resolves to {callback, cookie, authorize, html}.
 */
async function browseToCallback(gw, as, elicitationUrl, { principal, upstreamUser }) {
  const page = await get(elicitationUrl);
  const html = await page.text();
  assert.equal(page.status, 200, `GET /oauth/start: ${html.slice(0, 300)}`);
  assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
  assert.ok(tags(html, 'form').some((f) => (f.method ?? '').toLowerCase() === 'post' && f.action === '/oauth/start'),
    `a form posting to /oauth/start: ${html.slice(0, 500)}`);
  const hidden = hiddenInputs(html);
  assert.equal(hidden.server, 'slack');
  assert.ok(hidden.ticket, 'the form carries the ticket');
  assert.match(html, /slack/, 'the page names the server');
  assert.ok(html.includes(principal), `the page names the user ${principal}`);

  const start = await postForm(`${gw.base}/oauth/start`, { server: hidden.server, ticket: hidden.ticket }, { origin: gw.base });
  const startText = await start.text();
  assert.equal(start.status, 302, `POST /oauth/start: ${startText.slice(0, 300)}`);
  const authorize = new URL(start.headers.get('location'), gw.base);
  const setCookie = start.headers.getSetCookie().find((c) => c.startsWith('mcpgw_oauth='));
  assert.ok(setCookie, `Set-Cookie mcpgw_oauth: ${start.headers.getSetCookie().join(' | ')}`);
  assert.match(setCookie, /;\s*Path=\/oauth\s*(;|$)/i);
  assert.match(setCookie, /;\s*HttpOnly\s*(;|$)/i);
  assert.match(setCookie, /;\s*SameSite=Lax\s*(;|$)/i);
  const cookie = setCookie.split(';')[0];

  const login = await get(authorize);
  const loginHtml = await login.text();
  assert.equal(login.status, 200, `GET ${authorize.origin}${authorize.pathname}: ${loginHtml.slice(0, 300)}`);
  const back = await postForm(`${as.issuer}/login`, { pending: hiddenInputs(loginHtml).pending, user: upstreamUser });
  await back.text();
  assert.equal(back.status, 302, 'POST /login');
  const callback = new URL(back.headers.get('location'));
  assert.equal(`${callback.origin}${callback.pathname}`, `${gw.base}/oauth/callback`, 'the server sends the browser to the callback');
  return { callback, cookie, authorize, html };
}

/** The whole browser flow; the callback page says connected. Resolves to {authorize, …}. */
async function connectBrowser(gw, as, elicitationUrl, who) {
  const flow = await browseToCallback(gw, as, elicitationUrl, who);
  const done = await get(flow.callback, { cookie: flow.cookie });
  const text = await done.text();
  assert.equal(done.status, 200, `GET /oauth/callback: ${text.slice(0, 300)}`);
  assert.match(done.headers.get('content-type') ?? '', /^text\/html/);
  assert.match(text, /connected/i);
  return flow;
}

// ---- the tests ----------------------------------------------------------------------------------

describe('per-user OAuth toward a remote server', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-oauth-'));
  const file = path.join(dir, 'mcpgw.json');
  const keys = {};
  const st = { gw: null, as: null, clients: [] };
  const cli = (...args) => run([...args, '-c', file], { cwd: dir });
  const UP = { alice: 'alice@slack', bob: 'bob@slack' };
  const sessions = {};
  const session = async (user) => {
    const { client } = await connect(st.gw, {
      headers: { Authorization: `Bearer ${keys[user]}` }, name: user, capabilities: { elicitation: { url: {} } },
    });
    st.clients.push(client);
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      listChanged[user] = (listChanged[user] ?? 0) + 1;
    });
    return client;
  };
  const listChanged = {};
  const flowAs = (user, url) => connectBrowser(st.gw, st.as, url, { principal: user, upstreamUser: UP[user] });

  before(async () => {
    st.as = await startOAuthServer();
    writeFileSync(path.join(dir, 'vault.key'), `${randomBytes(32).toString('hex')}\n`);
    writeFileSync(file, JSON.stringify(oauthConfig(st.as.url), null, 2));
    for (const user of ['alice', 'bob']) {
      const r = cli('keys', 'create', '--name', user);
      assert.equal(r.code, 0, r.err);
      keys[user] = r.out.trim().split('\n').at(-1);
    }
    st.gw = await startGateway(undefined, { configFile: file, args: ['--log-level', 'debug'], env: { MCPGW_VAULT_KEY: '' } });
    sessions.alice = await session('alice');
    sessions.bob = await session('bob');
  });
  after(async () => {
    for (const c of st.clients.splice(0)) await withTimeout(c.close().catch(() => {}), 3000, 'close').catch(() => {});
    await st.gw?.stop();
    await st.as?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('GET /oauth/client.json is the client metadata document', { timeout: 30000 }, async () => {
    const res = await get(`${st.gw.base}/oauth/client.json`);
    const text = await res.text();
    assert.equal(res.status, 200, text);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const doc = JSON.parse(text);
    assert.equal(doc.client_id, `${st.gw.base}/oauth/client.json`, 'client_id is the document\'s own URL');
    assert.deepEqual(doc.redirect_uris, [`${st.gw.base}/oauth/callback`]);
    assert.equal(doc.token_endpoint_auth_method, 'none');
    for (const g of ['authorization_code', 'refresh_token']) assert.ok(doc.grant_types?.includes(g), `grant_types has ${g}`);
  });

  test('a caller who has not connected gets -32042 with a URL elicitation, and tools/list leaves slack out', { timeout: 30000 }, async () => {
    const { elicitation } = await needsConnect(sessions.alice, st.gw);
    assert.match(elicitation.message, /slack/i);
    const { tools } = await withTimeout(sessions.alice.listTools(), STEP_MS, 'tools/list');
    assert.deepEqual(tools.filter((t) => t.name.startsWith('slack__')).map((t) => t.name), [], 'no slack tool listed');
    assert.equal(st.as.calls.length, 0, 'nothing reached the server');
    await needsConnect(sessions.bob, st.gw);
    // One user's missing account is not the server's fault, and the link is that user's alone.
    const health = await (await get(`${st.gw.base}/healthz`)).text();
    assert.doesNotMatch(health, /ticket=[A-Za-z0-9_-]{8}/, `/healthz shows no consent link: ${health}`);
    assert.doesNotMatch(JSON.parse(health).servers?.slack?.state ?? '', /down/, health);
  });

  test('a tampered ticket, a callback without the cookie or with a tampered state: 400, nothing stored', { timeout: 60000 }, async () => {
    const { elicitation } = await needsConnect(sessions.alice, st.gw);
    const bad = new URL(elicitation.url);
    bad.searchParams.set('ticket', tamper(bad.searchParams.get('ticket')));
    const refused = await get(bad);
    await refused.text();
    assert.equal(refused.status, 400, 'GET /oauth/start with a modified ticket');

    const exchanges = st.as.stats.codeExchanges;
    const noCookie = await browseToCallback(st.gw, st.as, (await needsConnect(sessions.alice, st.gw)).elicitation.url,
      { principal: 'alice', upstreamUser: UP.alice });
    const r1 = await get(noCookie.callback);
    await r1.text();
    assert.equal(r1.status, 400, 'the callback without the cookie');

    const badState = await browseToCallback(st.gw, st.as, (await needsConnect(sessions.alice, st.gw)).elicitation.url,
      { principal: 'alice', upstreamUser: UP.alice });
    const forged = new URL(badState.callback);
    forged.searchParams.set('state', tamper(forged.searchParams.get('state') ?? 'state'));
    const r2 = await get(forged, { cookie: badState.cookie });
    await r2.text();
    assert.equal(r2.status, 400, 'the callback with a tampered state');

    assert.equal(st.as.stats.codeExchanges, exchanges, 'no authorization code was redeemed for a refused callback');
    await needsConnect(sessions.alice, st.gw);
    assert.equal(st.as.calls.length, 0, 'nothing reached the server');
  });

  test('alice connects in the browser; her same session\'s next call reaches the server as alice@slack', { timeout: 60000 }, async () => {
    const { elicitation } = await needsConnect(sessions.alice, st.gw);
    const { authorize } = await flowAs('alice', elicitation.url);

    // The authorization request the gateway sent the browser to.
    const meta = await (await get(`${st.as.issuer}/.well-known/oauth-authorization-server`)).json();
    assert.equal(`${authorize.origin}${authorize.pathname}`, meta.authorization_endpoint);
    const q = Object.fromEntries(authorize.searchParams);
    assert.equal(q.response_type, 'code');
    assert.equal(q.redirect_uri, `${st.gw.base}/oauth/callback`);
    assert.equal(q.code_challenge_method, 'S256');
    assert.match(q.code_challenge ?? '', /^[A-Za-z0-9_-]{43}$/, 'an S256 challenge');
    assert.ok(q.state, 'a state');
    assert.equal(q.scope, 'mcp:tools');
    assert.equal(q.resource, st.as.url);

    // Dynamic client registration: the client the gateway registered, and the resource it sent.
    const registered = st.as.registeredClients.find((c) => c.client_id === q.client_id);
    assert.ok(registered, `client_id ${q.client_id} is one the gateway registered (${st.as.registeredClients.length} registrations)`);
    assert.ok(registered.redirect_uris.includes(`${st.gw.base}/oauth/callback`), 'its redirect_uris hold the callback');
    const codeGrants = st.as.grants.filter((g) => g.grantType === 'authorization_code');
    assert.equal(codeGrants.length, 1, 'one code exchange');
    assert.deepEqual({ ok: codeGrants[0].ok, resource: codeGrants[0].resource, clientId: codeGrants[0].clientId },
      { ok: true, resource: st.as.url, clientId: q.client_id });
    for (const r of st.as.resources.filter((x) => x !== null)) assert.equal(r, st.as.url, 'every resource parameter');

    assert.equal((await whoami(sessions.alice)).user, UP.alice);
    assert.deepEqual(st.as.calls, [{ user: UP.alice, tool: 'whoami' }]);
    // Her session listed without slack before: now she hears the list changed, and it has it.
    await waitFor(() => listChanged.alice > 0, { ms: 10000, label: 'tools/list_changed for alice' });
    const { tools } = await withTimeout(sessions.alice.listTools(), STEP_MS, 'tools/list');
    assert.ok(tools.some((t) => t.name === 'slack__whoami'), 'slack__whoami is listed once connected');
    await needsConnect(sessions.bob, st.gw);
    assert.equal(st.as.calls.length, 1, 'bob\'s call did not reach the server');
  });

  test('bob connects as bob@slack; each user\'s calls reach the server as their own user', { timeout: 60000 }, async () => {
    const { elicitation } = await needsConnect(sessions.bob, st.gw);
    await flowAs('bob', elicitation.url);
    assert.equal((await whoami(sessions.bob)).user, UP.bob);
    assert.equal((await whoami(sessions.alice)).user, UP.alice);
    const alice2 = await session('alice');
    assert.equal((await whoami(alice2)).user, UP.alice, 'a new session of alice needs no new consent');
    assert.deepEqual(st.as.calls.slice(-3), [
      { user: UP.bob, tool: 'whoami' }, { user: UP.alice, tool: 'whoami' }, { user: UP.alice, tool: 'whoami' }]);
    assert.equal(st.as.stats.codeExchanges, 2, 'one grant per user');
  });

  test('expired and short-lived access tokens are refreshed without the client noticing', { timeout: 60000 }, async () => {
    const refreshes = st.as.stats.refreshes;
    st.as.accessTtlSec = 3;
    try {
      st.as.expire(UP.alice);
      const seen = [];
      for (let i = 0; i < 8; i += 1) {
        const w = await whoami(sessions.alice);
        assert.equal(w.user, UP.alice, `call ${i}`);
        seen.push(w.token_n);
        await sleep(1000);
      }
      assert.ok(new Set(seen).size >= 2, `8 calls over 8 s with 3 s tokens used tokens ${seen.join(',')}`);
      assert.ok(st.as.stats.refreshes >= refreshes + 2, `refreshes: ${refreshes} -> ${st.as.stats.refreshes}`);
      assert.equal(st.as.stats.refreshFailures, 0);
      assert.equal((await whoami(sessions.bob)).user, UP.bob, 'bob is unaffected');
    } finally {
      st.as.accessTtlSec = 3600;
    }
  });

  test('a revoked grant asks alice to connect again; after a new browser flow her calls work again', { timeout: 60000 }, async () => {
    st.as.revoke(UP.alice);
    const { error, elicitation } = await needsConnect(sessions.alice, st.gw);
    assert.match(error.message, /connect/i, 'the message says to connect again');
    assert.equal((await whoami(sessions.bob)).user, UP.bob, 'bob is unaffected');
    await flowAs('alice', elicitation.url);
    assert.equal((await whoami(sessions.alice)).user, UP.alice);
  });

  test('tokens list shows users and servers without tokens; tokens revoke ends a grant', { timeout: 60000 }, async () => {
    const list = cli('tokens', 'list');
    assert.equal(list.code, 0, list.err);
    for (const user of ['alice', 'bob']) assert.match(list.out, new RegExp(`^.*\\b${user}\\b.*\\bslack\\b.*$`, 'm'), `${user}: ${list.out}`);
    for (const t of st.as.issued) assert.ok(!(list.out + list.err).includes(t), 'a token in tokens list');

    const revoke = cli('tokens', 'revoke', '--user', 'bob', '--server', 'slack');
    assert.equal(revoke.code, 0, revoke.err);
    await waitFor(async () => {
      try {
        await callWhoami(sessions.bob);
        return false;
      } catch (e) {
        return e.code === URL_ELICITATION_REQUIRED;
      }
    }, { ms: 15000, interval: 500, label: 'bob\'s call asks to connect after tokens revoke' });
    await needsConnect(await session('bob'), st.gw);
    assert.doesNotMatch(cli('tokens', 'list').out, /^.*\bbob\b.*\bslack\b.*$/m, 'bob\'s grant is gone from the list');
    assert.equal((await whoami(sessions.alice)).user, UP.alice, 'alice is unaffected');

    const missing = cli('tokens', 'revoke', '--user', 'bob', '--server', 'slack');
    assert.notEqual(missing.code, 0, 'revoking a grant that does not exist fails');
    assert.ok((missing.err + missing.out).trim().length > 0, 'with a message');
  });

  test('no token in the debug log, the audit trail or the vault file', { timeout: 30000 }, async () => {
    for (const c of st.clients.splice(0)) await withTimeout(c.close().catch(() => {}), 3000, 'close').catch(() => {});
    const exit = await st.gw.stop();
    assert.deepEqual({ code: exit.code, forced: exit.forced }, { code: 0, forced: false }, st.gw.stderr.slice(-3000));
    assert.match(st.gw.stderr, /^\S+ debug /m, 'the log is at debug level');
    const bytes = (name) => [name, `${name}-wal`].map((f) => path.join(dir, f)).filter(existsSync)
      .map((f) => readFileSync(f).toString('latin1')).join('');
    const audit = bytes('mcpgw.audit.db');
    const vault = bytes('mcpgw.vault.db');
    assert.match(audit, /slack__whoami/, 'the audit trail recorded the calls');
    assert.match(audit, /connected their account/, 'and each consent');
    assert.match(audit, /own OAuth token of alice/, 'and who each call acted as upstream');
    assert.ok(vault.length > 0, 'the vault file exists');
    assert.ok(st.as.issued.length >= 8, `${st.as.issued.length} tokens issued`);
    assert.doesNotMatch(st.gw.stderr, /ticket=[A-Za-z0-9_-]{8}/, 'a consent link is in the log');
    for (const t of st.as.issued) {
      for (const [where, text] of [['log', st.gw.stderr + st.gw.stdout], ['audit db', audit], ['vault db', vault]]) {
        assert.ok(!text.includes(t), `an ${t.startsWith('rt_') ? 'refresh' : 'access'} token is in the ${where}`);
      }
    }
  });
});

describe('per-user OAuth with a client registered beforehand', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-oauth-pre-'));
  const file = path.join(dir, 'mcpgw.json');
  const st = { gw: null, as: null, client: null };
  before(async () => {
    // The gateway's address is fixed first: the client's redirect URI names it.
    const port = await new Promise((resolve, reject) => {
      const probe = net.createServer().once('error', reject).listen(0, '127.0.0.1', () => {
        const p = probe.address().port;
        probe.close(() => resolve(p));
      });
    });
    st.as = await startOAuthServer();
    st.as.preRegister({
      client_id: 'mcpgw-pre', client_secret: 'pre-s3cret', client_id_issued_at: 0,
      redirect_uris: [`http://127.0.0.1:${port}/oauth/callback`],
      grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
    });
    writeFileSync(path.join(dir, 'vault.key'), `${randomBytes(32).toString('hex')}\n`);
    writeFileSync(file, JSON.stringify(oauthConfig(st.as.url, {
      server: { auth: { type: 'oauth', clientId: 'mcpgw-pre', clientSecret: '${PRE_SECRET}' } },
    }), null, 2));
    const made = spawnSync(MCPGW_BIN, ['keys', 'create', '--name', 'carol', '-c', file],
      { cwd: dir, encoding: 'utf8', timeout: 30000, env: { ...ENV, PRE_SECRET: 'pre-s3cret' } });
    const key = { code: made.status, out: made.stdout ?? '', err: made.stderr ?? '' };
    assert.equal(key.code, 0, key.err);
    st.gw = await startGateway(undefined, {
      configFile: file, listen: `127.0.0.1:${port}`, env: { ...ENV, PRE_SECRET: 'pre-s3cret' },
    });
    ({ client: st.client } = await connect(st.gw, {
      headers: { Authorization: `Bearer ${key.out.trim().split('\n').at(-1)}` }, name: 'carol',
    }));
  });
  after(async () => {
    await withTimeout(st.client?.close().catch(() => {}) ?? Promise.resolve(), 3000, 'close').catch(() => {});
    await st.gw?.stop();
    await st.as?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the configured client id and secret are used: no registration, the secret in the form', { timeout: 60000 }, async () => {
    const { elicitation } = await needsConnect(st.client, st.gw);
    const { authorize } = await connectBrowser(st.gw, st.as, elicitation.url, { principal: 'carol', upstreamUser: 'carol@slack' });
    assert.equal(authorize.searchParams.get('client_id'), 'mcpgw-pre');
    assert.equal(st.as.stats.registrations, 0, 'no dynamic registration');
    assert.equal((await whoami(st.client)).user, 'carol@slack');
    const grants = st.as.grants.filter((g) => g.grantType === 'authorization_code');
    assert.deepEqual(grants.map((g) => ({ ok: g.ok, clientId: g.clientId })), [{ ok: true, clientId: 'mcpgw-pre' }],
      'the code was redeemed by the pre-registered client, whose secret the server checked');
  });
});

describe('configs where per-user OAuth cannot work are refused', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-oauth-cfg-'));
  const URL_ = 'http://127.0.0.1:9/mcp';
  before(() => writeFileSync(path.join(dir, 'vault.key'), `${randomBytes(32).toString('hex')}\n`));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const check = (name, config) => {
    const file = path.join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify(config, null, 2));
    const r = run(['check-config', '--no-start', file], { cwd: dir });
    return { code: r.code, text: `${r.out}${r.err}` };
  };

  test('check-config accepts the valid config and refuses shared isolation, no auth and a stdio server', { timeout: 30000 }, () => {
    const ok = check('ok', oauthConfig(URL_));
    assert.equal(ok.code, 0, ok.text);
    for (const [name, config, reason] of [
      ['shared', oauthConfig(URL_, { server: { isolation: 'shared' } }), /isolation|shared|session/i],
      ['no-auth', oauthConfig(URL_, { gateway: { auth: { mode: 'none' } } }), /auth|key|user/i],
      ['stdio', { ...oauthConfig(URL_), mcpServers: { slack: { command: NODE, args: ['-e', ''] } } }, /stdio|command|remote|http|url/i],
    ]) {
      const r = check(name, config);
      assert.notEqual(r.code, 0, `${name}: check-config must fail:\n${r.text}`);
      assert.notEqual(r.code, null, `${name}: check-config finished by itself`);
      assert.match(r.text, /oauth/i, `${name}: the error names oauth: ${r.text}`);
      assert.match(r.text, /slack/, `${name}: the error names the server: ${r.text}`);
      assert.match(r.text, reason, `${name}: the error says why: ${r.text}`);
    }
  });
});
