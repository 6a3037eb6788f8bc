import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SimCluster, simGroup as cluster } from '../../../helpers/sim-cluster.js';
import type { Group } from '../../../../src/api/group.js';
import { checkVirtualSynchrony } from '../../../../src/sim/checkers/vsync.js';

/** The survivors ended in one view of exactly themselves, unblocked, with no checker violation. */
function settledTogether(c: SimCluster, survivors: Group[]): void {
  const v = survivors[0]!.view;
  assert.deepEqual(new Set(v.members), new Set(survivors.map((g) => g.localId)), `final view ${v.id}: ${v.members.join(' ')}`);
  for (const g of survivors) {
    assert.deepEqual(g.view, v, `${g.localId} is in view ${g.view.id}`);
    assert.deepEqual(g.blockedReasons, [], `${g.localId} is not blocked`);
  }
  assert.deepEqual(checkVirtualSynchrony(c.history.events, 'g').items, []);
}

describe('GMS flush takeover', () => {
  it('a coordinator whose flush fell into a minority retries with everyone but keeps suspecting the dead members above it', () => {
    // n1 (the coordinator) and n3 crash while n5 is cut off: n2 takes over, hears only n4, and waits
    // in a minority. Retrying with everyone once n5 is back must not forget that n1 is dead: else
    // n2 hands the coordination back to it, the failure detector never says so again, and all wait.
    const { c, eps, groups } = cluster(5, 21);
    c.world.isolate(eps[4]!);
    c.world.crash(eps[0]!);
    c.world.crash(eps[2]!);
    c.run(500);
    c.world.heal();
    c.run(8000);
    settledTogether(c, [groups[1]!, groups[3]!, groups[4]!]);
  });
});
