import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runVsyncScenarioAsync } from '../../src/sim/scenario-vsync.js';

/*
 * Issue #9, "Done means": `--faults all` ends live, every node in one view 15 s after the last fault.
 * Seeds that once ended with live nodes blocked or left out, each replayed under the current fault mix;
 * a failure names what the checker found.
 */
async function violationsOf(seed: number): Promise<string[]> {
  const r = await runVsyncScenarioAsync({ seed });
  return r.violations.slice(0, 5).map((v) => `${v.property}: ${v.detail.split('\n')[0]}`);
}

describe('--faults all: found liveness seeds stay live', () => {
  it('seed 316: a view whose members mostly left to rejoin under new ids moves on (they no longer count in its majority)', async () => {
    assert.deepEqual(await violationsOf(316), []);
  });

  it('seed 1455: a joiner admitted and left out again before it heard of either is told, and rejoins under a new id', async () => {
    assert.deepEqual(await violationsOf(1455), []);
  });

  it('seed 4: a joiner whose first state chunks were lost gets them resent, though it keeps acking no progress', async () => {
    assert.deepEqual(await violationsOf(4), []);
  });

  it('seed 382: a member whose old view mates all rejoined under new memberships hears from them that it was left out, and rejoins', async () => {
    assert.deepEqual(await violationsOf(382), []);
  });

  it('seed 331: a fresh joiner whose vote made a cut that leaves it out says done, so that its view is installed and it rejoins', async () => {
    assert.deepEqual(await violationsOf(331), []);
  });
});
