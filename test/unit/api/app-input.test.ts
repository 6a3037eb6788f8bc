import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { APP_HEADER, PayloadEncoding } from '../../../src/api/app-header.js';
import { FrameBuilder } from '../../../src/codec/frame.js';
import { Message } from '../../../src/core/message.js';
import type { Stack } from '../../../src/stack/stack.js';
import { simGroup } from '../../helpers/sim-group.js';
import '../../../src/layers/index.js';

function appMessage(dest: string | null, order: number, id: number): Message {
  const m = new Message(dest, Buffer.from('forged'));
  m.push(APP_HEADER, { order, encoding: PayloadEncoding.Bytes, id });
  return m;
}

describe('application messages: only what a member could honestly send is delivered', () => {
  it('drops (and counts) a stranger’s message, a unicast from a member, and an order the stack does not provide', () => {
    const s = simGroup(2, 'COM');
    const stranger = s.world.addNode('x:1', '1');
    const frame = new FrameBuilder('g');
    frame.add(appMessage(null, 0, 1));
    stranger.env.transport.send('m1:1/1', Buffer.from(frame.finish()));
    // Member m2 speaks to m1 alone, and claims total order on a stack without TOTAL.
    const stackOf2 = (s.groups[1] as unknown as { stack: Stack }).stack;
    stackOf2.down(appMessage(s.endpoints[0]!, 0, 2));
    stackOf2.down(appMessage(null, 2, 3));
    s.world.runFor(100);
    assert.equal(s.delivered[0]!.length, 0);
    assert.equal(s.nodes[0]!.metrics.snapshot().counters['horus_app_dropped_total'], 3);
    // An honest message still goes through.
    void s.groups[1]!.fbcast('honest');
    s.world.runFor(100);
    assert.deepEqual(
      s.delivered[0]!.map((d) => d.payload),
      ['honest'],
    );
  });

  it('a payload that does not decode fails with a typed error when read, not a crash', () => {
    const s = simGroup(2, 'COM');
    const stackOf2 = (s.groups[1] as unknown as { stack: Stack }).stack;
    const m = new Message(null, Buffer.of(0x92, 0x01)); // an array of two holding one
    m.push(APP_HEADER, { order: 0, encoding: PayloadEncoding.Packed, id: 1 });
    stackOf2.down(m);
    s.world.runFor(100);
    assert.equal(s.delivered[0]!.length, 1);
    assert.throws(() => s.delivered[0]![0]!.payload, { code: 'ERR_MALFORMED' });
  });
});
