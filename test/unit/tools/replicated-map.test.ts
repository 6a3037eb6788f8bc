import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ToolCluster } from '../../helpers/tools-cluster.js';
import { ReplicatedMap, type MapChange } from '../../../src/tools/replicated-map.js';

function mapCluster(n: number, seed: number): { c: ToolCluster; maps: ReplicatedMap<number>[] } {
  const c = new ToolCluster(seed);
  const maps: ReplicatedMap<number>[] = [];
  for (let i = 0; i < n; i++) {
    const m = new ReplicatedMap<number>();
    m.attach(c.add(`t${i + 1}:1`, m.state));
    maps.push(m);
    c.run(200);
  }
  c.run(1500);
  return { c, maps };
}

describe('ReplicatedMap', () => {
  it('applies concurrent writes from every member in one order: replicas end equal, with change events everywhere', async () => {
    const { c, maps } = mapCluster(3, 11);
    const changes: MapChange<number>[][] = maps.map(() => []);
    maps.forEach((m, i) => m.on('change', (ch) => changes[i]!.push(ch)));
    c.world.setNetwork({ loss: 0.05 });
    const writes = [];
    for (let k = 0; k < 30; k++) for (const [i, m] of maps.entries()) writes.push(m.set(`k${k % 7}`, i * 100 + k));
    await c.settle(Promise.all(writes));
    c.world.setNetwork({ loss: 0 });
    c.run(500);
    assert.equal(maps[0]!.size, 7);
    for (const m of maps) assert.deepEqual(m.entries(), maps[0]!.entries());
    for (const ch of changes) assert.equal(ch.length, 90);
    assert.deepEqual(changes[1], changes[0]);
  });

  it('compareAndSet decides the same everywhere; a missing key is ERR_NO_SUCH_KEY and changes nothing', async () => {
    const { c, maps } = mapCluster(3, 12);
    await c.settle(maps[0]!.set('x', 1));
    // Three members race to move x from 1: exactly one wins.
    const r = await c.settle(Promise.all(maps.map((m, i) => m.compareAndSet('x', 1, 10 + i))));
    assert.equal(r.filter(Boolean).length, 1);
    c.run(200);
    for (const m of maps) assert.equal(m.get('x'), 10 + r.indexOf(true));
    await assert.rejects(c.settle(maps[1]!.compareAndSet('missing', 0, 1)), { code: 'ERR_NO_SUCH_KEY' });
    c.run(200);
    for (const m of maps) assert.equal(m.has('missing'), false);
    assert.equal(await c.settle(maps[2]!.delete('x')), true);
    assert.equal(await c.settle(maps[2]!.delete('x')), false);
    await assert.rejects(maps[0]!.set('', 1), { code: 'ERR_INVALID_ARGUMENT' });
  });

  it('a linearizable read sees every write that completed before it, from any member', async () => {
    const { c, maps } = mapCluster(3, 13);
    for (let i = 1; i <= 20; i++) {
      await c.settle(maps[i % 3]!.set('n', i));
      assert.equal(await c.settle(maps[(i + 1) % 3]!.get('n', { linearizable: true })), i);
    }
  });

  it('a member crashed in the middle of writes: survivors stay equal, and a joiner gets the map by state transfer', async () => {
    const { c, maps } = mapCluster(3, 14);
    const writes = [];
    for (let k = 0; k < 50; k++) for (const m of maps.slice(0, 2)) writes.push(m.set(`k${k}`, k));
    for (let k = 0; k < 50; k++) void maps[2]!.set(`crashed${k}`, k).catch(() => {});
    c.run(5);
    c.world.crash('t3:1');
    await c.settle(Promise.all(writes), 20_000);
    const joiner = new ReplicatedMap<number>();
    joiner.attach(c.add('t4:1', joiner.state));
    c.run(2000);
    assert.equal(joiner.group.view.members.length, 3);
    await c.settle(maps[0]!.set('after', 1, { safe: true }));
    c.run(300);
    assert.deepEqual(maps[1]!.entries(), maps[0]!.entries());
    assert.deepEqual(joiner.entries(), maps[0]!.entries());
    assert.equal(joiner.get('after'), 1);
    for (let k = 0; k < 50; k++) assert.equal(joiner.get(`k${k}`), k);
  });
});
