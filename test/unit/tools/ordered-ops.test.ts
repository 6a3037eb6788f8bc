import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ToolCluster } from '../../helpers/tools-cluster.js';
import { HorusError } from '../../../src/core/errors.js';
import { OrderedOps } from '../../../src/tools/ordered-ops.js';

/** A replica that records what it applied; 'bad' is refused with a typed error. */
function replica(c: ToolCluster, endpoint: string): { ops: OrderedOps; applied: unknown[] } {
  const applied: unknown[] = [];
  const g = c.add(endpoint);
  const ops = new OrderedOps(g, 'test', {
    apply: (op) => {
      if (op === 'bad') throw new HorusError('ERR_INVALID_ARGUMENT', 'refused');
      applied.push(op);
      return applied.length;
    },
  });
  return { ops, applied };
}

describe('OrderedOps', () => {
  it('drops malformed operations and ones that name another issuer on every replica alike; the rest apply in one order', async () => {
    const c = new ToolCluster(31);
    const rs = ['t1:1', 't2:1', 't3:1'].map((e) => {
      const r = replica(c, e);
      c.run(200);
      return r;
    });
    c.run(1500);
    const [a, b] = rs as [(typeof rs)[number], (typeof rs)[number]];
    const g = a.ops.group;
    // A buggy or hostile member: a wrong shape, an id that is not a number, and an operation that
    // claims to come from another member (or from an earlier membership of its sender).
    await c.settle(g.abcast(['test', 'x', 'op', g.localId]));
    await c.settle(g.abcast(['test', 7, 'op']));
    await c.settle(g.abcast(['test', 8, 'forged', b.ops.group.localId]));
    await c.settle(g.abcast(['other-tag', 9, 'not ours', g.localId]));
    assert.equal(await c.settle(a.ops.submit('one')), 1);
    await assert.rejects(c.settle(b.ops.submit('bad')), { code: 'ERR_INVALID_ARGUMENT' });
    assert.equal(await c.settle(b.ops.submit('two')), 2);
    c.run(300);
    for (const r of rs) {
      assert.deepEqual(r.applied, ['one', 'two']);
      assert.equal(r.ops.malformed, 2);
      assert.equal(r.ops.stale, 1);
      assert.equal(r.ops.pendingOps, 0);
    }
  });
});
