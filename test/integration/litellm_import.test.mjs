// A LiteLLM config.yaml with three MCP servers (one stdio, one Streamable HTTP remote, one legacy
// SSE remote whose bearer token comes from the environment), served by `mcpgw serve --config
// config.yaml`, and converted by `mcpgw import litellm` into a JSON config that serves the same.
// An SDK client lists the tools of all three and calls one of each; the remote tells which
// Authorization header it received.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { MCPGW_BIN, NODE, connect, startGateway, textOf } from './helpers.mjs';
import { REMOTE_SERVER_JS, startRemote } from './fixtures/remote.mjs';

const TOKEN = 'it-legacy-token-5c1f';
const ENV = { LEGACY_MCP_TOKEN: TOKEN };

function run(args) {
  const r = spawnSync(MCPGW_BIN, args, { encoding: 'utf8', timeout: 30000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** The config.yaml a LiteLLM user has: a model list beside the MCP servers. */
function liteLlmYaml(http, sse) {
  return `model_list:
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_key: os.environ/OPENAI_API_KEY
general_settings:
  master_key: sk-1234
mcp_servers:
  local:
    transport: stdio
    command: ${JSON.stringify(NODE)}
    args: [${JSON.stringify(REMOTE_SERVER_JS)}, "--transport", "stdio", "--name", "local"]
  streamable:
    url: "${http.url}"
    transport: http
    description: "A Streamable HTTP server"
  legacy:
    url: "${sse.url}"
    transport: sse
    auth_type: bearer_token
    auth_value: os.environ/LEGACY_MCP_TOKEN
`;
}

/**
 * Lists the tools through the gateway and calls `whoami` on each server; returns what each
 * server said about itself and the request it got.
 */
async function whoIsBehind(gw, sep = '__') {
  const { client } = await connect(gw);
  try {
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    const who = {};
    for (const server of ['local', 'streamable', 'legacy']) {
      for (const tool of ['echo', 'whoami']) {
        assert.ok(names.includes(`${server}${sep}${tool}`), `${server}${sep}${tool} in ${names.join(', ')}`);
      }
      const result = await client.callTool({ name: `${server}${sep}whoami`, arguments: {} });
      assert.ok(!result.isError, textOf(result));
      who[server] = JSON.parse(textOf(result));
    }
    const echo = await client.callTool({ name: `legacy${sep}echo`, arguments: { message: 'hello' } });
    assert.equal(textOf(echo), 'Echo: hello');
    return who;
  } finally {
    await client.close();
  }
}

function checkWho(who) {
  assert.equal(who.local.transport, 'stdio');
  assert.equal(who.local.name, 'local');
  assert.equal(who.streamable.transport, 'streamable');
  assert.equal(who.streamable.authorization, null, 'no auth_type: no Authorization header');
  assert.equal(who.legacy.transport, 'sse');
  assert.equal(who.legacy.authorization, `Bearer ${TOKEN}`, 'auth_type bearer_token from os.environ');
}

async function stopped(gw) {
  const exit = await gw.stop();
  assert.deepEqual({ code: exit.code, signal: exit.signal }, { code: 0, signal: null }, gw.stderr.slice(-3000));
}

describe('LiteLLM config.yaml', () => {
  let http;
  let sse;
  let dir;
  let yamlFile;

  before(async () => {
    [http, sse] = await Promise.all([
      startRemote({ transport: 'streamable', name: 'streamable' }),
      startRemote({ transport: 'sse', name: 'legacy' }),
    ]);
    dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-litellm-'));
    yamlFile = path.join(dir, 'config.yaml');
    writeFileSync(yamlFile, liteLlmYaml(http, sse));
  });

  after(async () => {
    await Promise.all([http?.stop(), sse?.stop()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('mcpgw serve --config config.yaml serves its three MCP servers', async () => {
    const gw = await startGateway(null, { configFile: yamlFile, env: ENV });
    try {
      checkWho(await whoIsBehind(gw));
      // What LiteLLM has and mcpgw does not is said once at start, never with a secret.
      assert.match(gw.stderr, /model_list: not an MCP setting; mcpgw ignores it/);
      assert.match(gw.stderr, /mcp_servers\.streamable\.description \(line \d+\): ignored/);
      assert.doesNotMatch(gw.stderr, new RegExp(TOKEN));
      assert.doesNotMatch(gw.stderr, /sk-1234/);
    } finally {
      await stopped(gw);
    }
  });

  test('mcpgw import litellm prints a JSON config that serves the same', async () => {
    const r = run(['import', 'litellm', yamlFile]);
    assert.equal(r.code, 0, r.err);
    const config = JSON.parse(r.out);
    assert.deepEqual(Object.keys(config.mcpServers), ['local', 'streamable', 'legacy']);
    assert.deepEqual(config.mcpServers.legacy, {
      type: 'sse', url: sse.url, headers: { Authorization: 'Bearer ${LEGACY_MCP_TOKEN}' },
    });
    assert.equal(config.mcpServers.local.type, 'stdio');
    assert.equal(config.gateway, undefined, 'the separator is not changed unless asked');
    // The report: what was mapped, what was not and why, which variables are read.
    assert.match(r.err, /mapped: mcp_servers\.legacy → mcpServers\.legacy \(sse, http:\/\/127\.0\.0\.1:\d+\/…\)/);
    assert.match(r.err, /mapped: mcp_servers\.legacy\.auth_type: bearer_token → header Authorization: Bearer \$\{LEGACY_MCP_TOKEN\}/);
    assert.match(r.err, /warning: mcp_servers\.streamable\.description \(line \d+\): ignored: mcpgw keeps no description/);
    assert.match(r.err, /warning: general_settings: not an MCP setting; mcpgw ignores it/);
    assert.match(r.err, /environment: mcpgw reads LEGACY_MCP_TOKEN when it starts/);
    assert.match(r.err, /imported 3 server\(s\)/);
    assert.doesNotMatch(r.err, /sk-1234/);

    // -o writes the same config to a file.
    const out = path.join(dir, 'mcpgw.json');
    const w = run(['import', 'litellm', yamlFile, '-o', out]);
    assert.equal(w.code, 0, w.err);
    assert.equal(w.out, '');
    assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')), config);

    const gw = await startGateway(config, { env: ENV });
    try {
      checkWho(await whoIsBehind(gw));
    } finally {
      await stopped(gw);
    }
  });

  test('--keep-litellm-names: tools keep the names LiteLLM gave them (server-tool)', async () => {
    const r = run(['import', 'litellm', '--keep-litellm-names', yamlFile]);
    assert.equal(r.code, 0, r.err);
    const config = JSON.parse(r.out);
    assert.deepEqual(config.gateway, { separator: '-' });
    assert.match(r.err, /--keep-litellm-names → gateway\.separator: "-"/);
    const gw = await startGateway(config, { env: ENV });
    try {
      checkWho(await whoIsBehind(gw, '-'));
    } finally {
      await stopped(gw);
    }
  });

  test('mistakes: exit 2, the YAML line and column or the LiteLLM key, nothing printed', () => {
    const broken = path.join(dir, 'broken.yaml');
    writeFileSync(broken, 'mcp_servers:\n  gh:\n    url: [https://x\n');
    for (const args of [['import', 'litellm', broken], ['check-config', '--no-start', broken]]) {
      const r = run(args);
      assert.equal(r.code, 2, `${args[0]}: ${r.err}`);
      assert.equal(r.out, '');
      assert.match(r.err, /broken\.yaml: not valid YAML at line \d+, column \d+/);
    }
    const wrong = path.join(dir, 'wrong.yml');
    writeFileSync(wrong, 'mcp_servers:\n  gh:\n    url: https://x.example/mcp\n    auth_type: bearer\n');
    const r = run(['import', 'litellm', wrong]);
    assert.equal(r.code, 2);
    assert.equal(r.out, '');
    assert.match(r.err, /error: mcp_servers\.gh\.auth_type \(line 4\): unknown auth_type "bearer"/);
    assert.match(r.err, /wrong\.yml: 1 error\(s\); nothing written/);
    const s = run(['serve', '--config', wrong]);
    assert.equal(s.code, 2);
    assert.match(s.err, /error: mcp_servers\.gh\.auth_type \(line 4\): unknown auth_type "bearer"/);

    // With LiteLLM's "-" between server and tool, a server name holding "-" is refused by name.
    const dashed = path.join(dir, 'dashed.yaml');
    writeFileSync(dashed, 'mcp_servers:\n  my-db:\n    command: db-server\n');
    const d = run(['import', 'litellm', '--keep-litellm-names', dashed]);
    assert.equal(d.code, 2);
    assert.match(d.err, /error: mcp_servers\.my-db: server name "my-db" must not contain the separator "-"/);
    assert.equal(run(['import', 'litellm', dashed]).code, 0, 'fine with the default separator');
  });
});
