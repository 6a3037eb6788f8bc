import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DownEvent } from '../../../src/core/events.js';
import { HeldAbove } from '../../../src/stack/held-above.js';

describe('HeldAbove', () => {
  it('tells only the members whose part changed, once each, with what is held now', () => {
    const told: DownEvent[] = [];
    const h = new HeldAbove('CAUSAL', (ev) => told.push(ev));
    h.reset(3);
    h.hold(1, 100);
    h.hold(1, 50);
    h.hold(2, 10);
    h.release(1, 100);
    h.tell(['a', 'b', 'c']);
    assert.deepEqual(told, [
      { type: 'HELD_ABOVE', layer: 'CAUSAL', member: 'b', messages: 1, payloadBytes: 50 },
      { type: 'HELD_ABOVE', layer: 'CAUSAL', member: 'c', messages: 1, payloadBytes: 10 },
    ]);
    h.tell(['a', 'b', 'c']);
    assert.equal(told.length, 2, 'nothing changed since: nothing told');
    h.release(2, 10);
    h.tell(['a', 'b', 'c']);
    assert.deepEqual(told[2], { type: 'HELD_ABOVE', layer: 'CAUSAL', member: 'c', messages: 0, payloadBytes: 0 });
  });

  it('starts a new view with nothing held and nothing pending', () => {
    const told: DownEvent[] = [];
    const h = new HeldAbove('TOTAL', (ev) => told.push(ev));
    h.reset(2);
    h.hold(0, 5);
    h.reset(2);
    h.tell(['a', 'b']);
    assert.deepEqual(told, []);
    h.hold(0, 5);
    h.tell(['a', 'b']);
    assert.deepEqual(told, [{ type: 'HELD_ABOVE', layer: 'TOTAL', member: 'a', messages: 1, payloadBytes: 5 }]);
  });
});
