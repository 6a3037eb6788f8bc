import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReplicatedMap, mergeMapSnapshots } from '../../src/tools/replicated-map.js';
import { FAST_STACK, SimCluster } from '../helpers/sim-cluster.js';

const PROBE_MS = 500;

async function runAsync(c: SimCluster, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 10) {
    c.run(10);
    await new Promise((r) => setImmediate(r));
  }
}

describe('ReplicatedMap on a partitionable group', () => {
  it('after a split with writes on both sides, every replica holds the same map and each key the newest write, deletes included', async () => {
    const c = new SimCluster(31);
    const eps = ['n1:1', 'n2:1', 'n3:1', 'n4:1'];
    const maps = eps.map(() => new ReplicatedMap<string>(() => c.world.now()));
    eps.forEach((e, i) => {
      c.start(e);
      const g = c.join(e, 'g', i === 0 ? [] : [eps[0]!], maps[i]!.state, {
        stack: ['TOTAL', ...FAST_STACK],
        partition: { kind: 'partitionable' },
        merge: maps[i]!.merge,
        mergeProbeMs: PROBE_MS,
      });
      maps[i]!.attach(g);
      c.run(i === 0 ? 50 : 5);
    });
    await runAsync(c, 3000);
    const write = (i: number, key: string, value: string | null): void => {
      const m = maps[i]!;
      void (value === null ? m.delete(key) : m.set(key, value)).catch(() => {});
    };
    for (const k of ['a', 'b', 'c', 'd']) write(0, k, 'before');
    await runAsync(c, 500);
    for (const m of maps) assert.equal(m.get('d'), 'before');

    c.world.partition([eps.slice(0, 2), eps.slice(2)]);
    await runAsync(c, 3000);
    assert.equal(c.nodes.get(eps[0]!)!.group('g')!.view.members.length, 2, 'two sides');
    // Side one is n1, n2; side two is n3, n4. Each line is later in time than the one before.
    write(0, 'c', 'one'); // c: set here, deleted later on side two: the delete wins
    await runAsync(c, 100);
    write(0, 'd', null); // d: deleted here, set later on side two: the set wins
    await runAsync(c, 100);
    write(2, 'b', 'two'); // b: written here first, later on side one: side one wins
    await runAsync(c, 100);
    write(1, 'a', 'one'); // a: written on side one, later on side two: side two wins
    await runAsync(c, 100);
    write(3, 'a', 'two');
    await runAsync(c, 100);
    write(1, 'b', 'one');
    await runAsync(c, 100);
    write(2, 'c', null);
    await runAsync(c, 100);
    write(3, 'd', 'two');
    write(1, 'e', 'one'); // only on side one
    await runAsync(c, 500);
    assert.equal(maps[0]!.get('a'), 'one');
    assert.equal(maps[2]!.get('a'), 'two');

    c.world.heal();
    await runAsync(c, 4000);
    const groups = eps.map((e) => c.nodes.get(e)!.group('g')!);
    assert.ok(
      groups.every((g) => g.view.members.length === 4),
      `one view of four: ${groups.map((g) => g.view.members.length)}`,
    );
    const want: [string, string][] = [
      ['a', 'two'],
      ['b', 'one'],
      ['d', 'two'],
      ['e', 'one'],
    ];
    for (const [i, m] of maps.entries()) {
      const got = m.entries().sort(([x], [y]) => (x < y ? -1 : 1));
      assert.deepEqual(got, want, `replica ${eps[i]}`);
      assert.equal(m.has('c'), false, 'the later delete won over the earlier write');
    }
    // Same map, same order, same versions on every replica.
    for (const m of maps.slice(1)) assert.deepEqual(m.state.get(), maps[0]!.state.get());
  });

  it('merging snapshots takes the newer version per key, ties to the first (senior) side, and keeps tombstones', () => {
    const mine = {
      v: 2,
      clock: 50,
      entries: [
        ['x', 1, 10, 'n1'],
        ['y', 1, 40, 'n1'],
      ],
      tombs: [['z', 30, 'n1']],
    };
    const theirs = {
      v: 2,
      clock: 60,
      entries: [
        ['y', 2, 40, 'n3'],
        ['z', 2, 20, 'n3'],
        ['w', 2, 5, 'n3'],
      ],
      tombs: [['x', 60, 'n3']],
    };
    const m = mergeMapSnapshots(mine, theirs);
    assert.equal(m.clock, 60);
    // y: same clock, the larger member id wins; z: the delete (30) is newer than the write (20); x: the delete (60) wins.
    assert.deepEqual(m.entries, [
      ['y', 2, 40, 'n3'],
      ['w', 2, 5, 'n3'],
    ]);
    assert.deepEqual(m.tombs, [
      ['z', 30, 'n1'],
      ['x', 60, 'n3'],
    ]);
    // The same write on both sides (from before the split) stays once.
    assert.deepEqual(mergeMapSnapshots(mine, mine).entries, mine.entries);
    // An older member's snapshot (unversioned pairs) merges as writes of time 0.
    assert.deepEqual(mergeMapSnapshots([['q', 7]], theirs).entries[0], ['q', 7, 0, '']);
    assert.throws(() => mergeMapSnapshots({ v: 2, clock: -1, entries: [], tombs: [] }, theirs), { code: 'ERR_STATE_TRANSFER' });
  });
});
