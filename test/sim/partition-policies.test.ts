import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Delivery } from '../../src/api/delivery.js';
import type { Group } from '../../src/api/group.js';
import type { JoinOptions } from '../../src/api/node.js';
import { nodeOfMember } from '../../src/core/member-id.js';
import type { LayerSpec, StackSpec } from '../../src/stack/stack.js';
import { checkNoTwoPrimaries } from '../../src/sim/checkers/primaries.js';
import { ViolationList } from '../../src/sim/checkers/violation.js';
import { FAST_STACK, SimCluster, simGroup } from '../helpers/sim-cluster.js';

/** No two primaries at once; the members this test crashed (this history records no crash) are left out. */
const noTwoPrimaries = (c: SimCluster): void => {
  const out = new ViolationList();
  checkNoTwoPrimaries(c.history.events, 'g', out, (m) => c.world.node(nodeOfMember(m))?.status === 'crashed');
  assert.equal(out.total, 0, out.items.map((v) => v.detail).join('; '));
};

/** Members of the newest view each live member installed. */
const lastViews = (c: SimCluster, eps: readonly string[]): Map<string, string[]> => {
  const out = new Map<string, string[]>();
  for (const e of eps) {
    const node = c.nodes.get(e)!;
    const v = node.group('g')?.view;
    if (v) out.set(e, [...v.members]);
  }
  return out;
};

/** Run `ms` of virtual time, with real microtask turns between steps (sends are promises). */
async function runAsync(c: SimCluster, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 10) {
    c.run(10);
    await new Promise((r) => setImmediate(r));
  }
}

/** Does `g` deliver a cast made now within `ms` of virtual time? */
async function delivers(c: SimCluster, g: Group, ms = 1500): Promise<boolean> {
  let got = false;
  const tag = `probe-${c.world.now()}`;
  const on = (d: Delivery) => {
    if (d.payload === tag) got = true;
  };
  g.on('message', on);
  void g.cast('fifo', tag).catch(() => {});
  await runAsync(c, ms);
  g.off('message', on);
  return got;
}

/**
 * FAST_STACK's lease (100 ms) is only two heartbeats long: a member then holds each single lease with
 * no slack, and a rule that needs every member's lease (a view of exactly the quorum) would blink out
 * for a millisecond at each tick. A roomier lease, as the defaults give (700 ms against 100 ms beats).
 */
const STACK: StackSpec = (FAST_STACK as readonly (string | LayerSpec)[]).map((l) =>
  typeof l !== 'string' && l.name === 'FD' ? { name: 'FD', options: { heartbeatIntervalMs: 50, suspectTimeoutMs: 500 } } : l,
);
const STATIC3: JoinOptions = { stack: STACK, partition: { kind: 'quorum', size: 3 } };
const MAJORITY: JoinOptions = { stack: STACK };

describe('partition policies', () => {
  it('static quorum 3 of 5: two failures leave a live group of 3; a third blocks the last two (majority would go on)', async () => {
    for (const [policy, expectLive] of [
      [STATIC3, false],
      [MAJORITY, true],
    ] as const) {
      const { c, eps, groups } = simGroup(5, 11, policy);
      assert.equal(groups[0]!.view.members.length, 5);
      c.world.crash(eps[4]!);
      c.run(2000);
      c.world.crash(eps[3]!);
      c.run(2000);
      assert.equal(groups[0]!.view.members.length, 3, 'three members after two failures');
      assert.ok(await delivers(c, groups[0]!), 'three members deliver');
      c.world.crash(eps[2]!);
      c.run(3000);
      const views = lastViews(c, eps.slice(0, 2));
      assert.equal(
        views.get(eps[0]!)!.length === 2,
        expectLive,
        `${JSON.stringify(policy)}: two survivors ${expectLive ? 'install' : 'do not install'} a view of their own`,
      );
      assert.equal(await delivers(c, groups[0]!), expectLive, `${JSON.stringify(policy)}: two survivors deliver: ${expectLive}`);
      if (!expectLive) assert.ok(groups[0]!.blockedReasons.includes('minority'), 'blocked as below the quorum');
      noTwoPrimaries(c);
    }
  });

  it('static quorum 3: a restarted member brings the last two back to a live view of 3', async () => {
    const { c, eps, groups } = simGroup(5, 12, STATIC3);
    for (const i of [4, 3, 2]) {
      c.world.crash(eps[i]!);
      c.run(2000);
    }
    assert.ok(!(await delivers(c, groups[0]!)), 'blocked below the quorum');
    c.start(eps[2]!);
    c.join(eps[2]!, 'g', [eps[0]!], undefined, STATIC3);
    c.run(4000);
    assert.equal(groups[0]!.view.members.length, 3, `view ${groups[0]!.view.members.join(' ')}`);
    assert.ok(await delivers(c, groups[0]!), 'live again with three');
    noTwoPrimaries(c);
  });

  it('static quorum 3: a forming group delivers nothing until its third member is in, then what was sent before', async () => {
    const c = new SimCluster(13);
    const eps = ['n1:1', 'n2:1', 'n3:1'];
    c.start(eps[0]!);
    const g1 = c.join(eps[0]!, 'g', [], undefined, STATIC3);
    c.run(1000);
    assert.deepEqual(g1.blockedReasons, ['minority'], 'a founder below the quorum is blocked');
    const got: string[] = [];
    g1.on('message', (d) => got.push(String(d.payload)));
    void g1.cast('fifo', 'early').catch(() => {});
    c.start(eps[1]!);
    c.join(eps[1]!, 'g', [eps[0]!], undefined, STATIC3);
    await runAsync(c, 2000);
    assert.equal(g1.view.members.length, 2, 'a view of two forms');
    assert.deepEqual(got, [], 'nothing delivered with two of three');
    c.start(eps[2]!);
    const g3 = c.join(eps[2]!, 'g', [eps[0]!], undefined, STATIC3);
    await runAsync(c, 3000);
    assert.equal(g1.view.members.length, 3);
    assert.deepEqual(got, ['early'], 'delivered once the quorum is in');
    assert.deepEqual(g3.blockedReasons, []);
    noTwoPrimaries(c);
  });

  it('weights: a heavy member and one other outweigh three light ones in a split (majority picks the other side)', async () => {
    const weights: JoinOptions = { stack: STACK, partition: { kind: 'weights', weights: { 'n1:1': 3 } } };
    for (const [policy, heavySideLive] of [
      [weights, true],
      [MAJORITY, false],
    ] as const) {
      const { c, eps, groups } = simGroup(5, 14, policy);
      c.world.partition([eps.slice(0, 2), eps.slice(2)]);
      c.run(4000);
      const views = lastViews(c, eps);
      assert.equal(views.get(eps[0]!)!.length === 2, heavySideLive, `${JSON.stringify(policy)}: n1, n2 on their own: ${heavySideLive}`);
      assert.equal(views.get(eps[2]!)!.length === 3, !heavySideLive, `${JSON.stringify(policy)}: n3–n5 on their own: ${!heavySideLive}`);
      assert.equal(await delivers(c, groups[0]!), heavySideLive);
      assert.equal(await delivers(c, groups[2]!), !heavySideLive);
      noTwoPrimaries(c);
      c.world.heal();
      c.run(8000);
      const healed = lastViews(c, eps);
      assert.ok(
        [...healed.values()].every((m) => m.length === 5),
        `one view of five after the heal: ${JSON.stringify([...healed.values()].map((m) => m.length))}`,
      );
    }
  });

  it('a bad policy is a ConfigError at join, and a fixed group refuses any policy', () => {
    const c = new SimCluster(15);
    c.start('n1:1');
    const node = c.nodes.get('n1:1')!;
    assert.throws(() => node.joinNow('g', { partition: { kind: 'quorum', size: 0 } }), { code: 'ERR_CONFIG' });
    assert.throws(() => node.joinNow('g', { partition: { kind: 'weights', weights: { a: -1 } } }), { code: 'ERR_CONFIG' });
    assert.throws(() => node.joinNow('h', { members: ['n1:1'], partition: { kind: 'quorum', size: 1 } }), { code: 'ERR_CONFIG' });
  });
});
