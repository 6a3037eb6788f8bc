import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DownEvent } from '../../../src/core/events.js';
import { HELD_REPORT_QUANTUM, HeldAbove } from '../../../src/stack/held-above.js';

const Q = HELD_REPORT_QUANTUM;

describe('HeldAbove', () => {
  it('tells a member once what it holds moved a quantum since last told, with what is held now', () => {
    const told: DownEvent[] = [];
    const h = new HeldAbove('CAUSAL', (ev) => told.push(ev));
    h.reset(3);
    h.hold(1, Q);
    h.hold(1, 50);
    h.hold(2, 10);
    h.release(1, 50);
    h.tell(['a', 'b', 'c']);
    assert.deepEqual(told, [{ type: 'HELD_ABOVE', layer: 'CAUSAL', member: 'b', messages: 1, payloadBytes: Q }], 'c holds too little to be worth an event');
    h.tell(['a', 'b', 'c']);
    assert.equal(told.length, 1, 'nothing changed since: nothing told');
    h.hold(1, 100);
    h.tell(['a', 'b', 'c']);
    assert.equal(told.length, 1, 'a small change is not told');
    h.hold(1, Q);
    h.tell(['a', 'b', 'c']);
    assert.deepEqual(told[1], { type: 'HELD_ABOVE', layer: 'CAUSAL', member: 'b', messages: 3, payloadBytes: 2 * Q + 100 });
  });

  it('always tells when a member it told of holds nothing any more, and never about one it never told of', () => {
    const told: DownEvent[] = [];
    const h = new HeldAbove('TOTAL', (ev) => told.push(ev));
    h.reset(2);
    h.hold(0, 5);
    h.release(0, 5);
    h.tell(['a', 'b']);
    assert.deepEqual(told, []);
    h.hold(1, Q);
    h.tell(['a', 'b']);
    h.release(1, Q);
    h.tell(['a', 'b']);
    assert.deepEqual(told, [
      { type: 'HELD_ABOVE', layer: 'TOTAL', member: 'b', messages: 1, payloadBytes: Q },
      { type: 'HELD_ABOVE', layer: 'TOTAL', member: 'b', messages: 0, payloadBytes: 0 },
    ]);
  });

  it('starts a new view with nothing held and nothing told', () => {
    const told: DownEvent[] = [];
    const h = new HeldAbove('SAFE', (ev) => told.push(ev));
    h.reset(2);
    h.hold(0, Q);
    h.tell(['a', 'b']);
    h.reset(2);
    h.tell(['a', 'b']);
    assert.equal(told.length, 1);
    h.hold(0, 5);
    h.release(0, 5);
    h.tell(['a', 'b']);
    assert.equal(told.length, 1, 'the new view told nothing yet, so a hold that came and went is not told');
  });
});
