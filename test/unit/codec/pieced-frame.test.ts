import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Message, MsgFlag } from '../../../src/core/message.js';
import { ProtocolError } from '../../../src/core/errors.js';
import { messageToBytes } from '../../../src/codec/message-codec.js';
import { FrameBuilder, MAX_FRAME_HEAD_BYTES, frameMessageRoom, readFrameGroup, readFrameMembership, readFrameMessages } from '../../../src/codec/frame.js';
import { PiecedFrame, canReadPieced, piecedMessageRoom, readPiecedFrameMessages } from '../../../src/codec/pieced-frame.js';
import { NAK_HEADER } from '../../../src/layers/NAK.js';
import '../../../src/layers/index.js';

function sample(payload: Buffer, seq: number, dest: string | null): Message {
  const m = new Message(dest, payload);
  m.push(NAK_HEADER, { t: 1, view: 3, seq });
  return m;
}

/** A frame of `sizes.length` messages whose payloads have those sizes (each filled with its index). */
function frameOf(sizes: readonly number[]): Buffer {
  const b = new FrameBuilder('pieces-group', 2);
  sizes.forEach((n, i) => b.add(sample(Buffer.alloc(n, i & 0xff), i, i % 3 === 0 ? 'h:1/a' : null)));
  return Buffer.from(b.finish());
}

/** `frame` cut at `cuts` into fresh buffers (as separate socket reads would be). */
function cutAt(frame: Buffer, cuts: readonly number[]): Buffer[] {
  const at = [...new Set(cuts)].filter((c) => c > 0 && c < frame.length).sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let from = 0;
  for (const c of [...at, frame.length]) {
    // Own memory for each (not the shared pool), as each socket read has.
    const piece = Buffer.allocUnsafeSlow(c - from);
    frame.copy(piece, 0, from, c);
    pieces.push(piece);
    from = c;
  }
  return pieces;
}

function offsetOf(head: Buffer): number {
  return readFrameMembership(head, readFrameGroup(head).offset).offset;
}

/** What a reader gives: each message's encoding, or the error it reported at that index. */
function readAll(read: (each: (m: Message) => void, onBad: (e: ProtocolError, i: number) => void) => void): string[] {
  const out: string[] = [];
  try {
    read(
      (m) => out.push(messageToBytes(m).toString('hex')),
      (e, i) => out.push(`bad ${i}: ${e.code}`),
    );
  } catch (err) {
    assert.ok(err instanceof ProtocolError, `unexpected ${(err as Error).name}: ${(err as Error).message}`);
    out.push(`threw ${err.code}`);
  }
  return out;
}

describe('a frame read in its pieces', () => {
  it('gives the same messages as the whole frame, wherever it is cut', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 3000 }), { minLength: 1, maxLength: 12 }), fc.array(fc.nat(), { minLength: 1, maxLength: 4 }), (sizes, rawCuts) => {
        const frame = frameOf(sizes);
        const cuts = rawCuts.map((c) => MAX_FRAME_HEAD_BYTES + (c % Math.max(1, frame.length - MAX_FRAME_HEAD_BYTES)));
        const pieces = cutAt(frame, cuts);
        const offset = offsetOf(frame);
        const whole = readAll((each, onBad) => readFrameMessages(frame, offset, each, onBad));
        const pieced = new PiecedFrame(pieces, frame.length);
        assert.ok(canReadPieced(pieces, frame.length));
        assert.equal(offsetOf(pieced.head), offset);
        assert.deepEqual(
          readAll((each, onBad) => readPiecedFrameMessages(pieced, offset, each, onBad)),
          whole,
        );
        assert.equal(piecedMessageRoom(pieced, offset), frameMessageRoom(frame, offset));
        assert.equal(whole.length, sizes.length);
      }),
      { numRuns: 400 },
    );
  });

  it('decodes a message that lies inside one piece as views of that piece, and copies only one that spans a cut', () => {
    const frame = frameOf([1000, 1000, 1000]);
    const offset = offsetOf(frame);
    // Cut inside the second message's payload.
    const cut = offset + 4 + (4 + 1000 + 20) + 600;
    const pieces = cutAt(frame, [cut]);
    const got: Message[] = [];
    readPiecedFrameMessages(new PiecedFrame(pieces, frame.length), offset, (m) => got.push(m));
    assert.equal(got.length, 3);
    assert.equal(got[0]!.payload.buffer, pieces[0]!.buffer, 'the first message is a view of the first piece');
    assert.equal(got[2]!.payload.buffer, pieces[1]!.buffer, 'the third message is a view of the second piece');
    assert.notEqual(got[1]!.payload.buffer, pieces[0]!.buffer, 'the spanning message is a copy');
    assert.notEqual(got[1]!.payload.buffer, pieces[1]!.buffer);
    assert.deepEqual(got[1]!.payload, Buffer.alloc(1000, 1));
  });

  it('refuses what the whole frame refuses, with the same error at the same message (fuzz)', () => {
    const good = frameOf([5, 300, 40, 1200, 7]);
    const offset = offsetOf(good);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.tuple(fc.nat({ max: good.length - 1 - offset }), fc.nat({ max: 255 })).map(([i, v]) => {
            const c = Buffer.from(good);
            c[offset + i] = v;
            return c;
          }),
          fc.integer({ min: offset, max: good.length }).map((n) => Buffer.from(good.subarray(0, n))),
          fc.uint8Array({ minLength: 1, maxLength: 64 }).map((extra) => Buffer.concat([good, extra])),
        ),
        fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
        (frame, rawCuts) => {
          const whole = readAll((each, onBad) => readFrameMessages(frame, offset, each, onBad));
          const pieces = cutAt(
            frame,
            rawCuts.map((c) => MAX_FRAME_HEAD_BYTES + (c % Math.max(1, frame.length - MAX_FRAME_HEAD_BYTES))),
          );
          const pieced = readAll((each, onBad) => readPiecedFrameMessages(new PiecedFrame(pieces, frame.length), offset, each, onBad));
          assert.deepEqual(pieced, whole);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('is not read in pieces when its head is cut (the node gathers it)', () => {
    const frame = frameOf([300, 300]);
    assert.equal(canReadPieced(cutAt(frame, [MAX_FRAME_HEAD_BYTES - 1]), frame.length), false);
    assert.equal(canReadPieced(cutAt(frame, [MAX_FRAME_HEAD_BYTES]), frame.length), true);
    const small = frameOf([1]);
    assert.ok(small.length < MAX_FRAME_HEAD_BYTES);
    assert.equal(canReadPieced(cutAt(small, [small.length - 1]), small.length), false);
  });

  it('reads the flags of a spanning unicast as the whole frame does', () => {
    const frame = frameOf([0, 2000, 0]);
    const offset = offsetOf(frame);
    const got: Message[] = [];
    readPiecedFrameMessages(new PiecedFrame(cutAt(frame, [offset + 10, offset + 500]), frame.length), offset, (m) => got.push(m));
    assert.deepEqual(
      got.map((m) => [m.flags & MsgFlag.Multicast, m.dest]),
      [
        [0, 'h:1/a'],
        [MsgFlag.Multicast, null],
        [MsgFlag.Multicast, null],
      ],
    );
  });
});
