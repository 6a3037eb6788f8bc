import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HistoryEvent } from '../../../../src/core/history.js';
import { checkNoTwoPrimaries } from '../../../../src/sim/checkers/primaries.js';
import { ViolationList } from '../../../../src/sim/checkers/violation.js';

const [A, B, C] = ['a:1/1', 'b:1/1', 'c:1/1'];
const all = [A, B, C];

/** Three members in view 1; at 1000 the link to A is cut; B and C install view 2 without A at `v2At`; A blocks at `blockAt`. */
function isolation(v2At: number, blockAt: number): HistoryEvent[] {
  const evs: HistoryEvent[] = [];
  for (const m of all) evs.push({ k: 'view', at: 10, node: m, group: 'g', view: 1, members: all });
  evs.push({ k: 'blocked', at: blockAt, node: A, group: 'g', reason: 'minority' });
  for (const m of [B, C]) {
    evs.push({ k: 'blocked', at: v2At - 5, node: m, group: 'g', reason: 'flush' });
    evs.push({ k: 'view', at: v2At, node: m, group: 'g', view: 2, members: [B, C] });
    evs.push({ k: 'unblocked', at: v2At, node: m, group: 'g' });
  }
  return evs.sort((x, y) => x.at - y.at);
}

function check(evs: HistoryEvent[]): ViolationList {
  const out = new ViolationList();
  checkNoTwoPrimaries(evs, 'g', out);
  return out;
}

describe('two-primaries checker', () => {
  it('reports an isolated member still live when the others install a view without it', () => {
    const out = check(isolation(2100, 2190));
    assert.equal(out.total, 1);
    assert.equal(out.items[0]!.property, 'two-primaries');
    assert.match(out.items[0]!.detail, /from 2100 to 2190 \(90\.0 ms\)/);
  });

  it('accepts the same run when the isolated member blocked first', () => {
    assert.equal(check(isolation(2100, 1800)).total, 0);
  });

  it('accepts a block and a view at the same instant (never both live)', () => {
    assert.equal(check(isolation(2100, 2100)).total, 0);
  });

  it('does not count a member stopped in a flush, paused, crashed or excluded as live', () => {
    const base = isolation(2100, 9000);
    for (const stop of [
      { k: 'blocked', at: 1500, node: A, group: 'g', reason: 'flush' },
      { k: 'pause', at: 1500, node: A },
      { k: 'crash', at: 1500, node: A },
      { k: 'ended', at: 1500, node: A, group: 'g', how: 'excluded' },
    ] satisfies HistoryEvent[]) {
      assert.equal(check([...base, stop]).total, 0, stop.k);
    }
  });

  it('reports a member live again after resuming from a pause while the others moved on', () => {
    const evs = [...isolation(2100, 9000), { k: 'pause', at: 1500, node: A } as HistoryEvent, { k: 'resume', at: 3000, node: A } as HistoryEvent];
    const out = check(evs);
    assert.equal(out.total, 1);
    assert.match(out.items[0]!.detail, /from 3000 to 9000/);
  });

  it('ignores other groups and the members it is told to ignore', () => {
    const other = isolation(2100, 2190).map((e) => ('group' in e ? { ...e, group: 'h' } : e));
    assert.equal(check(other).total, 0);
    const out = new ViolationList();
    checkNoTwoPrimaries(isolation(2100, 2190), 'g', out, (m) => m === A);
    assert.equal(out.total, 0);
  });
});
