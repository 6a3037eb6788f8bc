import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Message, MsgFlag } from '../../../src/core/message.js';

// order, safe, typesShared, flags and keptTop share one integer field: each keeps its value whatever the others do.
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
  it('flags and keptTop keep their values beside the others, and a clone is not kept', () => {
    const m = new Message('a:1', Buffer.alloc(1));
    assert.deepEqual([m.flags, m.keptTop], [0, -1], 'a unicast, not kept');
    assert.equal(new Message(null, Buffer.alloc(1)).flags, MsgFlag.Multicast);
    for (const flags of [0, 1, 2, 3, 4, 5, 7])
      for (const kept of [-1, 0, 5, 32])
        for (const order of [0, 3, -1]) {
          m.order = order;
          m.flags = flags;
          m.keptTop = kept;
          m.safe = true;
          m.typesShared = true;
          assert.deepEqual([m.flags, m.keptTop, m.order, m.safe, m.typesShared], [flags, kept, order, true, true]);
          m.order = 1;
          m.safe = false;
          assert.deepEqual([m.flags, m.keptTop], [flags, kept]);
          const c = m.clone();
          assert.deepEqual([c.flags, c.keptTop, c.order], [flags, -1, 1]);
        }
  });

  it('a flag or a top beyond its bits is an invariant failure, not a silent change', () => {
    const m = new Message(null, Buffer.alloc(1));
    assert.throws(() => (m.flags = 8), /out of range/);
    assert.throws(() => (m.keptTop = 63), /out of range/);
    assert.throws(() => (m.keptTop = -2), /out of range/);
    assert.deepEqual([m.flags, m.keptTop], [MsgFlag.Multicast, -1]);
  });
});
