// The Debian package `make deb` builds: its control data (library dependencies, the config as a
// conffile), its files, and that it installs, serves an SDK client with its default config, and
// purges clean. As root (CI) it is installed for real with dpkg; otherwise it is unpacked into a
// directory and run from there.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { MCPGW_BIN, SANITIZED, connect, startGateway, textOf } from './helpers.mjs';

const BUILD = path.dirname(MCPGW_BIN);  // the release build (make deb puts the package there)
const deb = () => {
  const found = existsSync(BUILD) ? readdirSync(BUILD).filter((f) => /^mcpgw_.*\.deb$/.test(f)) : [];
  assert.equal(found.length, 1, `one package in ${BUILD} (make deb): ${found}`);
  return path.join(BUILD, found[0]);
};
const run = (cmd, args) => execFileSync(cmd, args, { encoding: 'utf8' });
const isRoot = process.getuid() === 0;

describe('the Debian package', { skip: SANITIZED && 'the package holds the release build' }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mcpgw-deb-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('control: library dependencies found by dpkg-shlibdeps, the config a conffile', () => {
    const fields = run('dpkg-deb', ['-f', deb()]);
    assert.match(fields, /^Package: mcpgw$/m);
    for (const lib of ['libre2-9', 'libsqlite3-0', 'libssl3', 'libboost-json1.81.0', 'libspdlog1.10']) {
      assert.match(fields, new RegExp(`^Depends:.*\\b${lib.replace(/\./g, '\\.')}`, 'm'), `depends on ${lib}`);
    }
    execFileSync('dpkg-deb', ['-e', deb(), path.join(dir, 'control')]);
    assert.equal(readFileSync(path.join(dir, 'control', 'conffiles'), 'utf8').trim(), '/etc/mcpgw/mcpgw.json');
  });

  test('files: a stripped gateway, the demo server, the config and a hardened unit', () => {
    const list = run('dpkg-deb', ['-c', deb()]);
    for (const f of ['./usr/bin/mcpgw', './etc/mcpgw/mcpgw.json', './usr/lib/systemd/system/mcpgw.service']) {
      assert.ok(list.includes(` ${f}\n`), `the package holds ${f}`);
    }
    const unpacked = path.join(dir, 'root');
    execFileSync('dpkg-deb', ['-x', deb(), unpacked]);
    const symbols = spawnSync('nm', [path.join(unpacked, 'usr/bin/mcpgw')], { encoding: 'utf8' });
    assert.match(symbols.stderr, /no symbols/, 'the binary is stripped');
    const unit = readFileSync(path.join(unpacked, 'usr/lib/systemd/system/mcpgw.service'), 'utf8');
    assert.match(unit, /^ExecStart=\/usr\/bin\/mcpgw serve --config \/etc\/mcpgw\/mcpgw\.json$/m);
    for (const line of ['DynamicUser=yes', 'ProtectSystem=strict', 'NoNewPrivileges=yes', 'StateDirectory=mcpgw']) {
      assert.ok(unit.includes(`\n${line}\n`), `the unit sets ${line}`);
    }
  });

  test(`installs (${isRoot ? 'dpkg -i' : 'unpacked, not root'}), serves with its default config, and goes`, async () => {
    let bin; let config;
    if (isRoot) {
      assert.ok(!existsSync('/usr/bin/mcpgw'), 'no mcpgw installed on this machine before the test');
      run('dpkg', ['-i', deb()]);
      bin = '/usr/bin/mcpgw';
      config = '/etc/mcpgw/mcpgw.json';
      const verify = spawnSync('systemd-analyze', ['verify', '/usr/lib/systemd/system/mcpgw.service'], { encoding: 'utf8' });
      assert.equal(verify.status, 0, `systemd-analyze verify: ${verify.stderr}`);
    } else {
      const root = path.join(dir, 'root');
      bin = path.join(root, 'usr/bin/mcpgw');
      const packaged = readFileSync(path.join(root, 'etc/mcpgw/mcpgw.json'), 'utf8');
      config = path.join(dir, 'mcpgw.json');
      writeFileSync(config, packaged.replace(/"\/usr\/lib\//g, `"${root}/usr/lib/`).replace('/var/lib/mcpgw/', `${dir}/`));
    }
    try {
      const gw = await startGateway(undefined, { configFile: config, bin });
      try {
        assert.equal((await fetch(`${gw.base}/readyz`)).status, 200);
        const { client } = await connect(gw);
        const r = await client.callTool({ name: 'demo__echo', arguments: { message: 'packaged' } });
        assert.match(textOf(r), /packaged/);
        await client.close();
      } finally {
        assert.equal((await gw.stop()).code, 0);
      }
    } finally {
      if (isRoot) run('dpkg', ['--purge', 'mcpgw']);
    }
    if (isRoot) {
      assert.ok(!existsSync('/usr/bin/mcpgw') && !existsSync('/etc/mcpgw'), 'purged: nothing left behind');
    }
  });
});
