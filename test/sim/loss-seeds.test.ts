import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runVsyncScenario } from '../../src/sim/scenario-vsync.js';

/*
 * Issue #9, "Done means": `--faults all --loss 0.2` ends live. Seeds that once ended with survivors
 * blocked or left behind, each replayed exactly; a failure names what the checker found.
 */
const LOSS = 0.2;

function violationsOf(seed: number): string[] {
  const r = runVsyncScenario({ seed, loss: LOSS });
  return r.violations.slice(0, 5).map((v) => `${v.property}: ${v.detail.split('\n')[0]}`);
}

describe('--faults all --loss 0.2: found seeds stay live', () => {
  it('seed 395: a joiner whose state arrives after the next view still delivers that view (SAFE kept its stability)', () => {
    assert.deepEqual(violationsOf(395), []);
  });

  it('seed 485: the coordinator and then the next one crash; the survivors finish the flush and agree on one view', () => {
    assert.deepEqual(violationsOf(485), []);
  });
});
