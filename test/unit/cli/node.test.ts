import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { closedPort, runCli, startCli, type Spawned } from './helpers.js';

describe('horus node: bad arguments', { concurrency: true }, () => {
  it('rejects a --listen that is not HOST:PORT (exit 2)', async () => {
    const r = await runCli(['node', '--listen', 'localhost']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /option '--listen <host:port>' argument 'localhost' is invalid\. expected HOST:PORT/);
  });

  it('says when the listen port is taken (exit 2)', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    try {
      const r = await runCli(['node', '--listen', `127.0.0.1:${port}`, '--no-admin', '--log-level', 'silent']);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}`));
    } finally {
      srv.close();
    }
  });
});

describe('horus status / groups / view: no node running', { concurrency: true }, () => {
  let admin = '';
  before(async () => {
    admin = `127.0.0.1:${await closedPort()}`;
  });
  for (const cmd of [['status'], ['groups'], ['view', 'g']]) {
    it(`${cmd[0]} says nothing is running (exit 1)`, async () => {
      const r = await runCli([...cmd, '--admin', admin]);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr, `horus ${cmd[0]}: no Horus node is running at http://${admin}/ (connection refused)\n`);
    });
  }

  it('status rejects a bad --admin (exit 2)', async () => {
    const r = await runCli(['status', '--admin', 'http://10.1.2.3:7070']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /must be a loopback address/);
  });

  it('groups rejects a --admin that is not an address (exit 2)', async () => {
    const r = await runCli(['groups', '--admin', 'not an address']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /expected HOST:PORT or http:\/\/HOST:PORT/);
  });

  it('view needs a group name (exit 2)', async () => {
    const r = await runCli(['view']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /missing required argument 'group'/);
  });
});

describe('horus node: a running node answers status, groups and view', () => {
  let node: Spawned;
  let admin = '';
  let endpoint = '';
  before(async () => {
    endpoint = `127.0.0.1:${await closedPort()}`;
    node = startCli(['node', '--listen', endpoint, '--join', 'alpha', '--join', 'beta', '--admin', '127.0.0.1:0', '--log-level', 'warn']);
    const m = await node.waitFor(/admin and dashboard (http:\/\/127\.0\.0\.1:\d+\/)/);
    admin = m[1]!;
  });
  after(async () => {
    await node?.stop('SIGKILL');
  });

  it('prints its id, endpoint, admin URL and groups on start', () => {
    assert.match(node.stdout(), new RegExp(`^horus node ${endpoint.replace(/\./g, '\\.')}/\\S+ listening on ${endpoint.replace(/\./g, '\\.')}`, 'm'));
    assert.match(node.stdout(), new RegExp(`^  group alpha: view 1 \\[${endpoint.replace(/\./g, '\\.')}\\]$`, 'm'));
  });

  it('status', async () => {
    const r = await runCli(['status', '--admin', admin]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^node ${endpoint.replace(/\./g, '\\.')}/`, 'm'));
    assert.match(r.stdout, /^group alpha: view 1 with 1 members/m);
  });

  it('groups lists both groups (admin address from $HORUS_ADMIN)', async () => {
    const r = await runCli(['groups'], { env: { HORUS_ADMIN: admin } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^GROUP +VIEW +MEMBERS +BLOCKED/m);
    assert.match(r.stdout, /^alpha +1 +1 +no/m);
    assert.match(r.stdout, /^beta +1 +1 +no/m);
  });

  it('view shows the members and fails for an unknown group', { concurrency: true }, async (t) => {
    await t.test('known group', async () => {
      const r = await runCli(['view', 'alpha', '--admin', admin]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^group alpha: view 1, 1 members/m);
      assert.match(r.stdout, new RegExp(`^1 +${endpoint.replace(/\./g, '\\.')} +coordinator`, 'm'));
    });
    await t.test('unknown group (exit 1)', async () => {
      const r = await runCli(['view', 'gamma', '--admin', admin]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, 'horus view: this node is not a member of group "gamma"\n');
    });
  });

  it('stops cleanly on SIGTERM (exit 0)', async () => {
    const r = await node.stop('SIGTERM');
    assert.equal(r.code, 0, r.stderr);
  });
});
