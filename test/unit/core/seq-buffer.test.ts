import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SeqBuffer } from '../../../src/core/seq-buffer.js';

describe('SeqBuffer', () => {
  it('keeps items by sequence number across wrap-around and growth, freeing from the front', () => {
    const b = new SeqBuffer<string>(1, (s) => s.length);
    for (let seq = 1; seq <= 50; seq++) b.append(seq, `m${seq}`);
    b.truncate(40); // the ring's head is now far from its start: the next appends wrap
    for (let seq = 51; seq <= 300; seq++) b.append(seq, `m${seq}`); // and grow past the first capacity
    assert.equal(b.firstSeq, 41);
    assert.equal(b.length, 260);
    for (const seq of [41, 50, 51, 64, 65, 128, 300]) assert.equal(b.get(seq), `m${seq}`);
    assert.equal(b.get(40), undefined);
    assert.equal(b.get(301), undefined);
    let bytes = 0;
    for (let seq = 41; seq <= 300; seq++) bytes += `m${seq}`.length;
    assert.equal(b.bytes, bytes);
    b.truncate(1000);
    assert.equal(b.length, 0);
    assert.equal(b.bytes, 0);
    assert.equal(b.nextSeq, 1001);
    b.append(1001, 'again');
    assert.equal(b.get(1001), 'again');
  });

  it('refuses an append out of sequence', () => {
    const b = new SeqBuffer<number>(5);
    assert.throws(() => b.append(6, 1));
  });
});
