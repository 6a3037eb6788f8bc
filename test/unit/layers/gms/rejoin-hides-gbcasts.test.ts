// A process that rejoins, and leaves to rejoin again before its state arrived, never saw that
// membership: its application sees none of it, the gbcasts that a view change delivers at its
// install included. Seed 1723 of sim --faults all: they reached the application in the view of its
// previous membership, which it still showed, and the checker saw a safe message delivered there.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FAST_STACK, SimCluster } from '../../../helpers/sim-cluster.js';
import { forgeGms, G } from '../../../helpers/gms-forge.js';
import type { Delivery } from '../../../../src/api/delivery.js';
import type { Group } from '../../../../src/api/group.js';
import type { LayerSpec } from '../../../../src/stack/stack.js';

/** FAST_STACK with a slow state transfer (small chunks, a small window): a big state takes a while. */
const SLOW_STATE: LayerSpec[] = (FAST_STACK as readonly (string | LayerSpec)[]).map((l) => {
  const spec: LayerSpec = typeof l === 'string' ? { name: l } : l;
  return spec.name === 'GMS' ? { ...spec, options: { ...spec.options, stateChunkBytes: 4096, stateWindowBytes: 8192 } } : spec;
});

/** Run until `done` (1 ms steps, at most `ms`). */
function runUntil(c: SimCluster, done: () => boolean, ms: number): void {
  for (let t = 0; t < ms && !done(); t++) c.run(1);
}

describe('GMS: a rejoining member that leaves to rejoin again before its state came', () => {
  it('delivers none of the gbcasts of the view changes it still takes part in below its application', () => {
    const c = new SimCluster(5, { verbose: true });
    let bigState = false;
    c.start('n1:1');
    const g1 = c.nodes.get('n1:1')!.joinNow('g', {
      contacts: [],
      stack: SLOW_STATE,
      state: { get: () => Buffer.alloc(bigState ? 4 * 1024 * 1024 : 16, 7), set: () => {} },
    });
    c.run(100);
    c.start('n2:1');
    const g2: Group = c.nodes.get('n2:1')!.joinNow('g', { contacts: ['n1:1'], stack: SLOW_STATE, state: { get: () => null, set: () => {} } });
    const got2: Delivery[] = [];
    g2.on('message', (d: Delivery) => got2.push(d));
    runUntil(c, () => g2.view.members.length === 2, 5000);
    assert.equal(g2.view.members.length, 2, 'n2 is a member');
    const shown = g2.view;

    // n2 is told a later view left it out: it leaves, and rejoins as a new member, whose state
    // (big now) streams in slowly; its application still shows the view of its first membership.
    bigState = true;
    const first = g2.localId;
    forgeGms(c.world.node('n1:1')!, 'g', first, [{ kind: G.NotMember, body: { view: shown.id + 5 } }]);
    runUntil(c, () => g2.localId !== first && g1.view.members.includes(g2.localId), 10_000);
    assert.ok(g1.view.members.includes(g2.localId), `n2 rejoined as ${g2.localId}, in the view below its application`);
    assert.deepEqual(g2.view, shown, 'its application still shows the view of its first membership, its state still streaming');

    // A gbcast starts a view change; once n2 answered its flush, it is told again that a later view
    // left it out: it leaves to rejoin, after its answer, so the change keeps it and its gbcast.
    const before = g1.view.id;
    const got1: Delivery[] = [];
    g1.on('message', (d: Delivery) => got1.push(d));
    void g1.gbcast('in the view change');
    const t0 = c.world.now();
    const answered = (): boolean =>
      c.world.logLines().some((l) => Number(l.slice(0, l.indexOf(' '))) >= t0 && l.includes('"member":"n1:1/1"') && l.includes('"t":4,'));
    for (let t = 0; t < 400 && !answered(); t++) c.run(0.5);
    assert.ok(answered(), "the coordinator has n2's answer to its flush");
    const second = g2.localId;
    forgeGms(c.world.node('n1:1')!, 'g', second, [{ kind: G.NotMember, body: { view: before + 5 } }]);
    c.run(3000);

    const lines = c.world.logLines().filter((l) => l.includes(`"member":"${second}"`));
    assert.ok(
      lines.some((l) => l.includes('leaving to rejoin')),
      `${second} left to rejoin`,
    );
    assert.ok(
      lines.some((l) => l.includes('view installed') && l.includes(`"viewId":${before + 1},`)),
      `${second} installed the view change below its application, while leaving`,
    );
    assert.ok(
      got1.some((d) => d.payload === 'in the view change'),
      'the view change delivered the gbcast',
    );
    assert.deepEqual(
      got2.filter((d) => d.viewId === shown.id && d.payload === 'in the view change').map((d) => d.sender),
      [],
      "n2's application did not deliver it in the view of its first membership",
    );
  });
});
