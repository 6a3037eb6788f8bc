import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Group, StateHandlers } from '../../src/api/group.js';
import type { JoinOptions } from '../../src/api/node.js';
import type { MergeEvent } from '../../src/api/merge.js';
import { mergePolicies } from '../../src/api/merge.js';
import { SimCluster } from '../helpers/sim-cluster.js';
import { forgeGms, G } from '../helpers/gms-forge.js';
import { checkVirtualSynchrony } from '../../src/sim/checkers/vsync.js';

/** A replica whose state is the set of payloads it delivered; merging two sides is their union. */
class SetReplica {
  items = new Set<string>();
  merges: MergeEvent[] = [];
  readonly state: StateHandlers = {
    get: () => [...this.items].sort(),
    set: (s) => {
      this.items = new Set(s as string[]);
    },
  };
  attach(g: Group): void {
    g.on('message', (d) => this.items.add(String(d.payload)));
    g.on('merge', (ev) => this.merges.push(ev));
  }
}

const union = ({ mine, theirs }: { mine: unknown; theirs: unknown }) => [...new Set([...(mine as string[]), ...(theirs as string[])])].sort();

const PROBE_MS = 500;

function partitionable(n: number, seed: number, more: JoinOptions = {}) {
  const c = new SimCluster(seed);
  const eps = Array.from({ length: n }, (_, i) => `n${i + 1}:1`);
  const reps = eps.map(() => new SetReplica());
  const groups: Group[] = [];
  eps.forEach((e, i) => {
    c.start(e);
    const g = c.join(e, 'g', i === 0 ? [] : [eps[0]!], reps[i]!.state, { partition: { kind: 'partitionable' }, merge: union, mergeProbeMs: PROBE_MS, ...more });
    reps[i]!.attach(g);
    groups.push(g);
    c.run(i === 0 ? 50 : 5);
  });
  c.run(3000);
  return { c, eps, reps, groups, group: (e: string) => c.nodes.get(e)!.group('g')! };
}

async function runAsync(c: SimCluster, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 10) {
    c.run(10);
    await new Promise((r) => setImmediate(r));
  }
}

describe('partitionable groups', () => {
  it("both sides of a split keep working, and merge into one view with both sides' states when the network heals", async () => {
    const { c, eps, reps, group } = partitionable(5, 21);
    assert.equal(group(eps[0]!).view.members.length, 5);
    void group(eps[0]!)
      .cast('fifo', 'before')
      .catch(() => {});
    await runAsync(c, 500);
    c.world.partition([eps.slice(0, 2), eps.slice(2)]);
    await runAsync(c, 3000);
    assert.equal(group(eps[0]!).view.members.length, 2, 'the minority side has a view of its own');
    assert.equal(group(eps[2]!).view.members.length, 3, 'the majority side has a view of its own');
    void group(eps[0]!)
      .cast('fifo', 'minority-side')
      .catch(() => {});
    void group(eps[3]!)
      .cast('fifo', 'majority-side')
      .catch(() => {});
    await runAsync(c, 500);
    assert.ok(reps[1]!.items.has('minority-side') && !reps[1]!.items.has('majority-side'), 'the minority side delivers its own traffic');
    assert.ok(reps[4]!.items.has('majority-side') && !reps[4]!.items.has('minority-side'), 'the majority side delivers its own traffic');
    const healAt = c.world.now();
    c.world.heal();
    let mergedAt = -1;
    for (let t = 0; t < 6000 && mergedAt < 0; t += 10) {
      await runAsync(c, 10);
      if (eps.every((e) => group(e).view.members.length === 5 && reps[eps.indexOf(e)]!.merges.length > 0)) mergedAt = c.world.now();
    }
    assert.ok(mergedAt >= 0, `one view of five with a merge: ${eps.map((e) => group(e).view.members.length).join(',')}`);
    assert.ok(mergedAt - healAt <= 2 * PROBE_MS, `merged ${mergedAt - healAt} ms after the heal`);
    await runAsync(c, 300);
    const want = ['before', 'majority-side', 'minority-side'];
    for (const [i, r] of reps.entries()) {
      assert.deepEqual([...r.items].sort(), want, `member ${eps[i]} holds both sides' messages`);
      assert.equal(r.merges.length, 1, `member ${eps[i]} saw one merge`);
      assert.deepEqual([...r.merges[0]!.theirView.members].map((m) => m.split('/')[0]).sort(), ['n1:1', 'n2:1'], 'the junior side was the two');
    }
    // One group again: later traffic reaches everyone.
    void group(eps[0]!)
      .cast('fifo', 'after')
      .catch(() => {});
    await runAsync(c, 500);
    for (const r of reps) assert.ok(r.items.has('after'));
  });

  it('two groups of one name founded apart merge when they meet, under the handler the application picks', async () => {
    const c = new SimCluster(22);
    const eps = ['n1:1', 'n2:1', 'n3:1'];
    c.world.partition([[eps[0]!], [eps[1]!, eps[2]!]]);
    const reps = eps.map(() => new SetReplica());
    const theirsWins = mergePolicies.pick<string[]>(() => 'theirs');
    const opts = (): JoinOptions => ({ partition: { kind: 'partitionable' }, merge: theirsWins, mergeProbeMs: PROBE_MS });
    for (const e of eps)
      c.start(
        e,
        eps.filter((x) => x !== e),
      );
    const g1 = c.join(eps[0]!, 'g', [], reps[0]!.state, opts());
    const g2 = c.join(eps[1]!, 'g', [], reps[1]!.state, opts());
    c.run(100);
    const g3 = c.join(eps[2]!, 'g', [eps[1]!], reps[2]!.state, opts());
    [g1, g2, g3].forEach((g, i) => reps[i]!.attach(g));
    await runAsync(c, 3000);
    assert.equal(g1.view.members.length, 1);
    assert.equal(g3.view.members.length, 2);
    void g1.cast('fifo', 'alone').catch(() => {});
    void g3.cast('fifo', 'pair').catch(() => {});
    await runAsync(c, 500);
    const healAt = c.world.now();
    c.world.heal();
    const groups = (): Group[] => eps.map((e) => c.nodes.get(e)!.group('g')!);
    let mergedAt = -1;
    for (let t = 0; t < 5000 && mergedAt < 0; t += 10) {
      await runAsync(c, 10);
      if (groups().every((g) => g.view.members.length === 3 && g.blockedReasons.length === 0)) mergedAt = c.world.now();
    }
    assert.ok(mergedAt >= 0, `one view of three: ${groups().map((g) => g.view.members.length)}`);
    // Founded apart, they never shared a view: each finds the other through its seeds, as fast as after a split.
    assert.ok(mergedAt - healAt <= 2 * PROBE_MS, `merged ${mergedAt - healAt} ms after the heal`);
    await runAsync(c, 300);
    // The junior side (the lone founder) merged in, and the handler let its state win everywhere.
    for (const r of reps) assert.deepEqual([...r.items].sort(), ['alone'], "the junior side's state won, as the handler said");
  });

  it('a node that asks both sides at once to let it in is admitted by one only, and the sides then merge with it', async () => {
    const { c, eps, group } = partitionable(4, 24);
    c.world.partition([eps.slice(0, 2), eps.slice(2)]);
    await runAsync(c, 3000);
    assert.equal(group(eps[0]!).view.members.length, 2);
    assert.equal(group(eps[2]!).view.members.length, 2);
    // At the heal a new node asks a member of each side: both coordinators challenge it.
    c.world.heal();
    c.start('n5:1');
    c.join('n5:1', 'g', [eps[0]!, eps[2]!], new SetReplica().state, { partition: { kind: 'partitionable' }, merge: union, mergeProbeMs: PROBE_MS });
    await runAsync(c, 6000);
    // No two sides counted it as theirs at once: the views naming any of its ids all share a member
    // other than it (with both sides admitting it, one side's views and the other's would not).
    const views = c.history.events.flatMap((e) => (e.k === 'view' && e.members.some((m) => m.startsWith('n5:1/')) ? [e.members] : []));
    assert.ok(views.length > 0, 'it joined');
    for (const a of views)
      for (const b of views) {
        const others = a.filter((m) => !m.startsWith('n5:1/'));
        assert.ok(
          others.some((m) => b.includes(m)),
          `views of two sides named it: ${a.join(' ')} | ${b.join(' ')}`,
        );
      }
    const all = [...eps, 'n5:1'].map((e) => c.nodes.get(e)!.group('g')!);
    assert.ok(
      all.every((g) => g.view.members.length === 5 && g.view.id === all[0]!.view.id),
      `one view of five: ${all.map((g) => g.view.members.length)}`,
    );
    assert.deepEqual(checkVirtualSynchrony(c.history.events, 'g', undefined, { extended: true }).items, []);
  });

  it('a join request the cut held back is not admitted on the far side after the joiner got in on its own side', async () => {
    const { c, eps, group } = partitionable(4, 26);
    c.world.partition([eps.slice(0, 2), eps.slice(2)]);
    await runAsync(c, 3000);
    assert.equal(group(eps[0]!).view.members.length, 2);
    // A new node beside the first side asks a member of each side: its request to the far side waits
    // in the cut link (as in TCP) while it joins the near side.
    c.world.partition([[...eps.slice(0, 2), 'n5:1'], eps.slice(2)]);
    c.start('n5:1');
    const g5 = c.join('n5:1', 'g', [eps[0]!, eps[2]!], new SetReplica().state, { partition: { kind: 'partitionable' }, merge: union, mergeProbeMs: PROBE_MS });
    await runAsync(c, 2000);
    assert.equal(g5.view.members.length, 3, 'it joined the near side');
    // The heal delivers the old request to the far side's coordinator.
    c.world.heal();
    await runAsync(c, 6000);
    // Every view naming it is one it installed itself (a far-side view naming it would be a second
    // view of the same number with it as a member, and its messages would count in both).
    const installed = new Set(c.history.events.flatMap((e) => (e.k === 'view' && e.node.startsWith('n5:1/') ? [`${e.view}|${e.members.join(' ')}`] : [])));
    for (const e of c.history.events)
      if (e.k === 'view' && e.members.some((m) => m.startsWith('n5:1/')))
        assert.ok(installed.has(`${e.view}|${e.members.join(' ')}`), `${e.node} installed view ${e.view} [${e.members.join(' ')}], which the joiner never did`);
    const all = [...eps, 'n5:1'].map((e) => c.nodes.get(e)!.group('g')!);
    assert.ok(
      all.every((g) => g.view.members.length === 5 && g.view.id === all[0]!.view.id),
      `one view of five: ${all.map((g) => g.view.members.length)}`,
    );
    assert.deepEqual(checkVirtualSynchrony(c.history.events, 'g', undefined, { extended: true }).items, []);
  });

  it('a member told by another that a later view left it out goes on without the teller (another side), not rejoining', async () => {
    const { c, eps, group } = partitionable(4, 25);
    const ids = eps.map((e) => group(e).localId);
    // Views of two sides are numbered apart: the teller's later view says nothing of the told member's side.
    forgeGms(c.world.node(eps[1]!)!, 'g', ids[2]!, [{ kind: G.NotMember, body: { view: group(eps[1]!).view.id + 3 } }]);
    await runAsync(c, 4000);
    assert.equal(group(eps[2]!).localId, ids[2], 'the told member kept its membership');
    const all = eps.map((e) => group(e));
    assert.ok(
      all.every((g) => g.view.members.length === 4 && g.view.id === all[0]!.view.id && g.blockedReasons.length === 0),
      `one view of four: ${all.map((g) => `${g.view.id}:${g.view.members.length}`)}`,
    );
  });

  it('refuses a merge handler on a group that is not partitionable, and a streamed state on one that is', () => {
    const c = new SimCluster(23);
    c.start('n1:1');
    const node = c.nodes.get('n1:1')!;
    assert.throws(() => node.joinNow('a', { merge: union }), { code: 'ERR_CONFIG' });
    const streaming: StateHandlers = { getChunks: () => ({ size: 0, chunks: () => [] }), receiveChunk: () => {}, finish: () => {} };
    assert.throws(() => node.joinNow('b', { partition: { kind: 'partitionable' }, state: streaming }), { code: 'ERR_CONFIG' });
  });
});
