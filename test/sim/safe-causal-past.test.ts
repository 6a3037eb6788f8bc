// Safe delivery is uniform also for cbcasts: a member that delivers a safe message and then fails
// must not have delivered what the survivors drop. CAUSAL drops, at a view change, a message whose
// causal past no survivor holds (and TOTAL one that depends on more of the order than the survivors
// have); so SAFE releases a safe message only once what its sender had received when it sent it is
// stable too. Without that, below, one member delivered the safe cbcast (everyone held it) and
// crashed, and the survivors dropped it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FAST_STACK, SimCluster } from '../helpers/sim-cluster.js';
import { checkVirtualSynchrony } from '../../src/sim/checkers/vsync.js';
import type { Delivery } from '../../src/api/delivery.js';
import type { Group } from '../../src/api/group.js';
import type { StackSpec } from '../../src/stack/stack.js';

const STACK: StackSpec = ['TOTAL', 'CAUSAL', 'SAFE', ...FAST_STACK];
const EPS = ['n1:1', 'n2:1', 'n3:1', 'n4:1', 'n5:1'];

/** Five members (n1 the most senior: TOTAL's sequencer), and what each delivered. */
function fiveMembers(): { c: SimCluster; groups: Group[]; got: Map<string, string[]> } {
  const c = new SimCluster(3);
  const got = new Map<string, string[]>();
  const groups = EPS.map((e, i) => {
    c.start(e);
    const g = c.nodes.get(e)!.joinNow('g', { contacts: i === 0 ? [] : [EPS[0]!], stack: STACK });
    got.set(e, []);
    g.on('message', (d: Delivery) => got.get(e)!.push(String(d.payload)));
    c.run(i === 0 ? 50 : 5);
    return g;
  });
  c.run(3000);
  assert.ok(
    groups.every((g) => g.view.members.length === 5),
    'five members in one view',
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
  const { c, groups, got } = fiveMembers();
  const ea = EPS[a]!;
  const eb = EPS[b]!;
  const rest = EPS.filter((e) => e !== ea && e !== eb);
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
});
