// What a client sees on the aggregate endpoint in each transport mode: Streamable HTTP with the
// SDK's default Accept (JSON and SSE), a JSON-only client, an SSE-only client, and the legacy
// HTTP+SSE transport. Each mode gets its own gateway (server-everything + demo server), so a
// failure in one mode does not spill into the others.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateMessageRequestSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';

import { MODES, connect, defaultConfig, textOf, useGateway, withTimeout } from './helpers.mjs';

const CALL_MS = 10000;

/** Content types of the POST responses that carried a body, from log index `from` on. */
function postReplyTypes(log, from = 0) {
  return log.slice(from).filter((l) => l.method === 'POST' && l.status === 200).map((l) => l.contentType);
}

/** Checks the reply mode promised for `mode`: which content types POSTed requests got. */
function assertReplyMode(mode, log, from, { streamed }) {
  const types = postReplyTypes(log, from);
  if (mode === 'legacy') {
    // Legacy SSE: every POST is accepted with 202, replies travel on the GET stream.
    const posts = log.slice(from).filter((l) => l.method === 'POST');
    assert.ok(posts.length > 0);
    for (const p of posts) assert.equal(p.status, 202, `legacy POST status: ${JSON.stringify(p)}`);
    return;
  }
  assert.ok(types.length > 0, 'at least one POST was answered with a body');
  for (const t of types) {
    if (mode === 'json') assert.match(t, /^application\/json/, 'a JSON-only client always gets JSON');
    else if (mode === 'sse') assert.match(t, /^text\/event-stream/, 'an SSE-only client always gets SSE');
    else if (streamed) assert.match(t, /^text\/event-stream/, 'notifications before the result: SSE reply');
    else assert.match(t, /^application\/json/, 'the response is all there is: JSON reply');
  }
}

for (const mode of MODES) {
  describe(`transport mode: ${mode}`, () => {
    const ctx = useGateway(defaultConfig());
    let session; // { client, transport, log }

    const connected = async () => {
      session ??= await connect(ctx.gw, {
        mode, ctx, capabilities: { sampling: {}, elicitation: {} },
      });
      return session;
    };

    test('initialize: the gateway answers with its own identity and capabilities', async () => {
      const { client, transport, log } = await connected();
      const info = client.getServerVersion();
      assert.equal(info?.name, 'mcpgw');
      const caps = client.getServerCapabilities();
      assert.ok(caps?.tools, 'tools capability');
      assert.ok(caps?.prompts, 'prompts capability');
      assert.ok(caps?.resources, 'resources capability');
      if (mode === 'legacy') {
        assert.ok(log.some((l) => l.method === 'GET' && /text\/event-stream/.test(l.contentType ?? '')),
          'legacy client opened its event stream');
      } else {
        assert.match(transport.sessionId ?? '', /^[\x21-\x7e]+$/, 'session id of visible ASCII');
      }
    });

    test('tools/list: prefixed tools of both servers', async () => {
      const { client } = await connected();
      const { tools } = await withTimeout(client.listTools(), CALL_MS, 'tools/list');
      const names = tools.map((t) => t.name);
      for (const n of ['demo__echo', 'demo__add', 'demo__now', 'demo__sleep',
        'everything__echo', 'everything__get-sum', 'everything__trigger-long-running-operation',
        'everything__trigger-sampling-request', 'everything__trigger-elicitation-request']) {
        assert.ok(names.includes(n), `${n} in ${names.join(', ')}`);
      }
      for (const n of names) assert.match(n, /^(demo|everything)__/, `every tool is prefixed: ${n}`);
      assert.equal(new Set(names).size, names.length, 'no duplicate names');
      const echo = tools.find((t) => t.name === 'demo__echo');
      assert.deepEqual(echo.inputSchema.required, ['message'], 'schemas pass through');
    });

    test('tools/call: both servers answer through their prefixed names', async () => {
      const { client, log } = await connected();
      const from = log.length;
      const echo = await withTimeout(
        client.callTool({ name: 'demo__echo', arguments: { message: `hello ${mode}` } }), CALL_MS, 'demo__echo');
      assert.equal(textOf(echo), `Echo: hello ${mode}`);
      assert.ok(!echo.isError);

      const add = await withTimeout(client.callTool({ name: 'demo__add', arguments: { a: 2, b: 40 } }), CALL_MS, 'demo__add');
      assert.equal(textOf(add), '42');
      assert.deepEqual(add.structuredContent, { sum: 42 });

      const eecho = await withTimeout(
        client.callTool({ name: 'everything__echo', arguments: { message: `hi ${mode}` } }), CALL_MS, 'everything__echo');
      assert.equal(textOf(eecho), `Echo: hi ${mode}`);

      const sum = await withTimeout(
        client.callTool({ name: 'everything__get-sum', arguments: { a: 2, b: 3 } }), CALL_MS, 'everything__get-sum');
      assert.equal(textOf(sum), 'The sum of 2 and 3 is 5.');

      assertReplyMode(mode, log, from, { streamed: false });
    });

    test('tools/call: an unknown tool is an error, not a hang', async () => {
      const { client } = await connected();
      await assert.rejects(
        withTimeout(client.callTool({ name: 'demo__no-such-tool', arguments: {} }), CALL_MS, 'unknown tool'),
        (e) => e.code === -32602 || e.code === -32601,
      );
    });

    test('prompts/list and prompts/get through prefixed names', async () => {
      const { client } = await connected();
      const { prompts } = await withTimeout(client.listPrompts(), CALL_MS, 'prompts/list');
      const names = prompts.map((p) => p.name);
      for (const n of ['demo__greeting', 'everything__simple-prompt', 'everything__args-prompt']) {
        assert.ok(names.includes(n), `${n} in ${names.join(', ')}`);
      }
      const greeting = await withTimeout(
        client.getPrompt({ name: 'demo__greeting', arguments: { name: 'Ann' } }), CALL_MS, 'prompts/get demo');
      assert.equal(greeting.messages[0].content.text, 'Say hello to Ann.');
      const args = await withTimeout(
        client.getPrompt({ name: 'everything__args-prompt', arguments: { city: 'Paris' } }), CALL_MS, 'prompts/get everything');
      assert.equal(args.messages[0].content.text, "What's weather in Paris?");
    });

    test('resources/list and resources/read through mcpgw:// URIs', async () => {
      const { client } = await connected();
      const { resources } = await withTimeout(client.listResources(), CALL_MS, 'resources/list');
      const uris = resources.map((r) => r.uri);
      assert.ok(uris.includes('mcpgw://demo/demo://readme'), `demo readme in ${uris.join(', ')}`);
      const ev = uris.filter((u) => u.startsWith('mcpgw://everything/'));
      assert.ok(ev.length > 0, 'server-everything resources are listed');
      for (const u of uris) assert.match(u, /^mcpgw:\/\/(demo|everything)\//);

      const readme = await withTimeout(client.readResource({ uri: 'mcpgw://demo/demo://readme' }), CALL_MS, 'read demo');
      assert.equal(readme.contents.length, 1);
      assert.equal(readme.contents[0].uri, 'mcpgw://demo/demo://readme', 'URI in the result is the exposed one');
      assert.equal(readme.contents[0].text, 'mcpgw-demo serves echo, add, now and sleep.');

      const doc = await withTimeout(client.readResource({ uri: ev[0] }), CALL_MS, 'read everything');
      assert.equal(doc.contents[0].uri, ev[0]);
      assert.ok((doc.contents[0].text ?? doc.contents[0].blob ?? '').length > 0, 'resource has content');
    });

    test('progress: notifications arrive, then the result', async () => {
      const { client, log } = await connected();
      const from = log.length;
      const steps = 4;
      const progress = [];
      const result = await withTimeout(client.callTool(
        { name: 'everything__trigger-long-running-operation', arguments: { duration: 1, steps } },
        undefined,
        { onprogress: (p) => progress.push(p), timeout: CALL_MS },
      ), CALL_MS, 'long-running operation');
      assert.equal(textOf(result), `Long running operation completed. Duration: 1 seconds, Steps: ${steps}.`);
      // A JSON-only client gets notifications on its GET stream and the result on the POST:
      // two connections, so only the notifications sent well before the result are ordered.
      // The SDK's legacy SSE client dispatches every event of one network read synchronously,
      // but handles notifications a microtask later than responses: when the last progress
      // event and the result arrive in the same read, it drops that progress event itself
      // (the gateway sent both, in order; protocol.test.mjs checks the wire).
      const expected = mode === 'json' || mode === 'legacy' ? steps - 1 : steps;
      assert.ok(progress.length >= expected, `got ${progress.length} of ${steps} progress notifications`);
      progress.forEach((p, i) => {
        assert.equal(p.progress, i + 1, 'progress in order');
        assert.equal(p.total, steps);
      });
      assertReplyMode(mode, log, from, { streamed: true });
    });

    test('sampling: the server asks the client, the answer reaches the tool', async () => {
      const { client } = await connected();
      const seen = [];
      client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
        seen.push(req.params);
        return { model: 'it-model', role: 'assistant', content: { type: 'text', text: `sampled answer for ${mode}` } };
      });
      const result = await withTimeout(client.callTool(
        { name: 'everything__trigger-sampling-request', arguments: { prompt: `question from ${mode}`, maxTokens: 20 } },
        undefined, { timeout: CALL_MS },
      ), CALL_MS, 'sampling tool');
      assert.equal(seen.length, 1, 'exactly one sampling request reached the client');
      assert.match(seen[0].messages[0].content.text, new RegExp(`question from ${mode}`));
      assert.equal(seen[0].maxTokens, 20);
      const text = textOf(result);
      assert.match(text, /LLM sampling result/);
      assert.match(text, new RegExp(`sampled answer for ${mode}`));
      assert.match(text, /it-model/);
    });

    test('elicitation: the server asks the client, the answer reaches the tool', async () => {
      const { client } = await connected();
      const seen = [];
      client.setRequestHandler(ElicitRequestSchema, async (req) => {
        seen.push(req.params);
        return { action: 'accept', content: { name: `Ann ${mode}`, check: true } };
      });
      const result = await withTimeout(client.callTool(
        { name: 'everything__trigger-elicitation-request', arguments: {} }, undefined, { timeout: CALL_MS },
      ), CALL_MS, 'elicitation tool');
      assert.equal(seen.length, 1, 'exactly one elicitation request reached the client');
      assert.equal(seen[0].requestedSchema.type, 'object');
      const text = textOf(result);
      assert.match(text, /User provided the requested information/);
      assert.match(text, new RegExp(`- Name: Ann ${mode}`));
      assert.match(text, /- Agreed to terms: true/);
    });

    test('elicitation declined: the tool sees the decline', async () => {
      const { client } = await connected();
      client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'decline' }));
      const result = await withTimeout(client.callTool(
        { name: 'everything__trigger-elicitation-request', arguments: {} }, undefined, { timeout: CALL_MS },
      ), CALL_MS, 'elicitation tool');
      assert.match(textOf(result), /User declined/);
    });
  });
}
