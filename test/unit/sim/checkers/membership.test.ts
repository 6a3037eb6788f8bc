import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HistoryEvent } from '../../../../src/core/history.js';
import { checkOneGroupPerName } from '../../../../src/sim/checkers/one-group.js';
import { checkOneMemberPerNode } from '../../../../src/sim/checkers/one-member.js';
import { ViolationList } from '../../../../src/sim/checkers/violation.js';

const view = (node: string, id: number, members: string[], at = id * 10): HistoryEvent => ({ k: 'view', at, node, group: 'g', view: id, members });

describe('one-member-per-node checker', () => {
  it('reports a view holding two incarnations of one endpoint, once per view', () => {
    const out = new ViolationList();
    checkOneMemberPerNode([view('a:1/1', 3, ['a:1/1', 'b:1/1', 'b:1/2']), view('a:1/1', 3, ['a:1/1', 'b:1/1', 'b:1/2'])], 'g', out);
    assert.equal(out.total, 1);
    assert.equal(out.items[0]!.property, 'one-member-per-node');
    assert.match(out.items[0]!.detail, /b:1\/1 and b:1\/2/);
  });

  it('reports two memberships (~n) of one process in one view', () => {
    const out = new ViolationList();
    checkOneMemberPerNode([view('a:1/1', 4, ['a:1/1', 'b:1/1~2', 'b:1/1~3'])], 'g', out);
    assert.equal(out.total, 1);
  });

  it('accepts views where each endpoint appears once, whatever its incarnation', () => {
    const out = new ViolationList();
    checkOneMemberPerNode([view('a:1/1', 1, ['a:1/1']), view('a:1/1', 2, ['a:1/1', 'b:1/1~4']), view('a:1/1', 3, ['a:1/1', 'b:1/2'])], 'g', out);
    assert.equal(out.total, 0);
  });
});

describe('one-group-per-name checker', () => {
  it('finds two founders and files what follows under two-groups/', () => {
    const out = new ViolationList();
    assert.equal(checkOneGroupPerName([view('a:1/1', 1, ['a:1/1']), view('b:1/1', 1, ['b:1/1'])], 'g', out), true);
    out.consequencesOf('two-groups');
    out.add('view-agreement', 'view 1 differs');
    assert.deepEqual(
      out.items.map((v) => v.property),
      ['two-groups', 'two-groups/view-agreement'],
    );
  });

  it('is quiet when everyone installed the same first view', () => {
    const out = new ViolationList();
    assert.equal(checkOneGroupPerName([view('a:1/1', 1, ['a:1/1']), view('a:1/1', 1, ['a:1/1'], 99), view('b:1/1', 2, ['a:1/1', 'b:1/1'])], 'g', out), false);
    assert.equal(out.total, 0);
  });
});
