// Mcp-Param-* headers (2026-07-28): a tool parameter annotated `x-mcp-header` is mirrored in an
// HTTP header. mcpgw checks the header a stateless client sends against the body (400/-32020),
// and makes the header for a server of that revision, whatever revision the client speaks
// (the server, a v2 `@modelcontextprotocol/server` over Streamable HTTP, refuses a call
// without it). The server is the 2026-07-28 conformance fixture.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { connect, textOf, useGateway } from './helpers.mjs';
import { startConformance2026 } from './fixtures/conformance_2026.mjs';
import { modernPost } from './fixtures/modern_post.mjs';
import { v2Connect } from './fixtures/v2_client.mjs';

let server;
let port;
before(async () => { server = await startConformance2026(); port = server.port; });
after(() => { server?.stop(); });

describe('Mcp-Param-* headers', () => {
  const ctx = useGateway(() => ({ mcpServers: { conf: { url: `http://127.0.0.1:${port}/mcp` } } }));
  const call = (region, headers) => modernPost(ctx.gw.url, 'tools/call',
    { name: 'conf__test_custom_header', arguments: { region } }, { headers });

  test('a stateless client\'s header must match the body: else 400 -32020 before the server is asked', async () => {
    const ok = await call('Hello', { 'mcp-param-region': 'Hello' });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(textOf(ok.json.result), 'region=Hello');

    const encoded = await call('Zürich', { 'mcp-param-region': `=?base64?${Buffer.from('Zürich').toString('base64')}?=` });
    assert.equal(textOf(encoded.json.result), 'region=Zürich', encoded.text);

    for (const [why, headers] of [
      ['missing', {}],
      ['different', { 'mcp-param-region': 'Elsewhere' }],
      ['bad Base64', { 'mcp-param-region': '=?base64?SGVs!!!bG8=?=' }],
    ]) {
      const r = await call('Hello', headers);
      assert.equal(r.status, 400, `${why}: ${r.text}`);
      assert.equal(r.json.error.code, -32020, `${why}: ${r.text}`);
      assert.match(r.json.error.message, /Mcp-Param-Region/, why);
    }
  });

  test('mcpgw makes the header for the server: a 1.x session and a v2 client both reach the tool', async () => {
    const { client } = await connect(ctx.gw, { ctx });
    assert.equal(textOf(await client.callTool({ name: 'conf__test_custom_header', arguments: { region: 'eu-west' } })), 'region=eu-west');
    assert.equal(textOf(await client.callTool({ name: 'conf__test_custom_header', arguments: { region: 'São Paulo' } })), 'region=São Paulo');

    const v2 = await v2Connect(ctx.gw.url);
    ctx.clients.push(v2);
    assert.equal(textOf(await v2.callTool({ name: 'conf__test_custom_header', arguments: { region: 'ap-south' } })), 'region=ap-south');
  });
});
