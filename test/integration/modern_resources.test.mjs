// resources/subscribe from a client of an older revision to a server that speaks only
// 2026-07-28, which has no such method: mcpgw names the resource in the
// `resourceSubscriptions` of its own subscriptions/listen at the server (opened again with the
// new set), and the server's notifications/resources/updated reach the subscribed session.
// The server is the 2026-07-28 conformance fixture, over stdio and over Streamable HTTP.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

import { NODE, connect, sleep, textOf, useGateway, waitFor } from './helpers.mjs';
import { CONFORMANCE_2026_JS, startConformance2026 } from './fixtures/conformance_2026.mjs';

const WATCHED = 'test://static-text';

let http;
let port;
before(async () => { http = await startConformance2026(); port = http.port; });
after(() => { http?.stop(); });

for (const transport of ['stdio', 'http']) describe(`resources/subscribe at a 2026-07-28 server (${transport})`, () => {
  const ctx = useGateway(() => ({
    mcpServers: {
      conf: transport === 'http' ? { url: `http://127.0.0.1:${port}/mcp` } : { command: NODE, args: [CONFORMANCE_2026_JS] },
    },
  }));

  test('subscribe: its updates reach the session; unsubscribe: they stop', async () => {
    const { client } = await connect(ctx.gw, { ctx, path: '/mcp/conf' });
    const updates = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => updates.push(n.params.uri));
    const trigger = async () => textOf(await client.callTool({ name: 'test_trigger_resource_update', arguments: { uri: WATCHED } }));

    await client.subscribeResource({ uri: WATCHED });
    // The listen is opened again with the resource: announce until one arrives.
    await waitFor(async () => { await trigger(); await sleep(100); return updates.includes(WATCHED); },
      { ms: 8000, label: 'resources/updated for the subscribed resource' });

    await client.unsubscribeResource({ uri: WATCHED });
    await sleep(500);
    const seen = updates.length;
    await trigger();
    await sleep(800);
    assert.equal(updates.filter((u) => u === WATCHED).length, seen, 'no update after unsubscribe');
  });
});
