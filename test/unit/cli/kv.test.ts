import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, before, describe, it } from 'node:test';
import { demoUrl, DEMO_STATE_FILE } from '../../../src/cli/kv-cmd.js';
import { closedPort, runCli, tempDir } from './helpers.js';

describe('horus kv: bad arguments', { concurrency: true }, () => {
  it('get needs a key (exit 2)', async () => {
    const r = await runCli(['kv', 'get']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /missing required argument 'key'/);
  });

  it('put needs a value (exit 2)', async () => {
    const r = await runCli(['kv', 'put', 'color']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /missing required argument 'value'/);
  });

  it('del refuses a --url off loopback (exit 2)', async () => {
    const r = await runCli(['kv', 'del', 'x', '--url', 'http://192.168.1.10:7080']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /must be a loopback address/);
  });
});

describe('horus kv: no demo running', { concurrency: true }, () => {
  let url = '';
  before(async () => {
    url = `http://127.0.0.1:${await closedPort()}/`;
  });

  it('get says no demo is running (exit 1)', async () => {
    const r = await runCli(['kv', 'get', 'color', '--url', url]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `horus kv: no Horus demo is running at ${url} (connection refused)\n`);
  });

  it('put finds the demo through $HORUS_URL, and says it is not running (exit 1)', async () => {
    const r = await runCli(['kv', 'put', 'color', 'blue'], { env: { HORUS_URL: url } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no Horus demo is running at http:\/\/127\.0\.0\.1:\d+\/ \(connection refused\)/);
  });
});

describe('horus kv: finding the demo', () => {
  const saved = process.env.HORUS_URL;
  afterEach(() => {
    if (saved === undefined) delete process.env.HORUS_URL;
    else process.env.HORUS_URL = saved;
  });

  it('uses --url, then $HORUS_URL, then .horus/demo.json, then port 7080', () => {
    delete process.env.HORUS_URL;
    const dir = tempDir();
    assert.equal(demoUrl({}, dir), 'http://127.0.0.1:7080/');
    mkdirSync(join(dir, '.horus'));
    writeFileSync(join(dir, DEMO_STATE_FILE), JSON.stringify({ url: 'http://127.0.0.1:4242/', pid: 1 }));
    assert.equal(demoUrl({}, dir), 'http://127.0.0.1:4242/');
    process.env.HORUS_URL = 'http://127.0.0.1:5151';
    assert.equal(demoUrl({}, dir), 'http://127.0.0.1:5151/');
    assert.equal(demoUrl({ url: 'http://127.0.0.1:6161/' }, dir), 'http://127.0.0.1:6161/');
  });
});
