import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Message } from '../../../src/core/message.js';
import { ProtocolError } from '../../../src/core/errors.js';
import { messageToBytes } from '../../../src/codec/message-codec.js';
import { FrameBuilder, readFrameGroup, readFrameMembership, readFrameMessages } from '../../../src/codec/frame.js';
import { frameKind, frameLength, frameRange, frameToBuffer, type FrameBytes } from '../../../src/codec/frame-pieces.js';
import { NAK_HEADER } from '../../../src/layers/NAK.js';
import { APP_HEADER } from '../../../src/api/app-header.js';
import '../../../src/layers/index.js';

function sample(payload: Buffer, seq: number, dest: string | null): Message {
  const m = new Message(dest, payload);
  m.push(APP_HEADER, { order: 0, encoding: 0, id: seq + 1 });
  m.push(NAK_HEADER, { t: 1, view: 3, seq });
  return m;
}

/** A frame of `sizes.length` messages with those payload sizes (some unicast), as one buffer of its own. */
function frameOf(sizes: readonly number[], group = 'trading', membership = 3): Buffer {
  const b = new FrameBuilder(group, membership);
  sizes.forEach((n, i) => b.add(sample(Buffer.alloc(n, i + 1), i, i % 5 === 4 ? 'a:1/x' : null)));
  return Buffer.from(b.finish());
}

/** `buf` cut at `points` (duplicates and order do not matter; an empty piece stays in). */
function cut(buf: Buffer, points: readonly number[]): Buffer[] {
  const cuts = points.map((p) => p % (buf.length + 1)).sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let prev = 0;
  for (const c of cuts) {
    pieces.push(buf.subarray(prev, c));
    prev = c;
  }
  pieces.push(buf.subarray(prev));
  return pieces;
}

interface Outcome {
  group?: string;
  membership?: number;
  messages: string[];
  bad: [number, string][];
  thrown?: string;
}

/** Everything COM learns from a frame: its group, membership, each message re-encoded, the bad ones, and how it broke. */
function read(frame: FrameBytes): Outcome {
  const out: Outcome = { messages: [], bad: [] };
  try {
    const g = readFrameGroup(frame);
    out.group = g.group;
    const m = readFrameMembership(frame, g.offset);
    out.membership = m.membership;
    readFrameMessages(
      frame,
      m.offset,
      (msg) => out.messages.push(messageToBytes(msg).toString('hex')),
      (err, i) => out.bad.push([i, err.code]),
    );
  } catch (err) {
    assert.ok(err instanceof ProtocolError, `unexpected ${(err as Error).name}: ${(err as Error).message}`);
    out.thrown = err.code;
  }
  return out;
}

const sizes = [0, 1, 3, 40, 2, 200, 7, 0, 1024, 5, 1, 90, 3];

describe('frames read in pieces', () => {
  it('read exactly as the whole frame when cut at every byte position', () => {
    const frame = frameOf(sizes);
    const whole = read(frame);
    assert.equal(whole.messages.length, sizes.length);
    assert.equal(whole.thrown, undefined);
    for (let i = 0; i <= frame.length; i++) assert.deepEqual(read(cut(frame, [i])), whole, `cut at ${i}`);
  });

  it('read exactly as the whole frame when cut at every pair of positions (and into empty pieces)', () => {
    const frame = frameOf([0, 1, 3, 2, 30, 1, 0]);
    const whole = read(frame);
    for (let i = 0; i <= frame.length; i++) {
      for (let j = i; j <= frame.length; j++) assert.deepEqual(read(cut(frame, [i, j])), whole, `cut at ${i}, ${j}`);
    }
  });

  it('decode a message that lies in one piece in place, and copy only the one that spans a cut', () => {
    const frame = frameOf(sizes);
    for (let i = 1; i < frame.length; i++) {
      const pieces = cut(frame, [i]);
      const { offset } = readFrameMembership(pieces, readFrameGroup(pieces).offset);
      let copied = 0;
      readFrameMessages(pieces, offset, (msg) => {
        if (!pieces.includes(msg.wire!)) copied++;
        else assert.ok(msg.payload.buffer === frame.buffer, 'a view of the frame');
      });
      assert.ok(copied <= 1, `cut at ${i}: ${copied} messages copied`);
    }
  });

  it('treat a message length cut in two exactly as the whole frame does, whatever it claims', () => {
    const frame = frameOf([10, 4, 30, 2]);
    const { offset } = readFrameMembership(frame, readFrameGroup(frame).offset);
    // Where each message's length word is.
    const words: number[] = [];
    for (let at = offset + 4, i = 0; i < 4; i++) {
      words.push(at);
      at += 4 + frame.readUInt32BE(at);
    }
    for (const at of words) {
      const real = frame.readUInt32BE(at);
      for (const claim of [0, 1, 2, real - 1, real + 1, frame.length - at - 4, frame.length - at - 3, 0x7fffffff, 0xffffffff]) {
        const bad = Buffer.from(frame);
        bad.writeUInt32BE(claim >>> 0, at);
        const whole = read(bad);
        for (let i = at - 2; i <= at + 6; i++) assert.deepEqual(read(cut(bad, [i])), whole, `length ${claim} at ${at}, cut at ${i}`);
        for (let i = at; i <= at + 4; i++) assert.deepEqual(read(cut(bad, [i, i + 1, i + 2])), whole, `length ${claim} at ${at}, cuts from ${i}`);
      }
    }
    // The count word too.
    for (const claim of [0, 3, 5, 65536, 65537, 0xffffffff]) {
      const bad = Buffer.from(frame);
      bad.writeUInt32BE(claim >>> 0, offset);
      const whole = read(bad);
      assert.notEqual(whole.thrown ?? whole.bad.length, 0, `count ${claim} is caught`);
      for (let i = offset - 1; i <= offset + 5; i++) assert.deepEqual(read(cut(bad, [i])), whole, `count ${claim}, cut at ${i}`);
    }
  });

  it('read random frames, mutated or cut short, exactly as the whole frame (fuzz)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: 300 }), { minLength: 0, maxLength: 12 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 6 }),
        fc.option(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { nil: null }),
        fc.option(fc.nat(), { nil: null }),
        (payloads, cuts, mutation, truncate) => {
          let frame = frameOf(payloads);
          if (mutation !== null) frame[mutation[0] % frame.length] = mutation[1];
          if (truncate !== null) frame = frame.subarray(0, truncate % (frame.length + 1));
          assert.deepEqual(read(cut(frame, cuts)), read(frame));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('read random bytes in pieces exactly as in one buffer (fuzz)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.array(fc.nat(), { minLength: 1, maxLength: 4 }), (bytes, cuts) => {
        const frame = Buffer.from(bytes);
        assert.deepEqual(read(cut(frame, cuts)), read(frame));
      }),
      { numRuns: 3000 },
    );
  });

  it('give ranges, kind, length and the joined bytes of a frame in pieces', () => {
    const frame = frameOf([100, 3]);
    for (let i = 0; i <= frame.length; i += 3) {
      const pieces = cut(frame, [i, i + 5]);
      assert.equal(frameLength(pieces), frame.length);
      assert.equal(frameKind(pieces), frame[0]);
      assert.deepEqual(frameToBuffer(pieces), frame);
      for (const [a, b] of [
        [0, 10],
        [i, i + 7],
        [frame.length - 3, frame.length + 10],
      ] as const) {
        assert.deepEqual(frameRange(pieces, a, b), frame.subarray(a, b), `range ${a}..${b} cut at ${i}`);
      }
    }
    assert.equal(frameKind([Buffer.alloc(0), Buffer.alloc(0)]), -1);
  });
});
