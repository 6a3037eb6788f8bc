import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { simGroup } from '../../helpers/sim-group.js';
import { checkOrder } from '../../../src/sim/checkers/order.js';

describe('CAUSAL', () => {
  it("the seed's case: A sends m; B delivers m and sends m'; C delivers m before m' although the network hands it m' first", () => {
    const s = simGroup(3, 'CAUSAL:NAK:COM', { jitterMs: 0, delayMs: 1 });
    const [a, b, c] = s.groups as [(typeof s.groups)[0], (typeof s.groups)[0], (typeof s.groups)[0]];
    // A -> C is slow: m reaches C long after m' does.
    s.world.partition([['m1:1', 'm2:1'], ['m3:1']]);
    b!.on('message', (d) => {
      if ((d.payload as { m: string }).m === 'm') void b!.cbcast({ m: "m'" });
    });
    void a!.cbcast({ m: 'm' });
    s.world.runFor(10);
    s.world.partition([['m1:1'], ['m2:1', 'm3:1']]); // now B (and m') can reach C, A cannot
    s.world.runFor(10);
    assert.deepEqual(
      s.delivered[2]!.map((d) => (d.payload as { m: string }).m),
      [],
      "C holds m' back: it has not got m yet",
    );
    s.world.heal();
    s.world.runFor(500);
    assert.deepEqual(
      s.delivered[2]!.map((d) => (d.payload as { m: string }).m),
      ['m', "m'"],
    );
    assert.deepEqual(checkOrder(s.history.events, 'g').items, []);
    assert.ok(c);
  });

  it('keeps causal order under loss and reordering with many concurrent senders', () => {
    const s = simGroup(5, 'CAUSAL:STABLE:FC:FRAG:NAK:COM', { loss: 0.05, fifo: false, jitterMs: 5, seed: 9 });
    s.groups.forEach((g, i) => {
      let n = 0;
      g.on('message', () => {
        if (n++ < 40 && n % 3 === i % 3) void g.cbcast({ from: i, n });
      });
      void g.cbcast({ from: i, n: 0 });
    });
    s.world.runFor(10_000);
    assert.deepEqual(checkOrder(s.history.events, 'g').items, []);
    const counts = s.delivered.map((d) => d.length);
    assert.ok(
      counts.every((c) => c === counts[0] && c > 20),
      `all deliver the same number (${counts})`,
    );
  });
});
