// Traces as a collector sees them: an OTLP/HTTP receiver (fixtures/otlp_receiver.mjs, which
// refuses anything the OTLP JSON encoding does not allow) gets a server span per exchange and a
// client span per call to a server, linked across the gateway: the client's traceparent (in
// params._meta, the MCP way, or as an HTTP header) is the exchange span's parent, and the
// server receives the gateway's client span in _meta.traceparent and, over HTTP, in a
// traceparent header. A parent's "not sampled" is followed; a collector that fails costs
// spans (counted), never calls.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { connect, initializeBody, servers, startGateway, waitFor } from './helpers.mjs';
import { startRemote } from './fixtures/remote.mjs';
import { startOtlpReceiver } from './fixtures/otlp_receiver.mjs';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

function gatewayConfig(remote, receiver, tracing = {}) {
  return {
    mcpServers: { demo: servers.demo(), remote: { url: remote.url } },
    gateway: {
      timeouts: { drainMs: 2000 },
      servers: { remote: { isolation: 'shared' } },
      tracing: { endpoint: receiver.url, flushMs: 100, ...tracing },
    },
  };
}

/** What the remote server's whoami saw: the traceparent header and _meta.traceparent. */
async function whoami(client, meta) {
  const r = await client.callTool({ name: 'remote__whoami', arguments: {}, ...(meta ? { _meta: meta } : {}) });
  const seen = JSON.parse(r.content[0].text);
  return { header: seen.traceparent, meta: seen.meta?.traceparent ?? null };
}

describe('tracing', () => {
  let remote;
  let receiver;
  before(async () => {
    remote = await startRemote({ transport: 'streamable', name: 'remote' });
    receiver = await startOtlpReceiver();
  });
  after(async () => {
    await remote?.stop();
    await receiver?.close();
  });

  test('spans link across the gateway: client → exchange span → call span → server', async () => {
    const gw = await startGateway(gatewayConfig(remote, receiver));
    try {
      const { client } = await connect(gw);
      const seen = await whoami(client, { traceparent: `00-${TRACE}-${PARENT}-01` });
      const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(seen.meta ?? '');
      assert.ok(m, `the server gets the gateway's span in _meta.traceparent: ${JSON.stringify(seen)}`);
      assert.equal(m[1], TRACE, 'in the client\'s trace');
      assert.equal(seen.header, seen.meta, 'and the same in the traceparent header (HTTP server)');
      const callSpanId = m[2];

      await waitFor(() => receiver.spans.some((s) => s.spanId === callSpanId)
        && receiver.spans.some((s) => s.name === 'tools/call remote__whoami'), { ms: 5000, label: 'spans at the collector' });
      assert.deepEqual(receiver.invalid, []);
      const exchange = receiver.spans.find((s) => s.name === 'tools/call remote__whoami');
      const call = receiver.spans.find((s) => s.spanId === callSpanId);
      assert.equal(exchange.traceId, TRACE);
      assert.equal(exchange.parentSpanId, PARENT, 'the client\'s span is the exchange\'s parent');
      assert.equal(exchange.kind, 2, 'SERVER');
      assert.equal(call.traceId, TRACE);
      assert.equal(call.parentSpanId, exchange.spanId, 'the call to the server is the exchange\'s child');
      assert.equal(call.kind, 3, 'CLIENT');
      assert.equal(call.name, 'tools/call whoami');
      assert.equal(exchange.attributes['mcp.method.name'], 'tools/call');
      assert.equal(exchange.attributes['gen_ai.tool.name'], 'remote__whoami');
      assert.match(exchange.attributes['mcp.session.id'], /^[0-9a-f]{32}$/);
      assert.equal(call.attributes['gen_ai.tool.name'], 'whoami');
      assert.equal(call.attributes['mcpgw.server'], 'remote');
      assert.equal(exchange.resource['service.name'], 'mcpgw');
      assert.ok(exchange.start <= call.start && call.end <= exchange.end, 'the call lies within the exchange');
      assert.ok(receiver.contentTypes.every((t) => t === 'application/json'));

      // A stdio server hears it in _meta; an error is an error span.
      const before = receiver.spans.length;
      const bad = await client.callTool({ name: 'demo__add', arguments: { a: 'x' } });
      assert.equal(bad.isError, true);
      await waitFor(() => receiver.spans.length >= before + 2, { ms: 5000, label: 'the error\'s spans' });
      const failed = receiver.spans.find((s) => s.name === 'tools/call demo__add');
      assert.equal(failed.status.code, 2);
      assert.equal(failed.attributes['error.type'], 'tool_error');
      assert.notEqual(failed.traceId, TRACE, 'a call without a parent starts its own trace');
      await client.close();
    } finally {
      assert.equal((await gw.stop()).code, 0);
    }
  });

  test('the traceparent HTTP header works as the parent; a parent that was not sampled is followed', async () => {
    const gw = await startGateway(gatewayConfig(remote, receiver));
    try {
      const res = await fetch(gw.url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', traceparent: `00-${TRACE}-${PARENT}-01` },
        body: JSON.stringify(initializeBody(1)),
      });
      assert.equal(res.status, 200);
      await res.text();
      await waitFor(() => receiver.spans.some((s) => s.name === 'initialize' && s.parentSpanId === PARENT),
        { ms: 5000, label: 'the initialize span under the header\'s parent' });

      const { client } = await connect(gw);
      const count = receiver.spans.length;
      const notSampled = await whoami(client, { traceparent: `00-${TRACE}-${PARENT}-00` });
      assert.match(notSampled.meta, new RegExp(`^00-${TRACE}-[0-9a-f]{16}-00$`), 'propagated, marked not sampled');
      await client.callTool({ name: 'demo__echo', arguments: { message: 'x' } });  // sampled: flushes the batch
      await waitFor(() => receiver.spans.some((s) => s.name === 'tools/call demo__echo'), { ms: 5000, label: 'a later span' });
      assert.ok(!receiver.spans.slice(count).some((s) => s.traceId === TRACE), 'nothing recorded for a trace its parent did not sample');
      await client.close();
    } finally {
      assert.equal((await gw.stop()).code, 0);
    }
  });

  test('sampleRatio 0: nothing recorded and nothing added for calls without a parent', async () => {
    const gw = await startGateway(gatewayConfig(remote, receiver, { sampleRatio: 0 }));
    try {
      const { client } = await connect(gw);
      const count = receiver.requests;
      const seen = await whoami(client);
      assert.equal(seen.meta, null);
      assert.equal(seen.header, null);
      const parented = await whoami(client, { traceparent: `00-${TRACE}-${PARENT}-01` });
      assert.match(parented.meta, new RegExp(`^00-${TRACE}-`), 'a sampled parent is still followed');
      await waitFor(() => receiver.requests > count, { ms: 5000, label: 'the parented call exported' });
      await client.close();
    } finally {
      assert.equal((await gw.stop()).code, 0);
    }
  });

  test('SIGTERM sends the spans still queued before the gateway exits', async () => {
    const gw = await startGateway(gatewayConfig(remote, receiver, { flushMs: 600000 }));
    const { client } = await connect(gw);
    const before = receiver.spans.length;
    for (let i = 0; i < 3; i++) {
      await client.callTool({ name: 'demo__echo', arguments: { message: `last-${i}` } });
    }
    await client.close();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(receiver.spans.length, before, 'nothing sent before the (ten-minute) flush');
    assert.equal((await gw.stop()).code, 0);
    const sent = receiver.spans.slice(before).filter((s) => s.name === 'tools/call demo__echo');
    assert.equal(sent.length, 3, 'the three exchanges, flushed on the way out');
    assert.deepEqual(receiver.invalid, []);
  });

  test('a collector that fails costs spans, counted in /metrics, never calls', async () => {
    receiver.failWith(503);
    const gw = await startGateway(gatewayConfig(remote, receiver, { queue: 16, batch: 8 }));
    try {
      const { client } = await connect(gw);
      const started = Date.now();
      for (let i = 0; i < 20; i++) {
        const r = await client.callTool({ name: 'demo__echo', arguments: { message: `m${i}` } });
        assert.equal(r.content[0].text, `Echo: m${i}`);
      }
      assert.ok(Date.now() - started < 5000, 'calls do not wait for the collector');
      const dropped = async () => {
        const text = await (await fetch(`${gw.base}/metrics`)).text();
        const m = /mcpgw_trace_spans_dropped_total\{reason="export_failed"\} (\d+)/.exec(text);
        return m ? Number(m[1]) : 0;
      };
      await waitFor(async () => (await dropped()) > 0, { ms: 5000, label: 'dropped spans counted' });
      assert.match(gw.stderr, /tracing: \d+ span\(s\) dropped: .*answered HTTP 503/);
      await client.close();
    } finally {
      receiver.failWith(0);
      assert.equal((await gw.stop()).code, 0);
    }
  });
});
