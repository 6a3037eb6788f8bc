import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SimCluster, simGroup as cluster } from '../../../helpers/sim-cluster.js';
import type { Group } from '../../../../src/api/group.js';
import { checkVirtualSynchrony } from '../../../../src/sim/checkers/vsync.js';
import { readFrameGroup, readFrameMembership, readFrameMessages } from '../../../../src/codec/frame.js';
import { G, GMS_HEADER } from '../../../../src/layers/gms/messages.js';

/** Does this frame carry a GMS INSTALL? */
function carriesInstall(frame: Uint8Array): boolean {
  const buf = Buffer.from(frame);
  let found = false;
  try {
    const { offset } = readFrameMembership(buf, readFrameGroup(buf).offset);
    readFrameMessages(buf, offset, (m) => {
      if (m.peek(GMS_HEADER) === G.Install) found = true;
    });
  } catch {
    // not a group frame
  }
  return found;
}

/** The survivors ended in one view of exactly themselves, unblocked, with no checker violation. */
function settledTogether(c: SimCluster, survivors: Group[]): void {
  const v = survivors[0]!.view;
  assert.deepEqual(new Set(v.members), new Set(survivors.map((g) => g.localId)), `final view ${v.id}: ${v.members.join(' ')}`);
  for (const g of survivors) {
    assert.deepEqual(g.view, v, `${g.localId} is in view ${g.view.id}`);
    assert.deepEqual(g.blockedReasons, [], `${g.localId} is not blocked`);
  }
  assert.deepEqual(checkVirtualSynchrony(c.history.events, 'g').items, []);
}

describe('GMS flush takeover', () => {
  it('a coordinator whose flush fell into a minority retries with everyone but keeps suspecting the dead members above it', () => {
    // n1 (the coordinator) and n3 crash while n5 is cut off: n2 takes over, hears only n4, and waits
    // in a minority. Retrying with everyone once n5 is back must not forget that n1 is dead: else
    // n2 hands the coordination back to it, the failure detector never says so again, and all wait.
    const { c, eps, groups } = cluster(5, 21);
    c.world.isolate(eps[4]!);
    c.world.crash(eps[0]!);
    c.world.crash(eps[2]!);
    c.run(500);
    c.world.heal();
    c.run(8000);
    settledTogether(c, [groups[1]!, groups[3]!, groups[4]!]);
  });

  it('a joiner whose INSTALL died with its coordinator answers the next flush as a fresh member and comes in as a joiner of the next view', () => {
    // n1 admits n3 into {n1, n2, n3}, but every INSTALL it sends n3 is lost, and n1 crashes at
    // once. n2 alone is no majority of that view: without n3's vote nothing could ever change it.
    const { c, eps, groups } = cluster(2, 5);
    const coord = c.nodes.get(eps[0]!)!;
    const send = coord.env.transport.send.bind(coord.env.transport);
    let joinerId = '';
    coord.env.transport.send = (to, frame) => {
      if (to === joinerId && carriesInstall(frame)) return;
      send(to, frame);
    };
    const ep3 = 'n3:1';
    const n3 = c.start(ep3);
    joinerId = n3.id;
    const items = new Set<string>();
    const g3 = c.join(ep3, 'g', [eps[0]!], {
      get: () => [...items],
      set: (s) => {
        items.clear();
        for (const x of s as string[]) items.add(x);
      },
    });
    for (let t = 0; t < 3000 && groups[0]!.view.members.length < 3; t++) c.run(1);
    assert.equal(groups[0]!.view.members.length, 3, 'the coordinator installed the view with the joiner');
    c.world.crash(eps[0]!);
    c.run(8000);
    assert.ok(g3.view.members.includes(g3.localId), `the joiner got in (its view: ${g3.view.id} ${g3.view.members.join(' ')})`);
    settledTogether(c, [groups[1]!, g3]);
  });
  it('a fresh joiner whose flush cut leaves it out still says done, so that the majority it made can install that view', () => {
    // n1 admits n3 into {n1, n2, n3}, but every INSTALL it sends is lost. n3 is cut off; n1 leaves,
    // its flush (n1 and n2: a majority) cuts the view to {n2}, n2 accepts, and n1 crashes. n2 alone
    // is no majority of the view; once n3 is back it answers n2's flush as a fresh member, and n2
    // must propose the cut it accepted, which leaves n3 out. Without n3's DONE that cut never had a
    // majority, and n2 proposed it again for ever (seed 331).
    const { c, eps, groups } = cluster(2, 7);
    const coord = c.nodes.get(eps[0]!)!;
    const send = coord.env.transport.send.bind(coord.env.transport);
    let dropAll = false;
    let joinerId = '';
    let installsLost = 0;
    coord.env.transport.send = (to, frame) => {
      if ((dropAll || to === joinerId) && carriesInstall(frame)) {
        if (dropAll && to === groups[1]!.localId) installsLost++;
        return;
      }
      send(to, frame);
    };
    const ep3 = 'n3:1';
    const n3 = c.start(ep3);
    joinerId = n3.id;
    const g3 = c.join(ep3, 'g', [eps[0]!, eps[1]!]);
    for (let t = 0; t < 3000 && groups[0]!.view.members.length < 3; t++) c.run(1);
    assert.equal(groups[0]!.view.members.length, 3, 'the coordinator installed the view with the joiner');
    const admitted = groups[0]!.view.id;
    c.world.isolate(ep3);
    dropAll = true;
    groups[0]!.leave().catch(() => {});
    for (let t = 0; t < 5000 && installsLost === 0; t++) c.run(1);
    assert.ok(installsLost > 0, 'the leaver installed the next view, which reached no one');
    c.world.crash(eps[0]!);
    c.run(2000);
    assert.equal(groups[1]!.view.id, admitted, 'n2 alone is no majority of the view it was left in');
    c.world.heal();
    c.run(20000);
    assert.ok(g3.view.members.includes(g3.localId), `the joiner got in (its view: ${g3.view.id} ${g3.view.members.join(' ')})`);
    settledTogether(c, [groups[1]!, g3]);
  });
  it('a flush whose first step waits on a member the failure detector then suspects starts over at once, not after flushTimeoutMs', () => {
    // n4 is killed (its refused dial proves it gone at once: the flush starts for it) and n5 pauses
    // at the same moment (suspected ~300 ms later). The first step waited for n5's answer until
    // flushTimeoutMs (600 ms here) before starting over: 656 ms to the survivors' view.
    const { c, eps, groups } = cluster(5, 3);
    const before = groups[0]!.view.id;
    c.world.crash(eps[3]!);
    c.world.pause(eps[4]!);
    let t = 0;
    for (; t < 5000 && groups[0]!.view.members.length !== 3; t++) c.run(1);
    assert.equal(groups[0]!.view.id, before + 1, 'one view change');
    assert.ok(t < 450, `the survivors' view came ${t} ms after the kill`);
    c.run(2000);
    settledTogether(c, groups.slice(0, 3));
  });
});
