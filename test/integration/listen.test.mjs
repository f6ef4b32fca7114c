// 2026-07-28 notifications for stateless clients: subscriptions/listen (list changes and
// resource updates from a server of an older revision, the acknowledgement first, each
// notification tagged with its subscription id, resources unsubscribed when the listen ends),
// and a request's own log level (`io.modelcontextprotocol/logLevel`). The v2 SDK client,
// pinned to 2026-07-28, against mcpgw in front of a stdio server of the older revisions.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { NODE, readSse, startGateway, textOf, useGateway, waitFor, withTimeout } from './helpers.mjs';
import { ENVELOPE, MODERN } from './fixtures/modern_post.mjs';
import { REMOTE_JS } from './fixtures/remote.mjs';
import { v2Connect } from './fixtures/v2_client.mjs';

const config = () => ({
  mcpServers: { remote: { command: NODE, args: [REMOTE_JS, '--transport', 'stdio', '--name', 'remote'] } },
  gateway: { timeouts: { drainMs: 1000 } },
});

describe('subscriptions/listen', () => {
  const ctx = useGateway(config());
  const clients = [];
  after(async () => { for (const c of clients) await c.close().catch(() => {}); });
  const open = async () => {
    const c = await v2Connect(ctx.gw.url);
    clients.push(c);
    return c;
  };
  const call = async (c, name, args) => textOf(await withTimeout(c.callTool({ name, arguments: args }), 10000, name));

  test('discover offers list_changed, resource subscriptions and logging', async () => {
    const c = await open();
    const caps = c.getServerCapabilities();
    assert.equal(caps.tools?.listChanged, true, JSON.stringify(caps));
    assert.equal(caps.resources?.subscribe, true, JSON.stringify(caps));
    assert.ok(caps.logging, JSON.stringify(caps));
  });

  test('list changes and resource updates reach the listen that asked, tagged; its end unsubscribes', async () => {
    const c = await open();
    const seen = [];
    for (const m of ['notifications/tools/list_changed', 'notifications/prompts/list_changed', 'notifications/resources/updated']) {
      c.setNotificationHandler(m, (n) => seen.push(n));
    }
    const { resources } = await c.listResources();
    const readme = resources.find((r) => r.uri.endsWith('readme'));
    assert.ok(readme, JSON.stringify(resources));
    const sub = await withTimeout(c.listen({ toolsListChanged: true, resourceSubscriptions: [readme.uri, 'mcpgw://nowhere/x'] }), 10000, 'listen');
    assert.deepEqual(sub.honoredFilter, { toolsListChanged: true, resourceSubscriptions: [readme.uri] },
      'what the gateway can deliver: not the unknown resource, not what was not asked');

    assert.equal(await call(c, 'remote__add_tool', { name: 'fresh' }), 'added fresh');
    await waitFor(() => seen.some((n) => n.method === 'notifications/tools/list_changed'), { ms: 5000, label: 'tools/list_changed' });
    assert.ok((await c.listTools()).tools.some((t) => t.name === 'remote__fresh'));

    assert.equal(await call(c, 'remote__touch', { uri: 'fixture://readme' }), 'touched fixture://readme',
      'the gateway subscribed at the server for the listen');
    const updated = await waitFor(() => seen.find((n) => n.method === 'notifications/resources/updated'), { ms: 5000, label: 'resources/updated' });
    assert.equal(updated.params.uri, readme.uri, 'the URI as the client knows it');
    assert.equal(seen.filter((n) => n.method === 'notifications/prompts/list_changed').length, 0);

    await sub.close();
    await waitFor(async () => (await call(c, 'remote__touch', { uri: 'fixture://readme' })) === 'not subscribed: fixture://readme',
      { ms: 5000, label: 'unsubscribed at the server after the listen ended' });
  });

  test('every notification carries the subscription id; the acknowledgement comes first', async () => {
    const headers = {
      'content-type': 'application/json', accept: 'application/json, text/event-stream',
      'mcp-protocol-version': MODERN, 'mcp-method': 'subscriptions/listen',
    };
    const res = await fetch(ctx.gw.url, {
      method: 'POST', headers,
      body: JSON.stringify({ jsonrpc: '2.0', id: 'sub-9', method: 'subscriptions/listen', params: { notifications: { toolsListChanged: true }, _meta: ENVELOPE } }),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /text\/event-stream/);
    const c = await open();
    const reading = readSse(res, { until: (evs) => evs.length >= 2, ms: 8000 });
    await new Promise((r) => setTimeout(r, 200));
    await call(c, 'remote__add_tool', { name: 'another' });
    const events = (await reading).events.map((e) => JSON.parse(e.data));
    assert.equal(events[0].method, 'notifications/subscriptions/acknowledged');
    assert.deepEqual(events[0].params.notifications, { toolsListChanged: true });
    assert.equal(events[0].params._meta['io.modelcontextprotocol/subscriptionId'], 'sub-9');
    assert.equal(events[1].method, 'notifications/tools/list_changed');
    assert.equal(events[1].params._meta['io.modelcontextprotocol/subscriptionId'], 'sub-9');
  });

  test('the gateway stopping ends a listen gracefully: its result, tagged', async () => {
    const gw = await startGateway(config());
    const res = await fetch(gw.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', 'mcp-protocol-version': MODERN, 'mcp-method': 'subscriptions/listen' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 'last', method: 'subscriptions/listen', params: { notifications: { toolsListChanged: true }, _meta: ENVELOPE } }),
    });
    const reading = readSse(res, { until: (evs) => evs.length >= 2, ms: 8000 });
    await new Promise((r) => setTimeout(r, 200));
    await gw.stop();
    const events = (await reading).events.map((e) => JSON.parse(e.data));
    assert.equal(events.length, 2, JSON.stringify(events));
    assert.equal(events[1].id, 'last');
    assert.equal(events[1].result._meta['io.modelcontextprotocol/subscriptionId'], 'last');
  });

  test('without a filter: -32602; without text/event-stream: 406', async () => {
    const post = (params, accept) => fetch(ctx.gw.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept, 'mcp-protocol-version': MODERN, 'mcp-method': 'subscriptions/listen' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'subscriptions/listen', params: { ...params, _meta: ENVELOPE } }),
    });
    const noFilter = await post({}, 'application/json, text/event-stream');
    assert.equal((await noFilter.json()).error.code, -32602);
    const jsonOnly = await post({ notifications: { toolsListChanged: true } }, 'application/json');
    assert.equal(jsonOnly.status, 406);
  });
});

describe('a stateless request\'s own log level', () => {
  const ctx = useGateway(config());
  let client;
  after(async () => { await client?.close().catch(() => {}); });

  const logCall = async (level, logLevel) => {
    const got = [];
    client.setNotificationHandler('notifications/message', (n) => got.push(n.params));
    const params = { name: 'remote__log', arguments: { level, message: `at ${level}` } };
    if (logLevel) params._meta = { 'io.modelcontextprotocol/logLevel': logLevel };
    assert.equal(textOf(await client.callTool(params)), `logged at ${level}`);
    await new Promise((r) => setTimeout(r, 100));
    return got;
  };

  test('log messages at or above the level come on the request\'s stream; none unasked', async () => {
    client = await v2Connect(ctx.gw.url);
    const asked = await logCall('warning', 'info');
    assert.equal(asked.length, 1, JSON.stringify(asked));
    assert.equal(asked[0].data, 'at warning');
    assert.deepEqual(await logCall('info', 'error'), [], 'below the level asked');
    assert.deepEqual(await logCall('error', undefined), [], 'no level asked: no log messages');
  });
});
