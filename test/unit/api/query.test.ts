import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SimCluster, FAST_STACK } from '../../helpers/sim-cluster.js';
import type { Group } from '../../../src/api/group.js';

function cluster(n: number, seed = 1): { c: SimCluster; groups: Group[] } {
  const c = new SimCluster(seed);
  const stack = ['TOTAL', 'CAUSAL', ...(FAST_STACK as object[])] as never;
  const groups: Group[] = [];
  for (let i = 0; i < n; i++) {
    const e = `q${i + 1}:1`;
    c.start(e);
    groups.push(c.nodes.get(e)!.joinNow('g', { contacts: i === 0 ? [] : ['q1:1'], stack }));
    c.run(100);
  }
  c.run(1500);
  return { c, groups };
}

describe('query: reply collection', () => {
  it("collects 'all', 'majority' and 'one' replies, including asynchronous ones", async () => {
    const { c, groups } = cluster(3);
    groups.forEach((g, i) => g.onQuery(async (q) => ({ from: i, echo: q.payload }))); // async handlers
    const all = await c.settle(groups[0]!.query('ping', { want: 'all', order: 'total', timeoutMs: 2000 }));
    assert.equal(all.replies.length, 3);
    assert.deepEqual(all.failed, []);
    assert.deepEqual(all.timedOut, []);
    assert.deepEqual(
      all.replies.map((r) => (r.payload as { echo: string }).echo),
      ['ping', 'ping', 'ping'],
    );
    const maj = await c.settle(groups[1]!.query('x', { want: 'majority' }));
    assert.ok(maj.replies.length >= 2);
    const one = await c.settle(groups[2]!.query('x', { want: 'one' }));
    assert.ok(one.replies.length >= 1);
  });

  it('stops waiting for members that left the view, and reports who timed out', async () => {
    const { c, groups } = cluster(4, 2);
    groups[0]!.onQuery(() => 'a');
    groups[1]!.onQuery(() => 'b');
    // groups[2] never answers; groups[3] crashes.
    c.world.crash('q4:1');
    const r = await c.settle(groups[0]!.query('x', { want: 'all', timeoutMs: 3000 }));
    assert.deepEqual(r.replies.map((x) => x.payload).sort(), ['a', 'b']);
    assert.ok(r.failed.includes(groups[3]!.localId), 'the crashed member failed');
    assert.deepEqual(r.timedOut, [groups[2]!.localId]);
  });

  it('rejects bad queries with typed errors', async () => {
    const { c, groups } = cluster(2, 3);
    await assert.rejects(groups[0]!.query('x', { want: 3 }), { code: 'ERR_INVALID_ARGUMENT' });
    await assert.rejects(groups[0]!.query('x', { timeoutMs: -1 }), { code: 'ERR_INVALID_ARGUMENT' });
    await c.settle(groups[1]!.leave());
    await assert.rejects(groups[1]!.query('x'), { code: 'ERR_NOT_MEMBER' });
  });
});
