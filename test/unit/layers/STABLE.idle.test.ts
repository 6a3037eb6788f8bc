import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import type { UpEvent } from '../../../src/core/events.js';
import { Layer } from '../../../src/stack/layer.js';
import { registerLayer } from '../../../src/stack/registry.js';
import { framesIn, simGroup } from '../../helpers/sim-group.js';

/** When each member last heard STABLE report progress (a probe right above STABLE). */
const stableAt = new Map<string, number[]>();
class STABLE_PROBE extends Layer {
  readonly name = 'STABLE_PROBE';
  override upEvent(ev: UpEvent): void {
    if (ev.type === 'STABLE') {
      const list = stableAt.get(this.ctx.localId) ?? [];
      list.push(this.env.now());
      stableAt.set(this.ctx.localId, list);
    }
    this.above.upEvent(ev);
  }
}
registerLayer({ name: 'STABLE_PROBE', provides: [], requires: [], options: z.object({}), create: (ctx) => new STABLE_PROBE(ctx) });

const stack = (idleEvery: number) => ['SAFE', { name: 'STABLE', options: { gossipIntervalMs: 50, idleEvery } }, 'NAK', 'COM'];

describe('STABLE gossip in an idle small group', () => {
  it('thins out to one digest per idleEvery intervals once nothing changes', () => {
    const n = 3;
    const idle = simGroup(n, stack(10));
    const every = simGroup(n, stack(1));
    idle.world.runFor(1000);
    every.world.runFor(1000);
    const thin = framesIn(idle, 5000); // 100 intervals
    const full = framesIn(every, 5000);
    assert.ok(full >= 100 * n * (n - 1) * 0.9, `every interval: ${full}`);
    assert.ok(thin <= 10 * n * (n - 1) * 1.25, `thinned: ${thin}`);
  });

  it('wakes once per idleEvery intervals once nothing changes, not at every interval', () => {
    const n = 3;
    const s = simGroup(n, stack(10));
    s.world.runFor(2000);
    const events0 = s.world.scheduler.eventsRun;
    const frames = framesIn(s, 5000); // 100 intervals
    const events = s.world.scheduler.eventsRun - events0;
    // Each member's timer: 10 ticks in 5 s (100 at every interval), each with its send's deferred flush; the rest are the frames' arrivals.
    assert.ok(events - frames <= n * 10 * 2 * 1.5, `${events} events, ${frames} of them frames`);
  });

  it('after a long quiet, every member learns a plain message is stable within a few intervals', () => {
    stableAt.clear();
    const s = simGroup(3, ['SAFE', 'STABLE_PROBE', { name: 'STABLE', options: { gossipIntervalMs: 50, idleEvery: 10 } }, 'NAK', 'COM']);
    s.world.runFor(3000); // quiet: the timers have slowed down
    stableAt.clear();
    const t0 = s.world.scheduler.now();
    void s.groups[1]!.fbcast({ x: 1 });
    s.world.runFor(1000);
    assert.equal(stableAt.size, 3);
    for (const [member, at] of stableAt) assert.ok(at[0]! - t0 <= 3 * 50, `${member}: stable after ${at[0]! - t0} ms (the slow tick is 500 ms)`);
  });

  it('gossips at every interval again as soon as messages arrive: safe delivery is not slowed', () => {
    const s = simGroup(3, stack(10));
    s.world.runFor(3000); // long idle: thinned
    void s.groups[1]!.fbcast({ x: 1 }, { safe: true });
    s.world.runFor(120);
    assert.deepEqual(
      s.delivered.map((d) => d.length),
      [1, 1, 1],
    );
  });

  it('makes safe messages stable under loss even though an unchanged digest is sent less often', () => {
    const s = simGroup(3, stack(10));
    s.world.setNetwork({ loss: 0.3 });
    s.world.runFor(2000);
    for (let i = 0; i < 3; i++) void s.groups[i]!.fbcast({ from: i }, { safe: true });
    s.world.runFor(3000);
    assert.deepEqual(
      s.delivered.map((d) => d.length),
      [3, 3, 3],
    );
  });
});
