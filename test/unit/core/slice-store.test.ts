import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SliceStore } from '../../../src/core/slice-store.js';

describe('SliceStore', () => {
  it('keeps slices of shared buffers by sequence number, with their tags, and frees from the front', () => {
    const frame = Buffer.from('aaabbbbcc');
    const s = new SliceStore(5, 10);
    s.append(5, frame, 0, 3, 1);
    s.append(6, frame, 3, 7, 2);
    s.append(7, frame, 7, 9, 3);
    assert.equal(s.get(6)!.toString(), 'bbbb');
    assert.equal(s.get(6)!.buffer, frame.buffer, 'a view, not a copy');
    assert.equal(s.tag(7), 3);
    assert.equal(s.bytes, 9 + 3 * 10);
    assert.equal(s.get(4), undefined);
    assert.equal(s.get(8), undefined);
    assert.equal(s.tag(8), -1);
    s.truncate(6);
    assert.equal(s.firstSeq, 7);
    assert.equal(s.get(5), undefined);
    assert.equal(s.get(7)!.toString(), 'cc');
    assert.equal(s.bytes, 2 + 10);
    s.truncate(100);
    assert.equal(s.length, 0);
    assert.equal(s.bytes, 0);
    assert.equal(s.nextSeq, 101, 'freeing past the end moves the next expected number');
  });

  it('refuses an append out of sequence', () => {
    const s = new SliceStore(1);
    assert.throws(() => s.append(2, Buffer.alloc(1), 0, 1, 0));
  });

  it('stays correct across compaction of a long run', () => {
    const frame = Buffer.alloc(10_000);
    for (let i = 0; i < frame.length; i++) frame[i] = i % 251;
    const s = new SliceStore(1);
    for (let seq = 1; seq <= 5000; seq++) s.append(seq, frame, seq, seq + 2, seq);
    s.truncate(3000);
    for (let seq = 5001; seq <= 6000; seq++) s.append(seq, frame, seq, seq + 2, seq);
    for (const seq of [3001, 4500, 5000, 5001, 6000]) {
      assert.deepEqual([...s.get(seq)!], [seq % 251, (seq + 1) % 251]);
      assert.equal(s.tag(seq), seq);
    }
    assert.equal(s.length, 3000);
  });

  it('keeps every slice and tag when the ring grows while wrapped around', () => {
    const frame = Buffer.alloc(1000);
    for (let i = 0; i < frame.length; i++) frame[i] = i % 251;
    const s = new SliceStore(1);
    for (let seq = 1; seq <= 50; seq++) s.append(seq, frame, seq, seq + 1, -seq);
    s.truncate(40); // head moves to slot 40 of 64: the next appends wrap, then the ring doubles
    for (let seq = 51; seq <= 200; seq++) s.append(seq, frame, seq, seq + 1, -seq);
    for (let seq = 41; seq <= 200; seq++) {
      assert.deepEqual([...s.get(seq)!], [seq % 251], `slice ${seq}`);
      assert.equal(s.tag(seq), -seq);
    }
    assert.equal(s.bytes, 160 * (1 + 32));
  });

  it('keeps its room across stability rounds under steady load, and gives it back once a burst is over', () => {
    const st = new SliceStore(1);
    const buf = Buffer.alloc(8);
    const capOf = (): number => (st as unknown as { cap: number }).cap;
    let seq = 1;
    const round = (n: number): void => {
      for (let i = 0; i < n; i++) st.append(seq++, buf, 0, 8, 0);
      st.truncate(seq - 1);
    };
    round(100_000);
    const big = capOf();
    assert.ok(big > 1 << 16);
    round(100_000);
    assert.equal(capOf(), big, 'a round as large as the last keeps the ring');
    round(10);
    assert.equal(capOf(), 64, 'a small round after the burst gives the room back');
    assert.equal(st.length, 0);
  });
  it('frees a block that wraps around the ring end in one truncate, with the bytes and the rest intact', () => {
    const frame = Buffer.alloc(1000);
    const s = new SliceStore(1, 4);
    for (let seq = 1; seq <= 60; seq++) s.append(seq, frame, seq, seq + (seq % 3) + 1, seq);
    s.truncate(50); // head at slot 50 of 64
    for (let seq = 61; seq <= 100; seq++) s.append(seq, frame, seq, seq + (seq % 3) + 1, seq); // wraps to slot 35... and no growth (50 held)
    const bytesOf = (a: number, b: number): number => {
      let n = 0;
      for (let seq = a; seq <= b; seq++) n += (seq % 3) + 1 + 4;
      return n;
    };
    assert.equal(s.bytes, bytesOf(51, 100));
    s.truncate(90); // slots 50..63, then 0..26: two blocks
    assert.equal(s.firstSeq, 91);
    assert.equal(s.length, 10);
    assert.equal(s.bytes, bytesOf(91, 100));
    for (let seq = 91; seq <= 100; seq++) assert.equal(s.tag(seq), seq);
    assert.equal(s.get(90), undefined);
    const bufs = (s as unknown as { bufs: (Buffer | undefined)[] }).bufs;
    assert.equal(bufs.filter((b) => b !== undefined).length, 10, 'freed slots let go of their buffers');
  });
});
