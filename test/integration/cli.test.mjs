// The command line: help everywhere, config errors that name their JSON path, check-config.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { MCPGW_BIN, defaultConfig } from './helpers.mjs';

function run(args, { timeout = 30000 } = {}) {
  const r = spawnSync(MCPGW_BIN, args, { encoding: 'utf8', timeout });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function withConfig(config, fn) {
  const dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-cli-'));
  const file = path.join(dir, 'mcpgw.json');
  writeFileSync(file, typeof config === 'string' ? config : JSON.stringify(config));
  try {
    return fn(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('command line', () => {
  test('--help on the program and on every subcommand', () => {
    for (const [args, mention] of [[['--help'], 'serve'], [['serve', '--help'], '--listen'],
      [['check-config', '--help'], '--no-start']]) {
      const r = run(args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.err}`);
      assert.match(r.out, new RegExp(mention));
    }
    assert.match(run(['--version']).out, /^mcpgw \d+\.\d+\.\d+/);
  });

  test('config errors name their JSON path, and serve refuses to start', () => {
    withConfig({ mcpServers: { demo: { comand: 'x' } }, gateway: { limits: { maxBodyBytes: -5 } } }, (file) => {
      for (const args of [['check-config', '--no-start', file], ['serve', '--config', file]]) {
        const r = run(args);
        assert.equal(r.code, 2, `${args[0]} exit code`);
        assert.match(r.err, /mcpServers\.demo\.comand: unknown key/);
        assert.match(r.err, /mcpServers\.demo\.command: a stdio server needs a command/);
        assert.match(r.err, /gateway\.limits\.maxBodyBytes: expected an integer from 1/);
      }
    });
    withConfig('{"mcpServers": {', (file) => {
      const r = run(['check-config', file]);
      assert.equal(r.code, 2);
      assert.match(r.err, /not valid JSON/);
    });
  });

  test('a JSON mistake says its line and column; a server given twice is an error, not a replacement', () => {
    withConfig('{\n  "mcpServers": {\n    "demo": {"command": "x"}\n    "other": {}\n  }\n}', (file) => {
      const r = run(['check-config', '--no-start', file]);
      assert.equal(r.code, 2);
      assert.match(r.err, /not valid JSON at line 4, column 5/);
    });
    withConfig('{"mcpServers": {\n  "fs": {"command": "a"},\n  "fs": {"command": "b"}\n}}', (file) => {
      for (const args of [['check-config', '--no-start', file], ['serve', '--config', file]]) {
        const r = run(args);
        assert.equal(r.code, 2, `${args[0]}: ${r.out}${r.err}`);
        assert.match(r.err, /mcpServers\.fs: given twice in .*mcpgw\.json \(line 3, column 3\)/);
      }
    });
  });

  test('check-config shows a remote server\'s URL without the key in its query or userinfo', () => {
    withConfig({ mcpServers: {
      q: { type: 'http', url: 'https://example.com/mcp/v1?api_key=SECRET-IN-QUERY' },
      u: { type: 'sse', url: 'https://user:SECRET-IN-USERINFO@example.org/sse' },
    } }, (file) => {
      const r = run(['check-config', '--no-start', file]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /q +http +https:\/\/example\.com\/mcp\/v1\n/);
      assert.match(r.out, /u +sse +https:\/\/example\.org\/sse\n/);
      assert.doesNotMatch(r.out + r.err, /SECRET/);
    });
  });

  test('keys create --servers names only servers of the config it is given', () => {
    withConfig(defaultConfig(), (file) => {
      const store = path.join(path.dirname(file), 'keys.db');
      const bad = run(['keys', 'create', '--name', 'k1', '--servers', 'demo,nope', '--config', file, '--store', store]);
      assert.equal(bad.code, 2, bad.out + bad.err);
      assert.match(bad.err, /--servers: no server named "nope" in the config \(servers: everything,demo\)/);
      assert.doesNotMatch(run(['keys', 'list', '--store', store]).out, /^k1\s/m, 'no key was made');
      const good = run(['keys', 'create', '--name', 'k2', '--servers', 'demo', '--config', file, '--store', store]);
      assert.equal(good.code, 0, good.err);
      assert.match(good.out, /servers demo/);
      const unchecked = run(['keys', 'create', '--name', 'k3', '--servers', 'nope', '--store', store]);
      assert.equal(unchecked.code, 0, 'without a config the names cannot be checked');
      assert.match(unchecked.err, /not checked against a config/);
    });
  });

  test('check-config starts the servers and prints every name a client will see', () => {
    withConfig(defaultConfig(), (file) => {
      const r = run(['check-config', file], { timeout: 60000 });
      assert.equal(r.code, 0, r.out + r.err);
      assert.match(r.out, /^ {2}demo__echo$/m);
      assert.match(r.out, /^ {2}everything__echo$/m);
      assert.match(r.out, /^ {2}demo__greeting$/m);
      assert.match(r.out, /^ {2}mcpgw:\/\/demo\/demo:\/\/readme$/m);
      assert.match(r.out, /^ok$/m);
    });
  });

  test('check-config reports a server that cannot start', () => {
    withConfig({ mcpServers: { broken: { command: '/nonexistent/server' } },
      gateway: { timeouts: { startupMs: 1000 } } }, (file) => {
      const r = run(['check-config', file], { timeout: 60000 });
      assert.equal(r.code, 1, r.out + r.err);
      assert.match(r.out, /server broken is (restarting|starting|down).*cannot run \/nonexistent\/server/);
    });
  });
});
