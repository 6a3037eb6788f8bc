import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { simGroup, stallFrames } from '../../helpers/sim-group.js';
import { HELD_REPORT_QUANTUM } from '../../../src/stack/held-above.js';
import { checkOrder } from '../../../src/sim/checkers/order.js';

describe('TOTAL under flow control', () => {
  it('abcasts waiting for an order that a congested connection delays block their sender: the wait stays within its window', () => {
    const maxCredits = 64 * 1024;
    const maxHeldAbove = 64 * 1024;
    // What a member may hold of a sender: the allowance, a window in flight, what flow control has
    // not been told yet, and a frame's worth of 1000-byte messages.
    const bound = (maxHeldAbove + maxCredits + HELD_REPORT_QUANTUM) / 1000 + 64;
    const s = simGroup(3, ['TOTAL', 'STABLE', { name: 'FC', options: { maxCredits, maxHeldAbove } }, 'FRAG', 'NAK', 'COM']);
    const sender = s.groups[1]!;
    // The sequencer (m1, the most senior) reaches m3 late: m3 gets m2's abcasts but not their order.
    const link = stallFrames(s.world, (from, to) => from === 'm1:1' && to === 'm3:1');
    let blocked = 0;
    sender.on('blocked', () => blocked++);
    const count = 2000;
    for (let i = 0; i < count; i++) void sender.abcast(Buffer.alloc(1000, 2));
    s.world.runFor(3000);
    assert.equal(s.delivered[2]!.length, 0, 'm3 delivers nothing without the order');
    assert.ok(blocked > 0, 'm2 was told to wait: what m3 cannot deliver yet is not consumed');
    assert.ok(sender.pendingSends > count / 2, `most of m2's sends wait in its group (${sender.pendingSends})`);
    assert.ok(s.delivered[0]!.length <= bound, `m2 ran no further ahead than the bound of m3 (${s.delivered[0]!.length} delivered at m1)`);
    link.release();
    s.world.runFor(20_000);
    assert.equal(sender.pendingSends, 0);
    for (const d of s.delivered) assert.equal(d.length, count);
    assert.deepEqual(checkOrder(s.history.events, 'g').items, []);
  });
});
