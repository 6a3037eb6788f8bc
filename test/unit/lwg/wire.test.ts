import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PayloadEncoding } from '../../../src/api/app-header.js';
import { ProtocolError } from '../../../src/core/errors.js';
import { pack } from '../../../src/codec/payload.js';
import {
  decodeData,
  decodeFlushOk,
  decodeJoin,
  decodeLeave,
  decodeState,
  encodeData,
  encodeFlushOk,
  encodeJoin,
  encodeLeave,
  encodeState,
  kindOf,
  LwgKind,
  MAX_LWG_BATCH,
  MAX_LWG_NAME_BYTES,
} from '../../../src/lwg/wire.js';

const malformed = (e: unknown): boolean => e instanceof ProtocolError && e.code === 'ERR_MALFORMED';

describe('light-weight group wire format', () => {
  it('round-trips every kind', () => {
    const data = encodeData({ lwg: 7, view: 3, id: 300, order: 2, encoding: PayloadEncoding.Packed }, Buffer.from('abc'));
    assert.equal(kindOf(data), LwgKind.Data);
    const d = decodeData(data);
    assert.deepEqual(d.h, { lwg: 7, view: 3, id: 300, order: 2, encoding: PayloadEncoding.Packed });
    assert.equal(d.payload.toString(), 'abc');
    assert.deepEqual(decodeJoin(encodeJoin({ member: 'a:1/1', names: ['x', 'y'], wantState: true })), { member: 'a:1/1', names: ['x', 'y'], wantState: true });
    assert.deepEqual(decodeLeave(encodeLeave([1, 2])), [1, 2]);
    assert.deepEqual(decodeFlushOk(encodeFlushOk([1, 2, 3, 4])), [1, 2, 3, 4]);
    const s = decodeState(encodeState([{ lwg: 1, view: 2, state: Buffer.from([1, 2]) }]), 100);
    assert.deepEqual(s[0]!.state, Buffer.from([1, 2]));
  });

  it('refuses truncated, unknown and out-of-range input with ERR_MALFORMED', () => {
    assert.throws(() => kindOf(Buffer.alloc(0)), malformed);
    assert.throws(() => kindOf(Buffer.of(0)), malformed);
    assert.throws(() => kindOf(Buffer.of(99)), malformed);
    assert.throws(() => decodeData(Buffer.of(LwgKind.Data, 1)), malformed);
    assert.throws(() => decodeData(Buffer.of(LwgKind.Data, 1, 1, 1, 9, 0)), malformed); // order 9
    assert.throws(() => decodeData(Buffer.of(LwgKind.Data, 1, 1, 1, 0, 5)), malformed); // encoding 5
    const ctl = (kind: LwgKind, v: unknown): Buffer => Buffer.concat([Buffer.of(kind), pack(v)]);
    assert.throws(() => decodeJoin(ctl(LwgKind.Join, ['a:1/1', ['x'.repeat(MAX_LWG_NAME_BYTES + 1)], false])), /over the 200-byte limit/);
    assert.throws(() => decodeJoin(ctl(LwgKind.Join, ['', ['x'], false])), malformed);
    assert.throws(() => decodeJoin(ctl(LwgKind.Join, ['a:1/1', ['x'], 'yes'])), malformed);
    assert.throws(() => decodeJoin(ctl(LwgKind.Join, { member: 'a' })), malformed);
    assert.throws(() => decodeLeave(ctl(LwgKind.Leave, [-1])), malformed);
    assert.throws(() => decodeLeave(ctl(LwgKind.Leave, [1.5])), malformed);
    assert.throws(() => decodeLeave(ctl(LwgKind.Leave, new Array(MAX_LWG_BATCH + 1).fill(1))), malformed);
    assert.throws(() => decodeFlushOk(ctl(LwgKind.FlushOk, [1, 2, 3])), malformed);
    assert.throws(() => decodeState(ctl(LwgKind.State, [1, 2, 'not bytes']), 100), malformed);
    assert.throws(() => decodeState(encodeState([{ lwg: 1, view: 2, state: Buffer.alloc(101) }]), 100), /over the 100-byte limit/);
    assert.throws(() => decodeLeave(Buffer.of(LwgKind.Leave, 0xc1)), malformed);
  });
});
