import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Delivery } from '../../../src/api/delivery.js';
import { ORDERS, PayloadEncoding } from '../../../src/api/app-header.js';
import { pack } from '../../../src/codec/payload.js';

// A delivery keeps its order code and payload encoding in one field: each reads back as given.
describe('a delivery order and payload', () => {
  it('reads back every order with either encoding', () => {
    const value = { n: 7, s: 'x' };
    for (let code = 0; code < ORDERS.length; code++) {
      const packed = new Delivery('g', 'a:1', 3, code, pack(value), PayloadEncoding.Packed, 2);
      assert.equal(packed.order, ORDERS[code]);
      assert.deepEqual(packed.payload, value);
      const bytes = Buffer.from('raw bytes');
      const plain = new Delivery('g', 'a:1', 4, code, bytes, PayloadEncoding.Bytes, 2);
      assert.equal(plain.order, ORDERS[code]);
      assert.equal(plain.payload, bytes);
      assert.deepEqual([plain.group, plain.sender, plain.id, plain.viewId], ['g', 'a:1', 4, 2]);
    }
  });

  it('an order code no one knows reads as fifo, and its encoding is kept', () => {
    const d = new Delivery('g', 'a:1', 1, 9, pack([1, 2]), PayloadEncoding.Packed, 1);
    assert.equal(d.order, 'fifo');
    assert.deepEqual(d.payload, [1, 2]);
  });
});
