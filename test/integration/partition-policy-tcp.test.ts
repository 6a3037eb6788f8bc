// Partition policies over real TCP (three nodes in this process; a crash is node.halt() and the
// transport closed: its connections close at once, as a killed process's do). With a static quorum of 3 the two survivors
// block as a minority and deliver nothing; with the default majority they go on as a view of two.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createNode } from '../../src/api/create-node.js';
import type { Group } from '../../src/api/group.js';
import type { HorusNode, JoinOptions } from '../../src/api/node.js';
import { silentLogger } from '../../src/core/logger.js';
import { waitUntil } from '../helpers/cluster.js';

async function threeNodes(more: JoinOptions): Promise<{ nodes: HorusNode[]; groups: Group[] }> {
  const nodes: HorusNode[] = [];
  const groups: Group[] = [];
  for (let i = 0; i < 3; i++) {
    const node = await createNode({ listen: '127.0.0.1:0', logger: silentLogger, seeds: nodes.map((n) => n.endpoint) });
    nodes.push(node);
    groups.push(await node.join('g', { ...more, create: i === 0 }));
  }
  await waitUntil(() => groups.every((g) => g.view.members.length === 3 && g.blockedReasons.length === 0), { timeoutMs: 15_000, what: 'three members, live' });
  return { nodes, groups };
}

async function crash(n: HorusNode): Promise<void> {
  n.halt();
  await n.env.transport.close();
}

async function delivered(g: Group, ms: number): Promise<boolean> {
  const tag = `probe-${Date.now()}`;
  let got = false;
  g.on('message', (d) => {
    if (d.payload === tag) got = true;
  });
  void g.cast('fifo', tag).catch(() => {});
  await new Promise((r) => setTimeout(r, ms));
  return got;
}

describe('partition policies over TCP', () => {
  it('static quorum 3: after one of three crashes the other two block and deliver nothing', { timeout: 60_000 }, async () => {
    const { nodes, groups } = await threeNodes({ partition: { kind: 'quorum', size: 3 } });
    try {
      assert.ok(await delivered(groups[0]!, 500), 'three members deliver');
      await crash(nodes[2]!);
      await waitUntil(() => groups[0]!.blockedReasons.includes('minority') && groups[1]!.blockedReasons.includes('minority'), {
        timeoutMs: 15_000,
        what: 'both block',
      });
      assert.equal(await delivered(groups[0]!, 2000), false, 'nothing delivered below the quorum');
      assert.equal(groups[0]!.view.members.length, 3, 'no view without the third member');
    } finally {
      await Promise.all(nodes.map(crash));
    }
  });

  it('majority (default): after one of three crashes the other two go on in a view of two', { timeout: 60_000 }, async () => {
    const { nodes, groups } = await threeNodes({});
    try {
      await crash(nodes[2]!);
      await waitUntil(() => groups[0]!.view.members.length === 2 && groups[0]!.blockedReasons.length === 0, { timeoutMs: 15_000, what: 'a view of two' });
      assert.ok(await delivered(groups[0]!, 1000), 'two members deliver');
    } finally {
      await Promise.all(nodes.map(crash));
    }
  });
});
