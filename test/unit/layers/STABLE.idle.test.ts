import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { simGroup } from '../../helpers/sim-group.js';

const stack = (idleEvery: number) => ['SAFE', { name: 'STABLE', options: { gossipIntervalMs: 50, idleEvery } }, 'NAK', 'COM'];

/** Frames the network carried in `ms`. */
function framesIn(s: ReturnType<typeof simGroup>, ms: number): number {
  const before = s.world.stats.sent;
  s.world.runFor(ms);
  return s.world.stats.sent - before;
}

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
