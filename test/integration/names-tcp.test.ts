// Nodes on real TCP (loopback), started together, each given the others as seeds: one group.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { createNode } from '../../src/api/create-node.js';
import type { HorusNode } from '../../src/api/node.js';
import type { Group } from '../../src/api/group.js';
import { silentLogger } from '../../src/core/logger.js';
import '../../src/layers/index.js';

/** Free loopback ports: listen on port 0, read the port, close. */
async function freePorts(n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const addr = srv.address();
    out.push(typeof addr === 'object' && addr ? addr.port : 0);
    await new Promise<void>((r) => srv.close(() => r()));
  }
  return out;
}

describe('one group per name on real TCP', () => {
  it('nodes that join the same unknown group together, one of them not listening yet, end in one group of three', { timeout: 60_000 }, async () => {
    for (let round = 0; round < 3; round++) {
      const eps = (await freePorts(3)).map((p) => `127.0.0.1:${p}`);
      // The first two start and join at once; the third is not listening yet and starts 700 ms later.
      const start = (ep: string): Promise<HorusNode> => createNode({ listen: ep, seeds: eps.filter((e) => e !== ep), logger: silentLogger });
      const nodes: HorusNode[] = await Promise.all(eps.slice(0, 2).map(start));
      try {
        const joins = nodes.map((n) => n.join('g', { mergeProbeMs: 0 }));
        await new Promise((r) => setTimeout(r, 700));
        nodes.push(await start(eps[2]!));
        joins.push(nodes[2]!.join('g', { mergeProbeMs: 0 }));
        const groups: Group[] = await Promise.all(joins);
        const deadline = Date.now() + 10_000;
        const one = (): boolean => groups.every((g) => g.view.members.length === 3 && g.view.id === groups[0]!.view.id);
        while (!one() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        assert.ok(one(), `round ${round}: views ${groups.map((g) => `${g.view.id}:${g.view.members.join(',')}`).join(' | ')}`);
      } finally {
        await Promise.all(nodes.map((n) => n.close()));
      }
    }
  });
});
