import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runVsyncScenarioAsync } from '../../src/sim/scenario-vsync.js';

/*
 * Found by the 2000-seed `--faults all` sweep once joins, leaves and gbcasts flushed without the fold
 * wait: replayed under the current fault mix, a failure names what the checker found.
 */
async function violationsOf(seed: number): Promise<string[]> {
  const r = await runVsyncScenarioAsync({ seed });
  return r.violations.slice(0, 5).map((v) => `${v.property}: ${v.detail.split('\n')[0]}`);
}

describe('--faults all: a member leaving to rejoin shows its application nothing of that membership', () => {
  it("seed 1723: a rejoiner whose state provider was cut off leaves to rejoin again; the next install's gbcasts stay out of the view its application still shows", async () => {
    assert.deepEqual(await violationsOf(1723), []);
  });
});
