// A process that leaves a group and joins it again is a new member each time, under an id the group
// has never seen: it is let in at once, not turned away for reusing an id that left (which cost one
// round trip and one doubling back-off step per earlier membership).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { simGroup } from '../../helpers/sim-cluster.js';

describe('joining a group again after leaving it', () => {
  it('each new membership has a fresh id and its first view comes as fast as the first one did', async () => {
    const { c, eps, groups } = simGroup(3, 7);
    c.start('mover:1', [eps[0]!]);
    const ids: string[] = [];
    const joinMs: number[] = [];
    const leaveMs: number[] = [];
    for (let k = 0; k < 5; k++) {
      const t0 = c.world.now();
      const g = c.join('mover:1', 'g', [eps[0]!]);
      await c.settle(g.ready, 10_000);
      joinMs.push(c.world.now() - t0);
      ids.push(g.localId);
      assert.ok(
        groups.every((x) => x.view.members.includes(g.localId)),
        `join ${k}: every old member sees ${g.localId}`,
      );
      c.run(200);
      const t1 = c.world.now();
      await c.settle(g.leave(), 10_000);
      while (groups.some((x) => x.view.members.includes(g.localId)) && c.world.now() - t1 < 10_000) c.run(1);
      leaveMs.push(c.world.now() - t1);
      c.run(200);
    }
    assert.equal(new Set(ids).size, ids.length, `fresh ids: ${ids.join(' ')}`);
    const first = joinMs[0]!;
    for (const [k, ms] of joinMs.entries()) assert.ok(ms <= first + 60, `join ${k} took ${ms} ms (the first took ${first}): ${joinMs.join(', ')}`);
    // A leave needs no wait for the coordinator's next retry tick (FAST_STACK's retryMs is 40 ms).
    for (const [k, ms] of leaveMs.entries()) assert.ok(ms < 40, `leave ${k} took ${ms} ms: ${leaveMs.join(', ')}`);
  });
});
