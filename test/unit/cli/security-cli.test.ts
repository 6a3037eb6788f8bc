import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseNodeConfig } from '../../../src/cli/config.js';
import { certSignCommand, keygenCommand } from '../../../src/cli/security-cmds.js';
import { resolveNodeConfig } from '../../../src/cli/node-cmd.js';
import { HorusError } from '../../../src/core/errors.js';
import { runCli, startCli, tempDir } from './helpers.js';

describe('security on the command line', () => {
  it('keygen, cert sign and cert show make a CA, a node key and its certificate; a pki node starts with them', async () => {
    const d = tempDir();
    const run = (...args: string[]) => runCli(args, { cwd: d });
    let r = await run('keygen', '--out', 'ca.key');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(statSync(join(d, 'ca.key')).mode & 0o777, 0o600);
    r = await run('keygen', '--out', 'n1.key');
    assert.equal(r.code, 0, r.stderr);
    r = await run('keygen', '--out', 'n1.key');
    assert.equal(r.code, 2, 'an existing key is never overwritten');
    r = await run(
      'cert',
      'sign',
      '--ca-key',
      'ca.key',
      '--key',
      'n1.key.pub',
      '--subject',
      'n1',
      '--endpoint',
      '127.0.0.1:*',
      '--days',
      '30',
      '--out',
      'n1.cert',
    );
    assert.equal(r.code, 0, r.stderr);
    r = await run('cert', 'show', 'n1.cert');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /subject +n1/);
    assert.match(r.stdout, /endpoints +127\.0\.0\.1:\*/);
    const node = startCli(
      [
        'node',
        '--listen',
        '127.0.0.1:0',
        '--no-admin',
        '--security',
        'pki',
        '--key',
        'n1.key',
        '--cert',
        'n1.cert',
        '--ca',
        'ca.key.pub',
        '--join',
        'g',
        '--membership',
        'dynamic',
      ],
      {
        cwd: d,
      },
    );
    await node.waitFor(/group g: view 1/, 20_000);
    await node.stop();
  });

  it('a node refuses to start with a world-readable key, a certificate for another key, or one from another CA', async () => {
    const d = tempDir();
    const run = (...args: string[]) => runCli(args, { cwd: d });
    // The same commands, in this process (each CLI start costs seconds on a busy machine).
    const quiet = (): void => {};
    for (const k of ['ca', 'other-ca', 'n1', 'n2']) await keygenCommand(join(d, `${k}.key`), quiet);
    const sign = (ca: string, node: string) =>
      certSignCommand(
        { caKey: join(d, `${ca}.key`), key: join(d, `${node}.key.pub`), subject: node, endpoints: ['*'], days: 1, out: join(d, `${node}.cert`) },
        quiet,
      );
    await sign('ca', 'n1');
    await sign('other-ca', 'n2');
    const start = (key: string, cert: string) =>
      run('node', '--listen', '127.0.0.1:0', '--no-admin', '--security', 'pki', '--key', key, '--cert', cert, '--ca', 'ca.key.pub');
    let r = await start('n2.key', 'n1.cert');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /another key/);
    r = await start('n2.key', 'n2.cert');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not signed by a trusted CA/);
    writeFileSync(join(d, 'loose.key'), 'x', { mode: 0o644 });
    r = await start('loose.key', 'n1.cert');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /readable by others/);
  });

  it('the config file takes a security section; flags override its mode and files', () => {
    const file = parseNodeConfig(
      { listen: '127.0.0.1:7001', security: { mode: 'pki', key: 'k', cert: 'c', ca: ['ca.pub'], revoked: { serials: ['ab'.repeat(16)] } } },
      'test',
    );
    const cfg = resolveNodeConfig(file, {});
    assert.deepEqual(cfg.security, { mode: 'pki', key: 'k', cert: 'c', ca: ['ca.pub'], revoked: { serials: ['ab'.repeat(16)] } });
    assert.deepEqual(resolveNodeConfig(file, { cert: 'c2' }).security, {
      mode: 'pki',
      key: 'k',
      cert: 'c2',
      ca: ['ca.pub'],
      revoked: { serials: ['ab'.repeat(16)] },
    });
    assert.deepEqual(resolveNodeConfig(file, { security: 'off' }).security, { mode: 'off' });
    assert.deepEqual(resolveNodeConfig({ listen: '127.0.0.1:7001' }, {}).security, { mode: 'off' });
    assert.deepEqual(resolveNodeConfig({ listen: '127.0.0.1:7001' }, { security: 'psk', pskFile: 's' }).security, { mode: 'psk', secretFile: 's' });
    assert.throws(
      () => resolveNodeConfig({ listen: '127.0.0.1:7001' }, { security: 'pki' }),
      (e: unknown) => e instanceof HorusError && e.code === 'ERR_CONFIG' && /--key/.test(e.message),
    );
    assert.throws(() => parseNodeConfig({ security: { mode: 'pki', key: 'k', cert: 'c' } }, 'test'), /ca/);
    assert.throws(() => parseNodeConfig({ security: { mode: 'psk' } }, 'test'), /secret/);
    assert.throws(() => parseNodeConfig({ security: { mode: 'tls' } }, 'test'), HorusError);
  });
});
