import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runLargeScenario } from '../../src/sim/scenario-large.js';

describe('large scenario (issue 15 item 2)', () => {
  it('100 members form, lose 10 at once, re-form with 0 violations; idle and view-change frames grow as n', () => {
    const n = 100;
    const r = runLargeScenario({ seed: 1, nodes: n });
    assert.deepEqual(r.violations, []);
    assert.equal(r.violationCount, 0);
    assert.ok(r.viewChanges >= 1, 'the survivors installed a view without the crashed');
    assert.ok(r.reformMs < 5000, `re-formed in ${r.reformMs} virtual ms`);
    // Relayed beats and aggregated digests: about 6n (beats) + 2n/10 (digests) frames per interval, not n².
    assert.ok(r.idleFramesPerInterval < 8 * n, `idle: ${r.idleFramesPerInterval} frames per interval`);
    assert.ok(r.viewChangeFrames / r.viewChanges < 60 * n, `view change: ${r.viewChangeFrames} frames in ${r.viewChanges}`);
    assert.equal(r.delivered, r.sent * n, 'every message sent (all before the crash) delivered by all');
  });
});
