import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MergedEvent } from '../../src/api/group.js';
import { NamesWorld } from './names-helpers.js';

/** Nodes split from the start into `sides`; each side founds its own group, sends, then the network heals. */
async function splitThenHeal(seed: number, sides: string[][], sends: Record<string, string[]>, viaJoin = false) {
  const eps = sides.flat();
  const w = new NamesWorld(seed, eps);
  w.world.partition(sides);
  const merged = new Map<string, MergedEvent[]>();
  // Each side forms its own group: its first node founds it, the others join through it.
  // (viaJoin: each node looks for the group through its seeds, as an operator's nodes would.)
  for (const side of sides) for (const e of side) w.start(e, 'g', { mergeProbeMs: 500, ...(viaJoin ? {} : { contacts: e === side[0] ? [] : [side[0]!] }) });
  const formed = await w.until(() => eps.every((e) => w.groups.get(e)?.view.members.length === sides.find((s) => s.includes(e))!.length), 10_000);
  assert.ok(formed, `seed ${seed}: sides did not form: ${w.views().join(' | ')}`);
  for (const [e, g] of w.groups) {
    const list: MergedEvent[] = [];
    merged.set(e, list);
    g.on('merged', (ev) => list.push(ev));
  }
  for (const [e, payloads] of Object.entries(sends)) for (const p of payloads) void w.groups.get(e)!.fbcast(p);
  await w.run(500);
  const before = new Map([...w.states].map(([e, s]) => [e, [...s.entries]]));
  w.world.heal();
  const one = await w.until(() => w.oneGroup(), 20_000);
  assert.deepEqual(w.errors, []);
  assert.ok(one, `seed ${seed}: views after the heal ${w.views().join(' | ')}`);
  return { w, merged, before };
}

describe('one group per name: merging', () => {
  it('a node that founded the group alone during a partition merges into the larger group after the heal, taking its state', async () => {
    for (const seed of [1, 2, 3]) {
      const { w, merged, before } = await splitThenHeal(seed, [['n1:1'], ['n2:1', 'n3:1']], { 'n1:1': ['a1', 'a2'], 'n2:1': ['b1', 'b2', 'b3'] });
      const senior = before.get('n2:1')!;
      assert.deepEqual(senior, ['b1', 'b2', 'b3']);
      // n1 took the senior's state (its own messages are gone with its group); the others kept theirs.
      for (const e of ['n1:1', 'n2:1', 'n3:1']) assert.deepEqual(w.states.get(e)!.entries, senior, `seed ${seed}: state of ${e}`);
      const ev = merged.get('n1:1')!;
      assert.equal(ev.length, 1, `seed ${seed}: n1 merged once`);
      assert.deepEqual(ev[0]!.was.members, ['n1:1/1']);
      assert.deepEqual([...ev[0]!.joined.members].sort(), ['n1:1/1~2', 'n2:1/1', 'n3:1/1']);
      assert.equal(merged.get('n2:1')!.length + merged.get('n3:1')!.length, 0, 'the senior side does not move');
      // The merged group works: a message reaches everyone.
      void w.groups.get('n1:1')!.fbcast('after');
      assert.ok(await w.until(() => [...w.states.values()].every((s) => s.entries.at(-1) === 'after'), 5000), `seed ${seed}`);
    }
  });

  it('nodes started together during a partition found one group per side through join(); after the heal they are one group', async () => {
    for (const seed of [6, 7]) {
      const { w, merged } = await splitThenHeal(seed, [['n1:1'], ['n2:1', 'n3:1']], { 'n2:1': ['b1'] }, true);
      for (const e of ['n1:1', 'n2:1', 'n3:1']) assert.deepEqual(w.states.get(e)!.entries, ['b1'], `seed ${seed}: state of ${e}`);
      assert.equal(merged.get('n1:1')!.length, 1);
    }
  });

  it('five nodes split 2 | 3 from the start: the pair merges into the trio, both of its members, with the trio’s state', async () => {
    const { w, merged } = await splitThenHeal(
      8,
      [
        ['n1:1', 'n2:1'],
        ['n3:1', 'n4:1', 'n5:1'],
      ],
      { 'n1:1': ['p1', 'p2'], 'n2:1': ['p3'], 'n4:1': ['t1', 't2'] },
      true,
    );
    for (const e of ['n1:1', 'n2:1', 'n3:1', 'n4:1', 'n5:1']) assert.deepEqual(w.states.get(e)!.entries, ['t1', 't2'], `state of ${e}`);
    assert.deepEqual(
      ['n1:1', 'n2:1', 'n3:1', 'n4:1', 'n5:1'].map((e) => merged.get(e)!.length),
      [1, 1, 0, 0, 0],
    );
  });

  it('two groups of equal size: the one with the smaller coordinator id is senior; every member of the other moves', async () => {
    const { w, merged } = await splitThenHeal(
      4,
      [
        ['n3:1', 'n4:1'],
        ['n1:1', 'n2:1'],
      ],
      { 'n1:1': ['x'], 'n3:1': ['y'] },
    );
    for (const e of ['n1:1', 'n2:1', 'n3:1', 'n4:1']) assert.deepEqual(w.states.get(e)!.entries, ['x'], `state of ${e}`);
    assert.equal(merged.get('n1:1')!.length + merged.get('n2:1')!.length, 0);
    assert.equal(merged.get('n3:1')!.length, 1);
    assert.equal(merged.get('n4:1')!.length, 1);
    assert.equal(w.groups.get('n1:1')!.view.members[0], 'n1:1/1');
  });

  it('does not merge what is merely partitioned: an isolated member of the one group rejoins it by itself, and nobody reports a merge', async () => {
    const eps = ['n1:1', 'n2:1', 'n3:1'];
    const w = new NamesWorld(5, eps);
    for (const e of eps) w.start(e, 'g', { mergeProbeMs: 300 });
    assert.ok(await w.until(() => w.oneGroup(), 10_000), w.views().join(' | '));
    const merges: string[] = [];
    for (const [e, g] of w.groups) g.on('merged', () => merges.push(e));
    for (const isolated of ['n1:1', 'n3:1']) {
      w.world.isolate(isolated);
      await w.run(4000);
      w.world.heal();
      assert.ok(await w.until(() => w.oneGroup(), 15_000), `after isolating ${isolated}: ${w.views().join(' | ')}`);
    }
    assert.deepEqual(merges, []);
  });
});
