// `mcpgw stdio`: what Claude Desktop and other stdio-only clients launch. The SDK's
// StdioClientTransport spawns `mcpgw stdio --url …` and talks MCP over its stdin/stdout; the
// bridge relays to a gateway (keys on, the key from the environment) or to any MCP URL.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import {
  CreateMessageRequestSchema, ElicitRequestSchema, LoggingMessageNotificationSchema, ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';

import { MCPGW_BIN, NODE, SLOW, sleep, startGateway, textOf, waitFor, withTimeout } from './helpers.mjs';
import { REMOTE_JS, startRemote } from './fixtures/remote.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-stdio-'));
const STORE = path.join(dir, 'keys.db');
after(() => rmSync(dir, { recursive: true, force: true }));

function createKey(name) {
  return execFileSync(MCPGW_BIN, ['keys', 'create', '--name', name, '--store', STORE],
    { encoding: 'utf8' }).trim().split('\n').at(-1);
}

/** A port nothing listens on (bound, then closed), or one to come back on. */
async function freePort() {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

function gatewayConfig() {
  return {
    mcpServers: { remote: { command: NODE, args: [REMOTE_JS, '--transport', 'stdio', '--name', 'remote'] } },
    gateway: { auth: { mode: 'keys', store: STORE }, timeouts: { drainMs: 1000 } },
  };
}

/** An SDK client that launches `mcpgw stdio` with `args`; its stderr is kept in `log()`. */
async function bridgeClient(args, { env = {}, capabilities = {}, onElicit } = {}) {
  const transport = new StdioClientTransport({
    command: MCPGW_BIN,
    args: ['stdio', ...args],
    env: { ...process.env, ...env },
    stderr: 'pipe',
  });
  let log = '';
  transport.stderr.on('data', (d) => { log += d; });
  const client = new Client({ name: 'stdio-bridge-test', version: '1.0.0' }, { capabilities });
  if (onElicit) client.setRequestHandler(ElicitRequestSchema, onElicit);
  await withTimeout(client.connect(transport), 20000 * SLOW, 'connect through mcpgw stdio');
  return { client, transport, log: () => log };
}

describe('mcpgw stdio in front of a gateway with keys', () => {
  const ctx = {};
  before(async () => {
    ctx.key = createKey('desktop');
    ctx.port = await freePort();
    ctx.gw = await startGateway(gatewayConfig(), { listen: `127.0.0.1:${ctx.port}` });
    ctx.args = ['--url', `http://127.0.0.1:${ctx.port}/mcp`, '--header', 'Authorization: Bearer ${DESKTOP_KEY}'];
  });
  after(async () => {
    await ctx.bridge?.client.close().catch(() => {});
    await ctx.gw?.stop();
  });

  test('lists and calls tools, with the key taken from the environment', async () => {
    ctx.elicited = [];
    ctx.bridge = await bridgeClient(ctx.args, {
      env: { DESKTOP_KEY: ctx.key },
      capabilities: { elicitation: {} },
      onElicit: async (req) => {
        ctx.elicited.push(req.params.message);
        return { action: 'accept', content: { answer: 'blue' } };
      },
    });
    const { client } = ctx.bridge;
    assert.equal(client.getServerVersion()?.name, 'mcpgw', 'the gateway answered initialize');
    const names = (await client.listTools()).tools.map((t) => t.name);
    for (const t of ['remote__echo', 'remote__progress', 'remote__elicit']) assert.ok(names.includes(t), `${t} in ${names}`);
    const r = await client.callTool({ name: 'remote__echo', arguments: { message: 'via stdio' } });
    assert.match(textOf(r), /via stdio/);
  });

  test('progress notifications reach the client', async () => {
    const seen = [];
    const r = await ctx.bridge.client.callTool({ name: 'remote__progress', arguments: { steps: 3, ms: 30 } },
      undefined, { onprogress: (p) => seen.push(p.progress) });
    assert.match(textOf(r), /done 3/);
    assert.deepEqual(seen, [1, 2, 3]);
  });

  test('elicitation: the server asks, the stdio client answers', async () => {
    const r = await ctx.bridge.client.callTool({ name: 'remote__elicit', arguments: { question: 'Favourite colour?' } });
    assert.deepEqual(ctx.elicited, ['Favourite colour?']);
    assert.match(textOf(r), /elicited: accept \{"answer":"blue"\}/);
  });

  test('sampling, a log message and list_changed reach the stdio client', async () => {
    const logs = [];
    let changed = 0;
    const b = await bridgeClient(ctx.args, {
      env: { DESKTOP_KEY: ctx.key },
      capabilities: { sampling: {} },
    });
    try {
      b.client.setRequestHandler(CreateMessageRequestSchema, async (req) => ({
        role: 'assistant', model: 'stand-in',
        content: { type: 'text', text: `you said ${req.params.messages[0].content.text}` },
      }));
      b.client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => { logs.push(n.params.data); });
      b.client.setNotificationHandler(ToolListChangedNotificationSchema, () => { changed += 1; });
      const sampled = await b.client.callTool({ name: 'remote__sample', arguments: { prompt: 'hello' } });
      assert.match(textOf(sampled), /sampled: you said hello/);
      await b.client.callTool({ name: 'remote__log', arguments: { message: 'from the server' } });
      await waitFor(() => logs.includes('from the server'), { ms: 5000, label: 'log message' });
      await b.client.callTool({ name: 'remote__add_tool', arguments: { name: 'fresh' } });
      await waitFor(() => changed > 0, { ms: 5000, label: 'tools/list_changed' });
      const names = (await b.client.listTools()).tools.map((t) => t.name);
      assert.ok(names.includes('remote__fresh'), `${names}`);
    } finally {
      await b.client.close();
    }
  });

  test('a cancelled call is cancelled at the server', async () => {
    const { client } = ctx.bridge;
    const statsOf = async () => JSON.parse(textOf(await client.callTool({ name: 'remote__stats', arguments: {} })));
    const before = (await statsOf()).cancelled;
    const ac = new AbortController();
    const call = client.callTool({ name: 'remote__sleep', arguments: { ms: 30000 } }, undefined, { signal: ac.signal });
    await sleep(300);
    ac.abort('user pressed stop');
    await assert.rejects(call, /abort|cancel|user pressed stop/i);
    await waitFor(async () => (await statsOf()).cancelled === before + 1, { ms: 5000, label: 'server saw the cancel' });
  });

  test('the gateway restarts: the same stdio session goes on, a call made meanwhile waits', async () => {
    const { client } = ctx.bridge;
    await ctx.gw.stop();
    const during = client.callTool({ name: 'remote__echo', arguments: { message: 'while down' } });
    await sleep(500);
    ctx.gw = await startGateway(gatewayConfig(), { listen: `127.0.0.1:${ctx.port}` });
    assert.match(textOf(await withTimeout(during, 15000 * SLOW, 'call made while the gateway was down')), /while down/);
    const r = await client.callTool({ name: 'remote__echo', arguments: { message: 'after restart' } });
    assert.match(textOf(r), /after restart/);
  });

  test('a wrong key: initialize fails with the gateway\'s reason, at once', async () => {
    const t0 = Date.now();
    await assert.rejects(
      bridgeClient(ctx.args, { env: { DESKTOP_KEY: 'mcpgw_wrong' } }),
      /HTTP 401/,
    );
    assert.ok(Date.now() - t0 < 5000 * SLOW, `took ${Date.now() - t0} ms`);
  });
});

describe('a Claude Desktop config, served as it is', () => {
  test('its app settings are warned about and ignored; its servers reach Desktop through mcpgw stdio', async () => {
    const file = path.join(dir, 'claude_desktop_config.json');
    writeFileSync(file, JSON.stringify({
      globalShortcut: 'Ctrl+Space',
      preferences: { menuBarEnabled: true, quickEntryShortcut: 'off' },
      mcpServers: { remote: { command: NODE, args: [REMOTE_JS, '--transport', 'stdio', '--name', 'remote'] } },
    }, null, 2));
    const gw = await startGateway(undefined, { configFile: file });
    try {
      assert.match(gw.stderr, /globalShortcut: a Claude Desktop setting; mcpgw ignores it/);
      assert.match(gw.stderr, /preferences: a Claude Desktop setting; mcpgw ignores it/);
      const b = await bridgeClient(['--url', gw.url]);
      const r = await b.client.callTool({ name: 'remote__echo', arguments: { message: 'desktop' } });
      assert.match(textOf(r), /desktop/);
      await b.client.close();
    } finally {
      await gw.stop();
    }
  });
});

describe('mcpgw stdio in front of other servers', () => {
  test('a legacy HTTP+SSE server: Streamable HTTP is refused, legacy SSE is used', async () => {
    const remote = await startRemote({ transport: 'sse' });
    try {
      const b = await bridgeClient(['--url', remote.url, '--log-level', 'info']);
      const r = await b.client.callTool({ name: 'echo', arguments: { message: 'legacy' } });
      assert.match(textOf(r), /legacy/);
      assert.match(b.log(), /over legacy HTTP\+SSE/);
      await b.client.close();
    } finally {
      await remote.stop();
    }
  });

  test('a dead port: initialize fails with "Connection refused" within seconds', async () => {
    const port = await freePort();
    const t0 = Date.now();
    await assert.rejects(bridgeClient(['--url', `http://127.0.0.1:${port}/mcp`]), /Connection refused/);
    assert.ok(Date.now() - t0 < 5000 * SLOW, `took ${Date.now() - t0} ms`);
  });

  test('bad arguments exit 2 with the reason', () => {
    const r1 = spawnSync(MCPGW_BIN, ['stdio', '--url', 'ftp://x/mcp'], { encoding: 'utf8' });
    assert.equal(r1.status, 2);
    assert.match(r1.stderr, /--url/);
    const r2 = spawnSync(MCPGW_BIN, ['stdio', '--url', 'http://127.0.0.1:1/mcp', '--header', 'nocolon'], { encoding: 'utf8' });
    assert.equal(r2.status, 2);
    assert.match(r2.stderr, /Name: value/);
    const r3 = spawnSync(MCPGW_BIN, ['stdio', '--url', 'http://127.0.0.1:1/mcp', '--header', 'Authorization: Bearer ${NOT_SET_ANYWHERE}'],
      { encoding: 'utf8', env: { PATH: process.env.PATH } });
    assert.equal(r3.status, 2);
    assert.match(r3.stderr, /NOT_SET_ANYWHERE is not set/);
  });

  test('bad lines on stdin get JSON-RPC errors; the session goes on', async () => {
    const remote = await startRemote({ transport: 'streamable' });
    try {
      const input = [
        'not json',
        JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
        JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }),
        JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
        JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'echo', arguments: { message: 'raw' } } }),
        '',
      ].join('\n');
      const r = spawnSync(MCPGW_BIN, ['stdio', '--url', remote.url], { input, encoding: 'utf8', timeout: 20000 * SLOW });
      assert.equal(r.status, 0, r.stderr);
      const out = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
      const byId = (id) => out.find((m) => m.id === id);
      assert.equal(out.find((m) => m.id === null)?.error.code, -32700);
      assert.match(byId(1).error.message, /initialize first/);
      assert.equal(byId(2).result.protocolVersion, '2025-06-18', 'the client\'s revision was carried upstream');
      assert.match(JSON.stringify(byId(3).result), /raw/, 'answered although stdin closed right after');
    } finally {
      await remote.stop();
    }
  });
});
