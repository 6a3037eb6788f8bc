import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HorusNode } from '../../../src/api/node.js';
import type { Group } from '../../../src/api/group.js';
import { MemoryHistory } from '../../../src/core/history.js';
import { SimWorld } from '../../../src/sim/sim-world.js';
import { LightweightGroups } from '../../../src/lwg/service.js';
import type { LightweightGroup } from '../../../src/lwg/lightweight-group.js';
import { encodeData, encodeFlushOk, encodeJoin, encodeLeave, encodeState, LwgKind, MAX_LWG_NAME_BYTES } from '../../../src/lwg/wire.js';
import { pack } from '../../../src/codec/payload.js';
import { PayloadEncoding } from '../../../src/api/app-header.js';

const HWG = 'hwg';

/** Three nodes in one heavy-weight group with a LightweightGroups service each (in the simulator). */
function cluster(seed = 1): { world: SimWorld; lw: LightweightGroups[]; hwg: Group[]; history: MemoryHistory } {
  const world = new SimWorld(seed, {});
  world.setNetwork({ delayMs: 0.5, jitterMs: 0.2 });
  const history = new MemoryHistory();
  const endpoints = ['n1:7000', 'n2:7000', 'n3:7000'];
  const lw: LightweightGroups[] = [];
  const hwg: Group[] = [];
  endpoints.forEach((e, i) => {
    world.scheduler.schedule(i * 200, () => {
      const sim = world.addNode(e, '1');
      const node = new HorusNode(sim.env, history);
      const svc = new LightweightGroups({ history, now: () => sim.env.now() });
      const g = node.joinNow(HWG, { contacts: endpoints.slice(0, i), state: svc.hwgState });
      svc.attach(g);
      lw[i] = svc;
      hwg[i] = g;
    });
  });
  world.runFor(2000);
  for (const g of hwg) assert.equal(g.view.members.length, 3);
  return { world, lw, hwg, history };
}

/** Join `names` at every service; run until every group at every node has all three members. */
function joinEverywhere(world: SimWorld, lw: LightweightGroups[], names: string[]): LightweightGroup[][] {
  // The simulator runs synchronously (promise reactions wait for it): take the handles as they are made.
  for (const s of lw) s.joinMany(names).catch(() => {});
  const out = lw.map((s) => names.map((n) => s.group(n)!));
  for (let t = 0; t < 40 && !out.every((gs) => gs.every((g) => g.view.members.length === 3)); t++) world.runFor(50);
  return out;
}

describe('LightweightGroups over one heavy-weight group (simulated)', () => {
  it('joining light-weight groups costs no HWG view change, and every member sees one view sequence', async () => {
    const { world, lw, hwg } = cluster();
    const before = hwg.map((g) => g.view.id);
    const groups = joinEverywhere(
      world,
      lw,
      Array.from({ length: 200 }, (_, i) => `doc-${i}`),
    );
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(
      hwg.map((g) => g.view.id),
      before,
    );
    for (let k = 0; k < 200; k++) {
      const views = groups.map((gs) => `${gs[k]!.view.id}:${gs[k]!.view.members.join(',')}`);
      assert.equal(new Set(views).size, 1, `doc-${k}: ${views.join(' | ')}`);
    }
    assert.equal(lw[0]!.stats.groups, 200);
  });

  it('delivers each group its own messages only, to its members only, in one order for abcasts', () => {
    const { world, lw } = cluster(2);
    joinEverywhere(world, lw, ['x', 'y']);
    const got: string[][] = [[], [], []];
    lw.forEach((s, i) => s.group('x')!.on('message', (d) => got[i]!.push(`${d.group}:${String(d.payload)}`)));
    for (let k = 0; k < 20; k++) {
      void lw[k % 3]!.group('x')!.abcast(`m${k}`);
      void lw[k % 3]!.group('y')!.abcast(`other${k}`);
    }
    world.runFor(1000);
    assert.equal(got[0]!.length, 20);
    assert.ok(got[0]!.every((s) => s.startsWith('x:')));
    assert.deepEqual(got[1], got[0]);
    assert.deepEqual(got[2], got[0]);
  });

  it('a joiner gets the state as of its first view, and the view after a leave drops the leaver', () => {
    const { world, lw } = cluster(3);
    let counter = 0;
    const state = { get: () => counter, set: (s: unknown) => void (counter = s as number) };
    lw[0]!.join('count', { state }).catch(() => {});
    world.runFor(200);
    const g0 = lw[0]!.group('count')!;
    assert.equal(g0.status, 'member');
    g0.on('message', () => counter++);
    for (let i = 0; i < 5; i++) void g0.abcast(i);
    world.runFor(200);
    assert.equal(counter, 5);
    let theirs = -1;
    lw[1]!.join('count', { state: { get: () => theirs, set: (s) => void (theirs = s as number) } }).catch(() => {});
    world.runFor(500);
    const g1 = lw[1]!.group('count')!;
    assert.equal(g1.status, 'member');
    assert.equal(theirs, 5);
    assert.deepEqual(g1.view.members, g0.view.members);
    void g1.leave();
    world.runFor(500);
    assert.equal(g0.view.members.length, 1);
    assert.equal(g1.isClosed, true);
  });

  it('drops and counts hostile input (forged join, unknown group, oversized name, stale view, a stranger to the group) and keeps serving', () => {
    const { world, lw, hwg } = cluster(4);
    joinEverywhere(world, lw, ['doc']);
    // n3's service is replaced by an intruder that speaks raw bytes into the HWG.
    const rogue = hwg[2]!;
    const victim = lw[0]!;
    const n1 = hwg[0]!.localId;
    const docId = 1;
    const viewId = victim.group('doc')!.view.id;
    const forged: Buffer[] = [
      encodeJoin({ member: n1, names: ['stolen'], wantState: false }), // a join for another member
      encodeLeave([999]), // unknown group
      encodeData({ lwg: 999, view: 1, id: 1, order: 0, encoding: PayloadEncoding.Bytes }, Buffer.from('x')), // unknown group
      encodeData({ lwg: docId, view: viewId + 7, id: 1, order: 0, encoding: PayloadEncoding.Bytes }, Buffer.from('x')), // wrong view
      encodeFlushOk([docId, viewId]), // no flush under way: stale, ignored (as after an HWG view change)
      Buffer.concat([Buffer.of(LwgKind.Join), pack([rogue.localId, ['n'.repeat(MAX_LWG_NAME_BYTES + 1)], false])]), // oversized name
      Buffer.of(77), // unknown kind
      Buffer.concat([Buffer.of(LwgKind.Join), Buffer.from([0xc1])]), // does not unpack
      encodeState([{ lwg: docId, view: viewId, state: Buffer.alloc(1) }]), // a state multicast
    ];
    for (const f of forged) void rogue.abcast(f);
    world.runFor(500);
    const d = victim.stats.dropped;
    assert.equal(d['forged-member'], 1);
    assert.equal(d['unknown-lwg'], 2);
    assert.equal(d['stale-view'], 1);
    assert.equal(d['unexpected-flush-ok'], 0);
    assert.equal(d.malformed, 3);
    assert.equal(d['unexpected-state'], 1);
    assert.equal(victim.group('stolen'), undefined);
    assert.equal(victim.stats.groups, 1);
    // A member of the HWG that sends to a group it is not in: refused.
    lw[2]!
      .group('doc')!
      .leave()
      .catch(() => {});
    world.runFor(500);
    assert.equal(victim.group('doc')!.view.members.length, 2);
    void rogue.abcast(encodeData({ lwg: docId, view: victim.group('doc')!.view.id, id: 9, order: 0, encoding: PayloadEncoding.Bytes }, Buffer.from('x')));
    world.runFor(300);
    assert.equal(victim.stats.dropped['not-member'], 1);
    // Still serving: the group works.
    const got: unknown[] = [];
    victim.group('doc')!.on('message', (m) => got.push(m.payload));
    void victim.group('doc')!.abcast('still here');
    world.runFor(300);
    assert.deepEqual(got, ['still here']);
  });

  it('refuses bad names and double joins locally with typed errors', async () => {
    const svc = new LightweightGroups();
    await assert.rejects(svc.join('n'.repeat(MAX_LWG_NAME_BYTES + 1)), { code: 'ERR_INVALID_ARGUMENT' });
    await assert.rejects(svc.join(''), { code: 'ERR_INVALID_ARGUMENT' });
    await assert.rejects(svc.joinMany(['a', 'a']), { code: 'ERR_INVALID_ARGUMENT' });
    assert.throws(() => new LightweightGroups({ maxGroups: 0 }), { code: 'ERR_CONFIG' });
  });
});
