// Five nodes on loopback find each other only through SRV records served by a local DNS server,
// all started at the same instant with safe bootstrap (found only once 5 contact points are known
// and stable): one group of five forms. Then the records change as members come and go: a member
// leaves and its record goes, a sixth node's record comes and it joins; every node's contact points
// follow the records.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createNode } from '../../src/api/create-node.js';
import type { Group } from '../../src/api/group.js';
import type { HorusNode } from '../../src/api/node.js';
import { pickFreePorts } from '../../src/cli/spawn.js';
import { silentLogger } from '../../src/core/logger.js';
import { DnsDiscovery } from '../../src/discovery/dns-discovery.js';
import { TestDnsServer } from '../helpers/dns-server.js';

const SRV = '_horus._tcp.cluster.test';
const INTERVAL_MS = 200;

async function until(what: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('discovery through DNS SRV records', () => {
  const nodes: HorusNode[] = [];
  let dns: TestDnsServer;
  after(async () => {
    for (const n of nodes) await n.close().catch(() => {});
    await dns?.close();
  });

  it('five nodes started together form one group from SRV records, and follow the records as members come and go', { timeout: 120_000 }, async () => {
    dns = await TestDnsServer.start();
    const ports = await pickFreePorts(6);
    const host = (i: number): string => `n${i}.cluster.test`;
    for (let i = 0; i < 6; i++) dns.a.set(host(i), ['127.0.0.1']);
    dns.srv.set(
      SRV,
      ports.slice(0, 5).map((port, i) => ({ target: host(i), port })),
    );
    const start = (i: number): Promise<HorusNode> =>
      createNode({
        listen: `127.0.0.1:${ports[i]}`,
        logger: silentLogger,
        discovery: new DnsDiscovery({ kind: 'srv', name: SRV, servers: [dns.address] }),
        discoveryIntervalMs: INTERVAL_MS,
        bootstrap: { expectedContacts: 5, stableMs: 500 },
      });
    const five = await Promise.all([0, 1, 2, 3, 4].map(start));
    nodes.push(...five);
    const groups: Group[] = await Promise.all(five.map((n) => n.join('jobs')));
    await until('one view of five at every node', () => groups.every((g) => g.view.members.length === 5 && g.view.id === groups[0]!.view.id));
    const members = new Set(groups[0]!.view.members);
    for (const g of groups) assert.deepEqual(new Set(g.view.members), members, 'one group, not two');

    // Node 4 leaves and its record goes; node 5 comes with a record of its own.
    await five[4]!.close();
    dns.srv.set(
      SRV,
      [...ports.slice(0, 4), ports[5]!].map((port, k) => ({ target: host(k < 4 ? k : 5), port })),
    );
    const sixth = await start(5);
    nodes.push(sixth);
    const g6 = await sixth.join('jobs');
    await until(
      'the sixth node in the view of the others',
      () => g6.view.members.length === 5 && groups[0]!.view.members.length === 5 && groups[0]!.view.id === g6.view.id,
    );
    await until('every node follows the records', () =>
      five.slice(0, 4).every((n) => n.seeds.includes(`127.0.0.1:${ports[5]}`) && !n.seeds.includes(`127.0.0.1:${ports[4]}`)),
    );
    assert.ok(dns.queries > 10, 'the records were read again and again');
  });
});
