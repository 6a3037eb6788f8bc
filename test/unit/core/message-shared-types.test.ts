import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Message } from '../../../src/core/message.js';
import { defineHeader } from '../../../src/codec/header-registry.js';
import { messageFromBytes, messageToBytes } from '../../../src/codec/message-codec.js';

// Header types for this test only (ids far from the real ones' table).
const A = defineHeader<number>(
  201,
  'TEST_A',
  (w, h) => w.uvar(h),
  (r) => r.uvar(),
);
const B = defineHeader<number>(
  202,
  'TEST_B',
  (w, h) => w.uvar(h),
  (r) => r.uvar(),
);
const C = defineHeader<number>(
  203,
  'TEST_C',
  (w, h) => w.uvar(h),
  (r) => r.uvar(),
);

/** A sent message whose types the next send starts from (as the group does after `stack.down`). */
function sent(...types: (typeof A)[]): Message {
  const m = new Message(null, Buffer.from('x'));
  types.forEach((t, i) => m.push(t, i));
  m.typesShared = true;
  return m;
}

describe('a send that starts from another message header types', () => {
  it('pushes the same types without a new array, and keeps its own values', () => {
    const first = sent(A, B);
    const next = Message.sharingTypes(null, Buffer.from('y'), first.htypes);
    next.push(A, 10);
    next.push(B, 11);
    assert.equal(next.htypes, first.htypes, 'one types array for both');
    assert.equal(next.pop(B), 11);
    assert.equal(next.pop(A), 10);
    assert.equal(first.peek(B), 1, 'the first message is as it was');
  });

  it('copies the types before a push that differs, leaving the shared array untouched', () => {
    const first = sent(A, B);
    const shared = first.htypes;
    const next = Message.sharingTypes(null, Buffer.from('y'), shared);
    next.push(A, 10);
    next.push(C, 12);
    next.push(B, 13);
    assert.notEqual(next.htypes, shared);
    assert.deepEqual(next.htypes.slice(0, next.htop), [A, C, B]);
    assert.deepEqual(shared.slice(0, 2), [A, B], 'the shared array was not written');
    assert.equal(first.pop(B), 1);
    assert.equal(first.pop(A), 0);
  });

  it('copies when it pushes more types than the shared array has', () => {
    const first = sent(A);
    const next = Message.sharingTypes(null, Buffer.from('y'), first.htypes);
    next.push(A, 1);
    next.push(B, 2);
    next.push(C, 3);
    assert.equal(first.htop, 1);
    assert.equal(first.htypes[1], undefined, 'nothing written past the first message top');
    const back = messageFromBytes(messageToBytes(next));
    assert.equal(back.pop(C), 3);
    assert.equal(back.pop(B), 2);
    assert.equal(back.pop(A), 1);
  });

  it('encodes exactly like a message built afresh', () => {
    const first = sent(A, B);
    const shared = Message.sharingTypes(null, Buffer.from('payload'), first.htypes);
    const fresh = new Message(null, Buffer.from('payload'));
    for (const m of [shared, fresh]) {
      m.push(A, 300);
      m.push(B, 7);
    }
    assert.deepEqual(messageToBytes(shared), messageToBytes(fresh));
  });
  it('sized for as many headers as the send before: the values fill it exactly, and one more grows it', () => {
    const first = sent(A, B);
    const next = Message.sharingTypes(null, Buffer.from('y'), first.htypes, 2);
    assert.equal(next.hvalues.length, 2);
    next.push(A, 10);
    next.push(B, 11);
    assert.equal(next.hvalues.length, 2);
    next.push(C, 12);
    assert.deepEqual(next.hvalues.slice(0, 3), [10, 11, 12]);
    assert.equal(next.htypes[2], C);
    assert.equal(next.pop(C), 12);
    assert.equal(next.pop(B), 11);
    assert.equal(next.pop(A), 10);
  });
});
