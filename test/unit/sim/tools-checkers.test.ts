import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkTools, type ToolEvent } from '../../../src/sim/checkers/tools.js';
import { ViolationList } from '../../../src/sim/checkers/violation.js';

function check(ev: ToolEvent[]): string[] {
  const v = new ViolationList();
  checkTools(ev, v);
  return v.items.map((i) => i.property);
}

describe('tool checkers', () => {
  it('accept a clean history', () => {
    assert.deepEqual(
      check([
        { k: 'tools-view', at: 1, member: 'a', view: 2, digest: 'x' },
        { k: 'tools-view', at: 1, member: 'b', view: 2, digest: 'x' },
        { k: 'grant', at: 2, member: 'a', name: 'L', grant: 1, viewId: 2 },
        { k: 'grant-end', at: 3, member: 'a', name: 'L', grant: 1, why: 'release' },
        { k: 'grant', at: 4, member: 'b', name: 'L', grant: 2, viewId: 2 },
        { k: 'incr-sent', at: 5, member: 'a' },
        { k: 'incr-ok', at: 6, member: 'a', value: 1 },
        { k: 'counter-final', at: 9, member: 'b', issuer: 'a', value: 1 },
        { k: 'pb-forward', at: 5, member: 'b', view: 2, sender: 'a', head: 'a' },
        { k: 'pb-reply', at: 6, value: 1 },
        { k: 'cc-request', at: 5, id: 1 },
        { k: 'cc-reply', at: 6, id: 1, digest: 'r' },
        { k: 'cc-final', at: 9, member: 'b', id: 1, digest: 'r', open: 0 },
      ]),
      [],
    );
  });

  it('find unequal replicas, two holders, a reused token, a lost increment, two primaries, a twice-applied request, a second result', () => {
    const found = check([
      { k: 'tools-view', at: 1, member: 'a', view: 2, digest: 'x' },
      { k: 'tools-view', at: 1, member: 'b', view: 2, digest: 'y' },
      { k: 'grant', at: 2, member: 'a', name: 'L', grant: 1, viewId: 2 },
      { k: 'grant', at: 3, member: 'b', name: 'L', grant: 1, viewId: 2 },
      { k: 'incr-sent', at: 5, member: 'a' },
      { k: 'incr-ok', at: 6, member: 'a', value: 1 },
      { k: 'counter-final', at: 9, member: 'b', issuer: 'a', value: 0 },
      { k: 'pb-forward', at: 5, member: 'b', view: 2, sender: 'a', head: 'a' },
      { k: 'pb-forward', at: 5, member: 'b', view: 2, sender: 'c', head: 'a' },
      { k: 'pb-reply', at: 6, value: 1 },
      { k: 'pb-reply', at: 7, value: 1 },
      { k: 'cc-request', at: 5, id: 1 },
      { k: 'cc-reply', at: 6, id: 1, digest: 'r' },
      { k: 'cc-final', at: 9, member: 'b', id: 1, digest: 's', open: 0 },
    ]);
    for (const p of [
      'tools-replicas-equal',
      'tools-one-holder',
      'tools-fencing',
      'tools-counter-lost',
      'tools-two-primaries',
      'tools-pb-once',
      'tools-cc-one-result',
    ])
      assert.ok(found.includes(p), `${p} in ${found.join(', ')}`);
  });

  it('a crashed holder stops holding; a member without a reply is a violation', () => {
    assert.deepEqual(
      check([
        { k: 'grant', at: 2, member: 'a', name: 'L', grant: 1, viewId: 2 },
        { k: 'crash', at: 3, node: 'n1', members: ['a'] },
        { k: 'grant', at: 4, member: 'b', name: 'L', grant: 2, viewId: 3 },
      ]),
      [],
    );
    assert.deepEqual(check([{ k: 'cc-request', at: 5, id: 1 }]), ['tools-cc-one-reply']);
  });
});
