import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Group } from '../../../../src/api/group.js';
import type { HorusError } from '../../../../src/core/errors.js';
import type { View } from '../../../../src/core/view.js';
import type { Acl } from '../../../../src/security/acl.js';
import { viewKeyOf } from '../../../../src/security/group-key.js';
import type { StackSpec } from '../../../../src/stack/stack.js';
import { SimCluster } from '../../../helpers/sim-cluster.js';
import { forgeGms, G, gmsDrops } from '../../../helpers/gms-forge.js';

/** A dynamic group with group keys and CRYPT, fast timeouts, and this ACL at every member. */
function secureStack(acl?: Acl): StackSpec {
  return [
    { name: 'GMS', options: { retryMs: 40, flushTimeoutMs: 600, groupKeys: true, ...(acl ? { acl } : {}) } },
    'STABLE',
    'FC',
    'FRAG',
    'CRYPT',
    { name: 'NAK', options: { xmitIntervalMs: 10 } },
    { name: 'FD', options: { heartbeatIntervalMs: 50, suspectTimeoutMs: 300 } },
    'COM',
  ];
}

const MARK = 'sEcReT-pAyLoAd';

/** Nodes at a:1, b:1, ... joining `g` one after the other through a:1; frames on the wire are searched for MARK. */
function cluster(endpoints: string[], acl?: Acl): { c: SimCluster; groups: Map<string, Group>; join(e: string): Group; leaked: () => number } {
  const c = new SimCluster(7);
  let leaked = 0;
  const mark = Buffer.from(MARK);
  c.world.onDeliver = (_from, _to, bytes) => {
    if (Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).includes(mark)) leaked++;
  };
  const groups = new Map<string, Group>();
  const join = (e: string): Group => {
    if (!c.nodes.has(e)) c.start(e);
    const g = c.nodes.get(e)!.joinNow('g', { contacts: e === endpoints[0] ? [] : [endpoints[0]!], stack: secureStack(acl) });
    g.ready.catch(() => {});
    groups.set(e, g);
    return g;
  };
  for (const e of endpoints) {
    join(e);
    c.run(600);
  }
  return { c, groups, join, leaked: () => leaked };
}

function members(g: Group): string[] {
  return g.view.members.map((m) => m.split('/')[0]!);
}

describe('GMS access control and group keys', () => {
  it('refuses a node the ACL does not list with ERR_ACCESS_DENIED; the group sees no view change', async () => {
    const acl: Acl = { join: [{ name: 'a:1' }, { name: 'b:1' }] };
    const { c, groups, join } = cluster(['a:1', 'b:1'], acl);
    const a = groups.get('a:1')!;
    assert.deepEqual(members(a), ['a:1', 'b:1']);
    const viewBefore = a.view.id;
    const dropsBefore = gmsDrops(c.nodes.get('a:1')!);
    const outsider = join('x:1');
    const err = await c.settle(outsider.ready).then(
      () => null,
      (e: HorusError) => e,
    );
    assert.equal(err?.code, 'ERR_ACCESS_DENIED');
    c.run(2000);
    assert.equal(a.view.id, viewBefore, 'no view change');
    assert.deepEqual(members(groups.get('b:1')!), ['a:1', 'b:1']);
    assert.ok(gmsDrops(c.nodes.get('a:1')!) > dropsBefore, 'the refusal is counted');
  });

  it('admits everyone when the group has no ACL', () => {
    const { groups } = cluster(['a:1', 'b:1', 'x:1']);
    assert.deepEqual(members(groups.get('a:1')!), ['a:1', 'b:1', 'x:1']);
  });

  it('an ACL change by gbcast switches every member at the same view change, and that change excludes the member it refuses', () => {
    const { c, groups } = cluster(['a:1', 'b:1', 'c:1']);
    const [a, b, cc] = ['a:1', 'b:1', 'c:1'].map((e) => groups.get(e)!);
    assert.deepEqual(members(a!), ['a:1', 'b:1', 'c:1']);
    const excluded: number[] = [];
    cc!.on('excluded', (ev: { type: string; error?: HorusError }) => {
      excluded.push(ev.type === 'EXCLUDED' ? 1 : 0);
      // A node refused for good would rejoin over and over (see the report: ERR_ACCESS_DENIED should end the group): stop it here.
      void c.nodes.get('c:1')!.close();
    });
    const changeView = a!.view.id + 1;
    void b!.setAcl({ join: [{ name: 'a:1' }, { name: 'b:1' }] });
    c.run(3000);
    assert.deepEqual(members(a!), ['a:1', 'b:1']);
    assert.deepEqual(members(b!), ['a:1', 'b:1']);
    // Both went from the view before the change straight to the one without c (same point, same view).
    const views = (node: string): number[] => c.history.events.flatMap((e) => (e.k === 'view' && e.node === node ? [e.view] : []));
    assert.ok(views(a!.localId).includes(changeView) && views(b!.localId).includes(changeView), `${views(a!.localId).join(',')}`);
    assert.deepEqual(a!.view.members, b!.view.members);
    const change = c.history.events.find((e) => e.k === 'view' && e.node === a!.localId && e.view === changeView);
    assert.ok(change?.k === 'view' && !change.members.some((m) => m.startsWith('c:1')), 'the change that carries the ACL leaves c out');
    assert.ok(excluded.length >= 1, 'c was excluded');
  });

  it('draws a new key for every view: a joiner gets none of the keys before its view, an excluded member none after', () => {
    const { c, groups, leaked } = cluster(['a:1', 'b:1', 'c:1']);
    const keysOf = new Map<string, Map<number, string>>();
    const watch = (e: string, g: Group): void => {
      const seen = new Map<number, string>();
      keysOf.set(e, seen);
      const note = (v: View): void => {
        const k = viewKeyOf(v);
        if (k) seen.set(v.id, k.toString('hex'));
      };
      note(g.view);
      g.on('view', note);
    };
    for (const [e, g] of groups) watch(e, g);
    for (const g of groups.values()) for (let i = 0; i < 20; i++) void g.fbcast(`${MARK} ${i}`);
    c.run(500);
    // c leaves; d joins.
    void groups.get('c:1')!.leave();
    c.run(1500);
    c.start('d:1');
    const gd = c.nodes.get('d:1')!.joinNow('g', { contacts: ['a:1'], stack: secureStack() });
    watch('d:1', gd);
    c.run(1500);
    for (const g of [groups.get('a:1')!, gd]) for (let i = 0; i < 20; i++) void g.fbcast(`${MARK} late ${i}`);
    c.run(1000);
    const a = keysOf.get('a:1')!;
    const ids = [...a.keys()];
    assert.ok(ids.length >= 3, `a saw several keyed views: ${ids.join(',')}`);
    assert.equal(new Set(a.values()).size, a.size, 'a different key per view');
    for (const [e, seen] of keysOf) for (const [id, k] of seen) assert.equal(k, a.get(id) ?? k, `${e} holds the same key as a for view ${id}`);
    const dFirst = Math.min(...keysOf.get('d:1')!.keys());
    assert.ok(![...keysOf.get('d:1')!.keys()].some((id) => id < dFirst));
    const cLast = Math.max(...keysOf.get('c:1')!.keys());
    const aFirstWithoutC = Math.min(...ids.filter((id) => id > cLast));
    assert.ok(Number.isFinite(aFirstWithoutC), 'a went on in views without c');
    assert.ok(![...keysOf.get('c:1')!.values()].includes(a.get(aFirstWithoutC)!), 'c never held a key of a view after it left');
    assert.equal(leaked(), 0, 'no payload crossed the wire in clear');
    assert.ok(gd.view.members.length === 3);
  });

  it("forged installs, leaves and suspicions' flushes from a refused node change nothing", () => {
    const acl: Acl = { join: [{ name: 'a:1' }, { name: 'b:1' }] };
    const { c, groups } = cluster(['a:1', 'b:1'], acl);
    const a = groups.get('a:1')!;
    const before = a.view.id;
    const x = c.world.addNode('x:1', '1');
    const drops = gmsDrops(c.nodes.get('b:1')!);
    forgeGms(x, 'g', groups.get('b:1')!.localId, [
      { kind: G.Install, body: { view: { id: before + 1, members: [a.localId, x.id] }, stateFrom: null } },
      { kind: G.LeaveReq, body: { member: a.localId } },
      { kind: G.FlushStart, body: { view: before, a: { n: 99, coord: x.id } } },
      { kind: G.Cut, body: { view: before, a: { n: 99, coord: x.id }, p: { members: [x.id], cut: [], holders: [] } } },
    ]);
    c.run(2000);
    assert.equal(a.view.id, before);
    assert.deepEqual(members(groups.get('b:1')!), ['a:1', 'b:1']);
    assert.ok(gmsDrops(c.nodes.get('b:1')!) + (c.nodes.get('b:1')!.metrics.snapshot().counters['horus_crypt_dropped_total'] ?? 0) > drops);
  });

  it('JoinOptions encrypt and acl give the default dynamic stack CRYPT, group keys and the ACL', async () => {
    const c = new SimCluster(3);
    const acl: Acl = { join: [{ name: 'a:1' }, { name: 'b:1' }] };
    const opts = (contacts: string[]) => ({ contacts, encrypt: true, acl });
    const a = c.start('a:1').joinNow('g', opts([]));
    c.run(500);
    const b = c.start('b:1').joinNow('g', opts(['a:1']));
    await c.settle(b.ready);
    const x = c.start('x:1').joinNow('g', opts(['a:1']));
    const err = await c.settle(x.ready).then(
      () => null,
      (e: HorusError) => e,
    );
    assert.equal(err?.code, 'ERR_ACCESS_DENIED');
    assert.deepEqual(members(a), ['a:1', 'b:1']);
    assert.ok(viewKeyOf(a.view) !== undefined, 'the view has a group key');
  });
});
