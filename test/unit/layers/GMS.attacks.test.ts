import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FAST_STACK, SimCluster } from '../../helpers/sim-cluster.js';
import { forgeGms, gbcastBytes, gmsDrops, G, type ForgedGms } from '../../helpers/gms-forge.js';
import type { Group } from '../../../src/api/group.js';
import type { Delivery } from '../../../src/api/delivery.js';
import type { HorusNode } from '../../../src/api/node.js';
import { checkVirtualSynchrony } from '../../../src/sim/checkers/vsync.js';
import type { SimNode } from '../../../src/sim/sim-world.js';
import type { LayerSpec } from '../../../src/stack/stack.js';

interface Setup {
  c: SimCluster;
  eps: string[];
  groups: Group[];
  nodes: HorusNode[];
  ids: string[];
  delivered: unknown[][];
}

/** `n` members of group 'g', joined one after another, each recording what it delivers. */
function cluster(n: number, seed = 3): Setup {
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
  const delivered = groups.map((g) => {
    const list: unknown[] = [];
    g.on('message', (d: Delivery) => list.push(d.payload));
    return list;
  });
  const ids = groups.map((g) => g.localId);
  for (const g of groups) assert.deepEqual([...g.view.members].sort(), [...ids].sort(), 'the group formed');
  return { c, eps, groups, nodes, ids, delivered };
}

/** A process that is not a member, with a connection of its own. */
function stranger(s: Setup, endpoint = 'evil:1'): SimNode {
  return s.c.world.addNode(endpoint, '1');
}

function simNode(s: Setup, i: number): SimNode {
  return s.c.world.node(s.eps[i]!)!;
}

/** Every real member is still in every member's view, nothing else is, and the history is clean. */
function keepsRealMembers(s: Setup): void {
  const view = s.groups[0]!.view;
  assert.deepEqual([...view.members].sort(), [...s.ids].sort(), `the view holds exactly the real members: ${view.members.join(' ')}`);
  for (const g of s.groups) assert.deepEqual(g.view, view);
  const faults = s.c.history.events.filter((e) => e.k === 'fault');
  assert.deepEqual(faults, [], 'no stack failure was contained');
  assert.deepEqual(checkVirtualSynchrony(s.c.history.events, 'g').items, []);
}

/** The group still delivers: every member delivers a fresh fbcast from each member. */
function stillDelivers(s: Setup): void {
  s.groups.forEach((g, i) => void g.fbcast(`alive ${i}`));
  s.c.run(2000);
  for (const list of s.delivered) for (let i = 0; i < s.groups.length; i++) assert.ok(list.includes(`alive ${i}`), `alive ${i} delivered`);
}

describe('GMS: a member speaks only for itself', () => {
  it('a leave request naming another member, from a stranger or from a member, is dropped and counted', () => {
    const s = cluster(3);
    const [coord, victim] = s.ids as [string, string, string];
    forgeGms(stranger(s), 'g', coord, [{ kind: G.LeaveReq, body: { member: victim } }]);
    forgeGms(simNode(s, 2), 'g', coord, [{ kind: G.LeaveReq, body: { member: victim } }]);
    // A non-coordinator no longer forwards leaves: it does not act on one either.
    forgeGms(simNode(s, 2), 'g', victim, [{ kind: G.LeaveReq, body: { member: victim } }]);
    s.c.run(2000);
    keepsRealMembers(s);
    assert.equal(gmsDrops(s.nodes[0]!), 2, 'both forged leaves counted at the coordinator');
    stillDelivers(s);
  });

  it('the leaver itself still leaves', () => {
    const s = cluster(3);
    void s.groups[2]!.leave();
    s.c.run(2000);
    assert.deepEqual(s.groups[0]!.view.members, s.ids.slice(0, 2));
  });

  it("a gbcast under another member's key is never delivered, from a stranger or from a member", () => {
    const s = cluster(3);
    const [coord, victim] = s.ids as [string, string, string];
    const forged = (who: string): ForgedGms => ({ kind: G.Gbcast, body: { key: `${victim}:77`, bytes: gbcastBytes(victim, 77, `forged by ${who}`) } });
    forgeGms(stranger(s), 'g', coord, [forged('stranger')]);
    forgeGms(simNode(s, 2), 'g', coord, [forged('member')]);
    // A real gbcast goes through the same path.
    void s.groups[1]!.gbcast('real gbcast');
    s.c.run(3000);
    for (const list of s.delivered) {
      assert.ok(list.includes('real gbcast'), 'the real gbcast was delivered');
      assert.ok(!list.some((p) => String(p).startsWith('forged')), `nothing forged delivered: ${JSON.stringify(list)}`);
    }
    assert.equal(gmsDrops(s.nodes[0]!), 2);
    keepsRealMembers(s);
  });

  it('join requests for processes that do not exist, in one frame, add no phantom: their challenges expire, counted', () => {
    const s = cluster(3);
    const evil = stranger(s);
    const phantoms = Array.from({ length: 8 }, (_, i) => `ghost${i}:1/1`);
    forgeGms(
      evil,
      'g',
      s.ids[0]!,
      phantoms.map((member) => ({ kind: G.JoinReq, body: { member } })),
    );
    // Through a non-coordinator too: a forwarded request is challenged the same way.
    forgeGms(evil, 'g', s.ids[1]!, [{ kind: G.JoinReq, body: { member: 'ghost9:1/1' } }]);
    s.c.run(5000);
    keepsRealMembers(s);
    assert.equal(gmsDrops(s.nodes[0]!), 9, 'each unanswered challenge is counted once it expires');
    stillDelivers(s);
    // A real process still joins through the challenge.
    s.c.start('n4:1');
    const g4 = s.c.join('n4:1', 'g', [s.eps[1]!]);
    s.c.run(3000);
    assert.deepEqual(s.groups[0]!.view.members, [...s.ids, g4.localId]);
    assert.deepEqual(g4.view, s.groups[0]!.view);
  });

  it('more join requests than the cap are dropped at once, and the open challenges stay bounded', () => {
    const s = cluster(3);
    const evil = stranger(s);
    const many = Array.from({ length: 200 }, (_, i) => ({ kind: G.JoinReq, body: { member: `ghost${i}:1/1` } }));
    forgeGms(evil, 'g', s.ids[0]!, many);
    s.c.run(100);
    assert.equal(gmsDrops(s.nodes[0]!), 200 - 64, 'over the default cap of 64 open challenges');
    s.c.run(5000);
    keepsRealMembers(s);
  });

  it('a "not a member" notice with a huge view id from a stranger excludes nobody', () => {
    const s = cluster(3);
    const evil = stranger(s);
    forgeGms(evil, 'g', s.ids[1]!, [{ kind: G.NotMember, body: { view: 0xffff_ffff } }]);
    forgeGms(evil, 'g', s.ids[2]!, [{ kind: G.NotMember, body: { view: 2 ** 40 } }]);
    s.c.run(2000);
    keepsRealMembers(s);
    assert.equal(gmsDrops(s.nodes[1]!), 1, 'from a non-member');
    assert.equal(gmsDrops(s.nodes[2]!), 1, 'a view id over u32 fails the schema');
    stillDelivers(s);
  });

  it('a coordinator told by two members that a later view left it out rejoins, and the others let it in: nobody waits on its old id', () => {
    const s = cluster(4);
    const oldCoord = s.ids[0]!;
    // Members may say this (it is how an excluded member learns it); told by two, the coordinator
    // goes at once and asks to join again, from its own connection, under a new id. The others
    // must stop counting on its old id as their coordinator, or its join is forwarded to it forever.
    const later = { view: s.groups[1]!.view.id + 3 };
    forgeGms(simNode(s, 1), 'g', oldCoord, [{ kind: G.NotMember, body: later }]);
    forgeGms(simNode(s, 2), 'g', oldCoord, [{ kind: G.NotMember, body: later }]);
    s.c.run(5000);
    const rejoined = s.groups[0]!.localId;
    assert.notEqual(rejoined, oldCoord, 'the told coordinator rejoined under a new id');
    const view = s.groups[1]!.view;
    assert.deepEqual([...view.members].sort(), [rejoined, ...s.ids.slice(1)].sort(), `all four are members again: ${view.members.join(' ')}`);
    for (const g of s.groups) assert.deepEqual(g.view, view);
    assert.deepEqual(checkVirtualSynchrony(s.c.history.events, 'g').items, []);
    stillDelivers(s);
  });

  it('a member of a two-member view told by the other that it was left out leaves cleanly: the pair does not lose its majority', () => {
    const s = cluster(2);
    const [coord, told] = s.ids as [string, string];
    // No later view can leave `told` out without it (it is half of its view), but it cannot know
    // the claim is false. Leaving silently would leave the coordinator alone in a view of two, a
    // minority for ever; leaving through a view change keeps the group going.
    forgeGms(simNode(s, 0), 'g', told, [{ kind: G.NotMember, body: { view: s.groups[0]!.view.id + 1 } }]);
    s.c.run(5000);
    const rejoined = s.groups[1]!.localId;
    assert.notEqual(rejoined, told, 'the told member rejoined under a new id');
    const view = s.groups[0]!.view;
    assert.deepEqual([...view.members].sort(), [coord, rejoined].sort(), `both are members again: ${view.members.join(' ')}`);
    assert.deepEqual(s.groups[1]!.view, view);
    assert.deepEqual(checkVirtualSynchrony(s.c.history.events, 'g').items, []);
    stillDelivers(s);
  });

  it('an install from a member of a view that cannot follow ours (far ahead, leaving us out) is dropped and counted', () => {
    const s = cluster(3);
    const v = s.groups[2]!.view.id;
    forgeGms(simNode(s, 1), 'g', s.ids[2]!, [{ kind: G.Install, body: { view: { id: v + 5, members: [s.ids[1]!] }, stateFrom: null } }]);
    forgeGms(simNode(s, 1), 'g', s.ids[2]!, [{ kind: G.Install, body: { view: { id: 2 ** 31 - 1, members: [s.ids[1]!, s.ids[2]!] }, stateFrom: s.ids[1]! } }]);
    s.c.run(2000);
    keepsRealMembers(s);
    assert.equal(gmsDrops(s.nodes[2]!), 2, 'both counted');
    stillDelivers(s);
  });

  it('a flush reply claiming a later view, sent by a member to one that runs no flush, excludes nobody', () => {
    const s = cluster(3);
    const v = s.groups[2]!.view.id;
    const later = { id: v + 1, members: [s.ids[0]!, s.ids[1]!] };
    forgeGms(simNode(s, 0), 'g', s.ids[2]!, [
      { kind: G.FlushOk, body: { view: v, a: { n: 1, coord: s.ids[0]! }, digest: [], accepted: null, installed: later } },
    ]);
    s.c.run(2000);
    keepsRealMembers(s);
    assert.equal(gmsDrops(s.nodes[2]!), 1, 'counted');
    stillDelivers(s);
  });

  it('installs, flush steps and state failures from a stranger change nothing', () => {
    const s = cluster(3);
    const evil = stranger(s);
    const v = s.groups[0]!.view.id;
    const evilId = evil.id;
    forgeGms(evil, 'g', s.ids[1]!, [
      { kind: G.Install, body: { view: { id: v + 1, members: [s.ids[0], evilId] }, stateFrom: null } },
      { kind: G.FlushStart, body: { view: v, a: { n: 0xffff_fff0, coord: evilId } } },
      { kind: G.Cut, body: { view: v, a: { n: 0xffff_fff0, coord: evilId }, p: { members: [evilId], cut: [], holders: [] } } },
      { kind: G.FlushReq, body: { view: v } },
      { kind: G.StateFail, body: { view: v, message: 'no' } },
    ]);
    forgeGms(evil, 'g', s.ids[0]!, [
      { kind: G.FlushOk, body: { view: v, a: { n: 1, coord: s.ids[0] }, digest: [], accepted: null, hasState: true } },
      { kind: G.Done, body: { view: v, a: { n: 1, coord: s.ids[0] } } },
      { kind: G.JoinAnswer, body: { member: 'ghost:1/1', nonce: 1 } },
    ]);
    s.c.run(2000);
    keepsRealMembers(s);
    assert.ok(gmsDrops(s.nodes[1]!) >= 4, `counted at the member (${gmsDrops(s.nodes[1]!)})`);
    assert.ok(gmsDrops(s.nodes[0]!) >= 3, `counted at the coordinator (${gmsDrops(s.nodes[0]!)})`);
    stillDelivers(s);
  });
});

describe('GMS: every control body is checked before it is used', () => {
  /** Bodies of the wrong shape for every kind: wrong types, missing fields, huge numbers, not MessagePack at all. */
  const garbage: unknown[] = [
    { view: 'x', a: 5, member: 7, key: 9, bytes: 'b', n: -1, next: {}, message: 3, digest: 5, accepted: 'yes', p: { members: 'all' }, nonce: 'n' },
    { view: 2 ** 53, a: { n: 2 ** 53, coord: 5 }, digest: [[1, 2, 3]], accepted: { a: null, p: null } },
    { view: 1, a: { n: 1, coord: 'x'.repeat(300) }, p: { members: Array(5000).fill('m'), cut: [], holders: [] } },
    null,
    [1, 2, 3],
    'string',
  ];
  const kinds = [
    G.JoinReq,
    G.LeaveReq,
    G.FlushStart,
    G.FlushOk,
    G.FlushNack,
    G.Cut,
    G.Done,
    G.Install,
    G.InstallAck,
    G.NotMember,
    G.StateAck,
    G.StateFail,
    G.FlushReq,
    G.Gbcast,
    G.InstallReq,
    G.JoinChallenge,
    G.JoinAnswer,
  ];

  it("a stranger's bodies with wrong field types, for every kind, are dropped and counted; no exception escapes", () => {
    const s = cluster(3);
    const evil = stranger(s);
    for (const to of s.ids) {
      const msgs: ForgedGms[] = kinds.flatMap((kind) => garbage.map((body) => ({ kind, body })));
      msgs.push({ kind: G.Install, payload: Buffer.from([0xc1, 0xff, 0x00]) }); // not MessagePack
      forgeGms(evil, 'g', to, msgs);
    }
    s.c.run(3000);
    keepsRealMembers(s);
    // Two are well-formed and harmless: an install ack and an install request for view 1 (extra fields are stripped).
    for (const n of s.nodes) assert.ok(gmsDrops(n) >= kinds.length * garbage.length - 2, `each malformed body counted (${gmsDrops(n)})`);
    stillDelivers(s);
  });

  it('a malformed flush reply or cut from a member during a view change is dropped; the view change completes', () => {
    const s = cluster(3);
    const [coord, second, third] = s.ids as [string, string, string];
    const v = s.groups[0]!.view.id;
    // A join starts a view change; meanwhile a member answers every plausible attempt with a
    // malformed reply, and the coordinator's own node sends a malformed cut.
    s.c.start('n4:1');
    const g4 = s.c.join('n4:1', 'g', [s.eps[0]!]);
    for (let t = 0; t < 40; t++) {
      const oks: ForgedGms[] = [];
      for (let n = 1; n <= 10; n++) {
        oks.push({ kind: G.FlushOk, body: { view: v, a: { n, coord }, digest: 5, accepted: null, hasState: true } });
        oks.push({
          kind: G.FlushOk,
          body: { view: v, a: { n, coord }, digest: [], accepted: { a: { n, coord }, p: { members: [third, third], cut: [], holders: [] } } },
        });
        oks.push({ kind: G.Done, body: { view: v, a: { n, coord: 7 } } });
      }
      forgeGms(simNode(s, 2), 'g', coord, oks);
      forgeGms(simNode(s, 0), 'g', second, [
        { kind: G.Cut, body: { view: v, a: { n: 3, coord }, p: { members: 5, cut: 'x', holders: null } } },
        { kind: G.Cut, body: { view: v, a: { n: 3, coord }, p: { members: [coord, `${coord}~2`], cut: [], holders: [] } } },
      ]);
      s.c.run(25);
    }
    s.c.run(3000);
    s.ids.push(g4.localId);
    s.groups.push(g4);
    s.nodes.push(s.c.nodes.get('n4:1')!);
    const list: unknown[] = [];
    g4.on('message', (d: Delivery) => list.push(d.payload));
    s.delivered.push(list);
    keepsRealMembers(s);
    assert.ok(gmsDrops(s.nodes[0]!) >= 40 * 30, `malformed replies counted at the coordinator (${gmsDrops(s.nodes[0]!)})`);
    assert.ok(gmsDrops(s.nodes[1]!) >= 40 * 2, `malformed cuts counted (${gmsDrops(s.nodes[1]!)})`);
    stillDelivers(s);
  });

  it('a state chunk from anyone but the provider, or with impossible fields, is dropped', () => {
    const c = new SimCluster(5);
    c.start('n1:1');
    const g1 = c.join('n1:1', 'g', [], { get: () => Buffer.alloc(10_000_000, 7), set: () => {} });
    c.run(100);
    const evil = c.world.addNode('evil:1', '1');
    c.start('n2:1');
    let state: unknown = null;
    const g2 = c.join('n2:1', 'g', ['n1:1'], { get: () => null, set: (st) => (state = st) });
    // While the joiner waits for its state: a well-formed chunk from a stranger, and one with an
    // index and total near 2^32, every millisecond.
    const chunk = (index: number, total: number): Buffer => {
      const b = Buffer.alloc(12 + 10, 9);
      b.writeUInt32BE(g1.view.id + 1, 0);
      b.writeUInt32BE(index, 4);
      b.writeUInt32BE(total, 8);
      return b;
    };
    for (let t = 0; t < 400; t++) {
      forgeGms(evil, 'g', g2.localId, [
        { kind: G.StateChunk, payload: chunk(0, 1) },
        { kind: G.StateChunk, payload: chunk(0xffff_ffff, 0xffff_ffff) },
      ]);
      c.run(1);
    }
    c.run(3000);
    assert.deepEqual(g2.view, g1.view);
    assert.ok(Buffer.isBuffer(state) && (state as Buffer).length === 10_000_000 && (state as Buffer).every((b) => b === 7), 'the real state arrived whole');
    assert.ok(gmsDrops(c.nodes.get('n2:1')!) > 0, `counted (${gmsDrops(c.nodes.get('n2:1')!)})`);
  });

  it('a state larger than the joiner accepts fails its join with ERR_STATE_TRANSFER, counted; the group carries on', async () => {
    const c = new SimCluster(6);
    c.start('n1:1');
    const g1 = c.join('n1:1', 'g', [], { get: () => Buffer.alloc(3 * 1024 * 1024, 1), set: () => {} });
    c.run(100);
    const n2 = c.start('n2:1');
    const small = (FAST_STACK as readonly (string | LayerSpec)[]).map((l) =>
      typeof l !== 'string' && l.name === 'GMS' ? { ...l, options: { ...l.options, maxStateBytes: 1024 * 1024 } } : l,
    );
    const g2 = n2.joinNow('g', { contacts: ['n1:1'], stack: small, state: { get: () => null, set: () => {} } });
    await assert.rejects(c.settle(g2.ready, 8000), (e: { code?: string }) => e.code === 'ERR_STATE_TRANSFER');
    c.run(3000);
    assert.ok(gmsDrops(n2) >= 1, `the oversized state was counted (${gmsDrops(n2)})`);
    assert.deepEqual(g1.view.members, [g1.localId], `the joiner left again: ${g1.view.members.join(' ')}`);
  });
});
