// The gateway's per-user pages as a user sees them, in headless Chromium (Debian's, through
// puppeteer-core): the OAuth consent flow a caller who has not connected is sent through by the
// -32042 answer's link (the gateway's consent page, the server's login page, the gateway's
// callback saying connected), each user in their own browser, and a callback opened in a browser
// that did not start the flow refused; then the values page a ${user:NAME} stdio server links
// to, where a user types a value into a password field and the same agent session's next call
// runs with it. The pages must work with the gateway's own content policy: a blocked resource or
// a script error would show as a console error. Screenshots go to test-results/upstream-oauth/
// and are named in the test output. The fixture server's records prove what reached it.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import puppeteer from 'puppeteer-core';

import { NODE, ROOT, SLOW, connect, startGateway, textOf, waitFor, withTimeout } from './helpers.mjs';
import { createKey, needsConnect, oauthConfig, whoami } from './fixtures/oauth_flow.mjs';
import { startOAuthServer } from './fixtures/oauth_server.mjs';

const CHROMIUM = process.env.MCPGW_CHROMIUM || '/usr/bin/chromium';
const SHOTS = path.join(ROOT, 'test-results', 'upstream-oauth');
const ENV_JS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'env_server.mjs');
const STEP_MS = 30000 * SLOW;
const SKIP = !existsSync(CHROMIUM) && `no Chromium at ${CHROMIUM}`;
const SANITIZER_REPORT = /ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:/;

async function launch() {
  mkdirSync(SHOTS, { recursive: true });
  // Chromium's sandbox cannot start as root (CI containers): only then is it turned off.
  const args = ['--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'];
  if (process.getuid?.() === 0) args.push('--no-sandbox');
  return puppeteer.launch({ executablePath: CHROMIUM, headless: true, args, timeout: 60000 * SLOW });
}

/** Saves a full-page screenshot and names it in the test output. */
async function screenshot(t, page, name) {
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  t.diagnostic(`screenshot: ${path.relative(ROOT, file)}`);
}

/**
 * A new page in `context` whose script errors and console errors (a content-policy violation
 * is one) are pushed to `errors` as {url, text}: `url` is the page the message came from.
 */
async function newPage(context, errors) {
  const page = await context.newPage();
  await page.setViewport({ width: 1000, height: 800 });
  page.setDefaultTimeout(STEP_MS);
  page.on('pageerror', (e) => errors.push({ url: page.url(), text: e.message }));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push({ url: m.location()?.url || page.url(), text: m.text() });
  });
  return page;
}

/** The errors recorded on pages served from `base`. */
const errorsAt = (errors, base) => errors.filter((e) => e.url.startsWith(base)).map((e) => `${e.url}: ${e.text}`);

/** What the user reads on the page. */
const visibleText = (page) => page.$eval('body', (b) => b.innerText);

/** Clicks `selector` and resolves to the response of the navigation the click starts. */
async function clickAndWait(page, selector) {
  const [res] = await Promise.all([page.waitForNavigation({ timeout: STEP_MS }), page.click(selector)]);
  return res;
}

/** The mcpgw_oauth cookie the browser holds for the gateway's callback, or undefined. */
const flowCookie = async (page, base) => (await page.cookies(`${base}/oauth/callback`)).find((c) => c.name === 'mcpgw_oauth');

describe('the OAuth consent flow in Chromium', { skip: SKIP }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-oauth-browser-'));
  const file = path.join(dir, 'mcpgw.json');
  const UP = { alice: 'alice@slack', bob: 'bob@slack', carol: 'carol@slack' };
  const keys = {};
  const sessions = {};
  const st = { gw: null, as: null, browser: null, clients: [] };
  const errors = [];

  const session = async (user) => {
    const { client } = await connect(st.gw, {
      headers: { Authorization: `Bearer ${keys[user]}` }, name: user, capabilities: { elicitation: { url: {} } },
    });
    st.clients.push(client);
    return client;
  };

  /**
   * The consent page of `user`'s link, checked and screenshotted, then its Connect button:
   * resolves to the page, now on the server's login page.
   */
  async function consentPage(t, context, user, link) {
    const page = await newPage(context, errors);
    const res = await page.goto(link);
    assert.equal(res.status(), 200, `${user} opens the link from the agent's answer and sees the consent page`);
    assert.match(res.headers()['content-security-policy'] ?? '', /default-src 'none'/, 'the page loads nothing from elsewhere');
    const text = await visibleText(page);
    assert.match(text, /\bslack\b/, `the consent page names the server: ${text}`);
    assert.match(text, new RegExp(`\\b${user}\\b`), `the consent page names the gateway user ${user}: ${text}`);
    const button = await page.$eval('form button[type=submit]', (b) => b.innerText).catch(() => null);
    assert.match(button ?? '', /connect/i, `the page has a Connect button (found ${JSON.stringify(button)})`);
    await screenshot(t, page, `consent-${user}`);

    const login = await clickAndWait(page, 'form button[type=submit]');
    assert.equal(login?.status(), 200, `Connect leads to the server's login page, not to: ${await visibleText(page)}`);
    assert.equal(new URL(page.url()).origin, st.as.issuer, `the login page is the server's own: ${page.url()}`);
    const cookie = await flowCookie(page, st.gw.base);
    assert.ok(cookie, 'the browser holds the gateway\'s mcpgw_oauth cookie for the callback');
    assert.equal(cookie.httpOnly, true, 'the cookie is HttpOnly');
    return page;
  }

  /** Types `upstreamUser` on the server's login page and clicks Allow. */
  async function logIn(page, upstreamUser) {
    await page.type('input[name=user]', upstreamUser);
    return clickAndWait(page, 'form button[type=submit]');
  }

  /** The whole flow for `user` in `context`; the callback page says connected. */
  async function connectInBrowser(t, context, user) {
    const { elicitation } = await needsConnect(sessions[user], st.gw);
    const exchanges = st.as.stats.codeExchanges;
    const page = await consentPage(t, context, user, elicitation.url);
    const done = await logIn(page, UP[user]);
    const at = new URL(page.url());
    assert.equal(`${at.origin}${at.pathname}`, `${st.gw.base}/oauth/callback`, 'the server sends the browser back to the gateway');
    assert.equal(done?.status(), 200, 'the callback page is served with 200');
    const text = await visibleText(page);
    assert.match(text, /connected/i, `the callback page says connected: ${text}`);
    assert.match(text, /\bslack\b/, 'and names the server');
    assert.match(text, new RegExp(`\\b${user}\\b`), `and the gateway user ${user}`);
    assert.equal(await flowCookie(page, st.gw.base), undefined, 'the flow\'s cookie is gone once connected');
    assert.equal(st.as.stats.codeExchanges, exchanges + 1, 'the gateway redeemed one authorization code');
    await screenshot(t, page, `connected-${user}`);
    assert.deepEqual(errorsAt(errors, st.gw.base), [], 'no script error or blocked resource on the gateway\'s pages');
    await page.close();
  }

  before(async () => {
    st.as = await startOAuthServer();
    writeFileSync(path.join(dir, 'vault.key'), `${randomBytes(32).toString('hex')}\n`);
    writeFileSync(file, JSON.stringify(oauthConfig(st.as.url), null, 2));
    for (const user of Object.keys(UP)) keys[user] = createKey(dir, file, user);
    st.gw = await startGateway(undefined, { configFile: file, env: { MCPGW_VAULT_KEY: '' } });
    for (const user of Object.keys(UP)) sessions[user] = await session(user);
    st.browser = await launch();
  });
  after(async () => {
    await st.browser?.close();
    for (const c of st.clients.splice(0)) await withTimeout(c.close().catch(() => {}), 3000, 'close').catch(() => {});
    const exit = await st.gw?.stop();
    await st.as?.stop();
    rmSync(dir, { recursive: true, force: true });
    if (exit) {
      assert.deepEqual({ code: exit.code, forced: exit.forced }, { code: 0, forced: false }, st.gw.stderr.slice(-3000));
      assert.doesNotMatch(st.gw.stderr, SANITIZER_REPORT, 'a sanitizer report in the gateway log');
    }
  });

  test('alice clicks Connect, logs in at the server and lands on the gateway\'s page saying connected', { timeout: 120000 * SLOW }, async (t) => {
    const context = await st.browser.createBrowserContext();
    try {
      await connectInBrowser(t, context, 'alice');
    } finally {
      await context.close();
    }
  });

  test('alice\'s same agent session\'s next call reaches the server as alice@slack', { timeout: 60000 * SLOW }, async () => {
    assert.equal((await whoami(sessions.alice)).user, UP.alice, 'the call the agent retries now works, as alice@slack');
    assert.deepEqual(st.as.calls, [{ user: UP.alice, tool: 'whoami' }], 'one call reached the server');
  });

  test('bob connects in his own browser as bob@slack; each user\'s calls reach the server as their own', { timeout: 120000 * SLOW }, async (t) => {
    const context = await st.browser.createBrowserContext();
    try {
      await connectInBrowser(t, context, 'bob');
    } finally {
      await context.close();
    }
    assert.equal((await whoami(sessions.bob)).user, UP.bob, 'bob\'s call reaches the server as bob@slack');
    assert.equal((await whoami(sessions.alice)).user, UP.alice, 'alice\'s still as alice@slack');
  });

  test('the callback opened in a browser that did not start the flow is refused with 400, nothing stored', { timeout: 120000 * SLOW }, async (t) => {
    // Browser A goes through consent and login; the server's redirect back to the gateway is
    // stopped there, and its URL (code and state) opened in browser B, without A's cookie.
    const a = await st.browser.createBrowserContext();
    const b = await st.browser.createBrowserContext();
    try {
      const { elicitation } = await needsConnect(sessions.carol, st.gw);
      const page = await consentPage(t, a, 'carol', elicitation.url);
      let callback;
      await page.setRequestInterception(true);
      page.on('request', (r) => {
        if (r.isInterceptResolutionHandled()) return;
        if (!callback && r.url().startsWith(`${st.gw.base}/oauth/callback`)) {
          callback = r.url();
          r.abort();
        } else {
          r.continue();
        }
      });
      await page.type('input[name=user]', UP.carol);
      await page.click('form button[type=submit]');
      await waitFor(() => callback, { ms: STEP_MS, label: 'the server\'s redirect to the gateway\'s callback' });
      assert.match(new URL(callback).searchParams.get('code') ?? '', /./, 'the redirect carries a code');
      const exchanges = st.as.stats.codeExchanges;

      const other = await newPage(b, []);
      const res = await other.goto(callback);
      assert.equal(res.status(), 400, 'browser B, without the cookie, gets 400');
      const text = await visibleText(other);
      assert.match(text, /not valid/i, `the page says the answer is not valid: ${text}`);
      assert.doesNotMatch(text, /connected for/i, 'and does not say connected');
      await screenshot(t, other, 'callback-other-browser');
      assert.equal(st.as.stats.codeExchanges, exchanges, 'no authorization code was redeemed');
      await needsConnect(sessions.carol, st.gw);
      assert.ok(!st.as.calls.some((c) => c.user === UP.carol), 'nothing reached the server as carol');

      // The same URL in browser A, which holds the cookie, is the answer it was: carol connects.
      const back = await page.goto(callback);
      assert.equal(back.status(), 200, 'the browser that started the flow is let through');
      assert.match(await visibleText(page), /connected/i);
      assert.equal(st.as.stats.codeExchanges, exchanges + 1, 'its code is redeemed then');
      assert.equal((await whoami(sessions.carol)).user, UP.carol);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('the values page in Chromium', { skip: SKIP }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-values-browser-'));
  const file = path.join(dir, 'mcpgw.json');
  // What carol types: a space and a + are sent as a browser encodes them, and must arrive as typed.
  const value = `ghp carol+page_${randomBytes(12).toString('hex')}`;
  const st = { gw: null, browser: null, client: null };
  const errors = [];

  before(async () => {
    writeFileSync(path.join(dir, 'vault.key'), `${randomBytes(32).toString('hex')}\n`);
    writeFileSync(file, JSON.stringify({
      gateway: {
        auth: { mode: 'keys' },
        vault: { keyFile: 'vault.key' },
        servers: { gh: { isolation: 'session' } },
        timeouts: { drainMs: 2000 },
      },
      mcpServers: {
        gh: { command: NODE, args: [ENV_JS], env: { GITHUB_TOKEN: '${user:github_token}', PLAIN: 'x-${user:github_token}-y' } },
      },
    }, null, 2));
    const key = createKey(dir, file, 'carol');
    st.gw = await startGateway(undefined, { configFile: file, env: { MCPGW_VAULT_KEY: '' } });
    ({ client: st.client } = await connect(st.gw, {
      headers: { Authorization: `Bearer ${key}` }, name: 'carol', capabilities: { elicitation: { url: {} } },
    }));
    st.browser = await launch();
  });
  after(async () => {
    await st.browser?.close();
    await withTimeout(st.client?.close().catch(() => {}) ?? Promise.resolve(), 3000, 'close').catch(() => {});
    const exit = await st.gw?.stop();
    rmSync(dir, { recursive: true, force: true });
    if (exit) {
      assert.deepEqual({ code: exit.code, forced: exit.forced }, { code: 0, forced: false }, st.gw.stderr.slice(-3000));
      assert.doesNotMatch(st.gw.stderr, SANITIZER_REPORT, 'a sanitizer report in the gateway log');
    }
  });

  const ghWhoami = async () => {
    const r = await withTimeout(st.client.callTool({ name: 'gh__whoami', arguments: {} }), STEP_MS, 'gh__whoami');
    assert.ok(!r.isError, `gh__whoami failed: ${textOf(r)}`);
    return JSON.parse(textOf(r));
  };

  test('carol types her value into the password field her link opens; her same session then runs with it', { timeout: 120000 * SLOW }, async (t) => {
    const e = await withTimeout(st.client.callTool({ name: 'gh__whoami', arguments: {} }), STEP_MS, 'gh__whoami').then(
      (r) => assert.fail(`expected an error, got ${JSON.stringify(r).slice(0, 200)}`), (x) => x);
    assert.equal(e.code, -32042, `a URL elicitation (${e.message})`);
    const link = e.data?.elicitations?.[0]?.url ?? '';
    assert.ok(link.startsWith(`${st.gw.base}/oauth/start?server=gh&ticket=`), `the link opens the values page: ${link}`);

    const context = await st.browser.createBrowserContext();
    try {
      const page = await newPage(context, errors);
      const res = await page.goto(link);
      assert.equal(res.status(), 200, 'the values page opens');
      const text = await visibleText(page);
      assert.match(text, /\bgh\b/, `the page names the server: ${text}`);
      assert.match(text, /\bcarol\b/, `the page names the gateway user: ${text}`);
      const fields = await page.$$eval('form input:not([type=hidden])', (xs) => xs.map((x) => ({ type: x.type, name: x.name })));
      assert.deepEqual(fields, [{ type: 'password', name: 'v.github_token' }], 'one password field, for github_token');
      assert.match(text, /github_token/, 'the field is labelled with the name of the value');
      await page.type('input[name="v.github_token"]', value);
      assert.equal(await page.$eval('input[name="v.github_token"]', (x) => x.value), value, 'the field holds what was typed');
      await screenshot(t, page, 'values-carol');

      const saved = await clickAndWait(page, 'form button[type=submit]');
      const savedText = await visibleText(page);
      assert.equal(saved?.status(), 200, `Save answers 200: ${savedText}`);
      assert.match(savedText, /Saved 1 value/, `the page says the value was saved: ${savedText}`);
      assert.match(savedText, /\bcarol\b/, 'for carol');
      assert.ok(!savedText.includes(value) && !(await page.content()).includes(value), 'the page does not show the value back');
      await screenshot(t, page, 'values-saved');
      assert.deepEqual(errorsAt(errors, st.gw.base), [], 'no script error or blocked resource on the gateway\'s pages');
    } finally {
      await context.close();
    }

    const got = await waitFor(() => ghWhoami(), { ms: 10000 * SLOW, interval: 250, label: 'carol\'s call works after the page' });
    assert.deepEqual({ token: got.token, plain: got.plain }, { token: value, plain: `x-${value}-y` },
      'the server runs with the value exactly as typed, space and + included');
  });
});
