import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HistoryEvent } from '../../src/core/history.js';
import { ViolationList } from '../../src/sim/checkers/violation.js';
import { checkClockAgreement } from './history.js';

const send = (node: string, msg: string, at: number): HistoryEvent => ({ k: 'send', at, node, group: 'g', msg, order: 0, view: 1 });
const deliver = (node: string, msg: string, sender: string, at: number): HistoryEvent => ({
  k: 'deliver',
  at,
  node,
  group: 'g',
  msg,
  sender,
  order: 0,
  view: 1,
});

describe('clock agreement of recorded histories', () => {
  it('reports a process whose deliveries are stamped before the sends, with the largest gap', () => {
    const a = [send('a', 'a#1', 100), send('a', 'a#2', 200), deliver('a', 'b#1', 'b', 150.4)];
    const b = [deliver('b', 'a#1', 'a', 88), deliver('b', 'a#2', 'a', 190), send('b', 'b#1', 150)];
    const out = new ViolationList();
    checkClockAgreement([a, b], out);
    assert.deepEqual(
      out.items.map((v) => v.property),
      ['clock-skew'],
    );
    assert.match(out.items[0]!.detail, /file 0 -> file 1: a delivery stamped 12\.00 ms before its send/);
  });

  it('accepts deliveries after their sends, within the tolerance, and a process delivering its own', () => {
    const a = [send('a', 'a#1', 100), deliver('a', 'a#1', 'a', 99), deliver('a', 'b#1', 'b', 149.7)];
    const b = [deliver('b', 'a#1', 'a', 100.2), send('b', 'b#1', 150)];
    const out = new ViolationList();
    checkClockAgreement([a, b], out);
    assert.equal(out.total, 0);
  });
});
