import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HistoryEvent } from '../../../src/core/history.js';
import { checkVirtualSynchrony } from '../../../src/sim/checkers/vsync.js';

describe('virtual synchrony checker: contained faults', () => {
  const view: HistoryEvent = { k: 'view', at: 1, node: 'a:1/1', group: 'g', view: 1, members: ['a:1/1'] };

  it('reports every fault event of the group as a violation', () => {
    const events: HistoryEvent[] = [
      view,
      { k: 'fault', at: 5, node: 'a:1/1', group: 'g', error: 'TypeError: x is undefined' },
      { k: 'fault', at: 9, node: 'a:1/1', group: 'g', error: 'RangeError: too deep' },
      { k: 'fault', at: 9, node: 'a:1/1', group: 'other', error: 'not this group' },
    ];
    const out = checkVirtualSynchrony(events, 'g');
    assert.equal(out.total, 2);
    assert.deepEqual(
      out.items.map((v) => v.property),
      ['fault', 'fault'],
    );
    assert.match(out.items[0]!.detail, /a:1\/1 contained a failure of its g stack at 5: TypeError: x is undefined/);
  });

  it('finds nothing in the same history without them', () => {
    assert.equal(checkVirtualSynchrony([view], 'g').total, 0);
  });
});
