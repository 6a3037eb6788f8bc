import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { failed, replayCommand, runSeed, type SimSpec } from '../../src/sim/seed-runner.js';

/*
 * Found seeds of `--faults all --lwg` (light-weight groups over shared heavy-weight groups under
 * crashes, restarts, isolation and loss; issue 15 item 1), replayed here as regression tests.
 */
describe('light-weight group simulator: found seeds', () => {
  // Session 9. 745: the coordinator installed a view admitting a joiner and crashed 50 ms later; the
  // joiner's INSTALL was lost and nobody resent it. The survivor could not change the view without
  // the joiner's vote (1 of 3 is no majority), and the joiner ignored the flush of a view it never
  // had: the group was stuck for good. Now such a joiner answers the flush as a "fresh" member
  // (nothing held, no state) and the next view takes it in as a joiner, with state.
  it('seed 745: a joiner whose install died with its coordinator votes in the next flush and gets in', async () => {
    const spec: SimSpec = { scenario: 'lwg' };
    const o = await runSeed(spec, 745);
    assert.ok(!failed(o), `seed 745: ${o.violations[0]?.property}: ${o.violations[0]?.detail} — ${replayCommand('npm run sim --', spec, 745)}`);
  });

  // Session 11. 427: a rejoined member took its state from the first provider of its view; a second
  // provider's copy, delayed by loss, reached it after that provider had left the light-weight group,
  // and was counted as a forged state ("sent the state of a group it is not in"). A copy for a view
  // that is over is late, not forged: it is ignored without counting.
  it('seed 427: a state copy that arrives after its provider left is not counted as an offence', async () => {
    const spec: SimSpec = { scenario: 'lwg' };
    const o = await runSeed(spec, 427);
    assert.ok(!failed(o), `seed 427: ${o.violations[0]?.property}: ${o.violations[0]?.detail} — ${replayCommand('npm run sim --', spec, 427)}`);
  });
});
