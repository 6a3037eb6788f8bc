// Fast crash detection in the simulator: a crashed process is excluded well before the heartbeat
// timeout (its connections close and its port refuses), a paused one only after it, and the view
// history passes the virtual synchrony checker either way.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Group } from '../../src/api/group.js';
import { checkVirtualSynchrony } from '../../src/sim/checkers/vsync.js';
import { ContainedEnv } from '../../src/stack/contained-env.js';
import { SimCluster, simGroup as cluster } from '../helpers/sim-cluster.js';

/** FAST_STACK's FD timeout (sim-cluster.ts). */
const SUSPECT_TIMEOUT_MS = 300;
const stackSeesPeerEvents = typeof (ContainedEnv.prototype as { watchPeers?: unknown }).watchPeers === 'function';
const skip = stackSeesPeerEvents ? false : 'ContainedEnv does not pass watchPeers through yet: FD gets no peer events in a stack';

/** Virtual ms until every group in `gs` holds a view without `gone`. */
function msUntilWithout(c: SimCluster, gs: readonly Group[], gone: string, maxMs = 5000): number {
  const t0 = c.world.now();
  while (gs.some((g) => g.view.members.includes(gone))) {
    if (c.world.now() - t0 > maxMs) assert.fail(`no view without ${gone} after ${maxMs} ms`);
    c.run(1);
  }
  return c.world.now() - t0;
}

function noViolations(c: SimCluster): void {
  assert.deepEqual(checkVirtualSynchrony(c.history.events, 'g').items, []);
}

describe('fast crash detection (simulator)', { skip }, () => {
  for (const [victim, seed] of [
    ['the coordinator', 21],
    ['a member', 22],
  ] as const) {
    it(`${victim} that crashes is excluded well before the heartbeat timeout`, () => {
      const { c, eps, groups } = cluster(4, seed);
      const i = victim === 'the coordinator' ? 0 : 3;
      const gone = groups[i]!.localId;
      c.world.crash(eps[i]!);
      const ms = msUntilWithout(
        c,
        groups.filter((_, k) => k !== i),
        gone,
      );
      assert.ok(ms < SUSPECT_TIMEOUT_MS / 2, `excluded after ${ms} virtual ms`);
      c.run(2000);
      noViolations(c);
    });
  }

  it("a member that learns of the crash only after the coordinator's proposal does not wait out the dead member's lease", () => {
    const { c, eps, groups } = cluster(4, 25);
    const gone = groups[3]!.localId;
    // n2's own proof (its dial refused) comes 40 ms late: after the proposal that leaves the dead
    // member out has reached it, when it has already started to wait out the lease it gave it.
    const late = c.world.node(eps[1]!)!;
    const deliver = late.peerEvent.bind(late);
    late.peerEvent = (ev) => {
      if (ev.type === 'gone') late.env.setTimer(40, () => deliver(ev));
      else deliver(ev);
    };
    c.world.crash(eps[3]!);
    const ms = msUntilWithout(c, groups.slice(0, 3), gone);
    // FAST_STACK's lease is ~100 ms (300 − 2 × 50 − 100): waiting it out would take about that long.
    assert.ok(ms < 40 + 25, `excluded after ${ms} virtual ms`);
    c.run(2000);
    noViolations(c);
  });

  it('a process restarted at its endpoint replaces its old incarnation at once', () => {
    const { c, eps, groups } = cluster(3, 23);
    const old = groups[2]!.localId;
    c.world.crash(eps[2]!);
    c.start(eps[2]!);
    const ms = msUntilWithout(c, groups.slice(0, 2), old);
    assert.ok(ms < SUSPECT_TIMEOUT_MS / 2, `excluded after ${ms} virtual ms`);
    noViolations(c);
  });

  it('a paused process is excluded only after the heartbeat timeout', () => {
    const { c, eps, groups } = cluster(4, 24);
    const paused = groups[3]!.localId;
    c.world.pause(eps[3]!);
    const ms = msUntilWithout(c, groups.slice(0, 3), paused);
    assert.ok(ms >= SUSPECT_TIMEOUT_MS - 50, `excluded after ${ms} virtual ms, before the timeout`);
    c.world.resume(eps[3]!);
    c.run(3000);
    noViolations(c);
  });
});
