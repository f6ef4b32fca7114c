// The transport matrix: every client transport against every server transport. Clients:
// Streamable HTTP with JSON replies, with SSE replies, and legacy HTTP+SSE. Servers: the same
// SDK-built fixture over stdio, Streamable HTTP (stateful and stateless) and legacy SSE, plus
// server-everything over Streamable HTTP and SSE. Each cell: list, call, progress, sampling,
// elicitation, cancellation.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateMessageRequestSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';

import { connect, textOf, useGateway, waitFor, withTimeout, NODE } from './helpers.mjs';
import { startRemote, startEverything, REMOTE_JS } from './fixtures/remote.mjs';

const CALL_MS = 20000;

/** The fixture's servers, by the name they get behind the gateway. */
const FIXTURES = {
  stdio: 'fixture over stdio',
  stateful: 'Streamable HTTP with sessions',
  stateless: 'Streamable HTTP without sessions',
  legacy: 'legacy HTTP+SSE',
};

const CLIENTS = ['json', 'sse', 'legacy'];

describe('transport matrix', () => {
  const backends = {};
  before(async () => {
    const [stateful, stateless, legacy, evHttp, evSse] = await Promise.all([
      startRemote({ transport: 'streamable', name: 'stateful' }),
      startRemote({ transport: 'stateless', name: 'stateless' }),
      startRemote({ transport: 'sse', name: 'legacy' }),
      startEverything('streamableHttp'),
      startEverything('sse'),
    ]);
    Object.assign(backends, { stateful, stateless, legacy, evHttp, evSse });
  });
  const ctx = useGateway(() => ({
    mcpServers: {
      stdio: { command: NODE, args: [REMOTE_JS, '--transport', 'stdio', '--name', 'stdio'] },
      stateful: { type: 'http', url: backends.stateful.url },
      stateless: { type: 'http', url: backends.stateless.url },
      legacy: { type: 'sse', url: backends.legacy.url },
      evhttp: { type: 'http', url: backends.evHttp.url },
      evsse: { type: 'sse', url: backends.evSse.url },
    },
    gateway: { timeouts: { callMs: CALL_MS, listMs: 10000, drainMs: 2000 } },
  }));
  after(() => Promise.all(Object.values(backends).map((b) => b.stop())));

  for (const mode of CLIENTS) {
    describe(`client ${mode}`, () => {
      let client;
      const seen = { sampling: [], elicitation: [] };
      before(async () => {
        ({ client } = await connect(ctx.gw, {
          mode, ctx, name: `matrix-${mode}`,
          capabilities: { sampling: {}, elicitation: { form: {} } },
        }));
        client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
          seen.sampling.push(req.params);
          return { model: 'matrix-model', role: 'assistant', content: { type: 'text', text: `answer via ${mode}` } };
        });
        client.setRequestHandler(ElicitRequestSchema, async (req) => {
          seen.elicitation.push(req.params);
          const wanted = req.params.requestedSchema?.properties ?? {};
          return wanted.answer
            ? { action: 'accept', content: { answer: `yes via ${mode}` } }
            : { action: 'accept', content: { name: `Ann ${mode}`, check: true } };  // server-everything's form
        });
      });

      test('one list holds every server\'s tools, prefixed', async () => {
        const { tools } = await withTimeout(client.listTools(), CALL_MS, 'tools/list');
        const names = new Set(tools.map((t) => t.name));
        for (const server of Object.keys(FIXTURES)) {
          for (const tool of ['echo', 'progress', 'sample', 'elicit', 'sleep', 'stats']) {
            assert.ok(names.has(`${server}__${tool}`), `${server}__${tool} listed`);
          }
        }
        for (const server of ['evhttp', 'evsse']) {
          assert.ok(names.has(`${server}__echo`), `${server}__echo listed`);
        }
      });

      for (const [server, label] of Object.entries(FIXTURES)) {
        describe(`server ${server} (${label})`, () => {
          const call = (name, args, opts = {}) => withTimeout(
            client.callTool({ name: `${server}__${name}`, arguments: args }, undefined, { timeout: CALL_MS, ...opts }),
            CALL_MS + 1000, `${server}__${name}`);

          test('call', async () => {
            const r = await call('echo', { message: `hello ${mode} ${server}` });
            assert.equal(textOf(r), `Echo: hello ${mode} ${server}`);
          });

          test('progress', async () => {
            const progress = [];
            const r = await call('progress', { steps: 4, ms: 30 }, { onprogress: (p) => progress.push(p) });
            assert.equal(textOf(r), 'done 4');
            // A JSON-only or legacy client may see the last progress coalesced with the result
            // and drop it (SDK client behaviour); the gateway sent all four in order.
            assert.ok(progress.length >= 3, `got ${progress.length} of 4 progress notifications`);
            progress.forEach((p, i) => assert.equal(p.progress, i + 1));
          });

          test('sampling', async () => {
            const before = seen.sampling.length;
            const r = await call('sample', { prompt: `ask ${mode} ${server}` });
            assert.equal(seen.sampling.length, before + 1, 'one sampling request reached the client');
            assert.match(JSON.stringify(seen.sampling.at(-1).messages), new RegExp(`ask ${mode} ${server}`));
            assert.equal(textOf(r), `sampled: answer via ${mode}`);
          });

          test('elicitation', async () => {
            const before = seen.elicitation.length;
            const r = await call('elicit', { question: `sure ${server}?` });
            assert.equal(seen.elicitation.length, before + 1, 'one elicitation request reached the client');
            assert.equal(seen.elicitation.at(-1).message, `sure ${server}?`);
            assert.equal(textOf(r), `elicited: accept ${JSON.stringify({ answer: `yes via ${mode}` })}`);
          });

          test('cancellation reaches the server', async () => {
            const stats0 = JSON.parse(textOf(await call('stats', {})));
            const ac = new AbortController();
            const started = Date.now();
            const pending = call('sleep', { ms: 10000 }, { signal: ac.signal });
            setTimeout(() => ac.abort('user gave up'), 300);
            await assert.rejects(pending, /user gave up/);
            assert.ok(Date.now() - started < 5000, 'the client was not held');
            // The server saw notifications/cancelled and aborted its sleep.
            await waitFor(async () => {
              const s = JSON.parse(textOf(await call('stats', {})));
              return s.cancelled > stats0.cancelled ? s : false;
            }, { ms: 5000, label: `${server} saw the cancellation` });
          });
        });
      }

      for (const server of ['evhttp', 'evsse']) {
        describe(`server-everything over ${server === 'evhttp' ? 'Streamable HTTP' : 'SSE'}`, () => {
          const call = (name, args, opts = {}) => withTimeout(
            client.callTool({ name: `${server}__${name}`, arguments: args }, undefined, { timeout: CALL_MS, ...opts }),
            CALL_MS + 1000, `${server}__${name}`);

          test('call and progress', async () => {
            assert.equal(textOf(await call('echo', { message: 'hi' })), 'Echo: hi');
            const progress = [];
            const r = await call('trigger-long-running-operation', { duration: 1, steps: 3 },
              { onprogress: (p) => progress.push(p) });
            assert.match(textOf(r), /Long running operation completed/);
            assert.ok(progress.length >= 2, `got ${progress.length} of 3 progress notifications`);
          });

          test('sampling and elicitation', async () => {
            const s = await call('trigger-sampling-request', { prompt: `everything ${mode}`, maxTokens: 10 });
            assert.match(textOf(s), new RegExp(`answer via ${mode}`));
            const e = await call('trigger-elicitation-request', {});
            assert.match(textOf(e), /User provided the requested information|accept/i);
          });
        });
      }
    });
  }
});
