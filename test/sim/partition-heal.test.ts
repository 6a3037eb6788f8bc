import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SimCluster } from '../helpers/sim-cluster.js';
import type { Group } from '../../src/api/group.js';
import { checkOneMemberPerNode } from '../../src/sim/checkers/one-member.js';
import { checkVirtualSynchrony } from '../../src/sim/checkers/vsync.js';
import { ViolationList } from '../../src/sim/checkers/violation.js';
import { endpointOf } from '../../src/core/node-id.js';
import { nodeOfMember } from '../../src/core/member-id.js';

/*
 * Issue 9 item 2, "a jam after the heal": a cut holds what is sent into it, as TCP does, and
 * delivers it in one burst at the heal (or resets the connection after cutResetMs). Stale join
 * requests in that burst must not add members nobody runs; the group must be whole again soon after.
 */

/** `n` members of 'g' under traffic, cut links holding frames for up to `cutResetMs`. */
function cluster(n: number, seed: number, cutResetMs: number): { c: SimCluster; eps: string[]; groups: Group[] } {
  const c = new SimCluster(seed, { cutResetMs, reconnectBackoffMaxMs: 5000, jitterMs: 1, delayMs: 0.5 });
  const eps = Array.from({ length: n }, (_, i) => `n${i + 1}:1`);
  eps.forEach((e, i) => {
    c.start(e);
    c.run(i === 0 ? 50 : 5);
  });
  const groups = eps.map((e, i) => c.join(e, 'g', i === 0 ? [] : [eps[0]!]));
  c.run(3000);
  for (const g of groups) assert.equal(g.view.members.length, n, 'the group formed');
  // A trickle of traffic from everyone, all along.
  const tick = (): void => {
    for (const g of groups) if (g.view.id > 0) void g.fbcast(Buffer.from('x')).catch(() => {});
    c.world.scheduler.schedule(50, tick);
  };
  tick();
  return { c, eps, groups };
}

/** Within 15 s of the heal: one view of every node (one member each, its current one), nothing blocked, clean history. */
function wholeAgain(c: SimCluster, eps: string[], groups: Group[]): void {
  c.run(15_000);
  const v = groups[0]!.view;
  for (const g of groups) assert.deepEqual(g.view, v, `${g.localId} in view ${g.view.id} [${g.view.members}], not ${v.id} [${v.members}]`);
  assert.deepEqual([...v.members].map((m) => endpointOf(nodeOfMember(m))).sort(), [...eps].sort());
  assert.deepEqual([...v.members].sort(), groups.map((g) => g.localId).sort());
  for (const g of groups) assert.deepEqual(g.blockedReasons, [], `${g.localId} is not blocked`);
  const out = new ViolationList();
  checkOneMemberPerNode(c.history.events, 'g', out);
  checkVirtualSynchrony(c.history.events, 'g', out);
  assert.deepEqual(out.items, []);
}

describe('heal after a partition, with TCP-like cuts', () => {
  for (const cutResetMs of [20_000, 3_000]) {
    it(`the coordinator cut off for 15 s rejoins once; the group is one view again (connections reset after ${cutResetMs} ms)`, () => {
      const { c, eps, groups } = cluster(3, 21, cutResetMs);
      const ids = groups.map((g) => g.localId);
      c.world.isolate(eps[0]!);
      c.run(15_000);
      c.world.heal();
      wholeAgain(c, eps, groups);
      // The old coordinator came back once, as its next membership (not ~2 ... ~10).
      assert.equal(groups[0]!.localId, `${ids[0]}~2`);
    });
  }

  it('flapping partitions (sets changing every 0.5-4 s, six times), then a heal: one view of all five', () => {
    const { c, eps, groups } = cluster(5, 22, 10_000);
    const r = c.world.forkRng('flap-test');
    for (let i = 0; i < 6; i++) {
      const side = eps.filter(() => r.chance(0.5));
      c.world.partition([side]);
      c.run(500 + r.float() * 3500);
    }
    c.world.heal();
    wholeAgain(c, eps, groups);
  });
});
