// A session ends while its own upstream session is still starting against a server that hangs:
// the gateway stops waiting for that backend after its stop grace, and whatever the backend
// does afterwards (its handshake failing at startupMs) never touches the session it belonged to.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { PROTOCOL_VERSION, initializeBody, post, sleep, useGateway } from './helpers.mjs';
import { startRemote } from './fixtures/remote.mjs';

describe('a session ends while its server hangs', () => {
  const up = { remote: null };
  before(async () => { up.remote = await startRemote({ transport: 'streamable', name: 'stuck' }); });
  const ctx = useGateway(() => ({
    mcpServers: { stuck: { type: 'http', url: up.remote.url } },
    gateway: { timeouts: { drainMs: 2000, listMs: 500, startupMs: 9000 } },
  }));
  after(() => up.remote?.stop());

  test('the gateway outlives the starting backend it stopped waiting for', async () => {
    await up.remote.fault('hang');
    const init = await post(ctx.gw.url, initializeBody());
    const sid = init.headers.get('mcp-session-id');
    assert.ok(sid, init.text);
    const del = await fetch(ctx.gw.url, { method: 'DELETE', headers: { 'mcp-session-id': sid, 'mcp-protocol-version': PROTOCOL_VERSION } });
    assert.equal(del.status, 200);
    await sleep(10000);  // past the 7 s stop grace and the 9 s handshake deadline
    await up.remote.fault('none');
    assert.equal(ctx.gw.exit, null, `the gateway died: ${JSON.stringify(ctx.gw.exit)}`);
    assert.equal((await post(ctx.gw.url, initializeBody())).status, 200);
  });
});
