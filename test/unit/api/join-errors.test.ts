import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SimCluster, FAST_STACK } from '../../helpers/sim-cluster.js';
import { HorusError } from '../../../src/core/errors.js';

describe('joining: bad input gives typed errors and harms nobody', () => {
  it('refuses to join an unknown group with create: false (ERR_UNKNOWN_GROUP)', async () => {
    const c = new SimCluster(1);
    c.start('a:1');
    const b = c.start('b:1', ['a:1']);
    await assert.rejects(
      c.settle(b.join('nobody-has-this', { create: false, stack: FAST_STACK })),
      (e: unknown) => e instanceof HorusError && e.code === 'ERR_UNKNOWN_GROUP',
    );
  });

  it('finds a group by name through a seed that is a member, and joins it', async () => {
    const c = new SimCluster(2);
    c.start('a:1');
    c.join('a:1', 'orders', []);
    c.run(100);
    const b = c.start('b:1', ['a:1']);
    const g = await c.settle(b.join('orders', { create: false, stack: FAST_STACK }));
    assert.equal(g.view.members.length, 2);
    assert.deepEqual(
      b.groups().map((x) => x.name),
      ['orders'],
    );
  });

  it('rejects a group name over the limit or with control characters (ERR_INVALID_ARGUMENT)', async () => {
    const c = new SimCluster(3);
    const a = c.start('a:1');
    await assert.rejects(a.join('x'.repeat(201)), { code: 'ERR_INVALID_ARGUMENT' });
    await assert.rejects(a.join('bad\nname'), { code: 'ERR_INVALID_ARGUMENT' });
    await assert.rejects(a.join(''), { code: 'ERR_INVALID_ARGUMENT' });
  });

  it('fails the join with ERR_STATE_TRANSFER when the provider state.get() throws; the group goes on', async () => {
    const c = new SimCluster(4);
    c.start('a:1');
    const ga = c.join('a:1', 'g', [], {
      get: () => {
        throw new Error('disk on fire');
      },
      set: () => {},
    });
    const errors: HorusError[] = [];
    ga.on('error', (e: HorusError) => errors.push(e));
    c.run(100);
    c.start('b:1');
    const gb = c.join('b:1', 'g', ['a:1'], { get: () => null, set: () => {} });
    await assert.rejects(c.settle(gb.ready), { code: 'ERR_STATE_TRANSFER' });
    assert.equal(errors[0]?.code, 'ERR_STATE_TRANSFER');
    // The group is unharmed: the failed joiner is dropped and the founder still delivers.
    c.run(3000);
    const got: unknown[] = [];
    ga.on('message', (m) => got.push(m.payload));
    void ga.fbcast({ still: 'alive' });
    c.run(200);
    assert.deepEqual(got, [{ still: 'alive' }]);
    assert.deepEqual(ga.view.members, [ga.localId]);
  });

  it('fails the join when the joiner state.set() throws, and the joiner leaves the group', async () => {
    const c = new SimCluster(5);
    c.start('a:1');
    const ga = c.join('a:1', 'g', [], { get: () => ({ n: 1 }), set: () => {} });
    c.run(100);
    c.start('b:1');
    const gb = c.join('b:1', 'g', ['a:1'], {
      get: () => null,
      set: () => {
        throw new Error('cannot parse');
      },
    });
    await assert.rejects(c.settle(gb.ready), { code: 'ERR_STATE_TRANSFER' });
    c.run(3000);
    assert.deepEqual(ga.view.members, [ga.localId]);
  });
});
