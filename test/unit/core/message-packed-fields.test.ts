import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Message } from '../../../src/core/message.js';

// order, safe and typesShared share one integer field: each keeps its value whatever the others do.
describe('a message order, safe and typesShared', () => {
  it('each keeps its own value while the others change', () => {
    const m = new Message(null, Buffer.alloc(1));
    assert.deepEqual([m.order, m.safe, m.typesShared], [0, false, false], 'a new message: fifo, not safe, its own types');
    for (const order of [0, 1, 2, 3, -1, 7])
      for (const safe of [false, true])
        for (const shared of [false, true]) {
          m.order = order;
          m.safe = safe;
          m.typesShared = shared;
          assert.deepEqual([m.order, m.safe, m.typesShared], [order, safe, shared]);
          m.safe = !safe;
          m.typesShared = !shared;
          assert.equal(m.order, order, 'an order code is kept as given, even one no layer knows');
          m.order = 2;
          assert.deepEqual([m.safe, m.typesShared], [!safe, !shared]);
        }
  });

  it('a clone keeps order and safe, and owns its header types', () => {
    const m = new Message(null, Buffer.alloc(1));
    m.order = 2;
    m.safe = true;
    m.typesShared = true;
    const c = m.clone();
    assert.deepEqual([c.order, c.safe, c.typesShared], [2, true, false]);
  });
});
