import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { simGroup, stallFrames } from '../../helpers/sim-group.js';
import { HELD_REPORT_QUANTUM } from '../../../src/stack/held-above.js';

describe('SAFE under flow control', () => {
  it('safe messages that wait for a stability a congested connection delays block their sender: the wait stays within its window', () => {
    const maxCredits = 64 * 1024;
    const maxHeldAbove = 64 * 1024;
    // What a member may hold of a sender: the allowance, a window in flight, what flow control has
    // not been told yet, and a frame's worth of 1000-byte messages.
    const bound = (maxHeldAbove + maxCredits + HELD_REPORT_QUANTUM) / 1000 + 64;
    const s = simGroup(3, ['SAFE', 'STABLE', { name: 'FC', options: { maxCredits, maxHeldAbove } }, 'FRAG', 'NAK', 'COM']);
    const sender = s.groups[0]!;
    // m3's gossip does not reach m2: m2 cannot know that m3 holds m1's messages, so it holds them.
    const link = stallFrames(s.world, (from, to) => from === 'm3:1' && to === 'm2:1');
    let blocked = 0;
    sender.on('blocked', () => blocked++);
    const count = 2000;
    for (let i = 0; i < count; i++) void sender.fbcast(Buffer.alloc(1000, 3), { safe: true });
    s.world.runFor(3000);
    assert.equal(s.delivered[1]!.length, 0, 'm2 delivers nothing it cannot know to be stable');
    assert.ok(blocked > 0, 'm1 was told to wait: what m2 holds is not consumed');
    assert.ok(sender.pendingSends > count / 2, `most of m1's sends wait in its group (${sender.pendingSends})`);
    assert.ok(s.delivered[2]!.length <= bound, `m1 ran no further ahead than the bound of m2 (${s.delivered[2]!.length} delivered at m3)`);
    link.release();
    s.world.runFor(20_000);
    assert.equal(sender.pendingSends, 0);
    for (const d of s.delivered) assert.equal(d.length, count);
  });
});
