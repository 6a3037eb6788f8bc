import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { simGroup } from '../../helpers/sim-group.js';

describe('SAFE', () => {
  it('delivers a safe message nowhere until every member holds it', () => {
    const s = simGroup(3, 'TOTAL:CAUSAL:SAFE:STABLE:FC:FRAG:NAK:COM');
    s.world.partition([['m1:1', 'm2:1'], ['m3:1']]);
    void s.groups[0]!.abcast({ x: 1 }, { safe: true });
    void s.groups[0]!.fbcast({ x: 2 }, { safe: true });
    s.world.runFor(500);
    assert.deepEqual(
      s.delivered.map((d) => d.length),
      [0, 0, 0],
      'm3 does not hold them yet, so nobody delivers',
    );
    s.world.heal();
    s.world.runFor(500);
    assert.deepEqual(
      s.delivered.map((d) => d.length),
      [2, 2, 2],
    );
  });

  it('keeps plain messages from a sender behind its held safe one (FIFO per sender)', () => {
    const s = simGroup(2, 'SAFE:STABLE:FC:FRAG:NAK:COM');
    s.world.pause('m2:1');
    void s.groups[0]!.fbcast('safe', { safe: true });
    void s.groups[0]!.fbcast('plain');
    s.world.runFor(200);
    assert.deepEqual(s.delivered[0]!, []);
    s.world.resume('m2:1');
    s.world.runFor(300);
    for (const d of s.delivered)
      assert.deepEqual(
        d.map((x) => x.payload),
        ['safe', 'plain'],
      );
  });

  it('refuses safe sends on a stack without SAFE, with a typed error', async () => {
    const s = simGroup(2, 'NAK:COM');
    await assert.rejects(s.groups[0]!.fbcast('x', { safe: true }), { code: 'ERR_INVALID_ARGUMENT' });
  });
});
