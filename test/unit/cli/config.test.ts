import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { canonicalMembers, parseNodeConfig, readNodeConfig } from '../../../src/cli/config.js';
import { resolveNodeConfig } from '../../../src/cli/node-cmd.js';
import { ConfigError } from '../../../src/core/errors.js';
import { runCli, tempDir } from './helpers.js';

const EXAMPLE = fileURLToPath(new URL('../../../conf/node.example.json', import.meta.url));

describe('node config', () => {
  it('accepts the example in conf/', async () => {
    const cfg = await readNodeConfig(EXAMPLE);
    assert.equal(cfg.listen, '127.0.0.1:7001');
    assert.equal(cfg.groups?.length, 2);
  });

  it('names every problem with its path, one per line', () => {
    assert.throws(
      () => parseNodeConfig({ listen: 'nope', seeds: ['127.0.0.1:0'], admin: '10.0.0.1:http', groups: [{ name: '', members: ['x'] }], colour: 'red' }, 'test'),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        const lines = err.message.split('\n');
        assert.equal(lines[0], 'config test is invalid:');
        assert.ok(lines.includes('  - listen: expected HOST:PORT, e.g. 127.0.0.1:7001 (port 0 picks a free one)'), err.message);
        assert.ok(lines.includes('  - seeds[0]: expected HOST:PORT with a port from 1 to 65535, e.g. 127.0.0.1:7001'), err.message);
        assert.ok(
          lines.some((l) => l.startsWith('  - admin: ')),
          err.message,
        );
        assert.ok(lines.includes('  - groups[0].name: a group name cannot be empty'), err.message);
        assert.ok(lines.includes('  - groups[0].members[0]: expected HOST:PORT with a port from 1 to 65535, e.g. 127.0.0.1:7001'), err.message);
        assert.ok(lines.includes('  - (top level): unknown field "colour"'), err.message);
        return true;
      },
    );
  });

  it('reports a missing file and bad JSON as config errors', async () => {
    const dir = tempDir();
    await assert.rejects(readNodeConfig(join(dir, 'missing.json')), /config file .*missing\.json does not exist/);
    writeFileSync(join(dir, 'bad.json'), '{ "listen": ');
    await assert.rejects(readNodeConfig(join(dir, 'bad.json')), (e: unknown) => e instanceof ConfigError && /is not valid JSON/.test(e.message));
  });

  it('lets flags override the file and checks combinations', () => {
    const r = resolveNodeConfig(
      { listen: '127.0.0.1:7001', logLevel: 'debug', groups: [{ name: 'a' }] },
      { listen: '127.0.0.1:7005', join: ['b'], stack: 'NAK:COM' },
    );
    assert.equal(r.listen, '127.0.0.1:7005');
    assert.equal(r.logLevel, 'debug');
    assert.deepEqual(
      r.groups.map((g) => [g.name, g.stack]),
      [
        ['a', undefined],
        ['b', 'NAK:COM'],
      ],
    );
    assert.equal(r.admin, '127.0.0.1:7070');
    assert.throws(() => resolveNodeConfig({}, {}), /needs --listen/);
    assert.throws(() => resolveNodeConfig({ groups: [{ name: 'a' }] }, { listen: '127.0.0.1:7001', join: ['a'] }), /both in the config file and in --join/);
    assert.throws(() => resolveNodeConfig({}, { listen: '127.0.0.1:0', join: ['a'] }), /concrete --listen port/);
    assert.throws(() => resolveNodeConfig({}, { listen: '127.0.0.1:7001', join: ['kv'], kv: 'kv' }), /cannot be both/);
  });

  it('takes a partition policy per dynamic group, and refuses a bad one or one on a fixed group', () => {
    const file = parseNodeConfig({ membership: 'dynamic', groups: [{ name: 'orders', partition: { kind: 'quorum', size: 3 } }] }, 'test');
    const r = resolveNodeConfig(file, { listen: '127.0.0.1:7001' });
    assert.deepEqual(r.groups[0]!.partition, { kind: 'quorum', size: 3 });
    assert.throws(() => parseNodeConfig({ groups: [{ name: 'a', partition: { kind: 'quorum', size: 0 } }] }, 'test'), ConfigError);
    assert.throws(() => parseNodeConfig({ groups: [{ name: 'a', partition: { kind: 'dictator' } }] }, 'test'), ConfigError);
    assert.throws(
      () => resolveNodeConfig(parseNodeConfig({ groups: [{ name: 'a', partition: { kind: 'majority' } }] }, 'test'), { listen: '127.0.0.1:7001' }),
      /needs dynamic membership/,
    );
  });

  it('orders a fixed member list the same way on every node', () => {
    const a = canonicalMembers(['127.0.0.1:7010', '127.0.0.1:7002', '127.0.0.1:7003']);
    const b = canonicalMembers(['127.0.0.1:7003', '127.0.0.1:7010', '127.0.0.1:7002', '127.0.0.1:7003']);
    assert.deepEqual(a, ['127.0.0.1:7002', '127.0.0.1:7003', '127.0.0.1:7010']);
    assert.deepEqual(b, a);
  });

  it('horus node --config with an invalid file exits 2 with the readable message', async () => {
    const dir = tempDir();
    const file = join(dir, 'node.json');
    writeFileSync(file, JSON.stringify({ listen: '127.0.0.1:7001', groups: [{ name: 'g', stack: 42 }], admin: false }));
    const r = await runCli(['node', '--config', file]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^horus node: config file .*node\.json is invalid:\n {2}- groups\[0\]\.stack: /m);
  });
});
