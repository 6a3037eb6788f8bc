// The APP header of a plain message lives in memory as one number (no object per message): it must
// say the same as the record and go on the wire as the same bytes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  APP_HEADER,
  appEncoding,
  appId,
  appKind,
  appOrder,
  AppKind,
  PayloadEncoding,
  plainAppHeader,
  type AppHeader,
  type AppHeaderValue,
} from '../../../src/api/app-header.js';
import { Reader } from '../../../src/codec/reader.js';
import { Writer } from '../../../src/codec/writer.js';

function bytesOf(h: AppHeaderValue): Buffer {
  const w = new Writer(64);
  APP_HEADER.encode(w, h);
  return w.toBytes();
}

function read(b: Buffer): AppHeaderValue {
  const r = new Reader(b);
  const h = APP_HEADER.decode(r);
  assert.equal(r.pos, b.length, 'the whole header read');
  return h;
}

const fields = (h: AppHeaderValue): [number, number, number, AppKind] => [appOrder(h), appEncoding(h), appId(h), appKind(h)];

const order = fc.nat({ max: 3 });
const encoding = fc.constantFrom(PayloadEncoding.Bytes, PayloadEncoding.Packed);
// Ids small and large: past 2^50 a plain header stays a record (id * 8 would lose bits); uvar reads up to 2^56 - 1.
const id = fc.oneof(fc.nat({ max: 1000 }), fc.nat(), fc.integer({ min: 2 ** 49, max: 2 ** 51 }), fc.integer({ min: 2 ** 52, max: Number.MAX_SAFE_INTEGER }));

describe('APP header: a plain header packed into a number', () => {
  it('says what the record says, and is written as the same bytes', () => {
    fc.assert(
      fc.property(order, encoding, id, (o, e, i) => {
        const packed = plainAppHeader(o, e, i);
        const record: AppHeader = { order: o, encoding: e, id: i };
        assert.deepEqual(fields(packed), [o, e, i, AppKind.Plain]);
        assert.deepEqual(bytesOf(packed), bytesOf(record));
        assert.equal(typeof packed, i < 2 ** 50 ? 'number' : 'object');
      }),
    );
  });

  it('round-trips every kind through the wire: plain ones decode packed (below 2^50), the others as records', () => {
    fc.assert(
      fc.property(order, encoding, id, fc.constantFrom(AppKind.Plain, AppKind.Query, AppKind.Reply, AppKind.Merge), (o, e, i, kind) => {
        const h: AppHeader = kind === AppKind.Plain ? { order: o, encoding: e, id: i } : { order: o, encoding: e, id: i, kind };
        if (kind === AppKind.Reply) {
          h.re = 7;
          h.to = 'a:1/2';
        }
        const back = read(bytesOf(h));
        assert.deepEqual(fields(back), [o, e, i, kind]);
        if (kind === AppKind.Plain && i < 2 ** 50) assert.equal(typeof back, 'number');
        else assert.deepEqual(back, h);
        assert.deepEqual(bytesOf(back), bytesOf(h), 'written again as the same bytes');
      }),
    );
  });

  it('refuses an unknown kind as before', () => {
    assert.throws(() => read(Buffer.from([0x28, 1])), { code: 'ERR_MALFORMED' });
  });
});
