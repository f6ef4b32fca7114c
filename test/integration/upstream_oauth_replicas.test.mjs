// Two gateways serving one config (replicas A and B sharing its key store and its vault) and a
// server with per-user OAuth whose refresh tokens rotate: a user who connected through A is
// connected on B too, and a renewal B makes is picked up by A, either when A reads the vault
// again (every 10 s while in use) without renewing itself, or, sooner, when the authorization
// server refuses A the refresh token B spent: A reads the vault, finds B's newer tokens, and the
// user's call goes through without being asked to connect again.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { connect, sleep, startGateway, withTimeout } from './helpers.mjs';
import {
  URL_ELICITATION_REQUIRED, connectBrowser, createKey, needsConnect, oauthConfig, whoami,
} from './fixtures/oauth_flow.mjs';
import { startOAuthServer } from './fixtures/oauth_server.mjs';

const ALICE = { principal: 'alice', upstreamUser: 'alice@slack' };
/** How often a gateway reads a user's tokens from the vault again while they are in use. */
const VAULT_REREAD_MS = 10000;
/** Past that period, with room for a busy machine. */
const PAST_REREAD_MS = VAULT_REREAD_MS + 1500;

/** The counters of the authorization server that a renewal moves. */
const counters = (as) => ({
  refreshes: as.stats.refreshes, refreshFailures: as.stats.refreshFailures,
  codeExchanges: as.stats.codeExchanges, unauthorized: as.stats.unauthorized,
});

/**
 * slack__whoami through `client`, which must succeed: a -32042 error (alice asked to connect
 * again) fails with what she would have been told.
 */
async function whoamiNoConsent(client, replica) {
  try {
    return await whoami(client);
  } catch (e) {
    if (e.code === URL_ELICITATION_REQUIRED) {
      assert.fail(`replica ${replica} asked alice to connect her account again: ${e.message}`);
    }
    throw e;
  }
}

describe('two replicas sharing the vault, and a server whose refresh tokens rotate', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-oauth-replicas-'));
  const file = path.join(dir, 'mcpgw.json');
  const st = { as: null, a: null, b: null, clients: [], key: null };
  const sessions = {};
  const sessionOn = async (gw) => {
    const { client } = await connect(gw, {
      headers: { Authorization: `Bearer ${st.key}` }, name: 'alice', capabilities: { elicitation: { url: {} } },
    });
    st.clients.push(client);
    return client;
  };
  const replica = () => startGateway(undefined, {
    configFile: file, args: ['--log-level', 'debug'], env: { MCPGW_VAULT_KEY: '' },
  });

  before(async () => {
    st.as = await startOAuthServer({ accessTtlSec: 3600 });
    writeFileSync(path.join(dir, 'vault.key'), `${randomBytes(32).toString('hex')}\n`);
    writeFileSync(file, JSON.stringify(oauthConfig(st.as.url), null, 2));
    st.key = createKey(dir, file, 'alice');
    st.a = await replica();
    st.b = await replica();
  });
  after(async () => {
    for (const c of st.clients.splice(0)) await withTimeout(c.close().catch(() => {}), 3000, 'close').catch(() => {});
    await st.a?.stop();
    await st.b?.stop();
    await st.as?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('alice connects through A; a session on B acts as her at once, with no consent of its own', { timeout: 60000 }, async () => {
    sessions.a = await sessionOn(st.a);
    const { elicitation } = await needsConnect(sessions.a, st.a);
    await connectBrowser(st.a, st.as, elicitation.url, ALICE);
    assert.equal((await whoami(sessions.a)).user, ALICE.upstreamUser, 'alice\'s call through A');

    sessions.b = await sessionOn(st.b);
    const viaB = await whoamiNoConsent(sessions.b, 'B');
    assert.deepEqual(viaB, { user: ALICE.upstreamUser, token_n: 1 }, 'B uses the token A obtained, read from the shared vault');
    assert.equal(st.as.stats.codeExchanges, 1, 'one consent in all');
    assert.equal(st.as.stats.refreshes, 0, 'B did not renew');
  });

  test('B renews an expired token; after A\'s vault re-read, A uses B\'s new token without renewing itself', { timeout: 60000 }, async () => {
    st.as.expire(ALICE.upstreamUser);
    const before_ = counters(st.as);
    const viaB = await whoamiNoConsent(sessions.b, 'B');
    assert.equal(viaB.user, ALICE.upstreamUser);
    assert.deepEqual(counters(st.as), { ...before_, refreshes: before_.refreshes + 1, unauthorized: before_.unauthorized + 1 },
      'B\'s call was refused once (401) and B renewed the token once');

    await sleep(PAST_REREAD_MS);
    const viaA = await whoamiNoConsent(sessions.a, 'A');
    assert.deepEqual(viaA, viaB, 'A acts as alice with the token B obtained');
    assert.deepEqual(counters(st.as), { ...before_, refreshes: before_.refreshes + 1, unauthorized: before_.unauthorized + 1 },
      'A sent no expired token and made no renewal of its own (it read B\'s from the vault)');
  });

  test('B renews again and A calls at once: the refresh token B spent is refused to A, which finds B\'s tokens in the vault', { timeout: 60000 }, async () => {
    st.as.expire(ALICE.upstreamUser);
    const before_ = counters(st.as);
    const logs = { a: st.a.stderr.length, b: st.b.stderr.length };
    const viaB = await whoamiNoConsent(sessions.b, 'B');
    assert.equal(viaB.user, ALICE.upstreamUser);
    assert.equal(st.as.stats.refreshes, before_.refreshes + 1, 'B renewed the token');

    // A read the vault less than 10 s ago: it still holds the tokens B has just replaced.
    const viaA = await whoamiNoConsent(sessions.a, 'A');
    assert.deepEqual(viaA, viaB, 'A acts as alice with the token B obtained');
    assert.deepEqual(counters(st.as), {
      ...before_, refreshes: before_.refreshes + 1, refreshFailures: before_.refreshFailures + 1,
      unauthorized: before_.unauthorized + 2,
    }, 'A\'s expired token got a 401, its spent refresh token was refused once, and no renewal of A\'s went through');
    assert.equal(st.as.stats.codeExchanges, 1, 'alice never connected again');
    for (const [name, gw] of [['A', st.a], ['B', st.b]]) {
      const log = gw.logSince(logs[name.toLowerCase()]);
      assert.doesNotMatch(log, /must connect again|cannot remove the tokens/, `replica ${name} dropped alice's tokens:\n${log}`);
    }

    // Nothing A did undid B's tokens: B's next call needs no renewal, and both go on.
    assert.deepEqual(await whoamiNoConsent(sessions.b, 'B'), viaB, 'B still uses its token');
    assert.deepEqual(await whoamiNoConsent(sessions.a, 'A'), viaB, 'A too');
    assert.equal(st.as.stats.refreshes, before_.refreshes + 1, 'no further renewal');
    assert.equal(st.as.tokensOf(ALICE.upstreamUser).refresh.length, 1, 'one live refresh token');
  });

  test('both replicas stop cleanly', { timeout: 30000 }, async () => {
    for (const c of st.clients.splice(0)) await withTimeout(c.close().catch(() => {}), 3000, 'close').catch(() => {});
    for (const [name, gw] of [['A', st.a], ['B', st.b]]) {
      const exit = await gw.stop();
      assert.deepEqual({ code: exit.code, forced: exit.forced }, { code: 0, forced: false }, `replica ${name}: ${gw.stderr.slice(-3000)}`);
    }
  });
});
