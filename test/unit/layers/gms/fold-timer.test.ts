// A coordinator starts a flush foldMs after membership work arrives, not at its next retry tick,
// even when its timers fire a little early by env.now(): real timers do (libuv counts from the
// time cached at the start of the loop's turn, while env.now() reads the clock), and so does a fold
// timer set for earlier work. Such a timer used to find the fold unfinished and leave the flush to
// the next tick (retryMs later).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HorusNode } from '../../../../src/api/node.js';
import type { Group } from '../../../../src/api/group.js';
import type { Env, Timer } from '../../../../src/core/env.js';
import { SimCluster, FAST_STACK } from '../../../helpers/sim-cluster.js';

/** `env` with timers that fire up to `earlyMs` before their time (a real timer still waits some of it). */
function earlyTimers(env: Env, earlyMs: number): Env {
  const e = Object.create(env) as Env;
  e.setTimer = (ms: number, fn: () => void): Timer => env.setTimer(ms - Math.min(earlyMs, ms / 2), fn);
  return e;
}

describe('GMS fold timer', () => {
  it('starts the flush for a leave soon after foldMs when the coordinator’s timers fire early', async () => {
    const c = new SimCluster(11);
    const eps = ['n1:1', 'n2:1', 'n3:1', 'n4:1'];
    const groups: Group[] = [];
    for (const [i, ep] of eps.entries()) {
      // The coordinator (the first member) runs on timers that fire 1 ms early.
      const node = i === 0 ? new HorusNode(earlyTimers(c.world.addNode(ep, '1').env, 1), c.history, []) : c.start(ep);
      if (i === 0) c.nodes.set(ep, node);
      groups.push(node.joinNow('g', { contacts: i === 0 ? [] : [eps[0]!], stack: FAST_STACK }));
      c.run(i === 0 ? 50 : 5);
    }
    c.run(3000);
    assert.ok(
      groups.every((g) => g.view.members.length === 4),
      'four members in one view',
    );
    const leaveMs: number[] = [];
    for (let k = 0; k < 3; k++) {
      const leaver = groups.pop()!;
      c.run(7 + 13 * k); // a different phase against the coordinator's 40 ms retry tick each time
      const t0 = c.world.now();
      await c.settle(leaver.leave(), 10_000);
      while (groups.some((g) => g.view.members.includes(leaver.localId)) && c.world.now() - t0 < 10_000) c.run(1);
      leaveMs.push(c.world.now() - t0);
    }
    // foldMs (10) and a few link delays; the coordinator's next tick could be up to retryMs (40) away.
    for (const [k, ms] of leaveMs.entries()) assert.ok(ms < 30, `leave ${k} took ${ms} ms: ${leaveMs.join(', ')}`);
  });
});
