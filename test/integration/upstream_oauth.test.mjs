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
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { NODE, connect, sleep, startGateway, storeBytes, waitFor, withTimeout } from './helpers.mjs';
import {
  ENV, STEP_MS, URL_ELICITATION_REQUIRED, browseToCallback, callWhoami, connectBrowser, createKey, get, needsConnect,
  oauthConfig, run, runAsync, whoami,
} from './fixtures/oauth_flow.mjs';
import { startOAuthServer } from './fixtures/oauth_server.mjs';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

/** `s` with the character at its middle replaced by another of the same kind. */
function tamper(s) {
  const i = Math.floor(s.length / 2);
  const c = s[i];
  const swap = /[0-9]/.test(c) ? (c === '7' ? '3' : '7') : /[a-z]/.test(c) ? (c === 'q' ? 'x' : 'q')
    : /[A-Z]/.test(c) ? (c === 'Q' ? 'X' : 'Q') : (c === '_' ? '-' : '_');
  return s.slice(0, i) + swap + s.slice(i + 1);
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
    for (const user of ['alice', 'bob']) keys[user] = createKey(dir, file, user);
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

  test('concurrent calls in three sessions of alice after her token expired: one renewal for all', { timeout: 60000 }, async () => {
    const hers = [sessions.alice, await session('alice'), await session('alice')];
    for (const c of hers) assert.equal((await whoami(c)).user, UP.alice, 'each session works before');
    const before = { refreshes: st.as.stats.refreshes, failures: st.as.stats.refreshFailures };
    st.as.expire(UP.alice);
    const answers = await Promise.all(hers.flatMap((c) => [whoami(c), whoami(c), whoami(c)]));
    for (const w of answers) assert.equal(w.user, UP.alice, 'every call reaches the server as alice');
    assert.equal(new Set(answers.map((w) => w.token_n)).size, 1, `every call used the one renewed token: ${answers.map((w) => w.token_n)}`);
    assert.equal(st.as.stats.refreshes - before.refreshes, 1, 'one refresh for all nine calls (one renewal in flight per user)');
    assert.equal(st.as.stats.refreshFailures, before.failures, 'no spent refresh token was sent');
  });

  test('a refusal that comes back after the renewal is answered with the renewed token, not a second renewal', { timeout: 60000 }, async () => {
    const [first, late] = [sessions.alice, await session('alice')];
    for (const c of [first, late]) assert.equal((await whoami(c)).user, UP.alice, 'both sessions work before');
    const refreshes = st.as.stats.refreshes;
    st.as.expire(UP.alice);
    st.as.refusalDelays = [0, 1500];  // one 401 at once, the other after the renewal is done
    const [a, b] = await Promise.all([whoami(first), whoami(late)]);
    assert.deepEqual([a.user, b.user], [UP.alice, UP.alice]);
    assert.equal(a.token_n, b.token_n, 'the late call was sent again with the token the first renewal got');
    assert.equal(st.as.stats.refreshes - refreshes, 1, 'one renewal: the late 401 was for a token already replaced');
    assert.deepEqual(st.as.refusalDelays, [], 'both calls were refused once');
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

    const held = st.as.tokensOf(UP.bob);
    assert.ok(held.refresh.length === 1 && held.access.length >= 1, `bob holds a grant: ${JSON.stringify(held)}`);
    const revocations = st.as.stats.revocations;
    // Not spawnSync: the command asks the authorization server, which runs in this process.
    const revoke = await runAsync(['tokens', 'revoke', '--user', 'bob', '--server', 'slack', '-c', file], { cwd: dir });
    assert.equal(revoke.code, 0, revoke.err);
    assert.match(revoke.out, /revoked the grant too/, `the grant ends at the authorization server: ${revoke.out}${revoke.err}`);
    assert.equal(revoke.err, '', 'no warning');
    assert.equal(st.as.stats.revocations - revocations, 2, 'the refresh token and the access token revoked (RFC 7009)');
    assert.deepEqual(st.as.tokensOf(UP.bob), { access: [], refresh: [] }, 'none of bob\'s tokens is valid at the server any more');
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
    const audit = storeBytes(dir, 'mcpgw.audit.db');
    const vault = storeBytes(dir, 'mcpgw.vault.db');
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
    const key = run(['keys', 'create', '--name', 'carol', '-c', file], { cwd: dir, env: { PRE_SECRET: 'pre-s3cret' } });
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
