// A server that speaks only 2026-07-28 behind mcpgw (a v2 `@modelcontextprotocol/server`
// over Streamable HTTP that refuses initialize): mcpgw asks server/discover instead, sends
// every request with the envelope and the mirrored headers, and turns the server's
// `input_required` into a real elicitation for the client. Driven by the 1.x SDK client over
// each transport and by the v2 client pinned to 2026-07-28: list, call, progress, a log,
// an elicitation answered, a list change delivered, and one question the client cannot answer.
// The server runs over Streamable HTTP and over stdio.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { CreateMessageRequestSchema, ElicitRequestSchema, LoggingMessageNotificationSchema, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { MODES, NODE, connect, textOf, useGateway, waitFor, withTimeout } from './helpers.mjs';
import { startServer } from './fixtures/v2_server.mjs';
import { v2Connect } from './fixtures/v2_client.mjs';

let v2;
before(async () => { v2 = await startServer(); });
after(async () => { await v2?.close(); });

/** A client of either era with the same few calls: `kind` is one of MODES or 'v2'. */
async function open(ctx, kind, { elicit = true } = {}) {
  const logs = [];
  const asked = [];
  const model = async (req) => ({ role: 'assistant', model: 'stand-in', content: { type: 'text', text: `echo of ${req.params.messages[0].content.text}` } });
  if (kind === 'v2') {
    const c = await v2Connect(ctx.gw.url, { capabilities: elicit ? { elicitation: { form: {} }, sampling: {} } : {} });
    ctx.clients.push(c);
    if (elicit) c.setRequestHandler('elicitation/create', async (req) => { asked.push(req.params.message); return { action: 'accept', content: { name: 'Ada' } }; });
    if (elicit) c.setRequestHandler('sampling/createMessage', model);
    c.setNotificationHandler('notifications/message', (n) => logs.push(n.params));
    return { c, logs, asked, logMeta: { 'io.modelcontextprotocol/logLevel': 'info' } };
  }
  const { client: c } = await connect(ctx.gw, { ctx, mode: kind, capabilities: elicit ? { elicitation: {}, sampling: {} } : {} });
  if (elicit) c.setRequestHandler(ElicitRequestSchema, async (req) => { asked.push(req.params.message); return { action: 'accept', content: { name: 'Ada' } }; });
  if (elicit) c.setRequestHandler(CreateMessageRequestSchema, model);
  c.setNotificationHandler(LoggingMessageNotificationSchema, (n) => logs.push(n.params));
  return { c, logs, asked, logMeta: undefined };
}

const V2_SERVER_JS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'v2_server.mjs');

for (const transport of ['http', 'stdio']) describe(`a server of 2026-07-28 only, behind the gateway (${transport})`, () => {
  const ctx = useGateway(() => ({
    mcpServers: {
      modern: transport === 'http' ? { url: `http://127.0.0.1:${v2.port}/mcp` } : { command: NODE, args: [V2_SERVER_JS, '--stdio'] },
    },
    gateway: { timeouts: { drainMs: 1000 } },
  }));

  for (const kind of [...MODES, 'v2']) {
    test(`${kind} client: list, call, progress, a log, an elicitation answered`, async () => {
      const { c, logs, asked, logMeta } = await open(ctx, kind);
      const names = (await c.listTools()).tools.map((t) => t.name).sort();
      assert.deepEqual(names, ['modern__add', 'modern__announce', 'modern__cancelled', 'modern__echo', 'modern__elicit',
        'modern__log', 'modern__meta', 'modern__nag', 'modern__progress', 'modern__sample', 'modern__slow']);

      const echo = await c.callTool({ name: 'modern__echo', arguments: { message: `from ${kind}` } });
      assert.equal(textOf(echo), `from ${kind}`);
      assert.equal(echo.resultType === undefined || echo.resultType === 'complete', true);
      if (kind !== 'v2') {
        assert.equal(echo.resultType, undefined, 'a client of an older revision gets no resultType');
        assert.equal(echo._meta?.['io.modelcontextprotocol/serverInfo'], undefined);
      }

      const steps = [];
      const onprogress = (n) => steps.push(n.progress);
      const p = kind === 'v2'  // the v2 client takes its options second; 1.x a result schema first
        ? await c.callTool({ name: 'modern__progress', arguments: { steps: 3 } }, { onprogress })
        : await c.callTool({ name: 'modern__progress', arguments: { steps: 3 } }, undefined, { onprogress });
      assert.equal(textOf(p), 'done 3 steps');
      assert.deepEqual(steps, [1, 2, 3]);

      const logged = await c.callTool({ name: 'modern__log', arguments: { level: 'warning', message: `log ${kind}` }, ...(logMeta ? { _meta: logMeta } : {}) });
      assert.equal(textOf(logged), 'logged at warning');
      await new Promise((r) => setTimeout(r, 100));
      assert.ok(logs.some((l) => JSON.stringify(l.data).includes(`log ${kind}`)), JSON.stringify(logs));

      const hello = await withTimeout(c.callTool({ name: 'modern__elicit', arguments: {} }), 10000, 'elicit');
      assert.equal(textOf(hello), 'hello Ada');
      assert.deepEqual(asked, ['What is your name?']);

      // The server's list change (on the gateway's listen at it) reaches the client: on its
      // session's stream, or on its own listen.
      let changed = 0;
      const sub = kind === 'v2' ? await c.listen({ toolsListChanged: true }) : null;
      if (kind === 'v2') c.setNotificationHandler('notifications/tools/list_changed', () => { changed += 1; });
      else c.setNotificationHandler(ToolListChangedNotificationSchema, () => { changed += 1; });
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(textOf(await c.callTool({ name: 'modern__announce', arguments: {} })), 'announced');
      await waitFor(() => changed > 0, { ms: 5000, label: 'tools/list_changed' });
      await sub?.close();
    });

    test(`${kind} client: a sampling answered, a cancel that reaches the server, the trace context passed on`, async () => {
      const { c } = await open(ctx, kind);
      const sampled = await withTimeout(c.callTool({ name: 'modern__sample', arguments: { prompt: `hello from ${kind}` } }), 10000, 'sample');
      assert.equal(textOf(sampled), `model said: echo of hello from ${kind}`);

      const count = async () => Number(textOf(await c.callTool({ name: 'modern__cancelled', arguments: {} })));
      const before = await count();
      const abort = new AbortController();
      const slow = { name: 'modern__slow', arguments: { ms: 8000 } };
      const call = kind === 'v2' ? c.callTool(slow, { signal: abort.signal }) : c.callTool(slow, undefined, { signal: abort.signal });
      setTimeout(() => abort.abort('the user pressed stop'), 300);
      await assert.rejects(withTimeout(call, 5000, 'cancelled call'));
      await waitFor(async () => (await count()) > before, { ms: 5000, label: 'the server saw the cancel' });

      const trace = {
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        tracestate: 'mcpgw-test=1',
      };
      const meta = JSON.parse(textOf(await c.callTool({ name: 'modern__meta', arguments: {}, _meta: trace })));
      assert.equal(meta.traceparent, trace.traceparent, JSON.stringify(meta));
      assert.equal(meta.tracestate, trace.tracestate, JSON.stringify(meta));
    });
  }

  test('the gateway reached it with server/discover: ready, stateless', async () => {
    const health = await ctx.gw.health();
    const s = health.servers?.modern ?? health.servers?.find?.((x) => x.name === 'modern');
    assert.ok(s, JSON.stringify(health));
    assert.equal(s.state, 'ready', JSON.stringify(s));
  });

  test('a server that never stops asking: a session\'s call ends after 10 rounds, each question answered', async () => {
    const { c, asked } = await open(ctx, 'both');
    await assert.rejects(withTimeout(c.callTool({ name: 'modern__nag', arguments: {} }), 15000, 'nag'),
      /still asked for input after 10 rounds/);
    assert.equal(asked.length, 10, JSON.stringify(asked));
    assert.ok(asked.every((m) => m === 'Are you sure?'));
  });

  test('a client that did not declare elicitation: the server\'s -32021, not a hang', async () => {
    const { c } = await open(ctx, 'both', { elicit: false });
    await assert.rejects(withTimeout(c.callTool({ name: 'modern__elicit', arguments: {} }), 10000, 'elicit'),
      (e) => e.code === -32021 && /capabilit/.test(e.message));
  });
});

describe('the gateway\'s listen at a server of 2026-07-28 outlives a restart of the server', () => {
  let server;
  let port;
  before(async () => { server = await startServer(); port = server.port; });
  after(async () => { await server?.close(); });
  const ctx = useGateway(() => ({
    mcpServers: { modern: { url: `http://127.0.0.1:${port}/mcp` } },
    gateway: { timeouts: { drainMs: 1000 } },
  }));

  test('after the server restarts on its port, its list changes reach the client again', async () => {
    const { c } = await open(ctx, 'both', { elicit: false });
    let changed = 0;
    c.setNotificationHandler(ToolListChangedNotificationSchema, () => { changed += 1; });
    await server.close();
    server = await startServer({ port });
    // The listen is opened again with backoff: announce until one arrives.
    const deadline = Date.now() + 15000;
    while (changed === 0 && Date.now() < deadline) {
      assert.equal(textOf(await c.callTool({ name: 'modern__announce', arguments: {} })), 'announced');
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(changed > 0, 'no tools/list_changed from the restarted server');
  });
});
