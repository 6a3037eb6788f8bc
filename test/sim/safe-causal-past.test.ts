// Safe delivery is uniform also for cbcasts and abcasts: a member that delivers a safe message and
// then fails must not have delivered what the survivors drop. CAUSAL drops, at a view change, a
// message whose causal past no survivor holds, and TOTAL one that depends on more of the order than
// the survivors have; so SAFE releases a safe message only once what its sender had received when it
// sent it is stable too. Without that, in both cases below, a member delivered the safe message
// (everyone held it) and crashed, and the survivors dropped it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FAST_STACK, joinRecording, SimCluster } from '../helpers/sim-cluster.js';
import { checkVirtualSynchrony } from '../../src/sim/checkers/vsync.js';
import type { Group } from '../../src/api/group.js';
import type { StackSpec } from '../../src/stack/stack.js';

const STACK: StackSpec = ['TOTAL', 'CAUSAL', 'SAFE', ...FAST_STACK];
const EPS = ['n1:1', 'n2:1', 'n3:1', 'n4:1', 'n5:1', 'n6:1', 'n7:1'];

/** `n` members (n1 the most senior: TOTAL's sequencer), and what each delivered. */
function members(n: number): { c: SimCluster; groups: Group[]; got: Map<string, string[]> } {
  const c = new SimCluster(3);
  const { groups, got } = joinRecording(c, EPS.slice(0, n), () => STACK);
  c.run(3000);
  assert.ok(
    groups.every((g) => g.view.members.length === n),
    `${n} members in one view`,
  );
  return { c, groups, got };
}

/**
 * `a` and `b` apart from the rest: `a` sends p (`cast`), `b` sends the safe m after delivering it.
 * Then `b` rejoins the rest, still cut from `a`: everyone but `a` gets m, `a` had it already, so m
 * is held by everyone while p is held by `a` and `b` only. `b` is given time to deliver m, crashes,
 * and the rest (a majority without `a` and `b`) install a view.
 */
function run(cast: (g: Group, payload: string, safe: boolean) => Promise<unknown>, a: number, b: number) {
  const { c, groups, got } = members(5);
  const ea = EPS[a]!;
  const eb = EPS[b]!;
  const rest = EPS.slice(0, 5).filter((e) => e !== ea && e !== eb);
  c.world.partition([[ea, eb], rest]);
  void cast(groups[a]!, 'p', false);
  for (let t = 0; t < 200 && !got.get(eb)!.includes('p'); t++) c.run(1);
  assert.ok(got.get(eb)!.includes('p'), `${eb} delivered p`);
  void cast(groups[b]!, 'm', true);
  c.run(40);
  c.world.partition([[ea], [eb, ...rest]]);
  c.run(150);
  const deliveredM = got.get(eb)!.includes('m');
  c.world.crash(eb);
  c.run(4000);
  const survivors = rest.map((e) => groups[EPS.indexOf(e)]!);
  assert.ok(
    survivors.every((g) => g.view.members.length === 3),
    'the survivors installed a view of the three of them',
  );
  return { deliveredM, survivorsM: rest.map((e) => got.get(e)!.includes('m')), violations: checkVirtualSynchrony(c.history.events, 'g').items };
}

describe('safe delivery whose sender depends on what only failed members hold', () => {
  it("a safe cbcast: held until its sender's causal past is stable, so nobody delivers what the survivors drop", () => {
    const r = run((g, p, safe) => g.cbcast(p, { safe }), 4, 3);
    assert.deepEqual(r.violations, []);
    assert.equal(r.deliveredM, false, 'm waited for p, which the others never got');
    assert.deepEqual(r.survivorsM, [false, false, false]);
  });

  it('a safe abcast: held until the order its sender had delivered, and what it orders, are stable', () => {
    // n1 orders; n1-n3 apart from the rest: n3's abcast x is ordered and delivered there, then n2
    // sends the safe abcast m. n3 is cut off alone: the rest get m and n1's order, but never x (only
    // n3 would tell them it exists), so they can deliver nothing from x's place in the order on.
    const { c, groups, got } = members(7);
    const rest = EPS.slice(3);
    c.world.partition([['n1:1', 'n2:1', 'n3:1'], rest]);
    void groups[2]!.abcast('x');
    for (let t = 0; t < 200 && !got.get('n2:1')!.includes('x'); t++) c.run(1);
    assert.ok(got.get('n2:1')!.includes('x'), 'n2 delivered x');
    void groups[1]!.abcast('m', { safe: true });
    c.run(20);
    c.world.partition([['n3:1'], ['n1:1', 'n2:1', ...rest]]);
    c.run(200);
    const deliveredM = ['n1:1', 'n2:1'].filter((e) => got.get(e)!.includes('m'));
    c.world.crash('n1:1');
    c.world.crash('n2:1');
    c.run(4000);
    const survivors = rest.map((e) => groups[EPS.indexOf(e)]!);
    assert.ok(
      survivors.every((g) => g.view.members.length === 4),
      'the four others installed a view of the four of them',
    );
    assert.deepEqual(checkVirtualSynchrony(c.history.events, 'g').items, []);
    assert.deepEqual(deliveredM, [], 'm waited for x, which the others never got');
    assert.deepEqual(
      rest.map((e) => got.get(e)!.includes('m')),
      [false, false, false, false],
    );
  });
});
