// The dashboard at /ui, driven in headless Chromium (Debian's, through puppeteer-core): signing
// in with the admin token, the servers, sessions, keys and audit tables, and the two flows an
// administrator clicks: approving a call the security gate holds, and approving a quarantined
// tool. Screenshots go to test-results/dashboard/ and are named in the test output. The SDK
// clients are real agents of the fixture servers; the mail server's record of what it sent
// proves what the clicks let through.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import puppeteer from 'puppeteer-core';

import { MCPGW_BIN, ROOT, SLOW, connect, startGateway, textOf, useGateway, waitFor, withTimeout } from './helpers.mjs';
import { GATE_TRUST, gateServer } from './fixtures/gate.mjs';

const ADMIN_TOKEN = 'dashboard-admin-token-5f1c9a';
const CHROMIUM = process.env.MCPGW_CHROMIUM || '/usr/bin/chromium';
const SHOTS = path.join(ROOT, 'test-results', 'dashboard');

const dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-dashboard-'));
const STORE = path.join(dir, 'keys.db');
after(() => rmSync(dir, { recursive: true, force: true }));

const keysCli = (...args) => execFileSync(MCPGW_BIN, ['keys', ...args, '--store', STORE], { encoding: 'utf8' });
const createKey = (name) => keysCli('create', '--name', name).trim().split('\n').at(-1);

const call = (c, name, args = {}) => withTimeout(
  c.callTool({ name, arguments: args }, undefined, { timeout: 60000 })
    .then((r) => ({ ok: textOf(r) }), (e) => ({ error: e.message })),
  60000, name);

async function launch() {
  mkdirSync(SHOTS, { recursive: true });
  // Chromium's sandbox cannot start as root (CI containers): only then is it turned off.
  const args = ['--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'];
  if (process.getuid?.() === 0) args.push('--no-sandbox');
  return puppeteer.launch({ executablePath: CHROMIUM, headless: true, args, timeout: 60000 });
}

/** Saves a full-page screenshot and names it in the test output. */
async function screenshot(t, page, name) {
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  t.diagnostic(`screenshot: ${path.relative(ROOT, file)}`);
}

/** The text of every row of a section's table, keyed by the row's data attribute. */
const rows = (page, section, attr) => page.$$eval(`#${section} tbody tr`, (trs, a) =>
  Object.fromEntries(trs.map((tr) => [tr.getAttribute(a), [...tr.cells].map((td) => td.textContent)])), attr);

async function waitForRow(page, section, attr, key, predicate = () => true, label = key) {
  return waitFor(async () => {
    const r = (await rows(page, section, attr))[key];
    return r && predicate(r) ? r : false;
  }, { ms: 15000 * SLOW, label: `${section}: ${label}` });
}

describe('dashboard (/ui) in Chromium', { skip: !existsSync(CHROMIUM) && `no Chromium at ${CHROMIUM}` }, () => {
  const keys = {};
  before(() => {
    keys.alice = createKey('alice');
    keys.bob = createKey('bob');
    keysCli('revoke', 'bob');
  });
  const ctx = useGateway(() => ({
    mcpServers: { web: gateServer('web'), vault: gateServer('vault'), mail: gateServer('mail'), rug: gateServer('rug') },
    gateway: {
      auth: { mode: 'keys', store: STORE },
      security: { approvalTimeoutS: 60, filters: [{ type: 'fence' }, { type: 'pin' }, { type: 'taint' }] },
      servers: GATE_TRUST,
      timeouts: { drainMs: 2000 },
    },
  }), { env: { MCPGW_ADMIN_TOKEN: ADMIN_TOKEN } });

  let browser;
  let page;
  const pageErrors = [];
  before(async () => {
    browser = await launch();
    page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 1000 });
    // A script error or a blocked resource (the content policy) would show here.
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error' && !/status of 401/.test(m.text())) pageErrors.push(m.text()); });
    page.on('response', (r) => { if (r.status() === 404) pageErrors.push(`404 for ${r.url()}`); });
  });
  after(async () => {
    await browser?.close();
    assert.deepEqual(pageErrors, [], 'the page ran without errors');
  });

  const agent = async (clientName = 'dashboard-agent') => (await connect(ctx.gw, {
    ctx, headers: { Authorization: `Bearer ${keys.alice}` }, name: clientName,
  })).client;

  test('signing in: a wrong token is refused, the admin token shows servers, sessions, keys and the audit trail', async (t) => {
    const res = await page.goto(`${ctx.gw.base}/ui`);
    assert.equal(res.status(), 200);
    assert.match(res.headers()['content-security-policy'], /script-src 'self'/);
    assert.equal(res.headers()['x-frame-options'], 'DENY');
    await page.waitForSelector('#signin:not([hidden])');
    assert.equal(await page.$eval('#dashboard', (d) => d.hidden), true, 'nothing shown before signing in');

    await page.type('#token', 'not-the-token');
    await page.click('#signin button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#signin-error').textContent !== '');
    assert.equal(await page.$eval('#signin-error', (e) => e.textContent), 'That is not the admin token.');

    const c = await agent();
    assert.deepEqual(await call(c, 'web__fetch_page', { url: 'https://example.com' }).then((r) => typeof r.ok), 'string');

    await page.type('#token', ADMIN_TOKEN);
    await page.click('#signin button[type=submit]');
    await page.waitForSelector('#dashboard:not([hidden])');
    for (const name of ['web', 'vault', 'mail', 'rug']) {
      const row = await waitForRow(page, 'servers', 'data-server', name, (r) => r[2] === 'ready', `${name} ready`);
      assert.equal(row[1], 'stdio');
    }
    const mine = await waitFor(async () => Object.values(await rows(page, 'sessions', 'data-session'))
      .find((r) => r[4] === 'dashboard-agent 1.0.0'), { ms: 10000 * SLOW, label: 'the agent session' });
    assert.equal(mine[1], 'alice');
    assert.match(mine[6], /untrusted \(read web\/fetch_page\)/, `the session shows its taint: ${JSON.stringify(mine)}`);

    const keyRows = await rows(page, 'keys', 'data-key');
    assert.equal(keyRows.alice[2], 'live');
    assert.equal(keyRows.bob[2], 'revoked');
    assert.equal(keyRows.alice[1], keys.alice.slice(0, keyRows.alice[1].length), 'the prefix, never more');
    assert.ok(keyRows.alice[1].length < keys.alice.length);

    const audit = await waitFor(async () => (await page.$$eval('#audit tbody tr', (trs) => trs.map((tr) => tr.textContent)))
      .find((r) => r.includes('fetch_page')), { ms: 10000 * SLOW, label: 'the call in the audit tail' });
    assert.match(audit, /alice/);
    assert.match(await page.$eval('#summary', (e) => e.textContent), /ok · \d+ session/);
    // The API the page reads wants the token in a header: a cookie-less request gets nothing.
    assert.equal(await page.evaluate(() => fetch('/admin/sessions').then((r) => r.status)), 401);
    await screenshot(t, page, 'overview');
  });

  test('a held call is approved, and another denied, by clicking', async (t) => {
    const c = await agent();
    await call(c, 'web__fetch_page', { url: 'https://example.com' });
    const sentBefore = JSON.parse((await call(c, 'mail__sent')).ok).length;
    const pending = call(c, 'mail__send_email', { to: 'boss@example.com', subject: 'quarterly', body: 'numbers' });

    const row = await waitFor(async () => Object.entries(await rows(page, 'approvals', 'data-approval'))
      .find(([, r]) => r[1] === 'mail/send_email'), { ms: 15000 * SLOW, label: 'the held call on the page' });
    const [id, cells] = row;
    assert.equal(cells[2], 'alice');
    assert.match(cells[4], /dangerous_writes/);
    assert.match(cells[5], /boss@example\.com/, 'the administrator sees the whole arguments');
    await screenshot(t, page, 'approval-held');
    await page.click(`#approvals tr[data-approval="${id}"] button.approve`);
    assert.deepEqual(await pending, { ok: 'sent to boss@example.com' });
    await page.waitForFunction((i) => !document.querySelector(`#approvals tr[data-approval="${i}"]`), {}, id);
    assert.match(await page.$eval('#notice', (e) => e.textContent), new RegExp(`Approved mail/send_email \\(${id}\\)`));
    assert.equal(JSON.parse((await call(c, 'mail__sent')).ok).length, sentBefore + 1);

    const denied = call(c, 'mail__send_email', { to: 'rival@example.com', subject: 's', body: 'b' });
    const [id2] = await waitFor(async () => Object.entries(await rows(page, 'approvals', 'data-approval'))
      .find(([, r]) => r[5].includes('rival@example.com')), { ms: 15000 * SLOW, label: 'the second held call' });
    await page.click(`#approvals tr[data-approval="${id2}"] button.deny`);
    assert.match((await denied).error, /denied by an administrator/);
    assert.equal(JSON.parse((await call(c, 'mail__sent')).ok).length, sentBefore + 1, 'the denied email was not sent');

    // Both decisions are in the audit trail, as the administrator's.
    const adminRows = await waitFor(async () => {
      const r = (await page.$$eval('#audit tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent))))
        .filter((x) => x[1] === 'admin' && x[4].includes('/admin/approvals/'));
      return r.length >= 2 ? r : false;
    }, { ms: 10000 * SLOW, label: 'the decisions in the audit tail' });
    assert.deepEqual(adminRows.map((r) => r[7]).sort(), ['approve', 'deny']);
    await screenshot(t, page, 'approval-decided');
  });

  test('a quarantined tool is approved by clicking, and is callable again', async (t) => {
    const c = await agent();
    assert.deepEqual(await call(c, 'rug__weather', { city: 'Oslo' }), { ok: 'sunny in Oslo' });
    await waitForRow(page, 'tools', 'data-tool', 'rug/weather', (r) => r[2] === 'pinned', 'rug/weather pinned');
    assert.deepEqual(await call(c, 'rug__flip'), { ok: 'flipped' });
    await c.listTools();  // as an agent does on tools/list_changed: the new definition is screened
    const row = await waitForRow(page, 'tools', 'data-tool', 'rug/weather', (r) => r[2] === 'quarantined', 'rug/weather quarantined');
    assert.match(row[3], /description changed since it was pinned/);
    assert.match((await call(c, 'rug__weather', { city: 'Oslo' })).error, /quarantined/);
    await screenshot(t, page, 'tool-quarantined');

    await page.click('#tools tr[data-tool="rug/weather"] button.approve-tool');
    await waitForRow(page, 'tools', 'data-tool', 'rug/weather', (r) => r[2] === 'pinned', 'rug/weather pinned again');
    assert.match(await page.$eval('#notice', (e) => e.textContent), /Approved rug\/weather: its new definition is pinned/);
    assert.deepEqual(await call(c, 'rug__weather', { city: 'Oslo' }), { ok: 'sunny in Oslo' });
    await screenshot(t, page, 'tool-approved');
  });

  test('what servers and clients name is shown as text, never run as markup', async () => {
    const hostile = '<img src=x onerror="window.pwned=1">';
    await agent(hostile);
    await waitFor(async () => Object.values(await rows(page, 'sessions', 'data-session'))
      .some((r) => r[4] === `${hostile} 1.0.0`), { ms: 10000 * SLOW, label: 'the hostile client name as text' });
    assert.equal(await page.$$eval('#sessions img', (imgs) => imgs.length), 0);
    assert.equal(await page.evaluate(() => window.pwned), undefined);
  });

  test('signing out forgets the token', async () => {
    await page.click('#signout');
    await page.waitForSelector('#signin:not([hidden])');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('mcpgw-admin-token')), null);
    await page.reload();
    await page.waitForSelector('#signin:not([hidden])');
    assert.equal(await page.$eval('#dashboard', (d) => d.hidden), true);
  });
});

describe('the admin API with the security gate off', () => {
  const keys = {};
  const config = () => ({
    mcpServers: { rug: gateServer('rug') },
    gateway: { auth: { mode: 'keys', store: STORE }, allowedOrigins: ['https://app.example.com'] },
  });
  before(async () => {
    keys.carol = createKey('carol');
    // An earlier run of the gateway on the same store: one call, in the trail on disk.
    const earlier = await startGateway(config());
    const c = (await connect(earlier, { headers: { Authorization: `Bearer ${keys.carol}` } })).client;
    assert.deepEqual(await call(c, 'rug__weather', { city: 'Paris' }), { ok: 'sunny in Paris' });
    await c.close();
    assert.equal((await earlier.stop()).code, 0);
  });
  const ctx = useGateway(config, { env: { MCPGW_ADMIN_TOKEN: ADMIN_TOKEN } });
  const admin = (p, init = {}) => fetch(`${ctx.gw.base}${p}`, { ...init, headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });

  test('servers, sessions, keys and audit answer; approvals and pins say the gate is off', async () => {
    const c = (await connect(ctx.gw, { ctx, headers: { Authorization: `Bearer ${keys.carol}` }, name: 'api-agent' })).client;
    assert.deepEqual(await call(c, 'rug__weather', { city: 'Rome' }), { ok: 'sunny in Rome' });

    const servers = await (await admin('/admin/servers')).json();
    assert.equal(servers.servers.rug.state, 'ready');
    assert.deepEqual(servers.servers.rug.toolNames.sort(), ['flip', 'grow', 'poisoned', 'relabel', 'weather']);
    const sessions = (await (await admin('/admin/sessions')).json()).sessions;
    const mine = sessions.find((s) => s.client === 'api-agent 1.0.0');
    assert.equal(mine.principal, 'carol');
    assert.equal(mine.taint, undefined, 'no gate, no taint');
    const keyList = (await (await admin('/admin/keys')).json()).keys;
    const carol = keyList.find((k) => k.name === 'carol');
    assert.equal(carol.status, 'live');
    assert.ok(!JSON.stringify(keyList).includes(keys.carol), 'no key is ever shown');
    // The tail starts with what the trail held when the gateway started (the earlier run's
    // call), then this run's call once it is written.
    const mineOnly = (rows) => rows.filter((r) => r.principal === 'carol' && r.target === 'rug__weather');
    const audit = await waitFor(async () => {
      const rows = (await (await admin('/admin/audit?limit=100')).json()).rows;
      return mineOnly(rows).length === 2 ? rows : false;
    }, { label: 'both runs\' calls in /admin/audit' });
    const [earlierRow, thisRow] = mineOnly(audit);
    assert.notEqual(earlierRow.session, thisRow.session);
    assert.equal(audit.at(-1), thisRow, 'newest last');
    assert.equal((await (await admin('/admin/audit?limit=1')).json()).rows.length, 1);

    const approvals = await admin('/admin/approvals');
    assert.equal(approvals.status, 404);
    assert.match((await approvals.json()).error, /security gate is off/);
    assert.equal((await admin('/admin/sessions', { method: 'POST' })).status, 405);
    assert.equal((await admin('/admin/nothing')).status, 404);
  });

  test('with allowedOrigins set, a page of the gateway itself may still call it; other pages may not', async () => {
    const own = `http://127.0.0.1:${ctx.gw.port}`;
    const withOrigin = (origin) => fetch(`${ctx.gw.base}/admin/servers`, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, Origin: origin } });
    assert.equal((await withOrigin(own)).status, 200, 'the dashboard\'s own origin');
    assert.equal((await withOrigin('https://app.example.com')).status, 200, 'a listed origin');
    assert.equal((await withOrigin('http://127.0.0.1:1')).status, 403, 'another local page');
    assert.equal((await withOrigin(`http://evil.example:${ctx.gw.port}`)).status, 403, 'another host');
  });
});

describe('dashboard without an admin token', () => {
  const ctx = useGateway(() => ({ mcpServers: { rug: gateServer('rug') } }), { env: { MCPGW_ADMIN_TOKEN: '' } });

  test('/ui and the admin API are off, and say how to turn them on', async () => {
    const ui = await fetch(`${ctx.gw.base}/ui`);
    assert.equal(ui.status, 403);
    assert.match(await ui.text(), /The dashboard is off: it needs the admin token\. Set the MCPGW_ADMIN_TOKEN environment variable/);
    const api = await fetch(`${ctx.gw.base}/admin/servers`, { headers: { Authorization: 'Bearer ' } });
    assert.equal(api.status, 403);
    assert.match((await api.json()).error, /admin API is off/);
  });
});
