import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Outgoing } from '../../../src/api/direct.js';

const msg = (call: number) => ({ kind: 1, encoding: 0, call, payload: Buffer.alloc(0), sentAt: 0 }) as never as Parameters<Outgoing['add']>[0];
const calls = (o: Outgoing): [number, number][] => [...o.sent].map((u, k) => [o.first + k, u.call]);

describe('the direct channel keeps what one member has not acknowledged', () => {
  it('numbers messages from 1, keeps them in order and drops each cumulative ack from the front', () => {
    const o = new Outgoing();
    for (let i = 1; i <= 5; i++) assert.equal(o.add(msg(i * 10)), i);
    o.ackUpTo(2);
    assert.deepEqual(calls(o), [
      [3, 30],
      [4, 40],
      [5, 50],
    ]);
    o.ackUpTo(1); // an old ack changes nothing
    assert.equal(o.sent.length, 3);
    o.ackUpTo(5);
    assert.equal(o.sent.length, 0);
    assert.equal(o.add(msg(60)), 6, 'numbering goes on after the queue emptied');
    assert.deepEqual(calls(o), [[6, 60]]);
  });

  it('stays in order across compaction with thousands outstanding', () => {
    const o = new Outgoing();
    for (let i = 1; i <= 3000; i++) o.add(msg(i));
    o.ackUpTo(2000);
    for (let i = 3001; i <= 3500; i++) o.add(msg(i)); // the queue compacted while the acks took from its front
    assert.equal(o.sent.length, 1500);
    const got = calls(o);
    assert.equal(got.length, 1500);
    got.forEach(([seq, call], k) => {
      assert.equal(seq, 2001 + k);
      assert.equal(call, seq);
    });
    o.ackUpTo(3499);
    assert.deepEqual(calls(o), [[3500, 3500]]);
  });
});
