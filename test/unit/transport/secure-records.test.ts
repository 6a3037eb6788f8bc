import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { HorusError } from '../../../src/core/errors.js';
import { FrameDecoder, encodeFrames } from '../../../src/transport/frame-decoder.js';
import { RECORD_BYTES, RecordOpener, RecordSealer, TAG_BYTES, forEachFrame, maxRecordSize } from '../../../src/transport/secure-channel.js';

/** Seals `chunks`, then reads the wire back as the receiver does; returns the frames and the record sizes. */
function roundTrip(chunks: Buffer[], maxFrameSize: number, alter?: (wire: Buffer) => void): { frames: Buffer[]; records: number[] } {
  const key = randomBytes(32);
  const pieces: Buffer[] = [];
  const wireBytes = new RecordSealer(key).seal(chunks, (p) => pieces.push(Buffer.from(p)));
  const wire = Buffer.concat(pieces);
  assert.equal(wire.length, wireBytes);
  alter?.(wire);
  const opener = new RecordOpener(key);
  const frames: Buffer[] = [];
  const records: number[] = [];
  const decoder = new FrameDecoder((record) => {
    records.push(record.length);
    forEachFrame(opener.open(record), maxFrameSize, (f) => frames.push(Buffer.from(f)));
  }, maxRecordSize(maxFrameSize));
  // In uneven pieces, as a socket delivers them.
  for (let off = 0; off < wire.length; off += 7001) decoder.push(wire.subarray(off, off + 7001));
  return { frames, records };
}

describe('sealed records', () => {
  it('frames of any size across many batches come back whole and in order, in records within the limit', () => {
    const sizes = [0, 1, 1024, 40_000, 70_000, 5, 200_000, 65_532, 3];
    const all: Buffer[] = [];
    const chunks: Buffer[] = [];
    for (let c = 0; c < 12; c++) {
      const frames = Array.from({ length: 1 + (c % 4) }, (_, i) => randomBytes(sizes[(c * 3 + i) % sizes.length]!));
      all.push(...frames);
      chunks.push(encodeFrames(frames));
    }
    const { frames, records } = roundTrip(chunks, 1 << 20);
    assert.deepEqual(frames, all);
    for (const r of records) assert.ok(r <= maxRecordSize(1 << 20));
    // Small batches share a record.
    const small = roundTrip(
      Array.from({ length: 50 }, () => encodeFrames([randomBytes(100)])),
      1 << 20,
    );
    assert.equal(small.frames.length, 50);
    assert.equal(small.records.length, 1);
    assert.ok(RECORD_BYTES >= 50 * 104);
  });

  it('a flipped bit anywhere in a record fails it', () => {
    const chunks = [encodeFrames([randomBytes(3000), randomBytes(10)])];
    const base = roundTrip(chunks, 1 << 20);
    const total = base.records[0]! + 4;
    for (const at of [4, 5, 100, total - TAG_BYTES - 1, total - 1]) {
      assert.throws(
        () =>
          roundTrip(chunks, 1 << 20, (w) => {
            w[at] = w[at]! ^ 0x01;
          }),
        (e: unknown) => e instanceof HorusError && e.code === 'ERR_AUTH',
        `bit at ${at}`,
      );
    }
  });

  it('records opened out of order or twice fail (counter nonces)', () => {
    const key = randomBytes(32);
    const sealer = new RecordSealer(key);
    const recs: Buffer[] = [];
    for (let i = 0; i < 3; i++) {
      const parts: Buffer[] = [];
      sealer.seal([encodeFrames([Buffer.from(`frame ${i}`)])], (p) => parts.push(p));
      recs.push(Buffer.concat(parts).subarray(4));
    }
    const swapped = new RecordOpener(key);
    swapped.open(recs[0]!);
    assert.throws(
      () => swapped.open(recs[2]!),
      (e: unknown) => e instanceof HorusError && e.code === 'ERR_AUTH',
    );
    const replayed = new RecordOpener(key);
    replayed.open(recs[0]!);
    assert.throws(
      () => replayed.open(recs[0]!),
      (e: unknown) => e instanceof HorusError && e.code === 'ERR_AUTH',
    );
  });

  it('a frame inside a record over the receiver limit is refused', () => {
    assert.throws(
      () => roundTrip([encodeFrames([randomBytes(2000)])], 1000),
      (e: unknown) => e instanceof HorusError && e.code === 'ERR_FRAME_TOO_LARGE',
    );
  });
});
