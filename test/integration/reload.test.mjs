// Hot reload as an operator uses it: the config file is edited and the gateway told (SIGHUP,
// `mcpgw reload` / POST /admin/reload, or gateway.watch). Open SDK sessions (Streamable HTTP
// with its GET stream, as Claude Code holds one, and legacy SSE) keep going: they hear
// list_changed and see added servers' tools; a removed server finishes the call it is
// running before it stops; a broken file is refused and the gateway serves what it had;
// limits and security filters apply to the next request.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ResourceUpdatedNotificationSchema, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

import {
  MCPGW_BIN, NODE, ROOT, SLOW, connect, initializeBody, servers, sleep, startGateway, waitFor,
} from './helpers.mjs';
import { startFakeAnthropic } from './fixtures/fake_anthropic.mjs';
import { REMOTE_JS } from './fixtures/remote.mjs';
import { claudeEnv, useTempDirs } from './fixtures/claude_env.mjs';

const ADMIN_TOKEN = 'reload-admin-token-0123456789';

function config(mcpServers, gateway = {}) {
  return { mcpServers, gateway: { timeouts: { drainMs: 5000, ...(gateway.timeouts ?? {}) }, ...gateway } };
}

/** Writes the gateway's config file as an editor would: a new file renamed over the old. */
function rewrite(gw, cfg) {
  const file = path.join(gw.dir, 'mcpgw.json');
  writeFileSync(`${file}.tmp`, JSON.stringify(cfg, null, 2));
  renameSync(`${file}.tmp`, file);
}

async function hangup(gw, mark) {
  process.kill(gw.pid, 'SIGHUP');
  await waitFor(() => /reload \(SIGHUP\)/.test(gw.logSince(mark)), { ms: 5000 * SLOW, label: 'the reload log line' });
  return gw.logSince(mark);
}

const toolNames = async (client) => (await client.listTools()).tools.map((t) => t.name).sort();
const echo = async (client, name, message = 'hi') => {
  const r = await client.callTool({ name, arguments: { message } });
  const text = r.content?.[0]?.text ?? '';
  return r.isError ? `error: ${text}` : text.replace(/^Echo: /, '');
};

/** Stops `gw` and asserts a clean exit (no crash, no sanitizer report). */
async function stopClean(gw) {
  const exit = await gw.stop();
  assert.deepEqual({ code: exit.code, signal: exit.signal }, { code: 0, signal: null }, gw.stderr.slice(-3000));
  assert.doesNotMatch(gw.stderr, /ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:/);
}

describe('hot reload', () => {
  test('SIGHUP adds a server: open sessions hear list_changed and use its tools, without re-initializing', async () => {
    const gw = await startGateway(config({ demo: servers.demo() }));
    try {
      const modern = await connect(gw);
      const legacy = await connect(gw, { mode: 'legacy' });
      const heard = { modern: 0, legacy: 0 };
      modern.client.setNotificationHandler(ToolListChangedNotificationSchema, () => { heard.modern += 1; });
      legacy.client.setNotificationHandler(ToolListChangedNotificationSchema, () => { heard.legacy += 1; });
      const sessionId = modern.transport.sessionId;
      assert.ok((await toolNames(modern.client)).every((n) => n.startsWith('demo__')));
      // Claude Code's way: the GET stream is open before anything changes.
      await waitFor(() => modern.log.some((r) => r.method === 'GET' && r.status === 200), { label: 'GET stream open' });

      rewrite(gw, config({ demo: servers.demo(), second: servers.demo() }));
      const log = await hangup(gw, gw.stderr.length);
      assert.match(log, /reload \(SIGHUP\): 2 server\(s\); added \[second\], removed \[\], restarted \[\]/);
      await waitFor(() => heard.modern > 0 && heard.legacy > 0, { ms: 5000 * SLOW, label: 'tools/list_changed on both sessions' });

      for (const { client } of [modern, legacy]) {
        const names = await toolNames(client);
        assert.ok(names.includes('second__echo') && names.includes('demo__echo'), names.join(' '));
        assert.equal(await echo(client, 'second__echo', 'from the new server'), 'from the new server');
        assert.equal(await echo(client, 'demo__echo'), 'hi', 'the old server serves on');
      }
      assert.equal(modern.transport.sessionId, sessionId, 'the same session, never re-initialized');
      assert.equal(modern.log.filter((r) => /"initialize"/.test(r.body ?? '')).length, 1);
      const health = await gw.waitReady(['demo', 'second']);
      assert.deepEqual(Object.keys(health.servers).sort(), ['demo', 'second']);
      await modern.client.close();
      await legacy.client.close();
    } finally {
      await stopClean(gw);
    }
  });

  test('a broken file is refused: the old configuration keeps serving, and a later good one applies', async () => {
    const gw = await startGateway(config({ demo: servers.demo() }));
    try {
      const { client } = await connect(gw);
      const file = path.join(gw.dir, 'mcpgw.json');
      writeFileSync(file, '{"mcpServers": {"demo": ');
      let log = await hangup(gw, gw.stderr.length);
      assert.match(log, /reload \(SIGHUP\) refused, still serving the configuration it had: .*error/);
      rewrite(gw, config({ demo: servers.demo(), bad: { command: '' } }));
      log = await hangup(gw, gw.stderr.length);
      assert.match(log, /refused.*mcpServers\.bad/s, 'a config with an invalid server is refused whole');
      rewrite(gw, config({ demo: servers.demo() }, {
        security: { filters: [{ type: 'inspect', rules: [{ name: 'x', pattern: '(', on: 'arguments', action: 'block' }] }] },
      }));
      log = await hangup(gw, gw.stderr.length);
      assert.match(log, /refused.*gateway\.security\.filters\[0\]/s, 'a config with a broken filter is refused whole');
      assert.equal(await echo(client, 'demo__echo'), 'hi', 'the session still works');
      assert.deepEqual(Object.keys((await gw.health()).servers), ['demo']);

      rewrite(gw, config({ demo: servers.demo(), second: servers.demo() }));
      log = await hangup(gw, gw.stderr.length);
      assert.match(log, /added \[second\]/);
      await client.close();
    } finally {
      await stopClean(gw);
    }
  });

  test('a removed server finishes its call in flight, then stops; a changed one restarts; a relabelled one keeps its process', async () => {
    const start = config({ demo: servers.demo(), slow: servers.demo(), other: servers.demo() });
    const gw = await startGateway(start);
    try {
      const { client } = await connect(gw);
      const before = await gw.health();
      const running = client.callTool({ name: 'slow__sleep', arguments: { ms: 1500 } });
      await waitFor(async () => (await gw.health()).servers.slow.inFlight > 0, { label: 'the sleep is in flight' });

      const next = config({
        demo: servers.demo(),
        other: { ...servers.demo(), env: { CHANGED: '1' } },
      }, { servers: { demo: { trust: { public_sink: false } } } });
      rewrite(gw, next);
      const log = await hangup(gw, gw.stderr.length);
      assert.match(log, /added \[\], removed \[slow\], restarted \[other\], relabelled \[demo\]/);
      const r = await running;
      assert.ok(!r.isError, `the call in flight completes: ${JSON.stringify(r)}`);
      assert.match(r.content[0].text, /slept|1500/);

      const names = await toolNames(client);
      assert.ok(!names.some((n) => n.startsWith('slow__')), names.join(' '));
      const gone = await client.callTool({ name: 'slow__echo', arguments: { message: 'x' } }).catch((e) => e);
      assert.match(String(gone.message ?? JSON.stringify(gone)), /slow__echo|not found|Unknown tool/i);

      const after = await gw.waitReady(['demo', 'other']);
      assert.equal(after.servers.demo.pid, before.servers.demo.pid, 'relabelled: the same process');
      assert.notEqual(after.servers.other.pid, before.servers.other.pid, 'changed: a new process');
      assert.equal(after.servers.slow, undefined);
      await waitFor(() => {
        try { process.kill(before.servers.slow.pid, 0); return false; } catch { return true; }
      }, { ms: 10000 * SLOW, label: 'the removed server\'s process exits' });
      assert.equal(await echo(client, 'other__echo'), 'hi');
      await client.close();
    } finally {
      await stopClean(gw);
    }
  });

  test('limits and security filters apply to the next request of an open session', async () => {
    const gw = await startGateway(config({ demo: servers.demo() }));
    try {
      const { client } = await connect(gw);
      assert.equal(await echo(client, 'demo__echo', 'bluebird'), 'bluebird');
      const rule = (word) => ({
        security: { filters: [{ type: 'inspect', rules: [{ name: 'codename', pattern: `(?i)\\b${word}\\b`, on: 'arguments', action: 'block' }] }] },
      });
      rewrite(gw, config({ demo: servers.demo() }, rule('bluebird')));
      await hangup(gw, gw.stderr.length);
      const blocked = await client.callTool({ name: 'demo__echo', arguments: { message: 'bluebird' } }).catch((e) => e);
      assert.match(String(blocked.message), /-32003: mcpgw security: .*codename/);

      rewrite(gw, config({ demo: servers.demo() }, rule('redwing')));
      await hangup(gw, gw.stderr.length);
      assert.equal(await echo(client, 'demo__echo', 'bluebird'), 'bluebird', 'the old rule is gone');
      const now = await client.callTool({ name: 'demo__echo', arguments: { message: 'redwing' } }).catch((e) => e);
      assert.match(String(now.message), /-32003: .*codename/, 'the new rule holds');

      rewrite(gw, config({ demo: servers.demo() }, { limits: { maxBodyBytes: 2048 } }));
      const log = await hangup(gw, gw.stderr.length);
      assert.match(log, /security gate is off/, 'dropping gateway.security is said out loud');
      const big = await client.callTool({ name: 'demo__echo', arguments: { message: 'x'.repeat(4096) } }).catch((e) => e);
      assert.match(String(big.message), /413|too large|maxBodyBytes/i);
      assert.equal(await echo(client, 'demo__echo', 'redwing'), 'redwing');
      await client.close();
    } finally {
      await stopClean(gw);
    }
  });

  test('mcpgw reload over the admin API: the token is required, changes and restart-only settings are reported', async () => {
    const gw = await startGateway(config({ demo: servers.demo() }), { env: { MCPGW_ADMIN_TOKEN: ADMIN_TOKEN } });
    try {
      const url = `${gw.base}/admin/reload`;
      assert.equal((await fetch(url, { method: 'POST' })).status, 401);
      assert.equal((await fetch(url, { method: 'POST', headers: { Authorization: 'Bearer wrong' } })).status, 401);
      assert.equal((await fetch(url, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } })).status, 405);

      rewrite(gw, config({ demo: servers.demo(), second: servers.demo() }, { separator: '--' }));
      const run = promisify(execFile);
      const env = { ...process.env, MCPGW_ADMIN_TOKEN: ADMIN_TOKEN };
      const { stdout } = await run(MCPGW_BIN, ['reload', '--url', gw.base], { env });
      assert.match(stdout, /^reloaded$/m);
      assert.match(stdout, /added: \["second"\]/);
      assert.match(stdout, /needs a restart \(still the running value\): \["separator"\]/);
      assert.match(gw.stderr, /separator changed but need\(s\) a restart/);
      await gw.waitReady(['demo', 'second']);
      const { client } = await connect(gw);
      assert.ok((await toolNames(client)).includes('second__echo'), 'the running separator is kept');
      await client.close();

      writeFileSync(path.join(gw.dir, 'mcpgw.json'), 'not json');
      const bad = await fetch(url, { method: 'POST', headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
      assert.equal(bad.status, 422);
      const body = await bad.json();
      assert.equal(body.ok, false);
      assert.match(body.error, /error/);
      const refused = await run(MCPGW_BIN, ['reload', '--url', gw.base], { env }).catch((e) => e);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /reload refused, the gateway keeps its configuration/);
    } finally {
      await stopClean(gw);
    }
  });

  test('authentication reloads: API keys turned on refuse the next keyless request; a store that cannot be opened is refused whole', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-reload-auth-'));
    const store = path.join(dir, 'keys.db');
    const key = execFileSync(MCPGW_BIN, ['keys', 'create', '--name', 'ops', '--store', store], { encoding: 'utf8' })
      .trim().split('\n').at(-1);
    const initialize = (headers = {}) => fetch(`${gw.base}/mcp`, {
      method: 'POST', body: JSON.stringify(initializeBody()),
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    });
    const gw = await startGateway(config({ demo: servers.demo() }));
    try {
      assert.equal((await initialize()).status, 200, 'no auth at first');
      rewrite(gw, config({ demo: servers.demo() }, { auth: { mode: 'keys', store } }));
      const log = await hangup(gw, gw.stderr.length);
      assert.match(log, /authentication is now "keys" from the next request/);
      assert.doesNotMatch(log, /auth[^\n]*need\(s\) a restart/);
      assert.match(log, /audit changed but need\(s\) a restart/, 'the trail that keys turn on by default needs a restart');
      const refused = await initialize();
      assert.equal(refused.status, 401);
      assert.match(refused.headers.get('www-authenticate') ?? '', /Bearer/);
      assert.equal((await initialize({ Authorization: 'Bearer mcpgw-not-a-key' })).status, 401);
      const { client } = await connect(gw, { headers: { Authorization: `Bearer ${key}` } });
      assert.equal(await echo(client, 'demo__echo'), 'hi');

      rewrite(gw, config({ demo: servers.demo() }, { auth: { mode: 'keys', store: path.join(dir, 'missing', 'keys.db') } }));
      const bad = await hangup(gw, gw.stderr.length);
      assert.match(bad, /reload \(SIGHUP\) refused, still serving the configuration it had: gateway\.auth: /);
      assert.equal(await echo(client, 'demo__echo', 'still'), 'still', 'the running keys serve on');
      assert.equal((await initialize()).status, 401);

      rewrite(gw, config({ demo: servers.demo() }));
      assert.match(await hangup(gw, gw.stderr.length), /authentication is now "none"/);
      assert.equal((await initialize()).status, 200, 'no key needed again');
      await client.close();
    } finally {
      await stopClean(gw);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a restarted server is asked again for the resources sessions subscribed to', async () => {
    const remote = (generation) => ({ command: NODE, args: [REMOTE_JS, '--transport', 'stdio', '--name', 'r'], env: { GENERATION: generation } });
    const gw = await startGateway(config({ r: remote('1') }));
    try {
      const { client } = await connect(gw);
      const updates = [];
      client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => { updates.push(n.params.uri); });
      const uri = 'mcpgw://r/fixture://readme';
      await client.subscribeResource({ uri });
      const touch = async () => (await client.callTool({ name: 'r__touch', arguments: { uri: 'fixture://readme' } })).content[0].text;
      assert.equal(await touch(), 'touched fixture://readme');
      await waitFor(() => updates.length === 1, { ms: 5000 * SLOW, label: 'resources/updated before the reload' });

      rewrite(gw, config({ r: remote('2') }));
      assert.match(await hangup(gw, gw.stderr.length), /restarted \[r\]/);
      await gw.waitReady(['r']);
      assert.equal(await touch(), 'touched fixture://readme', 'the new process serves');
      await waitFor(() => updates.length === 2, { ms: 5000 * SLOW, label: 'resources/updated from the new process' });
      assert.equal(updates[1], uri);
      await client.close();
    } finally {
      await stopClean(gw);
    }
  });

  test('gateway.watch: saving the file reloads it', async () => {
    const gw = await startGateway(config({ demo: servers.demo() }, { watch: true }));
    try {
      assert.match(gw.stderr, /watching .*mcpgw\.json for changes/);
      const { client } = await connect(gw);
      const mark = gw.stderr.length;
      rewrite(gw, config({ demo: servers.demo(), second: servers.demo() }, { watch: true }));
      await waitFor(() => /reload \(the file changed\).*added \[second\]/.test(gw.logSince(mark)),
        { ms: 5000 * SLOW, label: 'the watched file reloads' });
      await waitFor(async () => (await toolNames(client)).includes('second__echo'), { ms: 10000 * SLOW, label: 'the new tools' });
      // An editor that writes in place (no rename) is seen too.
      const mark2 = gw.stderr.length;
      writeFileSync(path.join(gw.dir, 'mcpgw.json'), JSON.stringify(config({ demo: servers.demo() }, { watch: true })));
      await waitFor(() => /reload \(the file changed\).*removed \[second\]/.test(gw.logSince(mark2)),
        { ms: 5000 * SLOW, label: 'the in-place write reloads' });
      await client.close();
    } finally {
      await stopClean(gw);
    }
  });
});

// -------------------------------------------------------------------------------------------
// Claude Code itself across a reload: one `claude -p` process reading user turns from stdin
// (stream-json) keeps its MCP connection to the gateway while the gateway reloads, and its
// next turn calls a tool of the server the reload added.

const CLAUDE_BIN = path.join(ROOT, 'node_modules', '.bin', 'claude');
const NO_CLAUDE = !existsSync(CLAUDE_BIN) && `Claude Code not installed at ${CLAUDE_BIN} (npm ci)`;
const NEW_TOOL = 'mcp__gw__second__echo';

/** Claude Code reading turns from stdin; `turn(text)` resolves with that turn's result line. */
function startClaude(args, { cwd, env }) {
  const child = spawn(CLAUDE_BIN, args, { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
  const state = { out: '', err: '', lines: [] };
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    state.out += d;
    const parts = state.out.split('\n');
    state.out = parts.pop();
    for (const l of parts.filter((x) => x.trim())) {
      try { state.lines.push(JSON.parse(l)); } catch { state.lines.push({ raw: l }); }
    }
  });
  child.stderr.on('data', (d) => { state.err += d; });
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  const turn = async (text) => {
    const results = state.lines.filter((l) => l.type === 'result').length;
    child.stdin.write(`${JSON.stringify({ type: 'user', message: { role: 'user', content: text } })}\n`);
    await waitFor(() => state.lines.filter((l) => l.type === 'result').length > results,
      { ms: 30000 * SLOW, label: `Claude Code answers "${text}"` });
    return state.lines.filter((l) => l.type === 'result').at(-1);
  };
  const end = async () => {
    child.stdin.end();
    const timer = setTimeout(() => { try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ } }, 10000);
    const exit = await exited;
    clearTimeout(timer);
    return exit;
  };
  return { child, state, turn, end };
}

describe('hot reload under Claude Code', { skip: NO_CLAUDE }, () => {
  const dirs = useTempDirs('reload');

  for (const type of ['http', 'sse']) {
    test(`Claude Code over "${type}" keeps its connection through SIGHUP and calls the added server's tool`, { timeout: 90000 }, async () => {
      const gw = await startGateway(config({ demo: servers.demo() }));
      const fake = await startFakeAnthropic({ toolName: NEW_TOOL, toolInput: { message: 'after reload' } });
      let claude;
      try {
        const url = type === 'http' ? gw.url : `${gw.base}/sse`;
        const mcpConfig = path.join(dirs.project, `mcp-${type}.json`);
        writeFileSync(mcpConfig, JSON.stringify({ mcpServers: { gw: { type, url, alwaysLoad: true } } }));
        claude = startClaude([
          '-p', '--input-format', 'stream-json', '--output-format', 'stream-json', '--verbose',
          '--mcp-config', mcpConfig, '--strict-mcp-config', '--allowedTools', NEW_TOOL, '--max-turns', '5',
        ], { cwd: dirs.project, env: claudeEnv(dirs.home, { ANTHROPIC_API_KEY: 'sk-ant-fake', ANTHROPIC_BASE_URL: fake.url }) });
        const why = () => `claude stderr:\n${claude.state.err.slice(-2000)}\nlines:\n${JSON.stringify(claude.state.lines).slice(-3000)}\ngateway:\n${gw.stderr.slice(-3000)}`;

        const first = await claude.turn('Say hello.');
        assert.equal(first.subtype, 'success', why());
        const init = claude.state.lines.find((l) => l.type === 'system' && l.subtype === 'init');
        assert.equal(init?.mcp_servers?.find((s) => s.name === 'gw')?.status, 'connected', why());
        assert.ok(!init.tools.includes(NEW_TOOL), 'no such tool before the reload');

        rewrite(gw, config({ demo: servers.demo(), second: servers.demo() }));
        await hangup(gw, gw.stderr.length);
        await gw.waitReady(['demo', 'second']);
        // Claude Code lists the tools again when it hears list_changed (a moment to do so).
        await sleep(1500 * SLOW);

        const second = await claude.turn(`Call ${NEW_TOOL} with the message "after reload".`);
        assert.equal(second.subtype, 'success', why());
        assert.deepEqual(fake.toolResults.map((r) => r.text), ['Echo: after reload'], why());
        const running = claude;
        claude = null;
        const exit = await running.end();
        assert.equal(exit.code, 0, `claude exits 0: ${running.state.err.slice(-2000)}`);
        assert.equal((gw.stderr.match(/initialize from claude-code/g) ?? []).length, type === 'sse' ? 1 : 0,
          'the session was never opened again');
      } finally {
        if (claude) await claude.end();
        await fake.close();
        await stopClean(gw);
      }
    });
  }
});
