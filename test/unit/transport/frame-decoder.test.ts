import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ProtocolError } from '../../../src/core/errors.js';
import { CONTROL_WORD_BASE, FrameDecoder, encodeControlWord, encodeFrames } from '../../../src/transport/frame-decoder.js';

const hex = (frames: readonly Uint8Array[]): string[] => frames.map((f) => Buffer.from(f).toString('hex'));

/** Decodes `chunks` and returns copies of the frames (views may alias the chunks). */
function decodeAll(chunks: readonly Buffer[], maxFrameSize = 1 << 20): Buffer[] {
  const out: Buffer[] = [];
  const d = new FrameDecoder((f) => out.push(Buffer.from(f)), maxFrameSize);
  for (const c of chunks) d.push(c);
  assert.equal(d.bufferedBytes, 0, 'nothing left over');
  return out;
}

function splitAt(buf: Buffer, points: readonly number[]): Buffer[] {
  const cuts = [...new Set(points.map((p) => p % (buf.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let prev = 0;
  for (const c of cuts) {
    chunks.push(buf.subarray(prev, c));
    prev = c;
  }
  chunks.push(buf.subarray(prev));
  return chunks;
}

const sample: Buffer[] = [
  Buffer.from('hello'),
  Buffer.alloc(0),
  Buffer.from([0, 1, 2, 3, 4, 5, 6, 7, 8]),
  Buffer.alloc(300, 0xab),
  Buffer.alloc(0),
  Buffer.from('x'),
];

describe('FrameDecoder', () => {
  it('reassembles frames split at every byte boundary', () => {
    const stream = encodeFrames(sample);
    for (let i = 0; i <= stream.length; i++) {
      assert.deepEqual(hex(decodeAll([stream.subarray(0, i), stream.subarray(i)])), hex(sample), `split at ${i}`);
    }
    for (let i = 0; i <= stream.length; i += 7) {
      for (let j = i; j <= stream.length; j += 5) {
        const got = decodeAll([stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)]);
        assert.deepEqual(hex(got), hex(sample), `split at ${i},${j}`);
      }
    }
  });

  it('reassembles a stream pushed one byte at a time', () => {
    const stream = encodeFrames(sample);
    const chunks = Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1));
    assert.deepEqual(hex(decodeAll(chunks)), hex(sample));
  });

  it('delivers many frames in one chunk as views of that chunk', () => {
    const frames = Array.from({ length: 10_000 }, (_, i) => Buffer.from(`frame-${i}`));
    const chunk = encodeFrames(frames);
    const got: Buffer[] = [];
    const d = new FrameDecoder((f) => got.push(f));
    d.push(chunk);
    assert.equal(got.length, frames.length);
    assert.deepEqual(hex(got), hex(frames));
    assert.ok(
      got.every((f) => f.buffer === chunk.buffer),
      'zero copy',
    );
  });

  it('allows zero-length frames', () => {
    const got = decodeAll([encodeFrames([Buffer.alloc(0), Buffer.alloc(0)])]);
    assert.equal(got.length, 2);
    assert.ok(got.every((f) => f.length === 0));
  });

  it('accepts a frame of exactly maxFrameSize and rejects one byte more with ERR_FRAME_TOO_LARGE', () => {
    assert.equal(decodeAll([encodeFrames([Buffer.alloc(100)])], 100).length, 1);
    const d = new FrameDecoder(() => assert.fail('no frame expected'), 100);
    assert.throws(
      () => d.push(encodeFrames([Buffer.alloc(101)])),
      (e: unknown) => e instanceof ProtocolError && e.code === 'ERR_FRAME_TOO_LARGE',
    );
    assert.ok(d.failed);
    // Unusable afterwards: the stream position is lost.
    assert.throws(() => d.push(encodeFrames([Buffer.alloc(1)])), ProtocolError);
  });

  it('detects an oversized length whose header is split across chunks', () => {
    const d = new FrameDecoder(() => {}, 10);
    d.push(Buffer.from([0, 0]));
    assert.throws(
      () => d.push(Buffer.from([1, 0])),
      (e: unknown) => e instanceof ProtocolError && e.code === 'ERR_FRAME_TOO_LARGE',
    );
  });

  it('hands control words to onControl in stream order with the frames, at every split point', () => {
    const stream = Buffer.concat([
      encodeFrames([Buffer.from('ab')]),
      encodeControlWord(1),
      encodeFrames([Buffer.alloc(0)]),
      encodeControlWord(2),
      encodeControlWord(1),
    ]);
    assert.equal(encodeControlWord(1).readUInt32BE(0), CONTROL_WORD_BASE + 1);
    for (let cut = 0; cut <= stream.length; cut++) {
      const seen: string[] = [];
      const d = new FrameDecoder((f) => seen.push(`frame:${f.toString()}`), 1024);
      d.onControl = (code) => seen.push(`control:${code}`);
      d.push(stream.subarray(0, cut));
      d.push(stream.subarray(cut));
      assert.deepEqual(seen, ['frame:ab', 'control:1', 'frame:', 'control:2', 'control:1'], `split at ${cut}`);
      assert.equal(d.bufferedBytes, 0);
    }
  });

  it('without onControl, a control word is an oversized length; a thrown onControl fails the decoder', () => {
    const d = new FrameDecoder(() => {}, 1024);
    assert.throws(
      () => d.push(encodeControlWord(1)),
      (e: unknown) => e instanceof ProtocolError && e.code === 'ERR_FRAME_TOO_LARGE',
    );
    const e = new FrameDecoder(() => {}, 1024);
    e.onControl = () => {
      throw new ProtocolError('ERR_PROTOCOL', 'unexpected');
    };
    assert.throws(() => e.push(encodeControlWord(3)), ProtocolError);
    assert.ok(e.failed);
    // A length just under the control words is still only an oversized length.
    const f = new FrameDecoder(() => {}, 1024);
    f.onControl = () => assert.fail('not a control word');
    const under = Buffer.alloc(4);
    under.writeUInt32BE(CONTROL_WORD_BASE - 1, 0);
    assert.throws(
      () => f.push(under),
      (err: unknown) => err instanceof ProtocolError && err.code === 'ERR_FRAME_TOO_LARGE',
    );
  });

  it('stops delivering once closed, even within one chunk', () => {
    const got: Buffer[] = [];
    const d = new FrameDecoder((f) => {
      got.push(f);
      if (got.length === 2) d.close();
    });
    d.push(encodeFrames(sample));
    assert.equal(got.length, 2);
    d.push(encodeFrames(sample));
    assert.equal(got.length, 2);
  });

  it('becomes unusable when the callback throws, and rethrows its error', () => {
    const boom = new Error('boom');
    const d = new FrameDecoder(() => {
      throw boom;
    });
    assert.throws(
      () => d.push(encodeFrames(sample)),
      (e: unknown) => e === boom,
    );
    assert.throws(() => d.push(encodeFrames(sample)), ProtocolError);
  });

  it('property: random frames chunked at random points decode to the same frames', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 40 }), fc.array(fc.nat(), { maxLength: 30 }), (frames, points) => {
        const stream = encodeFrames(frames);
        assert.deepEqual(hex(decodeAll(splitAt(stream, points))), hex(frames));
      }),
      { numRuns: 500 },
    );
  });

  it('with onPieces, hands a frame that straddles chunks up as views of its pieces, and whole frames as before', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 40 }), fc.array(fc.nat(), { maxLength: 30 }), (frames, points) => {
        // Each chunk in memory of its own, as socket reads are.
        const chunks = splitAt(encodeFrames(frames), points).map((c) => {
          const own = Buffer.allocUnsafeSlow(c.length);
          c.copy(own);
          return own;
        });
        const out: Buffer[] = [];
        const d = new FrameDecoder((f) => out.push(Buffer.from(f)), 1 << 20);
        d.onPieces = (pieces, length) => {
          assert.ok(pieces.length >= 2, 'only a frame in two or more pieces');
          assert.equal(
            pieces.reduce((n, p) => n + p.length, 0),
            length,
          );
          for (const p of pieces)
            assert.ok(
              chunks.some((c) => c.buffer === p.buffer),
              'a piece is a view of a chunk, not a copy',
            );
          out.push(Buffer.concat(pieces));
        };
        for (const c of chunks) d.push(c);
        assert.equal(d.bufferedBytes, 0);
        assert.deepEqual(hex(out), hex(frames));
      }),
      { numRuns: 500 },
    );
  });

  it('property: random garbage throws nothing but ProtocolError', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 20 }), fc.integer({ min: 0, max: 4096 }), (chunks, max) => {
        const d = new FrameDecoder((f) => assert.ok(f.length <= max), max);
        try {
          for (const c of chunks) d.push(Buffer.from(c));
        } catch (e) {
          assert.ok(e instanceof ProtocolError, `unexpected ${String(e)}`);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
