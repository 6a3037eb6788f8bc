import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { HorusError } from '../../../src/core/errors.js';
import { FRAME_HEADER_BYTES, FrameDecoder, encodeFrames } from '../../../src/transport/frame-decoder.js';
import { MAX_RECORD_BYTES, RECORD_BYTES, RecordOpener, RecordSealer, TAG_BYTES } from '../../../src/transport/secure-channel.js';

/** Cuts `bytes` into pieces at `cuts` (offsets), as the transport's queue may hand them to the sealer. */
function cut(bytes: Buffer, cuts: number[]): Buffer[] {
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...cuts.filter((x) => x > 0 && x < bytes.length).sort((a, b) => a - b), bytes.length]) {
    out.push(bytes.subarray(prev, c));
    prev = c;
  }
  return out;
}

/**
 * Seals each batch of `batches` (one seal call each), then reads the wire back as the receiver does
 * (in uneven socket reads); returns the frames and the record sizes.
 */
function roundTrip(batches: Buffer[][], maxFrameSize: number, alter?: (wire: Buffer) => void): { frames: Buffer[]; records: number[] } {
  const key = randomBytes(32);
  const pieces: Buffer[] = [];
  const sealer = new RecordSealer(key);
  let wireBytes = 0;
  for (const chunks of batches) wireBytes += sealer.seal(chunks, (p) => pieces.push(Buffer.from(p)));
  const wire = Buffer.concat(pieces);
  assert.equal(wire.length, wireBytes);
  alter?.(wire);
  const frames: Buffer[] = [];
  const records: number[] = [];
  const opener = new RecordOpener(key, (f) => frames.push(Buffer.from(f)), maxFrameSize);
  const decoder = new FrameDecoder((record) => {
    records.push(record.length);
    opener.open(record);
  }, MAX_RECORD_BYTES);
  for (let off = 0; off < wire.length; off += 7001) decoder.push(wire.subarray(off, off + 7001));
  assert.equal(opener.bufferedBytes, 0);
  return { frames, records };
}

describe('sealed records', () => {
  it('frames of any size, handed over in any pieces across many batches, come back whole and in order', () => {
    const sizes = [0, 1, 1024, 40_000, 70_000, 5, 200_000, 65_532, 3, RECORD_BYTES - 4, RECORD_BYTES];
    const all: Buffer[] = [];
    const batches: Buffer[][] = [];
    for (let c = 0; c < 12; c++) {
      const frames = Array.from({ length: 1 + (c % 4) }, (_, i) => randomBytes(sizes[(c * 3 + i) % sizes.length]!));
      all.push(...frames);
      const bytes = encodeFrames(frames);
      // Whole, a length word apart from its body (a frame queued by reference), or cut anywhere.
      const cuts = c % 3 === 0 ? [] : c % 3 === 1 ? [FRAME_HEADER_BYTES] : [1, 2, 3, 5, 9000, 17_000, 70_001];
      batches.push(cut(bytes, cuts));
    }
    const { frames, records } = roundTrip(batches, 1 << 20);
    assert.deepEqual(frames, all);
    for (const r of records) assert.ok(r <= MAX_RECORD_BYTES, `record of ${r}`);
  });

  it('small batches handed over together share a record; a long one is cut into full records', () => {
    const small = roundTrip([Array.from({ length: 50 }, () => encodeFrames([randomBytes(100)]))], 1 << 20);
    assert.equal(small.frames.length, 50);
    assert.deepEqual(small.records, [50 * 104 + TAG_BYTES]);
    const long = roundTrip([[encodeFrames([randomBytes(3 * RECORD_BYTES)])]], 4 * RECORD_BYTES);
    assert.deepEqual(long.records, [MAX_RECORD_BYTES, MAX_RECORD_BYTES, MAX_RECORD_BYTES, FRAME_HEADER_BYTES + TAG_BYTES]);
    assert.equal(long.frames.length, 1);
  });

  it('a frame straddling records is held as buffered bytes until its last record opens', () => {
    const key = randomBytes(32);
    const frame = randomBytes(2 * RECORD_BYTES);
    const records: Buffer[] = [];
    const dec = new FrameDecoder((r) => records.push(Buffer.from(r)), MAX_RECORD_BYTES);
    new RecordSealer(key).seal([encodeFrames([frame])], (p) => dec.push(p));
    assert.equal(records.length, 3);
    const got: Buffer[] = [];
    const opener = new RecordOpener(key, (f) => got.push(Buffer.from(f)), 4 * RECORD_BYTES);
    opener.open(records[0]!);
    assert.equal(opener.bufferedBytes, RECORD_BYTES);
    opener.open(records[1]!);
    assert.equal(opener.bufferedBytes, 2 * RECORD_BYTES);
    assert.equal(got.length, 0);
    opener.open(records[2]!);
    assert.equal(opener.bufferedBytes, 0);
    assert.deepEqual(got, [frame]);
  });

  it('a flipped bit anywhere in a record fails it', () => {
    const batches = [[encodeFrames([randomBytes(3000), randomBytes(10)])]];
    const base = roundTrip(batches, 1 << 20);
    const total = base.records[0]! + 4;
    for (const at of [4, 5, 100, total - TAG_BYTES - 1, total - 1]) {
      assert.throws(
        () =>
          roundTrip(batches, 1 << 20, (w) => {
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
    const swapped = new RecordOpener(key, () => {}, 1024);
    swapped.open(recs[0]!);
    assert.throws(
      () => swapped.open(recs[2]!),
      (e: unknown) => e instanceof HorusError && e.code === 'ERR_AUTH',
    );
    const replayed = new RecordOpener(key, () => {}, 1024);
    replayed.open(recs[0]!);
    assert.throws(
      () => replayed.open(recs[0]!),
      (e: unknown) => e instanceof HorusError && e.code === 'ERR_AUTH',
    );
  });

  it('a frame inside the records over the receiver limit is refused before it is assembled', () => {
    assert.throws(
      () => roundTrip([[encodeFrames([randomBytes(2000)])]], 1000),
      (e: unknown) => e instanceof HorusError && e.code === 'ERR_FRAME_TOO_LARGE',
    );
  });
});
