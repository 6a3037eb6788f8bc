import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HistoryEvent } from '../../../../src/core/history.js';
import { checkVirtualSynchrony } from '../../../../src/sim/checkers/vsync.js';
import { checkOrder } from '../../../../src/sim/checkers/order.js';

const view = (node: string, id: number, members: string[]): HistoryEvent => ({ k: 'view', at: id * 10, node, group: 'g', view: id, members });
const send = (node: string, msg: string, v: number, order = 0): HistoryEvent => ({ k: 'send', at: v * 10 + 1, node, group: 'g', msg, order, view: v });
const deliver = (node: string, msg: string, sender: string, v: number, order = 0): HistoryEvent => ({
  k: 'deliver',
  at: v * 10 + 2,
  node,
  group: 'g',
  msg,
  sender,
  order,
  view: v,
});
const merge = (node: string, v: number, key: string): HistoryEvent => ({ k: 'merge', at: v * 10 + 5, node, group: 'g', view: v, key });
const state = (node: string, v: number, count: number, digest: number): HistoryEvent => ({
  k: 'state',
  at: v * 10 + 5,
  node,
  group: 'g',
  view: v,
  count,
  digest,
});

/** a, b, c in view 1; a | b, c split into two views 2; then they merge (a's side is junior) into view 3. */
function splitAndMerge(): HistoryEvent[] {
  return [
    view('a', 1, ['a', 'b', 'c']),
    view('b', 1, ['a', 'b', 'c']),
    view('c', 1, ['a', 'b', 'c']),
    send('a', 'a#1', 1),
    // a delivers its own message; the split leaves b and c without it: each side agrees on its own.
    deliver('a', 'a#1', 'a', 1),
    view('a', 2, ['a']),
    view('b', 2, ['b', 'c']),
    view('c', 2, ['b', 'c']),
    send('b', 'b#1', 2),
    deliver('b', 'b#1', 'b', 2),
    deliver('c', 'b#1', 'b', 2),
    view('b', 3, ['b', 'c', 'a~2']),
    view('c', 3, ['b', 'c', 'a~2']),
    view('a~2', 3, ['b', 'c', 'a~2']),
    merge('b', 3, '2@a'),
    state('b', 3, 2, 77),
    merge('c', 3, '2@a'),
    state('c', 3, 2, 77),
    merge('a~2', 3, '2@a'),
    state('a~2', 3, 2, 77),
    view('b', 4, ['b', 'c', 'a~2']),
    view('c', 4, ['b', 'c', 'a~2']),
    view('a~2', 4, ['b', 'c', 'a~2']),
  ];
}

describe('extended virtual synchrony checker (partitionable groups)', () => {
  it('accepts two sides with views of one id, each agreeing on its own, and an agreed merge', () => {
    const ev = splitAndMerge();
    const out = checkVirtualSynchrony(ev, 'g', undefined, { extended: true });
    assert.deepEqual(
      out.items.map((v) => v.detail),
      [],
    );
    checkOrder(ev, 'g', out, { extended: true });
    assert.equal(out.total, 0);
    // The primary-partition checker sees two views 2 and the sides' different sets: not one history.
    assert.ok(checkVirtualSynchrony(ev, 'g').total > 0);
  });

  it('finds a merge that members going on together did not all reconcile, and members that end a merge with different states', () => {
    const ev = splitAndMerge();
    const moved = ev.map((e) => (e.k === 'merge' && e.node === 'c' ? { ...e, view: 4 } : e));
    const a = checkVirtualSynchrony(moved, 'g', undefined, { extended: true });
    assert.ok(
      a.items.some((v) => v.property === 'same-set' && /missing \[merge:2@a\]/.test(v.detail)),
      JSON.stringify(a.items),
    );
    const differs = ev.map((e) => (e.k === 'state' && e.node === 'a~2' ? { ...e, count: 3 } : e));
    const b = checkVirtualSynchrony(differs, 'g', undefined, { extended: true });
    assert.ok(
      b.items.some((v) => v.property === 'merge' && /holds 3 messages after merging side 2@a/.test(v.detail)),
      JSON.stringify(b.items),
    );
  });

  it('lets the sides of a view that splits while a merge is reconciled in it hold different states, each side one', () => {
    // b goes on alone from view 3, c and a~2 together: b reconciled at its own cut, after less.
    const split = splitAndMerge().map((e) => {
      if (e.k === 'state' && e.node === 'b') return { ...e, count: 1, digest: 5 };
      if (e.k === 'view' && e.view === 4) return { ...e, members: e.node === 'b' ? ['b'] : ['c', 'a~2'] };
      return e;
    });
    const ok = checkVirtualSynchrony(split, 'g', undefined, { extended: true });
    assert.deepEqual(
      ok.items.map((v) => v.detail),
      [],
    );
    const differs = split.map((e) => (e.k === 'state' && e.node === 'a~2' ? { ...e, count: 3 } : e));
    const bad = checkVirtualSynchrony(differs, 'g', undefined, { extended: true });
    assert.ok(
      bad.items.some((v) => v.property === 'merge' && /a~2 holds 3 messages after merging side 2@a/.test(v.detail)),
      JSON.stringify(bad.items),
    );
  });

  it('still finds members that went on together but delivered different sets', () => {
    const ev = splitAndMerge().filter((e) => !(e.k === 'deliver' && e.node === 'c'));
    const out = checkVirtualSynchrony(ev, 'g', undefined, { extended: true });
    assert.ok(
      out.items.some((v) => v.property === 'same-set'),
      JSON.stringify(out.items),
    );
  });
});
