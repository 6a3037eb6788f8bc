import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { failed, replayCommand, runSeed, type SimSpec } from '../../src/sim/seed-runner.js';

/*
 * Issue 15 items 3 and 4: `--faults all --policy quorum|weights|partitionable` (crashes, restarts, pauses, partitions,
 * flapping, leaves) with every checker, no two primaries first among them. Short here; the sweeps
 * (`npm run sim -- --seeds 1000 --faults all --policy quorum`) run outside CI.
 */
const SEEDS = [1, 2, 3, 4];

describe('simulator seeds under the other partition policies', () => {
  for (const policy of ['quorum', 'weights', 'partitionable'] as const) {
    // partitionable: extended virtual synchrony (each side on its own, every merge agreed) and one view at the end.
    it(`--policy ${policy}: no violation (virtual synchrony, order, ${policy === 'partitionable' ? 'merges' : 'two primaries'}, liveness)`, async () => {
      const spec: SimSpec = { scenario: 'vsync', policy };
      const failing: string[] = [];
      for (const seed of SEEDS) {
        const o = await runSeed(spec, seed);
        if (failed(o)) failing.push(`seed ${seed}: ${o.violations[0]?.property}: ${o.violations[0]?.detail} — ${replayCommand('npm run sim --', spec, seed)}`);
      }
      assert.deepEqual(failing, []);
    });
  }
});
