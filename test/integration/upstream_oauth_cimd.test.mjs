// The gateway's OAuth client identified by its client ID metadata document: when the remote
// server's authorization server says client_id_metadata_document_supported and the gateway's
// publicUrl is https (here nginx with TLS in front of it), the gateway registers nowhere: its
// client_id is the URL of its own /oauth/client.json, which the authorization server fetches
// and checks. The consent link and the callback are on the https public URL, the flow's cookie
// is Secure, and the code grant and each renewal carry that client_id. With an http publicUrl
// the same authorization server gets a dynamic client registration instead.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { connect, startGateway, withTimeout } from './helpers.mjs';
import {
  connectBrowser, createKey, fetchTrusting, get, needsConnect, oauthConfig, whoami,
} from './fixtures/oauth_flow.mjs';
import { startNginx } from './fixtures/nginx.mjs';
import { startOAuthServer } from './fixtures/oauth_server.mjs';
import { freePort } from './fixtures/postgres.mjs';
import { makeTestCA } from './fixtures/tls.mjs';

const ALICE = { principal: 'alice', upstreamUser: 'alice@slack' };
const SECURE = /;\s*Secure\s*(;|$)/i;

/** A config directory with a vault key and config `config`: {dir, file}. */
function configDir(prefix, config) {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  const file = path.join(dir, 'mcpgw.json');
  writeFileSync(path.join(dir, 'vault.key'), `${randomBytes(32).toString('hex')}\n`);
  writeFileSync(file, JSON.stringify(config, null, 2));
  return { dir, file };
}

/** An SDK session of the key's user, which can take URL elicitations. */
async function sessionOf(gw, key, name) {
  const { client } = await connect(gw, {
    headers: { Authorization: `Bearer ${key}` }, name, capabilities: { elicitation: { url: {} } },
  });
  return client;
}

/** Closes `client` and stops what runs, each if it was started. */
async function stopAll({ client, gw, lb, as }) {
  if (client) await withTimeout(client.close().catch(() => {}), 3000, 'close').catch(() => {});
  const exit = await gw?.stop();
  await lb?.stop();
  await as?.stop();
  return exit;
}

describe('an authorization server that takes client ID metadata documents, and an https publicUrl', () => {
  const st = { dir: null, tlsDir: null, gw: null, lb: null, as: null, client: null, site: null };
  const docUrl = () => `${st.site.base}/oauth/client.json`;

  before(async () => {
    const tlsDir = mkdtempSync(path.join(tmpdir(), 'mcpgw-cimd-tls-'));
    const tls = makeTestCA(tlsDir);
    st.tlsDir = tlsDir;
    st.as = await startOAuthServer({ clientIdMetadataDocument: { ca: tls.ca } });
    // nginx first: the gateway's public URL is nginx's, and nginx needs the gateway's port.
    const port = await freePort();
    st.lb = await startNginx([port], { tls });
    st.site = { base: st.lb.base, fetch: fetchTrusting(tls.ca) };
    const { dir, file } = configDir('mcpgw-cimd-', oauthConfig(st.as.url, { gateway: { publicUrl: st.lb.base } }));
    st.dir = dir;
    const key = createKey(dir, file, 'alice');
    st.gw = await startGateway(undefined, {
      configFile: file, listen: `127.0.0.1:${port}`, args: ['--log-level', 'debug'], env: { MCPGW_VAULT_KEY: '' },
    });
    st.client = await sessionOf(st.gw, key, 'alice');
  });
  after(async () => {
    await stopAll(st);
    for (const d of [st.dir, st.tlsDir]) if (d) rmSync(d, { recursive: true, force: true });
  });

  test('GET /oauth/client.json through the https public URL names that URL', { timeout: 30000 }, async () => {
    const res = await get(docUrl(), {}, st.site.fetch);
    const text = await res.text();
    assert.equal(res.status, 200, text);
    const doc = JSON.parse(text);
    assert.equal(doc.client_id, docUrl(), 'client_id is the document\'s own https URL');
    assert.deepEqual(doc.redirect_uris, [`${st.site.base}/oauth/callback`]);
    assert.equal(doc.token_endpoint_auth_method, 'none');
  });

  test('alice connects over https; the authorization server fetched the gateway\'s document and nobody registered', { timeout: 60000 }, async () => {
    const { elicitation } = await needsConnect(st.client, st.site);
    assert.ok(elicitation.url.startsWith(`${st.site.base}/oauth/start?`), `alice is sent to the https public URL: ${elicitation.url}`);
    const { authorize, setCookie } = await connectBrowser(st.site, st.as, elicitation.url, ALICE);

    assert.equal(authorize.searchParams.get('client_id'), docUrl(), 'the authorization request names the document as client_id');
    assert.equal(authorize.searchParams.get('redirect_uri'), `${st.site.base}/oauth/callback`);
    assert.match(setCookie, SECURE, `the cookie of an https gateway is Secure: ${setCookie}`);
    assert.deepEqual(st.as.metadataFailures, [], 'every fetch of the document was taken');
    const fetched = st.as.metadataDocuments.filter((d) => d.url === docUrl());
    assert.ok(fetched.length >= 1, `the authorization server fetched ${docUrl()}`);
    for (const { doc } of fetched) {
      assert.ok(doc.redirect_uris.includes(`${st.site.base}/oauth/callback`), `its redirect_uris hold the callback: ${JSON.stringify(doc)}`);
    }
    assert.equal(st.as.stats.registrations, 0, 'no dynamic client registration');
    assert.deepEqual(st.as.grants.map((g) => ({ grantType: g.grantType, ok: g.ok, clientId: g.clientId })),
      [{ grantType: 'authorization_code', ok: true, clientId: docUrl() }], 'the code was redeemed with the document as client_id');
    assert.equal((await whoami(st.client)).user, ALICE.upstreamUser, 'alice\'s next call acts as alice@slack');
  });

  test('an expired token is renewed with the document as client_id', { timeout: 30000 }, async () => {
    const refreshes = st.as.stats.refreshes;
    st.as.expire(ALICE.upstreamUser);
    assert.equal((await whoami(st.client)).user, ALICE.upstreamUser, 'alice\'s call goes through after the renewal');
    assert.equal(st.as.stats.refreshes, refreshes + 1, 'one renewal');
    const renewals = st.as.grants.filter((g) => g.grantType === 'refresh_token');
    assert.ok(renewals.length >= 1, 'a refresh grant');
    for (const g of renewals) assert.deepEqual({ ok: g.ok, clientId: g.clientId }, { ok: true, clientId: docUrl() });
    assert.equal(st.as.stats.registrations, 0, 'still no registration');
  });

  test('the gateway stops cleanly', { timeout: 30000 }, async () => {
    await withTimeout(st.client.close().catch(() => {}), 3000, 'close').catch(() => {});
    st.client = null;
    const exit = await st.gw.stop();
    assert.deepEqual({ code: exit.code, forced: exit.forced }, { code: 0, forced: false }, st.gw.stderr.slice(-3000));
  });
});

describe('the same authorization server, and an http publicUrl', () => {
  const st = { dir: null, tlsDir: null, gw: null, as: null, client: null };

  before(async () => {
    const tlsDir = mkdtempSync(path.join(tmpdir(), 'mcpgw-cimd-tls-'));
    st.tlsDir = tlsDir;
    st.as = await startOAuthServer({ clientIdMetadataDocument: { ca: makeTestCA(tlsDir).ca } });
    // No publicUrl: the gateway's own http address is where browsers reach it.
    const { dir, file } = configDir('mcpgw-cimd-http-', oauthConfig(st.as.url));
    st.dir = dir;
    const key = createKey(dir, file, 'alice');
    st.gw = await startGateway(undefined, { configFile: file, env: { MCPGW_VAULT_KEY: '' } });
    st.client = await sessionOf(st.gw, key, 'alice');
  });
  after(async () => {
    await stopAll(st);
    for (const d of [st.dir, st.tlsDir]) if (d) rmSync(d, { recursive: true, force: true });
  });

  test('the gateway registers by dynamic registration, since an http document cannot be its client_id', { timeout: 60000 }, async () => {
    const { elicitation } = await needsConnect(st.client, st.gw);
    const { authorize, setCookie } = await connectBrowser(st.gw, st.as, elicitation.url, ALICE);
    assert.equal(st.as.stats.registrations, 1, 'one dynamic client registration');
    const clientId = authorize.searchParams.get('client_id');
    assert.equal(clientId, st.as.registeredClients[0].client_id, 'the authorization request names the registered client');
    assert.deepEqual(st.as.metadataDocuments, [], 'no document was fetched');
    assert.doesNotMatch(setCookie, SECURE, `an http gateway's cookie is not Secure: ${setCookie}`);
    assert.equal((await whoami(st.client)).user, ALICE.upstreamUser, 'alice\'s next call acts as alice@slack');
  });
});
