// Five nodes on loopback, each given the others as seeds, started at the same instant and joining
// one group by name: 50 times, and every time one group of five forms (never two of one name).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createNode } from '../../src/api/create-node.js';
import type { HorusNode } from '../../src/api/node.js';
import { pickFreePorts } from '../../src/cli/spawn.js';
import { silentLogger } from '../../src/core/logger.js';

const ROUNDS = 50;
const NODES = 5;

async function until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

describe('nodes started together', () => {
  it(`${NODES} nodes started at once form one group, ${ROUNDS} times out of ${ROUNDS}`, { timeout: 600_000 }, async () => {
    const times: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const ports = await pickFreePorts(NODES);
      const eps = ports.map((p) => `127.0.0.1:${p}`);
      const t0 = performance.now();
      const nodes: HorusNode[] = await Promise.all(eps.map((ep) => createNode({ listen: ep, seeds: eps.filter((e) => e !== ep), logger: silentLogger })));
      try {
        const groups = await Promise.all(nodes.map((n) => n.join('together')));
        const one = await until(() => groups.every((g) => g.view.members.length === NODES && g.view.id === groups[0]!.view.id), 20_000);
        const views = groups.map((g) => `${g.view.id}:${g.view.members.length}`);
        assert.ok(one, `round ${round}: not one group of ${NODES} (views ${views.join(' ')})`);
        times.push(performance.now() - t0);
      } finally {
        for (const n of nodes) n.halt();
        await Promise.all(nodes.map((n) => n.env.transport.close()));
      }
    }
    times.sort((a, b) => a - b);
    console.log(`start to one view of ${NODES}: p50 ${Math.round(times[times.length >> 1]!)} ms, max ${Math.round(times[times.length - 1]!)} ms`);
  });
});
