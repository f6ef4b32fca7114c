// `mcpgw probe URL`: against mcpgw itself (Streamable HTTP and legacy SSE on one URL), a
// legacy-only server (supergateway), a stateless JSON-only server, a gateway that wants a key,
// a dead port and a server that never answers. Each case checks the words a user reads, the
// exit code and the --json fields.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { MCPGW_BIN, NODE, SANITIZED, servers, useGateway } from './helpers.mjs';
import { REMOTE_SERVER_JS, startRemote } from './fixtures/remote.mjs';
import { fileURLToPath } from 'node:url';
import { startSupergateway } from './fixtures/postgres.mjs';
import { makeTestCA } from './fixtures/tls.mjs';

const SLOW = SANITIZED ? 3 : 1;

/** Runs `mcpgw probe …args`; resolves to {code, out, err, ms, json (with --json)}. */
function probe(...args) {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(MCPGW_BIN, ['probe', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d) => { err += d; });
    const killer = setTimeout(() => child.kill('SIGKILL'), 60000 * SLOW);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      const r = { code, out, err, ms: Date.now() - started };
      if (args.includes('--json')) {
        try { r.json = JSON.parse(out); } catch (e) { return reject(new Error(`--json output is not JSON: ${e.message}\n${out}\n${err}`)); }
      }
      resolve(r);
    });
  });
}

/** The check with `id` (on `url` when given) of a --json report. */
function check(json, id, url) {
  const c = json.checks.find((x) => x.id === id && (url === undefined || x.url === url));
  assert.ok(c, `check ${id}${url ? ` at ${url}` : ''} in ${JSON.stringify(json.checks, null, 1)}`);
  return c;
}

const gatewayConfig = (extra = {}) => ({
  mcpServers: { demo: servers.demo() },
  gateway: { timeouts: { drainMs: 2000 }, ...extra },
});

describe('probe: a server of the 2026-07-28 revision only', () => {
  const V2_SERVER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'v2_server.mjs');
  const ctx = {};
  before(async () => {
    ctx.child = spawn(NODE, [V2_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
    ctx.port = await new Promise((resolve, reject) => {
      let out = '';
      ctx.child.stdout.setEncoding('utf8').on('data', (d) => {
        out += d;
        const m = /LISTENING (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      ctx.child.on('exit', (code) => reject(new Error(`v2 server exited (${code})`)));
    });
  });
  after(() => { try { process.kill(ctx.child.pid); } catch { /* gone */ } });

  test('works for 2026-07-28 clients only, said in words; its tools are listed', async () => {
    const url = `http://127.0.0.1:${ctx.port}/mcp`;
    const r = await probe(url);
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /✓  2026-07-28 \(server\/discover\) +speaks 2026-07-28: supportedVersions 2026-07-28\n/);
    assert.match(r.out, /✓  2026-07-28: tools\/list, no session +11 tools/);
    assert.match(r.out, /✗  Streamable HTTP: POST initialize +HTTP 400, but initialize failed: -32022/);
    assert.match(r.out, /Verdict: works for clients of the 2026-07-28 revision only .*Clients that initialize \(older revisions, legacy SSE\) fail here\./);
    assert.match(r.out, /\n {2}echo +Echo the message back/);
    const j = (await probe(url, '--json')).json;
    assert.deepEqual([j.ok, j.modern, j.modernOnly, j.transport, j.protocolVersion], [true, true, true, 'http', '2026-07-28']);
  });
});

describe('probe: mcpgw itself', () => {
  const ctx = useGateway(gatewayConfig());

  test('Streamable HTTP and legacy SSE on /mcp: verdict http, tools listed, configs', async () => {
    const r = await probe(ctx.gw.url);
    assert.equal(r.code, 0, r.out + r.err);
    const port = ctx.gw.port;
    assert.match(r.out, new RegExp(`✓  reachable +connected to 127\\.0\\.0\\.1:${port}\\n`));
    assert.match(r.out, /✓  2026-07-28 \(server\/discover\) +speaks 2026-07-28: supportedVersions 2026-07-28, 2025-11-25, 2025-06-18, 2025-03-26, 2024-11-05/);
    assert.match(r.out, /✓  2026-07-28: tools\/list, no session +\d+ tools, with resultType, ttlMs 0 and cacheScope "private"/);
    assert.match(r.out, /✓  Streamable HTTP: POST initialize +HTTP 200, reply as (JSON \(application\/json\)|SSE \(text\/event-stream\)); protocol 2025-11-25; server mcpgw /);
    assert.match(r.out, /✓  Streamable HTTP: session +Mcp-Session-Id given/);
    assert.match(r.out, /✓  Streamable HTTP: tools\/list +\d+ tools/);
    assert.match(r.out, /✓  legacy SSE: GET \(no session\) → endpoint event +endpoint \/message\?sessionId=\w+; it also speaks legacy SSE at the same URL/);
    assert.match(r.out, /✓  legacy SSE: POST initialize, reply on the stream +POST → HTTP 202; protocol 2024-11-05/);
    assert.match(r.out, /\n {2}demo__echo +\S/, 'the tools are listed by name with their description');
    assert.match(r.out, new RegExp(`Verdict: works over Streamable HTTP at ${ctx.gw.url}\\. Legacy SSE clients work at the same URL too\\.`));
    assert.ok(r.out.includes(`claude mcp add --transport http local_${port} ${ctx.gw.url}\n`), r.out);
    assert.ok(r.out.includes(`"command": "mcpgw",\n        "args": ["stdio", "--url", "${ctx.gw.url}"]`), r.out);
    assert.doesNotMatch(r.out, /✗/, 'nothing fails against mcpgw');
  });

  test('--json: the same for scripts; --name names the server in the configs', async () => {
    const r = await probe(ctx.gw.url, '--json', '--name', 'gw');
    assert.equal(r.code, 0, r.out + r.err);
    const j = r.json;
    assert.equal(j.ok, true);
    assert.equal(j.transport, 'http');
    assert.equal(j.workingUrl, ctx.gw.url);
    assert.equal(j.server.name, 'mcpgw');
    assert.equal(j.protocolVersion, '2025-11-25');
    assert.equal(check(j, 'reach').ok, true);
    assert.equal(check(j, 'discover').ok, true);
    assert.equal(check(j, 'modern.tools').ok, true);
    assert.deepEqual([j.modern, j.modernOnly], [true, false]);
    assert.equal(check(j, 'http.initialize').ok, true);
    assert.equal(check(j, 'http.accept_json').ok, true);
    assert.equal(check(j, 'http.get_stream').ok, true);
    assert.equal(check(j, 'sse.get').ok, true);
    assert.equal(check(j, 'sse.tools').ok, true);
    assert.ok(j.tools.some((t) => t.name === 'demo__echo' && t.description), JSON.stringify(j.tools));
    assert.equal(j.toolCount, j.tools.length);
    assert.equal(j.auth, null);
    assert.deepEqual(j.configs.mcpJson, { mcpServers: { gw: { type: 'http', url: ctx.gw.url } } });
    assert.deepEqual(j.configs.mcpgw, j.configs.mcpJson);
    assert.deepEqual(j.configs.claudeDesktop, { mcpServers: { gw: { command: 'mcpgw', args: ['stdio', '--url', ctx.gw.url] } } });
    assert.equal(j.configs.claudeCode, `claude mcp add --transport http gw ${ctx.gw.url}`);
  });
});

describe('probe: a legacy-only server (supergateway)', () => {
  let sg;
  before(async () => {
    sg = await startSupergateway([NODE, REMOTE_SERVER_JS, '--transport', 'stdio', '--name', 'legacy'], { logLevel: 'none' });
  });
  after(async () => { await sg?.stop(); });

  test('at /sse: verdict sse, the /mcp sibling tried for Streamable HTTP', async () => {
    const r = await probe(sg.sseUrl);
    assert.equal(r.code, 0, r.out + r.err);
    const mcp = sg.sseUrl.replace(/\/sse$/, '/mcp');
    assert.match(r.out, /✗  Streamable HTTP: POST initialize +HTTP 404/);
    assert.ok(r.out.includes(`at ${mcp}: HTTP 404`), `the sibling ${mcp} was tried:\n${r.out}`);
    assert.match(r.out, /✓  legacy SSE: GET \(no session\) → endpoint event +endpoint \/message\?sessionId=/);
    assert.match(r.out, /✓  legacy SSE: tools\/list +\d+ tools/);
    assert.match(r.out, /\n {2}echo +Echoes the message back\n/);
    assert.ok(r.out.includes(`Verdict: works over legacy HTTP+SSE only, at ${sg.sseUrl}: clients must use their SSE transport.`), r.out);
    assert.ok(r.out.includes(`claude mcp add --transport sse local_${sg.port} ${sg.sseUrl}\n`), r.out);
  });

  test('at /mcp: the /sse sibling works and is the URL to use', async () => {
    const mcp = sg.sseUrl.replace(/\/sse$/, '/mcp');
    const r = await probe(mcp, '--json');
    assert.equal(r.code, 0, r.out + r.err);
    assert.equal(r.json.transport, 'sse');
    assert.equal(r.json.workingUrl, sg.sseUrl);
    assert.equal(check(r.json, 'sse.get', mcp).ok, false);
    assert.equal(check(r.json, 'sse.get', sg.sseUrl).ok, true);
    assert.equal(r.json.configs.mcpJson.mcpServers[r.json.name].type, 'sse');
    assert.equal(r.json.configs.mcpJson.mcpServers[r.json.name].url, sg.sseUrl);
    assert.ok(r.json.tools.some((t) => t.name === 'echo'));
  });
});

describe('probe: a stateless server that answers in JSON', () => {
  let remote;
  before(async () => { remote = await startRemote({ transport: 'stateless', jsonResponse: true, name: 'jsononly' }); });
  after(async () => { await remote?.stop(); });

  test('JSON replies, no session id, 406 for a JSON-only Accept, no legacy SSE', async () => {
    const r = await probe(remote.url);
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /✓  Streamable HTTP: POST initialize +HTTP 200, reply as JSON \(application\/json\); protocol 2025-11-25; server jsononly 1\.0\.0/);
    assert.match(r.out, /–  Streamable HTTP: session +no Mcp-Session-Id: stateless, every request stands alone/);
    assert.match(r.out, /✗  POST with Accept: application\/json only +answers 406 unless Accept has text\/event-stream: clients that only accept JSON fail/);
    assert.match(r.out, /✗  legacy SSE: GET \(no session\) → endpoint event +HTTP 405/);
    assert.match(r.out, /Verdict: works over Streamable HTTP at .*\/mcp\. Legacy SSE clients \(--transport sse\) will not work\./);
    const j = (await probe(remote.url, '--json')).json;
    assert.equal(j.transport, 'http');
    assert.match(check(j, 'http.initialize').detail, /reply as JSON/);
    assert.equal(check(j, 'http.session').ok, null);
    assert.equal(check(j, 'http.accept_json').ok, false);
    assert.equal(j.checks.some((c) => c.id === 'http.get_stream'), false, 'no session, no session stream');
  });
});

describe('probe: TLS with a private CA', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-probe-tls-'));
  let remote;
  let ca;
  before(async () => {
    ca = makeTestCA(dir);
    remote = await startRemote({ transport: 'streamable', tls: ca, name: 'secure' });
  });
  after(async () => {
    await remote?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('an untrusted certificate is said so, with the way out; --ca-file makes it work', async () => {
    const bad = await probe(remote.url);
    assert.equal(bad.code, 1, bad.out + bad.err);
    assert.match(bad.out, /✗  reachable +TLS certificate of https:\/\/localhost:\d+ not trusted: .*\(--ca-file trusts a private CA; --insecure skips the check\)/);
    const good = await probe(remote.url, '--ca-file', ca.ca);
    assert.equal(good.code, 0, good.out + good.err);
    assert.match(good.out, /✓  reachable +connected to localhost:\d+ over TLS \(certificate verified\)/);
    assert.match(good.out, /Verdict: works over Streamable HTTP at https:\/\/localhost:\d+\/mcp\./);
  });
});

describe('probe: a gateway that wants a key', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-probe-'));
  const store = path.join(dir, 'keys.db');
  let key;
  before(() => {
    key = execFileSync(MCPGW_BIN, ['keys', 'create', '--name', 'prober', '--store', store], { encoding: 'utf8' })
      .trim().split('\n').at(-1);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const ctx = useGateway(() => gatewayConfig({ auth: { mode: 'keys', store } }));

  test('without --header: "needs a key", exit 1', async () => {
    const r = await probe(ctx.gw.url);
    assert.equal(r.code, 1, r.out + r.err);
    assert.match(r.out, /✗  Streamable HTTP: POST initialize +HTTP 401: .*the server wants credentials/);
    assert.match(r.out, /✗  credentials +needs a key: send it with --header 'Authorization: Bearer …'; the server said: ".*Unauthorized/);
    assert.match(r.out, /Verdict: does not work: the server refuses the probe \(HTTP 401\) for want of credentials\./);
    assert.doesNotMatch(r.out, /claude mcp add/);
    const j = (await probe(ctx.gw.url, '--json')).json;
    assert.equal(j.ok, false);
    assert.equal(j.auth.status, 401);
    assert.match(j.auth.challenge, /^Bearer realm="mcpgw"/);
    assert.equal(j.auth.oauth, false);
    assert.equal(check(j, 'auth').ok, false);
    assert.equal(j.configs, null);
  });

  test('a wrong key: refused, in words', async () => {
    const r = await probe(ctx.gw.url, '--header', 'Authorization: Bearer mcpgw-not-a-key');
    assert.equal(r.code, 1, r.out + r.err);
    assert.match(r.out, /✗  credentials +the credentials you passed with --header were refused \(invalid_token/);
  });

  test('with --header "Authorization: Bearer KEY": works; the key is shown only with --show-secrets', async () => {
    const r = await probe(ctx.gw.url, '--header', `Authorization: Bearer ${key}`);
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /Verdict: works over Streamable HTTP/);
    assert.ok(r.out.includes(`--header "Authorization: Bearer <value you passed>"`), r.out);
    assert.ok(r.out.includes('"Authorization": "Bearer <value you passed>"'), r.out);
    assert.ok(!r.out.includes(key), 'the key is not printed');
    const shown = await probe(ctx.gw.url, '--header', `Authorization: Bearer ${key}`, '--show-secrets', '--json');
    assert.equal(shown.code, 0);
    assert.deepEqual(shown.json.configs.mcpJson.mcpServers[shown.json.name].headers, { Authorization: `Bearer ${key}` });
  });
});

describe('probe: a gateway that takes OAuth tokens', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-probe-oauth-'));
  const jwks = path.join(dir, 'jwks.json');
  const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
  writeFileSync(jwks, JSON.stringify({ keys: [{ ...jwk, kid: 'k1', alg: 'ES256', use: 'sig' }] }));
  // The authorization server: only its RFC 8414 metadata, with a registration endpoint (DCR).
  const as = http.createServer((req, res) => {
    const base = `http://127.0.0.1:${as.address().port}`;
    if (req.url !== '/.well-known/oauth-authorization-server') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ issuer: base, authorization_endpoint: `${base}/authorize`, token_endpoint: `${base}/token`, registration_endpoint: `${base}/register` }));
  });
  let issuer;
  before(async () => {
    await new Promise((resolve) => as.listen(0, '127.0.0.1', resolve));
    issuer = `http://127.0.0.1:${as.address().port}`;
  });
  after(() => {
    as.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const ctx = useGateway(() => gatewayConfig({ auth: { mode: 'jwt', jwt: { issuer, audience: 'mcpgw-probe-test', jwks } } }));

  test('"needs OAuth", the authorization server from the metadata, DCR yes', async () => {
    const r = await probe(ctx.gw.url, '--json');
    assert.equal(r.code, 1, r.out + r.err);
    const a = r.json.auth;
    assert.equal(a.status, 401);
    assert.match(a.challenge, /resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp"/);
    assert.equal(a.resourceMetadata, `${ctx.gw.base}/.well-known/oauth-protected-resource/mcp`);
    assert.equal(a.authorizationServer, issuer);
    assert.equal(a.dcr, true);
    assert.equal(a.oauth, true);
    assert.equal(check(r.json, 'auth').detail.startsWith(`needs OAuth: authorization server ${issuer} (DCR: yes)`), true, check(r.json, 'auth').detail);
  });
});

describe('probe: nothing there', () => {
  test('a dead port: "connection refused" in words, exit 1, quickly', async () => {
    const port = await new Promise((resolve) => {
      const srv = createServer();
      srv.listen(0, '127.0.0.1', () => { const p = srv.address().port; srv.close(() => resolve(p)); });
    });
    const r = await probe(`http://127.0.0.1:${port}/mcp`);
    assert.equal(r.code, 1, r.out + r.err);
    assert.ok(r.ms < 5000 * SLOW, `took ${r.ms} ms`);
    assert.match(r.out, new RegExp(`✗  reachable +nothing listens on 127\\.0\\.0\\.1:${port} \\(connection refused\\)`));
    assert.match(r.out, /Verdict: does not work: nothing listens/);
    const j = (await probe(`http://127.0.0.1:${port}/mcp`, '--json')).json;
    assert.equal(j.ok, false);
    assert.deepEqual(j.checks.map((c) => [c.id, c.ok]), [['reach', false]]);
  });

  test('a server that never answers: every step ends at its deadline, exit 1', async () => {
    const held = new Set();
    const srv = createServer((sock) => { held.add(sock); sock.on('close', () => held.delete(sock)); });
    await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
    try {
      const r = await probe(`http://127.0.0.1:${srv.address().port}/mcp`, '--timeout', '0.5');
      assert.equal(r.code, 1, r.out + r.err);
      assert.ok(r.ms < 4000 * SLOW, `took ${r.ms} ms: the whole probe is bounded by 6 steps`);
      assert.match(r.out, /✓  reachable/);
      assert.match(r.out, /✗  2026-07-28 \(server\/discover\) +no answer within 0\.5 s: clients that try 2026-07-28 first \(Claude Code\) wait/);
      assert.match(r.out, /✗  Streamable HTTP: POST initialize +no answer within 0\.5 s/);
    } finally {
      for (const s of held) s.destroy();
      srv.close();
    }
  });

  test('bad arguments exit 2 with the reason', async () => {
    for (const [args, why] of [[[], /a URL is needed/], [['not a url'], /not a valid URL/],
      [['ftp://x/'], /expected an http:\/\/ or https:\/\/ URL/],
      [['http://127.0.0.1:1/mcp', '--header', 'NoColon'], /expected "Name: value"/],
      [['http://127.0.0.1:1/mcp', '--bogus'], /bogus/]]) {
      const r = await probe(...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.out}${r.err}`);
      assert.match(r.err + r.out, why);
    }
  });
});
