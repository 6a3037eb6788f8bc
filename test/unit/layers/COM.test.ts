import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { simGroup } from '../../helpers/sim-group.js';
import { NAK_HEADER } from '../../../src/layers/NAK.js';
import { APP_HEADER } from '../../../src/api/app-header.js';
import { FRAG_MAX_PAYLOAD_BYTES } from '../../../src/layers/FRAG.js';
import { Message, type HeaderType } from '../../../src/core/message.js';
import type { Stack } from '../../../src/stack/stack.js';
import type { Group } from '../../../src/api/group.js';
import { counter, dropped, forged, frameOf, sendAs } from './hostile-peer.js';

const NAK_H = NAK_HEADER as HeaderType<never>;
const APP_H = APP_HEADER as HeaderType<never>;
const stackOf = (g: Group): Stack => (g as unknown as { stack: Stack }).stack;

describe('COM', () => {
  it('drops a malformed or misdirected message alone and delivers the good ones of the same frame', () => {
    const s = simGroup(3, 'NAK:COM');
    const [m1, m2] = s.nodes as [(typeof s.nodes)[0], (typeof s.nodes)[0]];
    const good = (seq: number) =>
      forged(null, Buffer.from(`good${seq}`), [
        [APP_H, { order: 0, encoding: 0, id: seq }],
        [NAK_H, { t: 1, view: 1, seq }],
      ]);
    const undecodable = forged(null, Buffer.from('x'), [[NAK_H, { t: 9, view: 1 }]]); // encodes, but no NAK type 9 exists
    const misdirected = forged('m3:1', Buffer.from('y'), [[APP_H, { order: 0, encoding: 0, id: 99 }]]);
    sendAs(m2, m1, frameOf('g', [good(1), undecodable, good(2), misdirected, good(3)]));
    s.world.runFor(100);
    assert.deepEqual(
      s.delivered[0]!.map((d) => d.raw.toString()),
      ['good1', 'good2', 'good3'],
    );
    assert.equal(counter(m1, 'horus_com_malformed_total'), 1);
    assert.equal(dropped(m1, 'COM'), 2);
  });

  it("takes a frame of another membership of a member's node for that membership, not for the member", () => {
    // A process that rejoined is a new member (node~n+1): frames of its other membership (still in
    // flight, or held across a cut) number their messages in that membership's sequence, not the
    // member's. Here m2 is the view's member (its first membership); a frame of m2~2 is not its.
    const s = simGroup(3, 'NAK:COM');
    const [m1, m2] = s.nodes as [(typeof s.nodes)[0], (typeof s.nodes)[0]];
    const msg = (seq: number, text: string) =>
      forged(null, Buffer.from(text), [
        [APP_H, { order: 0, encoding: 0, id: seq }],
        [NAK_H, { t: 1, view: 1, seq }],
      ]);
    sendAs(m2, m1, frameOf('g', [msg(1, 'other-membership')], 2));
    s.world.runFor(100);
    assert.equal(s.delivered[0]!.length, 0, "another membership's message is not delivered as the member's");
    sendAs(m2, m1, frameOf('g', [msg(1, 'member')], 1));
    s.world.runFor(100);
    assert.deepEqual(
      s.delivered[0]!.map((d) => [d.sender, d.raw.toString()]),
      [['m2:1', 'member']],
      "the member's own seq 1 is still expected: the other membership's took nothing from it",
    );
  });

  it("hands a frame's messages up as one batch: the application gets them in one call", () => {
    const s = simGroup(3, 'TOTAL:CAUSAL:SAFE:STABLE:FC:FRAG:NAK:COM');
    const [m1, m2] = s.nodes as [(typeof s.nodes)[0], (typeof s.nodes)[0]];
    const g = s.groups[0]!;
    const batches: number[] = [];
    const upBatch = g.upBatch.bind(g);
    g.upBatch = (batch) => {
      batches.push(batch.length);
      upBatch(batch);
    };
    const good = (seq: number) =>
      forged(null, Buffer.from(`good${seq}`), [
        [APP_H, { order: 0, encoding: 0, id: seq }],
        [NAK_H, { t: 1, view: 1, seq }],
      ]);
    sendAs(m2, m1, frameOf('g', [good(1), good(2), good(3), good(4)]));
    s.world.runFor(100);
    assert.deepEqual(
      s.delivered[0]!.map((d) => d.raw.toString()),
      ['good1', 'good2', 'good3', 'good4'],
    );
    assert.deepEqual(batches, [4], 'one call for the frame, through every layer');
  });

  it('says what a stack carries: one frame without FRAG, 64 MiB with it, and such a message arrives', async () => {
    const plain = simGroup(2, 'NAK:COM');
    const max = stackOf(plain.groups[0]!).maxPayloadBytes;
    assert.ok(max > 16 * 1024 * 1024 - 20 * 1024 && max < 16 * 1024 * 1024 - 16 * 1024, `${max}`);
    void plain.groups[0]!.fbcast(Buffer.alloc(max, 1));
    plain.world.runFor(2000);
    assert.equal(plain.delivered[1]!.length, 1, 'a payload of exactly the limit arrives');
    assert.equal(plain.delivered[1]![0]!.raw.length, max);
    // A payload of a whole frame does not fit with its headers: the API refuses it, and should one reach COM anyway, COM
    // drops it (and each retransmission), counted, rather than fail inside the transport.
    await assert.rejects(plain.groups[0]!.fbcast(Buffer.alloc(16 * 1024 * 1024, 1)), { code: 'ERR_TOO_LARGE' });
    stackOf(plain.groups[0]!).down(new Message(null, Buffer.alloc(16 * 1024 * 1024, 1)));
    plain.world.runFor(2000);
    assert.equal(plain.delivered[1]!.length, 1);
    assert.ok(counter(plain.nodes[0]!, 'horus_com_oversize_dropped_total') >= 1);
    const fragmented = simGroup(2, 'FRAG:NAK:COM');
    assert.equal(stackOf(fragmented.groups[0]!).maxPayloadBytes, FRAG_MAX_PAYLOAD_BYTES);
    assert.equal(FRAG_MAX_PAYLOAD_BYTES, 64 * 1024 * 1024);
  });
});
