// A coordinator gathers work for foldMs before a flush only when a suspicion is part of it (members
// that fail together are suspected some ms apart); a join or a leave alone starts the flush at once,
// since what arrives while the flush collects its replies still goes into its proposal.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SimCluster } from '../../../helpers/sim-cluster.js';
import type { Group } from '../../../../src/api/group.js';

const FOLD_MS = 10; // GMS's default foldMs

/** Virtual times of the coordinator's log lines that match `pick`, after `from`. */
function times(c: SimCluster, from: number, pick: (line: string) => boolean): number[] {
  return c.world
    .logLines()
    .filter((l) => l.includes('"node":"n1:1/1"') && pick(l))
    .map((l) => Number(l.slice(0, l.indexOf(' '))))
    .filter((t) => t >= from);
}

function fourMembers(): { c: SimCluster; groups: Group[] } {
  const c = new SimCluster(7, { verbose: true });
  const eps = ['n1:1', 'n2:1', 'n3:1', 'n4:1'];
  const groups = eps.map((e, i) => {
    c.start(e);
    const g = c.join(e, 'g', i === 0 ? [] : [eps[0]!]);
    c.run(i === 0 ? 50 : 300);
    return g;
  });
  c.run(2000);
  assert.ok(
    groups.every((g) => g.view.members.length === 4),
    'four members in one view',
  );
  return { c, groups };
}

describe('GMS fold delay', () => {
  it('starts the flush for a leave as soon as the request is in, with no fold', () => {
    const { c, groups } = fourMembers();
    const t0 = c.world.now();
    void groups[3]!.leave();
    c.run(500);
    const req = times(c, t0, (l) => l.includes(' TRACE gms in ') && l.includes('"t":2,'))[0];
    const start = times(c, t0, (l) => l.includes(' flush started '))[0];
    assert.ok(req !== undefined && start !== undefined, 'the coordinator heard the leave and flushed');
    assert.ok(start - req < 1, `flush started ${start - req} ms after the leave request`);
    assert.deepEqual(groups[0]!.view.members.length, 3);
  });

  it('still gathers for foldMs when a member is suspected', () => {
    const { c, groups } = fourMembers();
    const t0 = c.world.now();
    c.world.crash('n4:1');
    c.run(5000);
    const start = times(c, t0, (l) => l.includes(' flush started '))[0];
    const suspected = times(c, t0, (l) => l.includes('"layer":"FD"') && l.includes('suspected'))[0];
    assert.ok(start !== undefined && suspected !== undefined, `flushed after a suspicion (${start}, ${suspected})`);
    assert.ok(start - suspected >= FOLD_MS - 1, `flush started ${start - suspected} ms after the suspicion`);
    assert.equal(groups[0]!.view.members.length, 3);
  });
});
