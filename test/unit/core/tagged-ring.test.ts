import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TaggedRing } from '../../../src/core/tagged-ring.js';

describe('TaggedRing', () => {
  it('keeps items and their numbers in FIFO order across wrap-arounds and growth', () => {
    const r = new TaggedRing<string>();
    assert.equal(r.length, 0);
    assert.equal(r.peek(), undefined);
    assert.ok(Number.isNaN(r.peekTag()));
    assert.equal(r.shift(), undefined);
    const model: [string, number][] = [];
    let next = 0;
    // Push and shift in uneven rounds so the head wraps while the ring is part full, then grows.
    for (let round = 0; round < 200; round++) {
      const pushes = (round * 7) % 23;
      const shifts = (round * 5) % 19;
      for (let k = 0; k < pushes; k++) {
        r.push(`x${next}`, next * 3);
        model.push([`x${next}`, next * 3]);
        next++;
      }
      for (let k = 0; k < shifts && model.length > 0; k++) {
        assert.equal(r.peek(), model[0]![0]);
        assert.equal(r.peekTag(), model[0]![1]);
        assert.equal(r.shift(), model.shift()![0]);
      }
      assert.equal(r.length, model.length);
    }
    const seen: [string, number][] = [];
    r.forEach((x, t) => seen.push([x, t]));
    assert.deepEqual(seen, model);
    assert.ok(model.length > 16, `grew past its first room (${model.length} held)`);
  });

  it('keeps stamps up to 2^32 exactly', () => {
    const r = new TaggedRing<number>();
    r.push(1, 2 ** 32 - 1);
    r.push(2, 2 ** 32);
    assert.equal(r.peekTag(), 2 ** 32 - 1);
    r.shift();
    assert.equal(r.peekTag(), 2 ** 32);
  });
});
