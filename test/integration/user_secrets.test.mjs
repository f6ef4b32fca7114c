// Each user's own credentials for stdio servers: ${user:NAME} in a session-isolated server's env
// is filled from the caller's vault entry (mcpgw secrets set|list|delete), so every user's
// session runs its own process with its own value. A caller without the entry is told which
// name is missing and the command that sets it; once set, the next call in the same session
// works. The values never reach the log, the audit trail, the vault file in the clear, or
// `secrets list`; configs that would expose or share them are refused.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { MCPGW_BIN, NODE, connect, startGateway, storeBytes, textOf, waitFor, withTimeout } from './helpers.mjs';

const ENV_JS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'env_server.mjs');

/** This process's environment without a vault key, so only the config's key file counts. */
const { MCPGW_VAULT_KEY: _unused, ...ENV } = process.env;

/** Runs the gateway's command line in `cwd`; `input` goes to its stdin. */
function run(args, { cwd, input = '', timeout = 30000 } = {}) {
  const r = spawnSync(MCPGW_BIN, args, { cwd, input, encoding: 'utf8', timeout, env: ENV });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** A config with server gh reading ${user:github_token}; `gh` and `gateway` are merged in. */
function ghConfig({ gh = {}, gateway = {}, isolation = 'session' } = {}) {
  return {
    gateway: {
      auth: { mode: 'keys' },
      vault: { keyFile: 'vault.key' },
      servers: { gh: { isolation } },
      timeouts: { drainMs: 2000 },
      ...gateway,
    },
    mcpServers: {
      gh: {
        command: NODE, args: [ENV_JS],
        env: { GITHUB_TOKEN: '${user:github_token}', PLAIN: 'x-${user:github_token}-y' },
        ...gh,
      },
    },
  };
}

const whoami = async (client) => {
  const r = await withTimeout(client.callTool({ name: 'gh__whoami', arguments: {} }), 10000, 'gh__whoami');
  assert.ok(!r.isError, `gh__whoami failed: ${textOf(r)}`);
  return JSON.parse(textOf(r));
};

/** The error a caller without the vault entry gets: a JSON-RPC error naming the key and the fix. */
const missingSecret = (e) => /github_token/.test(e.message) && /mcpgw secrets set/.test(e.message);

describe('per-user secrets for a session-isolated stdio server', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-secrets-'));
  const file = path.join(dir, 'mcpgw.json');
  const secret = {
    alice: `ghp_alice_${randomBytes(12).toString('hex')}`, bob: `ghp_bob_${randomBytes(12).toString('hex')}`,
    bobPage: `ghp bob+page_${randomBytes(12).toString('hex')}`,  // typed on the page: a space and a +
  };
  const keys = {};
  const st = { gw: null, clients: [] };
  const cli = (...args) => run([...args, '-c', file], { cwd: dir });
  const setSecret = (user, value) => run(['secrets', 'set', '--user', user, '--key', 'github_token', '-c', file],
    { cwd: dir, input: `${value}\n` });
  const as = async (user) => {
    const c = await connect(st.gw, { headers: { Authorization: `Bearer ${keys[user]}` }, name: user });
    st.clients.push(c.client);
    return c;
  };

  before(async () => {
    writeFileSync(path.join(dir, 'vault.key'), `${randomBytes(32).toString('hex')}\n`);
    writeFileSync(file, JSON.stringify(ghConfig(), null, 2));
    for (const user of ['alice', 'bob']) {
      const r = cli('keys', 'create', '--name', user);
      assert.equal(r.code, 0, r.err);
      keys[user] = r.out.trim().split('\n').at(-1);
    }
  });
  after(async () => {
    for (const c of st.clients.splice(0)) await withTimeout(c.close().catch(() => {}), 3000, 'close').catch(() => {});
    await st.gw?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('secrets set confirms without echoing the value; secrets list shows USER, KEY, UPDATED only', () => {
    const set = setSecret('alice', secret.alice);
    assert.equal(set.code, 0, set.err);
    assert.match(set.out, /github_token/);
    assert.ok(!(set.out + set.err).includes(secret.alice), 'set prints no value');
    const list = cli('secrets', 'list');
    assert.equal(list.code, 0, list.err);
    assert.match(list.out, /^USER\s+KEY\s+UPDATED/m);
    assert.match(list.out, /^alice\s+github_token\s+\S/m);
    assert.ok(!(list.out + list.err).includes(secret.alice), 'list prints no value');
    const onlyBob = cli('secrets', 'list', '--user', 'bob');
    assert.equal(onlyBob.code, 0, onlyBob.err);
    assert.doesNotMatch(onlyBob.out, /^alice\s/m, '--user bob lists none of alice\'s entries');
  });

  test('each of alice\'s sessions runs its own gh process with her value in its env', async () => {
    st.gw = await startGateway(undefined, { configFile: file, args: ['--log-level', 'debug'], env: { MCPGW_VAULT_KEY: '' } });
    const one = await whoami((await as('alice')).client);
    assert.deepEqual({ token: one.token, plain: one.plain }, { token: secret.alice, plain: `x-${secret.alice}-y` });
    const two = await whoami((await as('alice')).client);
    assert.equal(two.token, secret.alice);
    assert.notEqual(two.pid, one.pid, 'a second session gets a second process');
  });

  test('bob without an entry is told what to set; after secrets set the same session gets his value', async () => {
    const { client } = await as('bob');
    await assert.rejects(withTimeout(client.callTool({ name: 'gh__whoami', arguments: {} }), 10000, 'call'), missingSecret);
    const set = setSecret('bob', secret.bob);
    assert.equal(set.code, 0, set.err);
    const bob = await waitFor(() => whoami(client), { ms: 5000, interval: 250, label: 'bob\'s call succeeds after secrets set' });
    assert.deepEqual({ token: bob.token, plain: bob.plain }, { token: secret.bob, plain: `x-${secret.bob}-y` });
    const alice = await whoami((await as('alice')).client);
    assert.equal(alice.token, secret.alice, 'alice still gets her own');
    assert.notEqual(alice.pid, bob.pid);
  });

  test('after secrets delete, a new session of bob gets the missing-secret error again', async () => {
    const del = cli('secrets', 'delete', '--user', 'bob', '--key', 'github_token');
    assert.equal(del.code, 0, del.err);
    assert.doesNotMatch(cli('secrets', 'list').out, /^bob\s/m, 'bob\'s entry is gone from the list');
    const { client } = await as('bob');
    await assert.rejects(withTimeout(client.callTool({ name: 'gh__whoami', arguments: {} }), 10000, 'call'), missingSecret);
  });

  test('bob gives his value on the page his error links to; the same session then runs with it', async () => {
    const { client } = await as('bob');
    const e = await withTimeout(client.callTool({ name: 'gh__whoami', arguments: {} }), 10000, 'call').then(
      (r) => assert.fail(`expected an error, got ${JSON.stringify(r).slice(0, 200)}`), (x) => x);
    assert.ok(missingSecret(e), e.message);
    assert.equal(e.code, -32042, 'a URL elicitation');
    const link = e.data?.elicitations?.[0]?.url ?? '';
    assert.ok(link.startsWith(`${st.gw.base}/oauth/start?server=gh&ticket=`), link);
    assert.ok(e.message.includes(link), 'the message gives the same link in words');

    const forged = new URL(link);
    const t = forged.searchParams.get('ticket');
    forged.searchParams.set('ticket', t.slice(0, 10) + (t[10] === 'A' ? 'B' : 'A') + t.slice(11));
    assert.equal((await fetch(forged)).status, 400, 'an altered ticket is refused');

    const page = await fetch(link);
    const html = await page.text();
    assert.equal(page.status, 200, html.slice(0, 300));
    assert.match(html, /<input type="password" name="v\.github_token"/, 'a password field for the entry');
    assert.match(html, /bob/, 'the page names the user');
    const ticket = /name="ticket" value="([^"]+)"/.exec(html)?.[1];
    assert.ok(ticket, 'the form carries the ticket');
    const res = await fetch(`${st.gw.base}/oauth/start`, {
      method: 'POST', redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: st.gw.base },
      body: new URLSearchParams({ server: 'gh', ticket, 'v.github_token': secret.bobPage }).toString(),
    });
    const saved = await res.text();
    assert.equal(res.status, 200, saved.slice(0, 300));
    assert.match(saved, /Saved 1 value/);
    const bob = await waitFor(() => whoami(client), { ms: 5000, interval: 250, label: 'bob\'s call succeeds after the page' });
    assert.equal(bob.token, secret.bobPage, 'the value as typed, spaces and + included');
    assert.match(cli('secrets', 'list').out, /^bob\s+github_token/m);
  });

  test('no value in the debug log, the audit trail, the vault file in the clear or secrets list', async () => {
    for (const c of st.clients.splice(0)) await c.close().catch(() => {});
    const exit = await st.gw.stop();
    assert.deepEqual({ code: exit.code, forced: exit.forced }, { code: 0, forced: false }, st.gw.stderr.slice(-3000));
    assert.match(st.gw.stderr, /^\S+ debug /m, 'the log is at debug level');
    const audit = storeBytes(dir, 'mcpgw.audit.db');
    const vault = storeBytes(dir, 'mcpgw.vault.db');
    assert.match(audit, /gh__whoami/, 'the audit trail recorded the calls');
    assert.match(audit, /vault values of alice/, 'and whose values each call ran with');
    assert.match(audit, /set github_token/, 'and the value bob gave on the page (not the value)');
    assert.doesNotMatch(st.gw.stderr, /ticket=[A-Za-z0-9_-]{8}/, 'a link\'s ticket is in the log');
    assert.match(vault, /alice/, 'the vault file holds alice\'s entry');
    const list = cli('secrets', 'list');
    for (const value of Object.values(secret)) {
      for (const [where, text] of [['log', st.gw.stderr], ['audit db', audit], ['vault db', vault], ['secrets list', list.out + list.err]]) {
        assert.ok(!text.includes(value), `a secret value is in the ${where}`);
      }
    }
  });
});

describe('configs that would expose or share a user\'s secret are refused', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-secrets-cfg-'));
  before(() => writeFileSync(path.join(dir, 'vault.key'), `${randomBytes(32).toString('hex')}\n`));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name, config) => {
    const file = path.join(dir, name);
    writeFileSync(file, JSON.stringify(config, null, 2));
    return file;
  };

  test('check-config accepts the valid config and refuses ${user:} outside a session server\'s env or without auth', () => {
    const ok = run(['check-config', '--no-start', write('ok.json', ghConfig())]);
    assert.equal(ok.code, 0, ok.err);
    for (const [name, config] of [
      ['shared', ghConfig({ isolation: 'shared' })],
      ['args', ghConfig({ gh: { args: [ENV_JS, '--token', '${user:github_token}'], env: {} } })],
      ['no-auth', ghConfig({ gateway: { auth: { mode: 'none' } } })],
    ]) {
      const r = run(['check-config', '--no-start', write(`${name}.json`, config)]);
      assert.notEqual(r.code, 0, `${name}: check-config must fail`);
      assert.match(r.err, /\$\{user:github_token\}/, `${name}: the error names the reference`);
    }
  });

  test('serve with ${user:} refs and no vault key refuses to start and says where the key goes', () => {
    const config = ghConfig();
    delete config.gateway.vault;
    const r = run(['serve', '--config', write('nokey.json', config), '--listen', '127.0.0.1:0'], { cwd: dir, timeout: 15000 });
    assert.notEqual(r.code, 0, `serve must exit non-zero (status ${r.code}):\n${r.err}`);
    assert.notEqual(r.code, null, 'serve exited by itself rather than running until the timeout');
    assert.match(r.err, /gateway\.vault\.keyFile|MCPGW_VAULT_KEY/);
  });
});
