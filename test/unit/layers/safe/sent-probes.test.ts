import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SentProbes } from '../../../../src/layers/safe/sent-probes.js';

describe('SentProbes', () => {
  it('asks the same question again while it covers the held head, and a new one once it does not', () => {
    const p = new SentProbes();
    assert.equal(p.question(2, 1, 3), 1, 'first question: covers arrivals 1-3');
    assert.equal(p.question(2, 3, 5), 1, 'arrival 3 is covered: the same question again');
    assert.equal(p.question(2, 4, 5), 2, 'arrival 4 came after it: a new question, covering 1-5');
    assert.equal(p.question(1, 4, 5), 3, 'another member: its own question');
  });

  it('bounds only the arrivals its question covered, by the answer to the question it waits on', () => {
    const p = new SentProbes();
    const n = p.question(2, 1, 3);
    assert.equal(p.boundOf(2, 1), Infinity, 'no answer yet');
    assert.equal(p.answer(2, n + 1, 9), false, 'not the question we wait on');
    assert.equal(p.answer(1, n, 9), false, 'not asked of that member');
    assert.equal(p.answer(2, n, 9), true);
    assert.equal(p.answer(2, n, 4), false, 'answered already: a repeated answer changes nothing');
    assert.equal(p.boundOf(2, 3), 9);
    assert.equal(p.boundOf(2, 4), Infinity, 'arrived after the question: 9 says nothing of it');
    assert.equal(p.boundOf(1, 1), Infinity);
    assert.ok(p.wasAsked(n) && !p.wasAsked(n + 1) && !p.wasAsked(0));
  });

  it('keeps the answer that covers the most arrivals, and forgets all at a new view', () => {
    const p = new SentProbes();
    p.know(0, 10, 5);
    p.know(0, 7, 3);
    assert.equal(p.boundOf(0, 5), 10, 'an older answer covering fewer arrivals does not replace it');
    p.know(0, 12, 8);
    assert.equal(p.boundOf(0, 2), 12);
    p.clear();
    assert.equal(p.boundOf(0, 1), Infinity);
  });
});
