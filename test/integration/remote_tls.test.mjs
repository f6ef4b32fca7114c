// TLS to remote servers: a server with a certificate from a CA the test makes (openssl).
// Verification passes with that CA configured, fails with a clear reason without it, and is
// skipped only with an explicit tls.insecure (which the gateway logs loudly).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { connect, textOf, useGateway, waitFor } from './helpers.mjs';
import { startRemote } from './fixtures/remote.mjs';
import { makeTestCA } from './fixtures/tls.mjs';

describe('TLS to remote servers', () => {
  const tls = { dir: null, ca: null, https: null, sse: null };
  before(async () => {
    tls.dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-tls-'));
    tls.ca = makeTestCA(tls.dir);
    [tls.https, tls.sse] = await Promise.all([
      startRemote({ transport: 'streamable', name: 'secure', tls: tls.ca }),
      startRemote({ transport: 'sse', name: 'secure-sse', tls: tls.ca }),
    ]);
    assert.match(tls.https.url, /^https:\/\/localhost:\d+\/mcp$/);
  });
  const ctx = useGateway(() => ({
    mcpServers: {
      trusted: { type: 'http', url: tls.https.url },
      trustedsse: { type: 'sse', url: tls.sse.url },
      untrusted: { type: 'http', url: tls.https.url },
      insecure: { type: 'http', url: tls.https.url },
    },
    gateway: {
      servers: {
        trusted: { tls: { caFile: tls.ca.ca }, shareable: true },
        trustedsse: { tls: { caFile: tls.ca.ca }, shareable: true },
        untrusted: { shareable: true },
        insecure: { tls: { insecure: true }, shareable: true },
      },
      timeouts: { drainMs: 2000, listMs: 3000 },
    },
  }), { ready: false });
  after(async () => {
    await Promise.all([tls.https?.stop(), tls.sse?.stop()]);
    if (tls.dir) rmSync(tls.dir, { recursive: true, force: true });
  });

  test('with the test CA the server is verified and serves calls (Streamable HTTP and SSE)', async () => {
    await ctx.gw.waitReady(['trusted', 'trustedsse']);
    const { client } = await connect(ctx.gw, { ctx });
    const r = await client.callTool({ name: 'trusted__echo', arguments: { message: 'over tls' } });
    assert.equal(textOf(r), 'Echo: over tls');
    const s = await client.callTool({ name: 'trustedsse__echo', arguments: { message: 'over tls+sse' } });
    assert.equal(textOf(s), 'Echo: over tls+sse');
  });

  test('without the CA verification fails, and health and the call say why', async () => {
    const h = await waitFor(async () => {
      const x = await ctx.gw.health();
      return x.servers.untrusted.state === 'down' ? x : false;
    }, { ms: 10000, label: 'untrusted server down' });
    assert.match(h.servers.untrusted.reason, /certificate/i);
    assert.match(h.servers.untrusted.reason, /not trusted|unable to get local issuer|self.signed/i);
    const { client } = await connect(ctx.gw, { ctx });
    const err = await client.callTool({ name: 'untrusted__echo', arguments: { message: 'x' } })
      .then(() => null, (e) => e);
    assert.ok(err, 'the call must fail');
    assert.match(err.message, /certificate/i);
    const { tools } = await client.listTools();
    assert.ok(!tools.some((t) => t.name.startsWith('untrusted__')), 'a down server is left out of lists');
    assert.ok(tools.some((t) => t.name === 'trusted__echo'), 'the other servers are listed');
  });

  test('tls.insecure connects without verification, and says so in the log', async () => {
    await ctx.gw.waitReady(['insecure']);
    const { client } = await connect(ctx.gw, { ctx });
    const r = await client.callTool({ name: 'insecure__echo', arguments: { message: 'unverified' } });
    assert.equal(textOf(r), 'Echo: unverified');
    assert.match(ctx.gw.stderr, /\[insecure\] TLS CERTIFICATE VERIFICATION IS OFF/);
  });
});
