// Real nodes (TCP on loopback) in each security mode form a group and exchange messages; an intruder
// without a certificate from the cluster's CA, or without the shared secret, can neither join nor be heard.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createNode, type NodeOptions } from '../../src/api/create-node.js';
import type { Group } from '../../src/api/group.js';
import type { HorusNode } from '../../src/api/node.js';
import { HorusError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import type { SecurityOptions } from '../../src/security/security-config.js';
import type { TcpTransport } from '../../src/transport/tcp-transport.js';
import { testCa } from '../helpers/pki.js';

const nodes: HorusNode[] = [];
afterEach(async () => {
  for (const n of nodes.splice(0).reverse()) await n.close();
});

async function node(security: SecurityOptions, seeds: string[] = []): Promise<HorusNode> {
  // Credentials loaded already are accepted as well as files (not in the public type).
  const n = await createNode({ listen: '127.0.0.1:0', logger: silentLogger, seeds, security: security as NodeOptions['security'] });
  nodes.push(n);
  return n;
}

async function until(cond: () => boolean, ms = 10_000): Promise<boolean> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) return false;
    await sleep(20);
  }
  return true;
}

const PSK: SecurityOptions = { mode: 'psk', secret: 'the shared secret of this test cluster' };

describe('secure nodes on real TCP', () => {
  for (const mode of ['off', 'psk', 'pki'] as const) {
    it(`${mode}: two nodes form a group and deliver each other's messages`, async () => {
      const ca = testCa();
      const sec = (name: string): SecurityOptions => (mode === 'pki' ? { mode, credentials: ca.node(name) } : mode === 'psk' ? PSK : { mode });
      const a = await node(sec('a'));
      const b = await node(sec('b'), [a.endpoint]);
      const ga = await a.join('g');
      const gb = await b.join('g');
      assert.ok(await until(() => ga.view.members.length === 2 && gb.view.members.length === 2), `views ${ga.view.members} / ${gb.view.members}`);
      const got: unknown[] = [];
      ga.on('message', (d) => got.push(d.payload));
      await gb.fbcast('hello from b');
      assert.ok(await until(() => got.length === 1));
      assert.deepEqual(got, ['hello from b']);
      const identity = (a.env.transport as TcpTransport).peerIdentity(b.id);
      if (mode === 'off') assert.equal(identity, null);
      else assert.equal(identity?.mode, mode);
      if (mode === 'pki') assert.equal(identity?.name, 'b');
    });
  }

  for (const intruder of ['no certificate from our CA', 'security off', 'a psk node'] as const) {
    it(`pki: an intruder with ${intruder} cannot join or be heard; the group carries on`, async () => {
      const ca = testCa();
      const a = await node({ mode: 'pki', credentials: ca.node('a') });
      const b = await node({ mode: 'pki', credentials: ca.node('b') }, [a.endpoint]);
      const ga = await a.join('g');
      const gb = await b.join('g');
      assert.ok(await until(() => ga.view.members.length === 2 && gb.view.members.length === 2));
      const sec: SecurityOptions =
        intruder === 'security off' ? { mode: 'off' } : intruder === 'a psk node' ? PSK : { mode: 'pki', credentials: testCa('rogue').node('x') };
      const x = await node(sec, [a.endpoint, b.endpoint]);
      let gx: Group | null = null;
      // It cannot reach the group: either its join fails, or it founds a group of its own.
      await x
        .join('g', { lookupTimeoutMs: 1500 })
        .then((g) => (gx = g))
        .catch((e: unknown) => assert.ok(e instanceof HorusError, String(e)));
      const got: unknown[] = [];
      ga.on('message', (d) => got.push(d.payload));
      if (gx !== null) await (gx as Group).fbcast('forged').catch(() => {});
      await sleep(500);
      assert.deepEqual(ga.view.members.length, 2);
      assert.ok(!ga.view.members.some((m) => m.startsWith(x.endpoint)));
      await gb.fbcast('still here');
      assert.ok(await until(() => got.length === 1));
      assert.deepEqual(got, ['still here']);
      const ta = a.env.transport as TcpTransport;
      const tx = x.env.transport as TcpTransport;
      assert.ok(ta.stats().malformed + tx.stats().malformed >= 1, 'its connections were refused and counted');
    });
  }

  it("security 'off' beyond loopback: one warning for the process, not one per node", async () => {
    const warnings: string[] = [];
    const logger = { ...silentLogger, warn: (msg: string) => void warnings.push(msg), child: () => logger };
    for (let i = 0; i < 2; i++) nodes.push(await createNode({ listen: '0.0.0.0:0', logger }));
    assert.equal(warnings.filter((w) => w.startsWith('security is off')).length, 1, warnings.join('\n'));
  });

  it('start-up: a bad key file, certificate or secret is a typed error before the node listens', async () => {
    await assert.rejects(
      createNode({
        listen: '127.0.0.1:0',
        logger: silentLogger,
        security: { mode: 'pki', key: '/nonexistent/k', cert: '/nonexistent/c', ca: ['/nonexistent/ca.pub'] },
      }),
      (e: unknown) => e instanceof HorusError && e.code === 'ERR_AUTH' && /does not exist/.test(e.message),
    );
    await assert.rejects(
      createNode({ listen: '127.0.0.1:0', logger: silentLogger, security: { mode: 'psk', secret: 'short' } }),
      (e: unknown) => e instanceof HorusError && e.code === 'ERR_CONFIG',
    );
  });
});
