// Claude Code (the pinned CLI in node_modules) as a client of the gateway: `claude mcp list`
// connects over Streamable HTTP, legacy SSE and a per-server endpoint, and a `claude -p` run
// calls a tool through the gateway over "http" and over "sse", with a fake Anthropic API
// (fixtures/fake_anthropic.mjs) that asks for the tool call and records the tool result.
// The latest Claude Code speaks the 2026-07-28 revision over http: the gateway must serve it
// stateless, with no fallback to initialize; over SSE it opens a session.
//
// Claude Code runs offline: a temporary HOME, no autoupdater, no nonessential traffic, and
// ANTHROPIC_BASE_URL pointing at the fake. Environment:
//   CLAUDE_BIN  the Claude Code binary (default node_modules/.bin/claude)
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { MCPGW_BIN, ROOT, defaultConfig, useGateway, waitFor, withTimeout } from './helpers.mjs';
import { startFakeAnthropic } from './fixtures/fake_anthropic.mjs';
import { claudeEnv, toolExchange, useTempDirs } from './fixtures/claude_env.mjs';

const CLAUDE_BIN = process.env.CLAUDE_BIN ? path.resolve(process.env.CLAUDE_BIN) : path.join(ROOT, 'node_modules', '.bin', 'claude');
const SKIP = !existsSync(CLAUDE_BIN) && `Claude Code not installed at ${CLAUDE_BIN} (npm ci)`;
/** Claude Code 2.1.49, the version of the field report, installed apart (make npm-deps). */
const CLAUDE_2149_JS = path.join(ROOT, 'test', 'clients', 'claude-2.1.49', 'node_modules', '@anthropic-ai', 'claude-code', 'cli.js');
/** The versions the field-report setup is checked with: how to run each. */
const VERSIONS = [
  { label: 'latest', cmd: CLAUDE_BIN, pre: [] },
  { label: '2.1.49', cmd: process.execPath, pre: [CLAUDE_2149_JS],
    skip: !existsSync(CLAUDE_2149_JS) && `Claude Code 2.1.49 not installed at ${CLAUDE_2149_JS} (make npm-deps)` },
];

const TOOL = 'mcp__gw__demo__echo';
const MESSAGE = 'hello through mcpgw';

/** Claude Code processes still running: killed (by pid) if this test process exits early. */
const running = new Set();
process.on('exit', () => {
  for (const pid of running) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
});

/**
 * Runs `claude ...args` in `cwd`; resolves to { code, signal, out, err, ms }. Killed (its own
 * pid only) with SIGKILL after `ms`, which then rejects.
 */
function runClaude(args, { cwd, env, ms = 30000, version = VERSIONS[0] }) {
  const started = Date.now();
  const child = spawn(version.cmd, [...version.pre, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid) running.add(child.pid);
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const done = new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      running.delete(child.pid);
      resolve({ code, signal, out, err, ms: Date.now() - started });
    });
  });
  return withTimeout(done, ms, `claude ${args.slice(0, 2).join(' ')}`).catch((e) => {
    try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
    throw new Error(`${e.message}\nstdout:\n${out.slice(-3000)}\nstderr:\n${err.slice(-3000)}`);
  });
}

/** The JSON lines of a stream-json run (non-JSON lines are kept as { raw }). */
function jsonLines(text) {
  return text.split('\n').filter((l) => l.trim()).map((l) => {
    try { return JSON.parse(l); } catch { return { raw: l }; }
  });
}

describe('Claude Code: claude mcp list', { skip: SKIP }, () => {
  const ctx = useGateway(defaultConfig());
  const dirs = useTempDirs();

  test('connects over Streamable HTTP (/mcp), legacy SSE (/sse) and /mcp/demo', { timeout: 30000 }, async () => {
    const opts = { cwd: dirs.project, env: claudeEnv(dirs.home), ms: 15000 };
    const endpoints = [
      ['gw', 'http', ctx.gw.url, 'HTTP'],
      ['gwsse', 'sse', `${ctx.gw.base}/sse`, 'SSE'],
      ['demo', 'http', `${ctx.gw.base}/mcp/demo`, 'HTTP'],
    ];
    for (const [name, transport, url] of endpoints) {
      const r = await runClaude(['mcp', 'add', '--transport', transport, name, url], opts);
      assert.equal(r.code, 0, `claude mcp add ${name}: ${r.out}${r.err}`);
    }
    const mark = ctx.gw.stderr.length;
    const r = await runClaude(['mcp', 'list'], opts);
    assert.equal(r.code, 0, `claude mcp list: ${r.out}${r.err}`);
    for (const [name, , url, kind] of endpoints) {
      const line = r.out.split('\n').find((l) => l.startsWith(`${name}: `));
      assert.ok(line, `claude mcp list shows ${name}:\n${r.out}`);
      assert.equal(line.trim(), `${name}: ${url} (${kind}) - ✔ Connected`, `claude mcp list:\n${r.out}`);
    }
    // Over http the latest Claude Code speaks 2026-07-28 without falling back (a hidden session
    // for each of the two http URLs); over legacy SSE it opens a session with initialize.
    const log = ctx.gw.logSince(mark);
    const modern = log.match(/stateless requests from claude-code \(\S+\), protocol 2026-07-28/g) ?? [];
    const inits = log.match(/initialize from claude-code/g) ?? [];
    assert.equal(modern.length, 2, `a hidden session for each http endpoint in the gateway log:\n${log}`);
    assert.equal(inits.length, 1, `one session for the SSE endpoint, and no fallback over http:\n${log}`);
  });
});

describe('Claude Code: --transport sse at the MCP URL, with a key', { skip: SKIP }, () => {
  // The setup of the field report: `claude mcp add --transport sse gw http://host/mcp/` with a
  // Bearer key and x-mcp-servers. The MCP URL serves legacy SSE to a client that asks for it.
  const dirs = useTempDirs();
  const key = {};
  before(() => {
    const store = path.join(dirs.home, 'keys.db');
    key.store = store;
    key.value = execFileSync(MCPGW_BIN, ['keys', 'create', '--name', 'claude', '--store', store],
      { encoding: 'utf8' }).trim().split('\n').at(-1);
  });
  const ctx = useGateway(() => defaultConfig({ gateway: { auth: { mode: 'keys', store: key.store } } }));

  for (const version of VERSIONS) {
  test(`Claude Code ${version.label}: claude mcp list ✔ Connected with a Bearer key and x-mcp-servers`, { timeout: 30000, skip: version.skip }, async () => {
    const home = path.join(dirs.home, version.label);
    mkdirSync(home, { recursive: true });
    const opts = { cwd: dirs.project, env: claudeEnv(home), ms: 15000, version };
    const url = `${ctx.gw.url}/`;
    const add = await runClaude(['mcp', 'add', '--transport', 'sse', 'gw', url,
      '--header', `Authorization: Bearer ${key.value}`, '--header', 'x-mcp-servers: demo'], opts);
    assert.equal(add.code, 0, `claude mcp add: ${add.out}${add.err}`);
    const mark = ctx.gw.stderr.length;
    const r = await runClaude(['mcp', 'list'], opts);
    assert.equal(r.code, 0, `claude mcp list: ${r.out}${r.err}`);
    const line = r.out.split('\n').find((l) => l.startsWith('gw: '));
    // Older versions print ✓, newer ✔.
    assert.match(line?.trim() ?? '', new RegExp(`^gw: ${url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(SSE\\) - [✔✓] Connected$`),
      `claude mcp list:\n${r.out}`);
    const log = ctx.gw.logSince(mark);
    assert.match(log, /initialize from claude-code/, log);
  });
  }
});

describe('Claude Code: a tool call through the gateway', { skip: SKIP }, () => {
  const ctx = useGateway(defaultConfig({ gateway: { logLevel: 'debug' } }));
  const dirs = useTempDirs();

  /**
   * One `claude -p` run with the gateway as MCP server "gw" over `type` ("http" or "sse"),
   * against a fresh fake API. Returns { run, lines, fake, log } (log: the gateway's lines).
   */
  async function toolCallRun(type, version) {
    const fakeLog = [];
    const fake = await startFakeAnthropic({ toolName: TOOL, toolInput: { message: MESSAGE }, log: (l) => fakeLog.push(l) });
    try {
      // "sse at /mcp/": legacy SSE at the MCP URL, as in the field report.
      const url = { http: ctx.gw.url, sse: `${ctx.gw.base}/sse`, 'sse at /mcp/': `${ctx.gw.url}/` }[type];
      const config = path.join(dirs.project, `mcp-${type.replace(/\W/g, '-')}.json`);
      const transport = type.startsWith('sse') ? 'sse' : type;
      // alwaysLoad: the server's tools go to the model up front, not behind tool search (newer
      // versions; older ones ignore it).
      writeFileSync(config, JSON.stringify({ mcpServers: { gw: { type: transport, url, alwaysLoad: true } } }, null, 2));
      const mark = ctx.gw.stderr.length;
      const run = await runClaude([
        '-p', `Call ${TOOL} with the message "${MESSAGE}".`,
        '--mcp-config', config, '--strict-mcp-config',
        '--output-format', 'stream-json', '--verbose',
        '--max-turns', '3',
        '--allowedTools', TOOL,
      ], {
        cwd: dirs.project,
        env: claudeEnv(dirs.home, { ANTHROPIC_API_KEY: 'sk-ant-fake', ANTHROPIC_BASE_URL: fake.url }),
        ms: 25000,
        version,
      });
      const why = () => `claude exit ${run.code}/${run.signal}\nfake API:\n${fakeLog.join('\n')}\n`
        + `stdout:\n${run.out.slice(-4000)}\nstderr:\n${run.err.slice(-2000)}\ngateway:\n${ctx.gw.logSince(mark)}`;
      return { run, lines: jsonLines(run.out), fake, mark, why };
    } finally {
      await fake.close();
    }
  }

  const runs = [['http', VERSIONS[0]], ['sse', VERSIONS[0]], ['sse at /mcp/', VERSIONS[0]],
    ['sse at /mcp/', VERSIONS[1]]];
  for (const [type, version] of runs) {
    const who = version === VERSIONS[0] ? 'Claude Code' : `Claude Code ${version.label}`;
    test(`type "${type}": ${who} calls ${TOOL} and gets its result`, { timeout: 30000, skip: version.skip }, async () => {
      const { run, lines, fake, mark, why } = await toolCallRun(type, version);

      const init = lines.find((l) => l.type === 'system' && l.subtype === 'init');
      assert.ok(init, `a system/init line\n${why()}`);
      assert.equal(init.mcp_servers?.find((s) => s.name === 'gw')?.status, 'connected', why());
      assert.ok(init.tools?.includes(TOOL), `init lists ${TOOL}: ${JSON.stringify(init.tools)}`);
      assert.ok(init.tools?.includes('mcp__gw__everything__get-sum'), 'init lists the other server\'s tools too');

      const result = lines.at(-1);
      assert.equal(result?.type, 'result', `the run ends with a result line\n${why()}`);
      assert.equal(result.subtype, 'success', why());
      assert.equal(result.is_error, false, why());
      assert.equal(result.result, 'done', why());
      assert.equal(run.code, 0, why());

      // The tool call Claude Code made, and the tool_result it sent back to the API.
      const { toolUse, toolResult } = toolExchange(lines);
      assert.equal(toolUse?.name, TOOL, why());
      assert.deepEqual(toolUse.input, { message: MESSAGE });
      assert.ok(toolResult, `a user line with the tool_result for ${toolUse.id}\n${why()}`);
      assert.ok(!toolResult.is_error, `tool_result is not an error: ${JSON.stringify(toolResult)}`);
      assert.match(JSON.stringify(toolResult.content), new RegExp(`Echo: ${MESSAGE}`));

      assert.equal(fake.toolResults.length, 1, `the fake API got one tool_result\n${why()}`);
      assert.deepEqual(fake.toolResults[0], { tool_use_id: toolUse.id, is_error: false, text: `Echo: ${MESSAGE}` });

      // Over http the latest Claude Code asks for 2026-07-28 first and gets it: stateless
      // requests, no initialize, no fallback. Legacy SSE opens a session with initialize.
      const log = ctx.gw.logSince(mark);
      const stateless = type === 'http' && version === VERSIONS[0];
      const opened = stateless ? 'stateless requests from' : 'initialize from';
      const sid = new RegExp(`session (\\S+): ${opened} claude-code`).exec(log)?.[1];
      assert.ok(sid, `the gateway logged Claude Code's ${opened}:\n${log}`);
      if (stateless) {
        assert.match(log, new RegExp(`session ${sid}: ${opened} claude-code .*protocol 2026-07-28`), log);
        assert.doesNotMatch(log, /initialize from claude-code/, `no fallback to an older revision:\n${log}`);
      }
      assert.doesNotMatch(log, /^\S+ +(error|critical) /m, 'no errors in the gateway log');
      if (type.startsWith('sse')) {
        // Claude Code has exited: its legacy SSE stream is gone, and so is the session.
        await waitFor(() => ctx.gw.logSince(mark).includes(`session ${sid} closed`),
          { ms: 5000, label: () => `session ${sid} closed after Claude Code exited:\n${ctx.gw.logSince(mark)}` });
      }
    });
  }
});
