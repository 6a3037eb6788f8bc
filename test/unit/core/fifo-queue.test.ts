import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FifoQueue } from '../../../src/core/fifo-queue.js';

describe('FifoQueue', () => {
  it('gives back what was pushed, in order, through any mix of pushes and shifts (an array as the model)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer({ min: 0, max: 1e6 }), fc.constant(null)), { maxLength: 3000 }), (ops) => {
        const q = new FifoQueue<number>();
        const model: number[] = [];
        for (const op of ops) {
          if (op === null) assert.equal(q.shift(), model.shift());
          else {
            q.push(op);
            model.push(op);
          }
          assert.equal(q.length, model.length);
          assert.equal(q.peek(), model[0]);
        }
        assert.deepEqual([...q], model);
      }),
      { numRuns: 200 },
    );
  });

  it('starts over at the front once emptied, and compacts a long drained head', () => {
    const q = FifoQueue.of(1);
    assert.equal(q.shift(), 1);
    assert.equal(q.shift(), undefined);
    assert.equal(q.length, 0);
    for (let i = 0; i < 5000; i++) q.push(i);
    for (let i = 0; i < 4000; i++) assert.equal(q.shift(), i);
    assert.equal(q.length, 1000);
    assert.deepEqual([...q].slice(0, 2), [4000, 4001]);
    const items = (q as unknown as { items: unknown[] }).items;
    assert.ok(items.length <= 2500, `the drained head was kept: ${items.length} slots for 1000 items`);
  });
});
