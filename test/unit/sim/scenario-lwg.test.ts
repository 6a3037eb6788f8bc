import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runLwgScenario } from '../../../src/sim/scenario-lwg.js';

describe('the light-weight groups scenario (sim --faults all --lwg)', () => {
  it('a short seed under faults ends with no violation, the same history on a replay, and LWG views recorded', () => {
    const a = runLwgScenario(3, { durationMs: 6000 });
    assert.deepEqual(a.violations.items, []);
    assert.ok(a.lwgs.length >= 3);
    const lwgViews = a.history.events.filter((e) => e.k === 'view' && a.lwgs.includes(e.group)).length;
    assert.ok(lwgViews > 0);
    assert.ok(a.delivered > 0);
    const b = runLwgScenario(3, { durationMs: 6000 });
    assert.equal(b.historyHash, a.historyHash);
  });
});
