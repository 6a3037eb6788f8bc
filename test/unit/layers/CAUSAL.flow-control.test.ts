import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { simGroup, stallFrames } from '../../helpers/sim-group.js';
import { HELD_REPORT_QUANTUM } from '../../../src/stack/held-above.js';
import { checkOrder } from '../../../src/sim/checkers/order.js';

describe('CAUSAL under flow control', () => {
  it('a sender whose messages wait on a stalled connection is blocked by flow control, and nothing it sent is lost', () => {
    const maxCredits = 64 * 1024;
    const maxHeldAbove = 64 * 1024;
    // What a member may hold of a sender: the allowance, a window in flight, what flow control has
    // not been told yet, and a frame's worth of 1000-byte messages.
    const bound = (maxHeldAbove + maxCredits + HELD_REPORT_QUANTUM) / 1000 + 64;
    // CAUSAL's cap (for hostile senders) is far above the window: a benign sender must never reach it.
    const s = simGroup(3, [
      { name: 'CAUSAL', options: { maxHeldBytesPerSender: 512 * 1024 } },
      'STABLE',
      { name: 'FC', options: { maxCredits, maxHeldAbove } },
      'FRAG',
      'NAK',
      'COM',
    ]);
    const [a, b] = s.groups;
    // b's frames to m3 wait (a congested connection) while a, which has b's message, streams on.
    const link = stallFrames(s.world, (from, to) => from === 'm2:1' && to === 'm3:1');
    void b!.cbcast(Buffer.from('x'));
    s.world.runFor(50);
    assert.equal(s.delivered[0]!.length, 1, 'a delivered b’s message');
    let blocked = 0;
    a!.on('blocked', () => blocked++);
    const count = 2000;
    for (let i = 0; i < count; i++) void a!.cbcast(Buffer.alloc(1000, 1));
    s.world.runFor(3000);
    assert.equal(s.delivered[2]!.length, 0, 'm3 delivers nothing of a’s before b’s');
    assert.ok(blocked > 0, 'a was told to wait: what m3 holds is not consumed');
    assert.ok(a!.pendingSends > count / 2, `most of a’s sends wait in its group (${a!.pendingSends})`);
    const held = s.nodes[2]!.metrics.snapshot().counters['horus_causal_held_total'] ?? 0;
    assert.ok(held <= bound, `m3 held no more of a’s messages than the bound (${held})`);
    link.release();
    s.world.runFor(20_000);
    assert.equal(a!.pendingSends, 0);
    for (const d of s.delivered) assert.equal(d.length, count + 1);
    assert.deepEqual(checkOrder(s.history.events, 'g').items, []);
  });
});
