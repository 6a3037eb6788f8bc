import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { simGroup } from '../../helpers/sim-group.js';

describe('FC', () => {
  it('blocks a sender while a paused member consumes nothing, and bounds what is buffered', () => {
    const maxCredits = 64 * 1024;
    const s = simGroup(3, ['STABLE', { name: 'FC', options: { maxCredits } }, 'FRAG', 'NAK', 'COM']);
    const sender = s.groups[0]!;
    let blockedEvents = 0;
    sender.on('blocked', () => blockedEvents++);
    s.world.pause('m3:1');
    for (let i = 0; i < 2000; i++) void sender.fbcast(Buffer.alloc(1000, 1));
    s.world.runFor(2000);
    assert.ok(blockedEvents > 0, 'the sender was told to wait');
    assert.ok(sender.pendingSends > 1800, `most sends wait in the group, not in the stack (${sender.pendingSends})`);
    const buffered = s.nodes[0]!.metrics.snapshot().gauges['horus_nak_buffered_bytes'] ?? 0;
    assert.ok(buffered <= 2 * maxCredits, `retransmission buffer ${buffered} stays within about one window`);
    s.world.resume('m3:1');
    s.world.runFor(10_000);
    assert.equal(sender.pendingSends, 0);
    for (const d of s.delivered) assert.equal(d.length, 2000);
  });

  it('resolves fbcast promises in order once credit returns', async () => {
    const s = simGroup(2, ['STABLE', { name: 'FC', options: { maxCredits: 8 * 1024 } }, 'FRAG', 'NAK', 'COM']);
    const order: number[] = [];
    const ps = Array.from({ length: 50 }, (_, i) => s.groups[0]!.fbcast(Buffer.alloc(1000)).then(() => order.push(i)));
    for (let t = 0; t < 100; t++) {
      s.world.runFor(20);
      await Promise.resolve();
    }
    await Promise.all(ps);
    assert.deepEqual(
      order,
      Array.from({ length: 50 }, (_, i) => i),
    );
  });
});
