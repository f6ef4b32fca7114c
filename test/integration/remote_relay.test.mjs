// The rest of the relay over every server transport: logging (with a reply and on its own),
// roots, resources/updated for a subscription, tools/list_changed. A stateless server has no
// stream for what it sends on its own, so only what travels with a reply is asked of it.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  ListRootsRequestSchema, LoggingMessageNotificationSchema, ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';

import { connect, textOf, useGateway, waitFor, withTimeout, NODE } from './helpers.mjs';
import { startRemote, REMOTE_JS } from './fixtures/remote.mjs';

const SERVERS = {
  stdio: { unrelated: true, roots: false },  // shared: not told any client's roots
  stateful: { unrelated: true, roots: true },
  stateless: { unrelated: false, roots: true },
  legacy: { unrelated: true, roots: true },
};

describe('the relay over every server transport', () => {
  const up = {};
  before(async () => {
    [up.stateful, up.stateless, up.legacy] = await Promise.all([
      startRemote({ transport: 'streamable', name: 'stateful' }),
      startRemote({ transport: 'stateless', name: 'stateless' }),
      startRemote({ transport: 'sse', name: 'legacy' }),
    ]);
  });
  const ctx = useGateway(() => ({
    mcpServers: {
      stdio: { command: NODE, args: [REMOTE_JS, '--transport', 'stdio', '--name', 'stdio'] },
      stateful: { type: 'http', url: up.stateful.url },
      stateless: { type: 'http', url: up.stateless.url },
      legacy: { type: 'sse', url: up.legacy.url },
    },
    gateway: { timeouts: { drainMs: 2000 } },
  }));
  after(() => Promise.all(Object.values(up).map((r) => r.stop())));

  for (const mode of ['both', 'legacy']) {
    describe(`client ${mode}`, () => {
      let client;
      const logs = [];
      const updates = [];
      let listChanged = 0;
      before(async () => {
        ({ client } = await connect(ctx.gw, { mode, ctx, capabilities: { roots: { listChanged: true } } }));
        client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => { logs.push(n.params); });
        client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => { updates.push(n.params.uri); });
        client.setNotificationHandler(ToolListChangedNotificationSchema, () => { listChanged += 1; });
        client.setRequestHandler(ListRootsRequestSchema, async () => ({
          roots: [{ uri: `file:///projects/${mode}`, name: 'work' }],
        }));
      });
      const call = (server, name, args = {}) => withTimeout(
        client.callTool({ name: `${server}__${name}`, arguments: args }), 10000, `${server}__${name}`);

      for (const [server, can] of Object.entries(SERVERS)) {
        test(`${server}: logging with a reply${can.unrelated ? ' and on its own' : ''}`, async () => {
          await call(server, 'log', { level: 'warning', message: `with reply ${server} ${mode}` });
          await waitFor(() => logs.some((l) => l.data === `with reply ${server} ${mode}` && l.level === 'warning'),
            { ms: 5000, label: 'related log notification' });
          if (can.unrelated) {
            await call(server, 'log', { message: `on its own ${server} ${mode}`, related: false });
            await waitFor(() => logs.some((l) => l.data === `on its own ${server} ${mode}`),
              { ms: 5000, label: 'unrelated log notification' });
          }
        });

        if (can.roots) {
          test(`${server}: roots come from this client`, async () => {
            assert.equal(textOf(await call(server, 'roots')), JSON.stringify([`file:///projects/${mode}`]));
          });
        }

        if (can.unrelated) {
          test(`${server}: resources/updated reaches the subscriber, URI as the client knows it`, async () => {
            const uri = `mcpgw://${server}/fixture://readme`;
            await client.subscribeResource({ uri });
            assert.equal(textOf(await call(server, 'touch', { uri: 'fixture://readme' })), 'touched fixture://readme');
            await waitFor(() => updates.includes(uri), { ms: 5000, label: `resources/updated for ${uri}` });
            await client.unsubscribeResource({ uri });
          });

          test(`${server}: a new tool arrives with tools/list_changed`, async () => {
            const before = listChanged;
            const tool = `extra_${mode}`;
            await call(server, 'add_tool', { name: tool });
            await waitFor(() => listChanged > before, { ms: 5000, label: 'tools/list_changed' });
            const { tools } = await client.listTools();
            assert.ok(tools.some((t) => t.name === `${server}__${tool}`), `${server}__${tool} listed`);
            assert.equal(textOf(await call(server, tool)), `I am ${tool}`);
          });
        }
      }
    });
  }
});
