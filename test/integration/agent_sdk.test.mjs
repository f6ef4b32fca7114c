// The Claude Agent SDK as a client of the gateway: `query()` runs the SDK's bundled Claude Code
// with the gateway as MCP server "gw", over `type: "sse"` at the MCP URL (/mcp/, legacy SSE) and
// over `type: "http"` at /mcp, with an API key and x-mcp-servers. The "model" is the fake
// Anthropic API (fixtures/fake_anthropic.mjs): it calls the demo server's echo tool and answers
// with the tool's result, so the SDK's final result carries what came back through the gateway.
// A wrong key must show as a server that did not connect, not as a run that quietly has no tools.
//
// The SDK is pinned in test/clients/agent-sdk (installed apart: it wants zod 4 as a peer, while
// the project's own packages are pinned to zod 3). Claude Code runs offline, as in
// claude_code.test.mjs.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { MCPGW_BIN, ROOT, defaultConfig, processState, useGateway, waitFor, withTimeout } from './helpers.mjs';
import { startFakeAnthropic } from './fixtures/fake_anthropic.mjs';
import { claudeEnv, toolExchange, useTempDirs } from './fixtures/claude_env.mjs';

const SDK_DIR = path.join(ROOT, 'test', 'clients', 'agent-sdk', 'node_modules', '@anthropic-ai');
const SDK_JS = path.join(SDK_DIR, 'claude-agent-sdk', 'sdk.mjs');
/** The Claude Code binary the SDK ships for this platform (one of its optional packages). */
const BUNDLED = [`${process.platform}-${process.arch}`, `${process.platform}-${process.arch}-musl`]
  .map((p) => path.join(SDK_DIR, `claude-agent-sdk-${p}`, 'claude')).find((p) => existsSync(p));
const SKIP = (!existsSync(SDK_JS) && `Claude Agent SDK not installed at ${SDK_JS} (make npm-deps)`)
  || (!BUNDLED && `the Claude Agent SDK ships no Claude Code for ${process.platform}-${process.arch}`);
const SDK_VERSION = SKIP ? null : JSON.parse(readFileSync(path.join(path.dirname(SDK_JS), 'package.json'), 'utf8')).version;
const { query } = SKIP ? {} : await import(pathToFileURL(SDK_JS).href);

const TOOL = 'mcp__gw__demo__echo';
const MESSAGE = 'hello through mcpgw';
/** What the fake model answers once it has the tool result. */
const answer = (results) => `the tool said: ${results.map((r) => r.text).join(' | ')}`;
const RUN_MS = 45000;

/** Claude Code processes the SDK started: killed (by pid) if this test process exits early. */
const running = new Set();
process.on('exit', () => {
  for (const pid of running) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
});

/**
 * Starts Claude Code for the SDK (its `spawnClaudeCodeProcess` hook): the SDK's own command and
 * arguments, with the pid recorded so that the test can end it, and stderr kept for failures.
 */
function spawnRecorded(proc) {
  return ({ command, args, cwd, env }) => {
    const child = spawn(command, args, { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    proc.child = child;
    if (child.pid) running.add(child.pid);
    child.on('exit', () => running.delete(child.pid));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => { proc.stderr += d; });
    return child;
  };
}

/** Ends Claude Code if the SDK has not: waits up to `ms` for it to exit, then SIGKILLs its pid. */
async function reap(child, ms = 5000) {
  if (!child?.pid) return;
  const gone = () => child.exitCode !== null || child.signalCode !== null || processState(child.pid) === null;
  try {
    await waitFor(gone, { ms, label: `Claude Code (pid ${child.pid}) exit` });
  } catch {
    try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
  }
  running.delete(child.pid);
}

describe(`Claude Agent SDK${SDK_VERSION ? ` ${SDK_VERSION}` : ''}: the gateway as an MCP server, with a key`, { skip: SKIP }, () => {
  const dirs = useTempDirs('sdk');
  const key = {};
  before(() => {
    key.store = path.join(dirs.home, 'keys.db');
    key.value = execFileSync(MCPGW_BIN, ['keys', 'create', '--name', 'agent-sdk', '--store', key.store],
      { encoding: 'utf8' }).trim().split('\n').at(-1);
  });
  const ctx = useGateway(() => defaultConfig({ gateway: { logLevel: 'debug', auth: { mode: 'keys', store: key.store } } }));

  /**
   * One `query()` with the gateway as server "gw" of `type` at `url`, sending `apiKey`, against a
   * fresh fake API. Returns { messages, init, status, result, fake, mark, why }: `status` is
   * the SDK's mcpServerStatus() for "gw", asked once the session is up.
   */
  async function agentRun(label, { type, url, apiKey }) {
    const fakeLog = [];
    const fake = await startFakeAnthropic({
      toolName: TOOL, toolInput: { message: MESSAGE }, finalText: answer, log: (l) => fakeLog.push(l),
    });
    const home = path.join(dirs.home, label);
    mkdirSync(home, { recursive: true });
    const proc = { child: null, stderr: '' };
    const messages = [];
    const statuses = [];
    const mark = ctx.gw.stderr.length;
    const q = query({
      prompt: `Call ${TOOL} with the message "${MESSAGE}".`,
      options: {
        cwd: dirs.project,
        env: claudeEnv(home, { ANTHROPIC_API_KEY: 'sk-ant-fake', ANTHROPIC_BASE_URL: fake.url }),
        settingSources: [],
        strictMcpConfig: true,
        mcpServers: {
          gw: {
            type,
            url,
            headers: { Authorization: `Bearer ${apiKey}`, 'x-mcp-servers': 'demo' },
            // The server's tools go to the model up front (not behind tool search), and the
            // session starts once the server has connected or failed: the init message then
            // says which, rather than "pending".
            alwaysLoad: true,
          },
        },
        allowedTools: [TOOL],
        permissionMode: 'dontAsk',
        maxTurns: 3,
        spawnClaudeCodeProcess: spawnRecorded(proc),
      },
    });
    try {
      await withTimeout((async () => {
        for await (const m of q) {
          messages.push(m);
          if (m.type === 'system' && m.subtype === 'init') statuses.push(...await q.mcpServerStatus());
        }
      })(), RUN_MS, `Agent SDK query (${label})`);
    } catch (e) {
      e.message += `\nmessages:\n${messages.map((m) => JSON.stringify(m).slice(0, 500)).join('\n')}`
        + `\nClaude Code stderr:\n${proc.stderr.slice(-2000)}\nfake API:\n${fakeLog.join('\n')}`
        + `\ngateway:\n${ctx.gw.logSince(mark)}`;
      throw e;
    } finally {
      q.close();
      await reap(proc.child);
      await fake.close();
    }
    const why = () => `messages:\n${messages.map((m) => JSON.stringify(m).slice(0, 800)).join('\n')}`
      + `\nmcpServerStatus: ${JSON.stringify(statuses)}\nClaude Code stderr:\n${proc.stderr.slice(-2000)}`
      + `\nfake API:\n${fakeLog.join('\n')}\ngateway:\n${ctx.gw.logSince(mark)}`;
    return {
      messages,
      init: messages.find((m) => m.type === 'system' && m.subtype === 'init'),
      status: statuses.find((s) => s.name === 'gw'),
      result: messages.at(-1),
      fake,
      mark,
      why,
    };
  }

  const ok = [
    ['sse', '/mcp/', 'legacy SSE at the MCP URL'],
    ['http', '/mcp', 'Streamable HTTP'],
  ];
  for (const [type, at, what] of ok) {
    test(`type "${type}" at ${at} (${what}): connected, calls ${TOOL} and gets its result`, { timeout: 60000 }, async () => {
      const { messages, init, status, result, fake, mark, why } = await agentRun(type,
        { type, url: `${ctx.gw.base}${at}`, apiKey: key.value });

      assert.ok(init, `a system/init message\n${why()}`);
      assert.equal(init.mcp_servers?.find((s) => s.name === 'gw')?.status, 'connected', why());
      assert.ok(init.tools?.includes(TOOL), `init lists ${TOOL}: ${JSON.stringify(init.tools)}`);
      const gwTools = init.tools.filter((t) => t.startsWith('mcp__gw__'));
      assert.deepEqual(gwTools.filter((t) => !t.startsWith('mcp__gw__demo__')), [],
        'x-mcp-servers: demo leaves only the demo server\'s tools');
      assert.equal(status?.status, 'connected', why());
      assert.equal(status.serverInfo?.name, 'mcpgw', why());

      // The model's tool call, the tool result from the gateway, and the final answer built on it.
      const { toolUse, toolResult } = toolExchange(messages);
      assert.equal(toolUse?.name, TOOL, why());
      assert.deepEqual(toolUse.input, { message: MESSAGE });
      assert.ok(toolResult, `a user message with the tool_result for ${toolUse.id}\n${why()}`);
      assert.ok(!toolResult.is_error, `tool_result is not an error: ${JSON.stringify(toolResult)}`);
      assert.deepEqual(fake.toolResults, [{ tool_use_id: toolUse.id, is_error: false, text: `Echo: ${MESSAGE}` }], why());

      assert.equal(result?.type, 'result', `the run ends with a result message\n${why()}`);
      assert.equal(result.subtype, 'success', why());
      assert.equal(result.is_error, false, why());
      assert.equal(result.result, `the tool said: Echo: ${MESSAGE}`, why());

      const log = ctx.gw.logSince(mark);
      // Over http this Claude Code asks for 2026-07-28 first and gets it (stateless requests,
      // no initialize); legacy SSE has sessions and an initialize.
      const opened = type === 'http' ? 'stateless requests from' : 'initialize from';
      const version = init.claude_code_version.replace(/\./g, '\\.');
      const sid = new RegExp(`session (\\S+): ${opened} claude-code \\(${version}\\)`).exec(log)?.[1];
      assert.ok(sid, `the gateway logged Claude Code's ${opened}:\n${log}`);
      if (type === 'http') assert.match(log, new RegExp(`session ${sid}: ${opened} .*protocol 2026-07-28`));
      assert.match(log, new RegExp(`session ${sid}: tools/call → demo: ok`), log);
      assert.doesNotMatch(log, /^\S+ +(error|critical) /m, 'no errors in the gateway log');
      if (type === 'sse') {
        // The query has ended: Claude Code's SSE stream is gone, and so is the session.
        await waitFor(() => ctx.gw.logSince(mark).includes(`session ${sid} closed`),
          { ms: 5000, label: () => `session ${sid} closed after the query ended:\n${ctx.gw.logSince(mark)}` });
      }
    });
  }

  test('type "sse" at /mcp/ with a wrong key: the server shows as failed, and no gw tool is offered', { timeout: 60000 }, async () => {
    const { init, status, result, fake, mark, why } = await agentRun('wrong-key',
      { type: 'sse', url: `${ctx.gw.base}/mcp/`, apiKey: 'mcpgw-not-a-key' });

    assert.ok(init, `a system/init message\n${why()}`);
    assert.equal(init.mcp_servers?.find((s) => s.name === 'gw')?.status, 'failed', why());
    assert.deepEqual(init.tools?.filter((t) => t.startsWith('mcp__gw__')), [], why());
    assert.equal(status?.status, 'failed', why());
    assert.match(status.error ?? '', /\b401\b/, `the SDK's status names the 401: ${JSON.stringify(status)}`);

    // The model was never offered a gateway tool, and no tool was called.
    assert.ok(fake.requests.length > 0, why());
    for (const r of fake.requests) {
      assert.deepEqual(r.tools.filter((t) => t.startsWith('mcp__gw__')), [], why());
    }
    assert.deepEqual(fake.toolResults, [], why());
    // The run itself still ends in "success": the server status is where the failure shows.
    assert.equal(result?.type, 'result', why());
    assert.equal(result.subtype, 'success', why());

    const log = ctx.gw.logSince(mark);
    assert.doesNotMatch(log, /initialize from claude-code/, `no session for a wrong key:\n${log}`);
  });
});
