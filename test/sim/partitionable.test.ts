import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Group, StateHandlers } from '../../src/api/group.js';
import type { JoinOptions } from '../../src/api/node.js';
import type { MergeEvent } from '../../src/api/merge.js';
import { mergePolicies } from '../../src/api/merge.js';
import { SimCluster } from '../helpers/sim-cluster.js';

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
    c.world.heal();
    await runAsync(c, 5000);
    const groups = eps.map((e) => c.nodes.get(e)!.group('g')!);
    assert.ok(
      groups.every((g) => g.view.members.length === 3),
      `one view of three: ${groups.map((g) => g.view.members.length)}`,
    );
    // The junior side (the lone founder) merged in, and the handler let its state win everywhere.
    for (const r of reps) assert.deepEqual([...r.items].sort(), ['alone'], "the junior side's state won, as the handler said");
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
