// Health for load balancers and operators: /livez answers while the event loop runs; /readyz
// is 503 until a server can serve and while the gateway drains; remote servers that connect
// per session are probed in the background, so their state is known before a client asks.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';

import { connect, defaultConfig, startGateway, textOf, waitFor, withTimeout, SLOW } from './helpers.mjs';
import { startRemote } from './fixtures/remote.mjs';

const getJson = async (gw, path) => {
  const res = await fetch(`${gw.base}${path}`);
  return { status: res.status, body: await res.json() };
};

async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

/** GET over one kept-alive connection (a drain closes the listener, not open connections). */
function keptAlive(gw) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const get = (path) => new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: gw.port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: JSON.parse(body) }));
    }).on('error', reject);
  });
  return { get, close: () => agent.destroy() };
}

describe('health endpoints', () => {
  test('/livez answers; /readyz is 200 once a shared server is ready', async () => {
    const gw = await startGateway(defaultConfig());
    try {
      assert.deepEqual(await getJson(gw, '/livez'), { status: 200, body: { status: 'alive' } });
      await gw.waitReady();
      const { status, body } = await getJson(gw, '/readyz');
      assert.equal(status, 200, JSON.stringify(body));
      assert.equal(body.status, 'ready');
      assert.equal(body.draining, false);
      assert.equal(body.servers.demo.ready, true);
      assert.equal(body.servers.demo.state, 'ready');
    } finally {
      await gw.stop();
    }
  });

  test('a remote server is probed before any client: down, then ready once it answers', async () => {
    const port = await freePort();
    const gw = await startGateway({
      mcpServers: { far: { type: 'http', url: `http://127.0.0.1:${port}/mcp` } },
      gateway: { health: { probeIntervalMs: 300 }, timeouts: { startupMs: 1000, connectMs: 500, drainMs: 1000 } },
    });
    let remote;
    try {
      const down = await waitFor(async () => {
        const r = await getJson(gw, '/readyz');
        return r.body.servers.far.reason ? r : false;
      }, { ms: 10000 * SLOW, label: 'the first probe failed' });
      assert.equal(down.status, 503, JSON.stringify(down.body));
      assert.equal(down.body.servers.far.ready, false);
      assert.equal(down.body.servers.far.state, 'down');
      assert.match(down.body.servers.far.reason, /connect|refused|127\.0\.0\.1/i);
      const h = await gw.health();
      assert.equal(h.servers.far.state, 'down');
      assert.equal(h.servers.far.instances, 0, 'a probe is not a session\'s instance');
      assert.equal(typeof h.servers.far.probedMsAgo, 'number');

      remote = await startRemote({ transport: 'streamable', port });
      const up = await waitFor(async () => {
        const r = await getJson(gw, '/readyz');
        return r.status === 200 ? r : false;
      }, { ms: 10000 * SLOW, label: '/readyz 200 once the server answers' });
      assert.equal(up.body.servers.far.state, 'ready');
      assert.equal((await gw.health()).servers.far.state, 'ready');
      assert.ok((await remote.stats()).initializes >= 1, 'the probe initialized a session upstream');
      assert.match(gw.stderr, /probe: server far answers/);
      const exit = await gw.stop();
      assert.deepEqual(exit, { code: 0, signal: null, forced: false }, 'probes end with the gateway');
    } finally {
      await gw.stop();
      await remote?.stop();
    }
  });

  test('a server that gets each user\'s credential is not probed and does not hold readiness back', async () => {
    const remote = await startRemote({ transport: 'streamable' });
    const gw = await startGateway({
      mcpServers: { mine: { type: 'http', url: remote.url } },
      gateway: { servers: { mine: { forwardAuthorization: true } }, health: { probeIntervalMs: 200 } },
    });
    try {
      const { status, body } = await getJson(gw, '/readyz');
      assert.equal(status, 200, JSON.stringify(body));
      assert.match(body.servers.mine.note, /not probed/);
      await new Promise((r) => setTimeout(r, 600));
      assert.equal((await remote.stats()).initializes, 0, 'nothing connected without a user');
    } finally {
      await gw.stop();
      await remote.stop();
    }
  });

  test('/readyz is 503 while the gateway drains, and /livez still answers', async () => {
    const gw = await startGateway(defaultConfig({ timeouts: { drainMs: 5000 } }));
    // A drain closes the listener, and each connection after its next answer (which says
    // "Connection: close"): one connection opened beforehand for each question asked.
    const conn = keptAlive(gw);
    const live = keptAlive(gw);
    try {
      await gw.waitReady();
      assert.equal((await conn.get('/readyz')).status, 200);
      assert.equal((await live.get('/livez')).status, 200);
      const { client } = await connect(gw, { mode: 'json' });
      const call = client.callTool({ name: 'demo__sleep', arguments: { ms: 1500 } });
      call.catch(() => {});  // awaited below; never an unhandled rejection meanwhile
      await waitFor(async () => (await gw.health()).servers.demo.inFlight >= 1, { label: 'call in flight' });
      process.kill(gw.pid, 'SIGTERM');
      await new Promise((r) => setTimeout(r, 200));  // the signal is handled
      const draining = await conn.get('/readyz');
      assert.equal(draining.status, 503, JSON.stringify(draining.body));
      assert.equal(draining.body.draining, true);
      assert.match(draining.body.reason, /draining/);
      assert.equal(draining.headers.connection, 'close', 'a drained connection\'s last answer says so');
      const alive = await live.get('/livez');
      assert.equal(alive.status, 200);
      assert.equal(alive.headers.connection, 'close');
      assert.equal(textOf(await withTimeout(call, 10000, 'the drained call')), 'Slept 1500 ms');
      await client.close().catch(() => {});
    } finally {
      conn.close();
      live.close();
      await gw.stop();
    }
  });
});
