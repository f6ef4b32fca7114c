// A reported failure: a PostgreSQL MCP server offered over legacy HTTP+SSE, behind a gateway,
// that Claude clients could not use. Here for real: a PostgreSQL started by the test,
// @modelcontextprotocol/server-postgres behind supergateway's SSE transport, mcpgw in front,
// and a client over Streamable HTTP that lists the prefixed tools and runs a SELECT.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { connect, textOf, useGateway, withTimeout } from './helpers.mjs';
import { INVENTORY_ROWS, startPostgres, startPostgresSse } from './fixtures/postgres.mjs';

describe('PostgreSQL over legacy SSE behind mcpgw', () => {
  const db = { pg: null, sse: null };
  before(async () => {
    db.pg = await startPostgres();
    db.sse = await startPostgresSse(db.pg.url);
  });
  const ctx = useGateway(() => ({
    mcpServers: { postgres: { type: 'sse', url: db.sse.sseUrl } },
    gateway: { timeouts: { drainMs: 2000 } },
  }));
  after(async () => {
    await db.sse?.stop();
    await db.pg?.stop();
  });

  for (const mode of ['both', 'json']) {
    test(`a Streamable HTTP client (${mode}) lists postgres__query and SELECTs rows`, async () => {
      const { client } = await connect(ctx.gw, { mode, ctx, name: 'postgres-client' });
      const { tools } = await withTimeout(client.listTools(), 10000, 'tools/list');
      const query = tools.find((t) => t.name === 'postgres__query');
      assert.ok(query, `postgres__query listed (got ${tools.map((t) => t.name).join(', ')})`);
      assert.ok(query.inputSchema?.properties?.sql, 'the tool keeps its schema');
      const result = await withTimeout(client.callTool({
        name: 'postgres__query', arguments: { sql: 'SELECT id, item, qty FROM inventory ORDER BY id' },
      }), 10000, 'query');
      assert.ok(!result.isError, textOf(result));
      assert.deepEqual(JSON.parse(textOf(result)), INVENTORY_ROWS);
    });
  }

  test('a write is refused by the server, and the error reaches the client', async () => {
    const { client } = await connect(ctx.gw, { ctx });
    const outcome = await client.callTool({
      name: 'postgres__query', arguments: { sql: 'DELETE FROM inventory' },
    }).then((r) => (r.isError ? textOf(r) : 'succeeded'), (e) => e.message);
    assert.match(outcome, /read-only transaction/);
  });
});
