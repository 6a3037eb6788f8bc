import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { simGroup } from '../../helpers/sim-group.js';
import { stubLink } from '../../helpers/layer-link.js';
import type { Env } from '../../../src/core/env.js';
import { silentLogger } from '../../../src/core/logger.js';
import { Message } from '../../../src/core/message.js';
import { FC, FC_HEADER } from '../../../src/layers/FC.js';
import { MemoryMetrics } from '../../../src/obs/metrics.js';

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

describe('FC with batches', () => {
  it('counts a batch message by message, passes it up whole, and grants credit once per sender after it', () => {
    const ctx = { env: {} as Env, group: 'g', localId: 'me:1/1', log: silentLogger, metrics: new MemoryMetrics() };
    const fc = new FC(ctx, { maxCredits: 1000, replenishFraction: 0.25, askIntervalMs: 50 });
    const calls: string[] = [];
    fc.above = stubLink({ up: () => void calls.push('up'), upBatch: (b) => void calls.push(`upBatch ${b.length}`) });
    fc.below = stubLink({ down: (m: Message) => void calls.push(`credit to ${m.dest} ${m.peek(FC_HEADER)!.total}`) });
    fc.downEvent({ type: 'VIEW', view: { group: 'g', id: 1, members: ['me:1/1', 'a:1/1', 'b:1/1'] } });
    const from = (src: string): Message => {
      const m = new Message(null, Buffer.alloc(100));
      m.src = src;
      return m;
    };
    fc.upBatch([...Array.from({ length: 10 }, () => from('a:1/1')), from('b:1/1')]);
    // 116 bytes each: a's 1160 pass the 250-byte replenish mark once per batch, b's 116 do not.
    assert.deepEqual(calls, ['upBatch 11', 'credit to a:1/1 1160']);
  });

  it('grants no credit for what a layer above still holds (HELD_ABOVE), and grants it once that layer lets it go', () => {
    const ctx = { env: {} as Env, group: 'g', localId: 'me:1/1', log: silentLogger, metrics: new MemoryMetrics() };
    const fc = new FC(ctx, { maxCredits: 1000, replenishFraction: 0.25, askIntervalMs: 50, maxHeldAbove: 0 });
    const credits: string[] = [];
    const held = (layer: string, messages: number): void =>
      fc.downEvent({ type: 'HELD_ABOVE', layer, member: 'a:1/1', messages, payloadBytes: 100 * messages });
    // CAUSAL above holds 8 of a's 10 messages as they go up (they wait on another member's).
    fc.above = stubLink({ upBatch: () => held('CAUSAL', 8) });
    fc.below = stubLink({ down: (m: Message) => credits.push(`${m.dest} ${m.peek(FC_HEADER)!.total}`) });
    fc.downEvent({ type: 'VIEW', view: { group: 'g', id: 1, members: ['me:1/1', 'a:1/1', 'b:1/1'] } });
    const from = (src: string): Message => {
      const m = new Message(null, Buffer.alloc(100));
      m.src = src;
      return m;
    };
    fc.upBatch(Array.from({ length: 10 }, () => from('a:1/1')));
    assert.deepEqual(credits, [], 'two delivered (232 bytes) are under the 250-byte replenish mark');
    // Another layer's hold adds to CAUSAL's; CAUSAL letting 5 go is not yet enough.
    held('TOTAL', 1);
    held('CAUSAL', 3);
    assert.deepEqual(credits, ['a:1/1 696'], 'six delivered: 10 consumed less the 4 still held');
    held('TOTAL', 0);
    held('CAUSAL', 0);
    assert.deepEqual(credits, ['a:1/1 696', 'a:1/1 1160']);
    // A report for a non-member, or about ourselves, changes nothing.
    fc.downEvent({ type: 'HELD_ABOVE', layer: 'CAUSAL', member: 'x:1/1', messages: 1, payloadBytes: 1 });
    assert.equal(credits.length, 2);
  });

  it('lets the layers above hold up to maxHeldAbove at no cost in credit; only what they hold beyond it waits', () => {
    const ctx = { env: {} as Env, group: 'g', localId: 'me:1/1', log: silentLogger, metrics: new MemoryMetrics() };
    const fc = new FC(ctx, { maxCredits: 1000, replenishFraction: 0.25, askIntervalMs: 50, maxHeldAbove: 500 });
    const credits: number[] = [];
    let holding = 0;
    fc.above = stubLink({
      upBatch: () => fc.downEvent({ type: 'HELD_ABOVE', layer: 'SAFE', member: 'a:1/1', messages: holding, payloadBytes: 100 * holding }),
    });
    fc.below = stubLink({ down: (m: Message) => credits.push(m.peek(FC_HEADER)!.total) });
    fc.downEvent({ type: 'VIEW', view: { group: 'g', id: 1, members: ['me:1/1', 'a:1/1'] } });
    const batch = (): Message[] =>
      Array.from({ length: 10 }, () => {
        const m = new Message(null, Buffer.alloc(100));
        m.src = 'a:1/1';
        return m;
      });
    holding = 4; // 464 bytes: within the allowance
    fc.upBatch(batch());
    assert.deepEqual(credits, [1160], 'all of it granted, held or not');
    holding = 9; // 1044 bytes: 544 beyond the allowance
    fc.upBatch(batch());
    assert.deepEqual(credits, [1160, 2320 - 544]);
  });
});
