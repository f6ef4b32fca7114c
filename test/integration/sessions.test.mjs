// Sessions: ending one (DELETE) and what its client sees afterwards, per-server endpoints,
// narrowing with x-mcp-servers, and per-session server processes (isolation "session").
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';

import {
  PROTOCOL_VERSION, connect, defaultConfig, initializeBody, post, processState, servers, sleep, textOf, useGateway, waitFor, withTimeout,
} from './helpers.mjs';

const rpc = (id, method, params) => ({ jsonrpc: '2.0', id, method, ...(params ? { params } : {}) });

describe('dead sessions', () => {
  const ctx = useGateway(defaultConfig());

  test('DELETE ends the session: its id then gets 404 with -32001', async () => {
    const { client, transport } = await connect(ctx.gw, { ctx });
    assert.equal(textOf(await client.callTool({ name: 'demo__echo', arguments: { message: 'a' } })), 'Echo: a');
    const sid = transport.sessionId;
    assert.ok(sid);
    await withTimeout(transport.terminateSession(), 5000, 'DELETE');
    const r = await post(ctx.gw.url, rpc(2, 'tools/list'), { 'mcp-session-id': sid, 'mcp-protocol-version': PROTOCOL_VERSION });
    assert.equal(r.status, 404, r.text);
    assert.equal(r.json?.error?.code, -32001);
    const del = await fetch(ctx.gw.url, { method: 'DELETE', headers: { 'mcp-session-id': sid } });
    assert.equal(del.status, 404, 'a second DELETE finds no session');
    await del.body?.cancel();
  });

  test('a client still using an ended session gets an HTTP 404 error', async () => {
    const { client } = await connect(ctx.gw, { ctx });
    const sid = client.transport.sessionId;
    const del = await fetch(ctx.gw.url, { method: 'DELETE', headers: { 'mcp-session-id': sid } });
    assert.ok(del.status === 200 || del.status === 204, `DELETE: ${del.status}`);
    await del.body?.cancel();
    await assert.rejects(withTimeout(client.callTool({ name: 'demo__echo', arguments: { message: 'b' } }), 5000, 'call'),
      (e) => {
        assert.ok(e instanceof StreamableHTTPError, `got ${e}`);
        assert.equal(e.code, 404);
        assert.match(e.message, /-32001/);
        return true;
      });
  });

  test('a random session id: 404 with -32001', async () => {
    const r = await post(ctx.gw.url, rpc(1, 'ping'), { 'mcp-session-id': randomBytes(16).toString('hex') });
    assert.equal(r.status, 404, r.text);
    assert.equal(r.json?.error?.code, -32001);
  });

  test('after a dead session a fresh initialize works', async () => {
    const { client } = await connect(ctx.gw, { ctx });
    assert.equal(textOf(await client.callTool({ name: 'demo__echo', arguments: { message: 'fresh' } })), 'Echo: fresh');
    const sum = await client.callTool({ name: 'everything__get-sum', arguments: { a: 1, b: 1 } });
    assert.equal(textOf(sum), 'The sum of 1 and 1 is 2.');
  });
});

/** Two clients with sampling handlers that answer in their own name ("one" answers late). */
async function samplingClients(ctx) {
  return Promise.all(['one', 'two'].map(async (who) => {
    const { client } = await connect(ctx.gw, { ctx, name: `it-${who}`, capabilities: { sampling: {} } });
    const seen = [];
    client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
      seen.push(req.params.messages[0].content.text);
      if (who === 'one') await sleep(200); // both requests are pending at the gateway together
      return { model: `model-${who}`, role: 'assistant', content: { type: 'text', text: `answer from ${who}` } };
    });
    return { who, client, seen };
  }));
}

const askAll = (clients) => withTimeout(Promise.allSettled(clients.map(({ who, client }) => client.callTool(
  { name: 'everything__trigger-sampling-request', arguments: { prompt: `asked by ${who}` } }))), 10000, 'sampling calls');

describe('two sessions at once: shared server', () => {
  const ctx = useGateway(defaultConfig());

  test('sampling from a shared server goes to the session whose call caused it', async () => {
    const clients = await samplingClients(ctx);
    for (const { who, client, seen } of clients) {
      const r = await withTimeout(client.callTool(
        { name: 'everything__trigger-sampling-request', arguments: { prompt: `asked by ${who}` } }), 5000, who);
      assert.match(textOf(r), new RegExp(`answer from ${who}`));
      assert.deepEqual(seen.map((t) => t.replace(/^.*: /, '')), [`asked by ${who}`]);
    }
  });

  test('concurrent sampling on a shared server never reaches the wrong client', async () => {
    const clients = await samplingClients(ctx);
    const results = await askAll(clients);
    clients.forEach(({ who, seen }, i) => {
      for (const t of seen) assert.match(t, new RegExp(`asked by ${who}$`), `${who} saw only its own request`);
      const r = results[i];
      // Either the right answer, or an error (the gateway cannot always tell sessions apart on
      // a shared server) — never the other client's answer.
      if (r.status === 'fulfilled') {
        const text = textOf(r.value);
        const other = who === 'one' ? 'two' : 'one';
        assert.doesNotMatch(text, new RegExp(`answer from ${other}`), `${who} got ${other}'s answer`);
        if (!r.value.isError) assert.match(text, new RegExp(`answer from ${who}`));
      }
    });
  });
});

describe('two sessions at once: isolated server', () => {
  const ctx = useGateway(defaultConfig({ gateway: { servers: { everything: { isolation: 'session' } } } }));

  test('concurrent sampling requests reach the right client and their answers the right call', async () => {
    const clients = await samplingClients(ctx);
    const results = await askAll(clients);
    clients.forEach(({ who, seen }, i) => {
      assert.equal(seen.length, 1, `${who} got one sampling request`);
      assert.match(seen[0], new RegExp(`asked by ${who}$`), `${who} got its own request`);
      assert.equal(results[i].status, 'fulfilled', `${who}: ${results[i].reason}`);
      const text = textOf(results[i].value);
      assert.match(text, new RegExp(`answer from ${who}`), `${who}'s call got ${who}'s answer: ${text}`);
      assert.match(text, new RegExp(`model-${who}`));
    });
  });
});

describe('per-server endpoints and x-mcp-servers', () => {
  const ctx = useGateway(defaultConfig());

  test('/mcp/demo lists the demo tools under their own names and calls them', async () => {
    const { client } = await connect(ctx.gw, { path: '/mcp/demo', ctx });
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), ['add', 'echo', 'now', 'sleep']);
    assert.equal(textOf(await client.callTool({ name: 'echo', arguments: { message: 'direct' } })), 'Echo: direct');
    await assert.rejects(client.callTool({ name: 'demo__echo', arguments: { message: 'x' } }), 'prefixed names are not known here');
  });

  test('/mcp/demo serves the demo prompt and resource unprefixed', async () => {
    const { client } = await connect(ctx.gw, { path: '/mcp/demo', ctx });
    const { prompts } = await client.listPrompts();
    assert.deepEqual(prompts.map((p) => p.name), ['greeting']);
    const g = await client.getPrompt({ name: 'greeting', arguments: { name: 'Bo' } });
    assert.equal(g.messages[0].content.text, 'Say hello to Bo.');
    const { resources } = await client.listResources();
    assert.deepEqual(resources.map((r) => r.uri), ['demo://readme']);
    const r = await client.readResource({ uri: 'demo://readme' });
    assert.equal(r.contents[0].uri, 'demo://readme');
    assert.equal(r.contents[0].text, 'mcpgw-demo serves echo, add, now and sleep.');
  });

  test('/mcp/everything serves server-everything under its own names', async () => {
    const { client } = await connect(ctx.gw, { path: '/mcp/everything', ctx });
    const names = (await client.listTools()).tools.map((t) => t.name);
    assert.ok(names.includes('get-sum') && names.includes('echo'), names.join(', '));
    assert.ok(!names.some((n) => n.includes('__')), 'no prefixes');
    assert.equal(textOf(await client.callTool({ name: 'get-sum', arguments: { a: 4, b: 5 } })), 'The sum of 4 and 5 is 9.');
  });

  test('a session is bound to the endpoint that created it', async () => {
    const { client } = await connect(ctx.gw, { path: '/mcp/demo', ctx });
    const sid = client.transport.sessionId;
    const r = await post(ctx.gw.url, rpc(5, 'tools/list'), { 'mcp-session-id': sid, 'mcp-protocol-version': PROTOCOL_VERSION });
    assert.equal(r.status, 404, 'a /mcp/demo session is unknown on /mcp');
    assert.equal(r.json?.error?.code, -32001);
  });

  test('an unknown server on a per-server endpoint is refused', async () => {
    const r = await post(ctx.gw.endpoint('/mcp/no-such-server').href, initializeBody());
    assert.equal(r.status, 404, r.text);
    assert.ok(r.json?.error, 'JSON-RPC error body');
  });

  test('x-mcp-servers: demo narrows /mcp to demo__* tools', async () => {
    const { client } = await connect(ctx.gw, { headers: { 'x-mcp-servers': 'demo' }, ctx });
    const names = (await client.listTools()).tools.map((t) => t.name);
    assert.deepEqual(names.sort(), ['demo__add', 'demo__echo', 'demo__now', 'demo__sleep']);
    const prompts = (await client.listPrompts()).prompts.map((p) => p.name);
    assert.deepEqual(prompts, ['demo__greeting']);
    const uris = (await client.listResources()).resources.map((r) => r.uri);
    assert.deepEqual(uris, ['mcpgw://demo/demo://readme']);
    assert.equal(textOf(await client.callTool({ name: 'demo__echo', arguments: { message: 'narrow' } })), 'Echo: narrow');
    await assert.rejects(client.callTool({ name: 'everything__echo', arguments: { message: 'x' } }),
      'a server outside the session is not reachable');
  });

  test('x-mcp-servers naming both servers lists both', async () => {
    const { client } = await connect(ctx.gw, { headers: { 'x-mcp-servers': 'demo, everything' }, ctx });
    const names = (await client.listTools()).tools.map((t) => t.name);
    assert.ok(names.includes('demo__echo') && names.includes('everything__echo'));
  });

  test('legacy /sse/demo lists the demo tools under their own names', async () => {
    const { client } = await connect(ctx.gw, { mode: 'legacy', path: '/sse/demo', ctx });
    const { tools } = await withTimeout(client.listTools(), 5000, 'tools/list');
    assert.deepEqual(tools.map((t) => t.name).sort(), ['add', 'echo', 'now', 'sleep']);
    assert.equal(textOf(await client.callTool({ name: 'echo', arguments: { message: 'old' } })), 'Echo: old');
  });
});

describe('isolation: session', () => {
  const ctx = useGateway({
    mcpServers: { demo: servers.demo(), probe: servers.probe() },
    gateway: {
      timeouts: { drainMs: 2000 },
      servers: { demo: { isolation: 'session' }, probe: { isolation: 'session' } },
    },
  });
  const state = {};


  test('two sessions get their own server processes', async () => {
    const h0 = await ctx.gw.health();
    assert.equal(h0.servers.demo.isolation, 'session');
    assert.equal(h0.servers.demo.instances, 0, 'no process before a session');
    const a = await connect(ctx.gw, { ctx });
    const b = await connect(ctx.gw, { ctx });
    const pidA = Number(textOf(await a.client.callTool({ name: 'probe__whoami', arguments: {} })));
    const pidB = Number(textOf(await b.client.callTool({ name: 'probe__whoami', arguments: {} })));
    assert.ok(pidA > 0 && pidB > 0);
    assert.notEqual(pidA, pidB, 'each session talks to its own process');
    assert.equal(textOf(await a.client.callTool({ name: 'demo__echo', arguments: { message: 'A' } })), 'Echo: A');
    assert.equal(textOf(await b.client.callTool({ name: 'demo__echo', arguments: { message: 'B' } })), 'Echo: B');
    const h = await ctx.gw.health();
    assert.equal(h.servers.demo.instances, 2, JSON.stringify(h.servers.demo));
    assert.equal(h.servers.probe.instances, 2, JSON.stringify(h.servers.probe));
    Object.assign(state, { a, b, pidA, pidB });
  });

  test('ending a session stops its processes, the other session keeps its own', async () => {
    assert.ok(state.a, 'previous test ran');
    await withTimeout(state.a.transport.terminateSession(), 5000, 'DELETE');
    await waitFor(async () => (await ctx.gw.health()).servers.demo.instances === 1,
      { ms: 5000, label: 'demo instances back to 1' });
    // Gone means exited and reaped: a zombie ('Z') is a process the gateway never waited for.
    await waitFor(() => processState(state.pidA) === null,
      { ms: 5000, label: () => `probe pid ${state.pidA} exited and reaped (state ${processState(state.pidA)})` });
    assert.ok(!['Z', null].includes(processState(state.pidB)), 'the other session\'s process lives on');
    const again = Number(textOf(await state.b.client.callTool({ name: 'probe__whoami', arguments: {} })));
    assert.equal(again, state.pidB);
  });
});
