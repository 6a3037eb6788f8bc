import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runScenario } from '../../src/sim/scenario.js';

describe('simulated fbcast under faults', () => {
  it('keeps integrity, FIFO and no-loss over 200 seeds with loss, duplication, pauses and partitions', () => {
    const failing: string[] = [];
    let delivered = 0;
    for (let seed = 1; seed <= 200; seed++) {
      const r = runScenario({ seed });
      delivered += r.delivered;
      if (r.violationCount > 0) failing.push(`seed ${seed}: ${r.violations[0]!.property}: ${r.violations[0]!.detail}`);
    }
    assert.deepEqual(failing, []);
    assert.ok(delivered > 100_000, `the workload really ran (${delivered} deliveries)`);
  });

  it('replays a seed exactly: same history hash and network trace', () => {
    const a = runScenario({ seed: 4242, loss: 0.05 });
    const b = runScenario({ seed: 4242, loss: 0.05 });
    const c = runScenario({ seed: 4243, loss: 0.05 });
    assert.equal(a.historyHash, b.historyHash);
    assert.equal(a.traceHash, b.traceHash);
    assert.notEqual(a.historyHash, c.historyHash);
  });
});
