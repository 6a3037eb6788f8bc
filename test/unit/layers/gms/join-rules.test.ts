import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FAST_STACK, SimCluster } from '../../../helpers/sim-cluster.js';
import { forgeGms, gmsDrops, G } from '../../../helpers/gms-forge.js';
import type { Group } from '../../../../src/api/group.js';
import type { HorusNode } from '../../../../src/api/node.js';
import type { LayerSpec } from '../../../../src/stack/stack.js';
import { membershipSeq, oneMemberPerNode, staleJoin, withJoiners } from '../../../../src/layers/gms/joins.js';
import { refusal, saneProposal, type Hearing } from '../../../../src/layers/gms/sender-rules.js';
import { replacedMemberOf } from '../../../../src/core/member-id.js';
import { checkOneMemberPerNode } from '../../../../src/sim/checkers/one-member.js';
import { ViolationList } from '../../../../src/sim/checkers/violation.js';

/** A member's hearing with no view, no join, no flush: tests set what they need. */
function plainHearing(me: string): Hearing {
  return {
    me,
    view: null,
    joining: false,
    flushParticipants: null,
    highestAttempt: 0,
    challengers: new Set(),
    contacts: [],
    stateProvider: null,
    joinerPromise: null,
    awaitsState: () => false,
    maxMembers: 64,
    maxAttemptStep: 1 << 20,
  };
}

describe('join admission rules (pure)', () => {
  it('reads the membership number of a member id', () => {
    assert.equal(membershipSeq('a:1/x'), 1);
    assert.equal(membershipSeq('a:1/x~7'), 7);
    assert.equal(membershipSeq('a:1/x~junk'), 1);
  });

  it('a request for an id that already left a view is stale', () => {
    assert.match(
      staleJoin('a:1/x~2', [], (m) => m === 'a:1/x~2')!,
      /already left/,
    );
    assert.equal(
      staleJoin('a:1/x~3', [], (m) => m === 'a:1/x~2'),
      null,
      'its next membership is not',
    );
  });

  it('a request older than a later membership of the same process in the view or pending is stale', () => {
    const none = (): boolean => false;
    assert.match(staleJoin('a:1/x~2', ['b:1/y', 'a:1/x~3'], none)!, /replaced/);
    assert.match(staleJoin('a:1/x', ['a:1/x~2'], none)!, /replaced/);
    assert.equal(staleJoin('a:1/x~4', ['a:1/x~3'], none), null, 'a newer one is not');
    assert.equal(staleJoin('a:1/x', ['a:1/y~5'], none), null, 'another incarnation cannot be ordered: the challenge decides');
  });

  it('a joiner replaces every member of its endpoint; of two joiners of one endpoint the later wins', () => {
    assert.deepEqual(withJoiners(['a:1/x', 'b:1/x', 'c:1/x~2'], ['b:1/y', 'c:1/x~3']), ['a:1/x', 'b:1/y', 'c:1/x~3']);
    assert.deepEqual(withJoiners(['a:1/x'], ['d:1/1', 'd:1/2']), ['a:1/x', 'd:1/2']);
    assert.equal(oneMemberPerNode(['a:1/x', 'b:1/x~2']), true);
    assert.equal(oneMemberPerNode(['a:1/x', 'a:1/y']), false);
    assert.equal(oneMemberPerNode(['a:1/x', 'a:1/x~2']), false);
  });

  it('a cut or install naming two members of one endpoint is refused as impossible', () => {
    const h: Hearing = { ...plainHearing('a:1/x'), view: { group: 'g', id: 3, members: ['a:1/x', 'b:1/x'] }, highestAttempt: 1 };
    const p = { members: ['a:1/x', 'b:1/x', 'b:1/y'], cut: [], holders: [] };
    assert.equal(saneProposal(h, p), false);
    assert.equal(saneProposal(h, { ...p, members: ['a:1/x', 'b:1/y'] }), true);
    assert.equal(
      refusal(h, G.Install, 'a:1/x', { view: { id: 4, members: ['a:1/x', 'b:1/x', 'b:1/x~2'] }, stateFrom: null }),
      'install with an impossible member list',
    );
  });

  it("a joiner takes a cut only for the attempt it answered; a member's flush reply may not carry a stranger's proposal", () => {
    const joiner: Hearing = {
      me: 'c:1/x',
      view: null,
      joining: true,
      flushParticipants: null,
      highestAttempt: 4,
      challengers: new Set(),
      contacts: [],
      stateProvider: null,
      joinerPromise: { n: 4, coord: 'b:1/x' },
      awaitsState: () => false,
      maxMembers: 64,
      maxAttemptStep: 1 << 20,
    };
    const p = { members: ['b:1/x', 'c:1/x'], cut: [], holders: [] };
    assert.equal(refusal(joiner, G.FlushStart, 'b:1/x', { view: 3, a: { n: 5, coord: 'b:1/x' } }), null, 'a joiner hears a flush start');
    assert.equal(refusal(joiner, G.Cut, 'b:1/x', { view: 3, a: { n: 4, coord: 'b:1/x' }, p }), null, 'the cut of the attempt it answered');
    assert.equal(refusal(joiner, G.Cut, 'e:1/x', { view: 3, a: { n: 4, coord: 'e:1/x' }, p }), 'cut not from the coordinator of its attempt');
    assert.equal(
      refusal({ ...joiner, joinerPromise: null }, G.Cut, 'b:1/x', { view: 3, a: { n: 4, coord: 'b:1/x' }, p }),
      'cut not from the coordinator of its attempt',
    );
    const coord: Hearing = { ...joiner, me: 'a:1/x', view: { group: 'g', id: 3, members: ['a:1/x', 'b:1/x', 'c:1/x'] }, joining: false, joinerPromise: null };
    const ok = { view: 3, a: { n: 6, coord: 'a:1/x' }, digest: [], hasState: false, fresh: true };
    assert.equal(refusal(coord, G.FlushOk, 'c:1/x', { ...ok, accepted: { a: { n: 4, coord: 'b:1/x' }, p } }), null);
    assert.equal(
      refusal(coord, G.FlushOk, 'c:1/x', { ...ok, accepted: { a: { n: 5, coord: 'e:1/x' }, p } }),
      "flush reply with a proposal of a non-member's attempt",
    );
  });
});

/** `n` members of 'g' joined one by one through n1. */
function cluster(n: number, seed = 5): { c: SimCluster; eps: string[]; groups: Group[]; nodes: HorusNode[] } {
  const c = new SimCluster(seed);
  const eps = Array.from({ length: n }, (_, i) => `n${i + 1}:1`);
  const groups: Group[] = [];
  const nodes: HorusNode[] = [];
  eps.forEach((e, i) => {
    nodes.push(c.start(e));
    groups.push(c.join(e, 'g', i === 0 ? [] : [eps[0]!]));
    c.run(i === 0 ? 50 : 5);
  });
  c.run(3000);
  return { c, eps, groups, nodes };
}

function onePerNodeInHistory(c: SimCluster): void {
  const out = new ViolationList();
  checkOneMemberPerNode(c.history.events, 'g', out);
  assert.deepEqual(out.items, []);
}

describe('GMS join admission', () => {
  it('a restarted process replaces its dead incarnation in the view change that admits it, without waiting for the failure detector', () => {
    const { c, eps, groups } = cluster(3);
    const before = groups[0]!.view;
    const old = groups[2]!.localId;
    // The process dies and comes straight back: its old incarnation is still in the view.
    c.world.crash(eps[2]!);
    c.start(eps[2]!);
    const fresh = c.join(eps[2]!, 'g', [eps[0]!]);
    // Within the failure timeout (300 ms): the answer to the challenge itself says the old one is gone.
    c.run(250);
    const v = groups[0]!.view;
    assert.deepEqual(v.members, [groups[0]!.localId, groups[1]!.localId, fresh.localId]);
    assert.ok(!v.members.includes(old));
    assert.equal(v.id, before.id + 1, 'one view change: the join replaced the old incarnation');
    assert.deepEqual(fresh.view, v);
    onePerNodeInHistory(c);
  });

  it('joins answered while a flush runs wait for the next view: none is taken for a member that left', () => {
    const { c, eps, groups, nodes } = cluster(3);
    const drops = gmsDrops(nodes[0]!);
    c.start('j0:1');
    const joiners = [c.join('j0:1', 'g', [eps[0]!])];
    // The flush admitting j0 is in its cut step when n3 stops for 200 ms: the others' answers reach
    // the coordinator after its proposal, and wait as pending joins.
    c.run(16);
    c.world.pause(eps[2]!);
    for (let i = 1; i < 6; i++) {
      c.start(`j${i}:1`);
      joiners.push(c.join(`j${i}:1`, 'g', [eps[0]!]));
      c.run(3);
    }
    c.run(200);
    c.world.resume(eps[2]!);
    // The next flush is slow too (n2 stops): the pending joiners ask again meanwhile.
    c.run(2);
    c.world.pause(eps[1]!);
    c.run(200);
    c.world.resume(eps[1]!);
    c.run(4000);
    const v = groups[0]!.view;
    assert.equal(v.members.length, 9);
    for (const j of joiners) {
      assert.doesNotMatch(j.localId, /~/, `${j.localId} joined under its first id`);
      assert.ok(v.members.includes(j.localId), `${j.localId} is in the view`);
    }
    assert.equal(gmsDrops(nodes[0]!) - drops, 0, 'no join request dropped as stale');
    onePerNodeInHistory(c);
  });

  it('a late join request for a membership that already left is dropped and counted; the group is untouched', () => {
    const { c, eps, groups, nodes } = cluster(3);
    const leaver = groups[2]!;
    const oldId = leaver.localId;
    void leaver.leave();
    c.run(2000);
    const v = groups[0]!.view;
    assert.deepEqual(v.members, [groups[0]!.localId, groups[1]!.localId]);
    const drops = gmsDrops(nodes[0]!) + gmsDrops(nodes[1]!);
    // The queued request arrives after the heal, from the process itself, for its old id.
    forgeGms(c.world.node(eps[2]!)!, 'g', groups[0]!.localId, [{ kind: G.JoinReq, body: { member: oldId } }]);
    forgeGms(c.world.node(eps[2]!)!, 'g', groups[1]!.localId, [{ kind: G.JoinReq, body: { member: oldId } }]);
    c.run(2000);
    // The other member drops its copy itself if it saw the leaver in a view, else the coordinator drops it forwarded.
    assert.equal(gmsDrops(nodes[0]!) + gmsDrops(nodes[1]!) - drops, 2, 'the coordinator dropped it, and the other copy was dropped once');
    assert.deepEqual(groups[0]!.view, v, 'no view change');
    onePerNodeInHistory(c);
  });

  it('a late join request older than a later membership of the same process in the view is dropped', () => {
    const { c, eps, groups, nodes } = cluster(3);
    const p = groups[2]!;
    // Paused past the failure timeout: excluded, it rejoins as ~2.
    c.world.pause(eps[2]!);
    c.run(2000);
    c.world.resume(eps[2]!);
    c.run(4000);
    assert.match(p.localId, /~2$/);
    assert.ok(groups[0]!.view.members.includes(p.localId));
    const v = groups[0]!.view;
    const drops = gmsDrops(nodes[0]!);
    // A request for a first membership the coordinator never saw (e.g. it took over later) is older than ~2.
    const older = p.localId.replace(/~2$/, '~1');
    // Sent by the process's current membership (~2): GMS drops it.
    forgeGms(c.world.node(eps[2]!)!, 'g', groups[0]!.localId, [{ kind: G.JoinReq, body: { member: older } }], 2);
    c.run(2000);
    assert.equal(gmsDrops(nodes[0]!) - drops, 1);
    // Sent by the first membership itself (a frame queued before it was replaced): COM drops the frame.
    const stale = nodes[0]!.metrics.snapshot().counters['horus_com_stale_membership_total'] ?? 0;
    forgeGms(c.world.node(eps[2]!)!, 'g', groups[0]!.localId, [{ kind: G.JoinReq, body: { member: older } }], 1);
    c.run(2000);
    assert.equal((nodes[0]!.metrics.snapshot().counters['horus_com_stale_membership_total'] ?? 0) - stale, 1);
    assert.equal(gmsDrops(nodes[0]!) - drops, 1, 'never reached GMS');
    assert.deepEqual(groups[0]!.view, v);
    onePerNodeInHistory(c);
  });

  it('a joiner named in a view change slower than its joinTimeoutMs waits for it, told by the coordinator, and joins under its first id', async () => {
    const { c, eps, groups } = cluster(3);
    const before = groups[0]!.view;
    // A join timeout shorter than the view change that admits it (large-64: 10 s against view changes
    // of 5-20 s among tens of starved processes): n3 stops for 260 ms just as the flush starts.
    const layers = FAST_STACK as readonly (string | LayerSpec)[];
    const stack = layers.map((l) => (typeof l === 'object' && l.name === 'GMS' ? { ...l, options: { ...l.options, joinTimeoutMs: 150 } } : l));
    c.start('j0:1');
    const j = c.nodes.get('j0:1')!.joinNow('g', { contacts: [eps[0]!], stack });
    let failed: unknown = null;
    j.ready.catch((e: unknown) => (failed = e));
    c.run(2);
    c.world.pause(eps[2]!);
    c.run(260);
    c.world.resume(eps[2]!);
    for (let t = 0; t < 2000; t += 50) {
      c.run(50);
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(failed, null, 'the join did not give up');
    const v = groups[0]!.view;
    assert.deepEqual(v.members, [...before.members, j.localId]);
    assert.doesNotMatch(j.localId, /~/, 'under its first id');
    assert.equal(v.id, before.id + 1, 'one view change');
    assert.deepEqual(j.view, v);
    onePerNodeInHistory(c);
  });

  it('a joiner is told to wait on only by a coordinator that challenged it or a contact', () => {
    const h: Hearing = { ...plainHearing('j:1/x'), joining: true, challengers: new Set(['c:1/x']), contacts: ['s:1'] };
    assert.equal(refusal(h, G.JoinWait, 'c:1/x', { member: 'j:1/x' }), null, 'the coordinator that challenged us');
    assert.equal(refusal(h, G.JoinWait, 's:1/z', { member: 'j:1/x' }), null, 'a member at a contact (a pki join needs no challenge)');
    assert.notEqual(refusal(h, G.JoinWait, 'evil:1/x', { member: 'j:1/x' }), null, 'anyone else');
    assert.equal(refusal({ ...h, joining: false }, G.JoinWait, 'c:1/x', { member: 'j:1/x' }), '', 'a member or a process that gave up ignores it');
  });

  it('a joiner hears "not a member" (its id is spent) only from a member that challenged it or runs on one of its contacts', () => {
    const h: Hearing = { ...plainHearing('j:1/x~2'), joining: true, challengers: new Set(['c:1/x']), contacts: ['s:1', 't:1/y'] };
    assert.equal(refusal(h, G.NotMember, 'c:1/x', { view: 9 }), null, 'the coordinator that challenged us');
    assert.equal(refusal(h, G.NotMember, 's:1/z~3', { view: 9 }), null, 'a member running at a contact endpoint');
    assert.equal(refusal(h, G.NotMember, 't:1/y', { view: 9 }), null, 'a contact named by node id');
    assert.notEqual(refusal(h, G.NotMember, 'evil:1/x', { view: 9 }), null, 'anyone else');
    assert.notEqual(refusal(h, G.NotMember, 't:1/other', { view: 9 }), null, 'another incarnation than the contact named');
    assert.notEqual(refusal({ ...h, joining: false }, G.NotMember, 'c:1/x', { view: 9 }), null, 'a member without a view hears nothing');
  });

  it('a member hears "a later view left you out" from a member of its view, or from that process under a later membership', () => {
    // From --faults all seed 382: every other member of our old view had
    // rejoined as node~2 by the heal, so only their later memberships could ever tell us.
    const h: Hearing = { ...plainHearing('j:1/x~2'), view: { group: 'g', id: 6, members: ['a:1/x', 'b:1/x', 'j:1/x~2'] } };
    assert.equal(refusal(h, G.NotMember, 'a:1/x', { view: 9 }), null, 'a member of the view');
    assert.equal(refusal(h, G.NotMember, 'a:1/x~2', { view: 9 }), null, 'that member, rejoined');
    assert.notEqual(refusal(h, G.NotMember, 'a:1/y~2', { view: 9 }), null, 'another incarnation of its node');
    assert.notEqual(refusal(h, G.NotMember, 'c:1/x~2', { view: 9 }), null, 'a process that was never in the view');
    assert.equal(replacedMemberOf(['a:1/x~2', 'b:1/x'], 'a:1/x~3'), 'a:1/x~2');
    assert.equal(replacedMemberOf(['a:1/x~2', 'b:1/x'], 'a:1/x~2'), null, 'itself is not replaced');
    assert.equal(replacedMemberOf(['a:1/x~2', 'b:1/x'], 'a:1/x'), null, 'an earlier membership replaces nothing');
  });
});
