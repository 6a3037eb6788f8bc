import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HorusNode } from '../../src/api/node.js';
import { NamesWorld } from './names-helpers.js';

const EPS = ['n1:1', 'n2:1', 'n3:1'];

describe('one group per name: founding', () => {
  it('nodes started at the same instant, whose seeds are not listening yet, end in one group', async () => {
    for (let seed = 1; seed <= 8; seed++) {
      const w = new NamesWorld(seed, EPS);
      // Nobody can reach anybody for the first 0.5–1 s: every first ask is lost.
      w.world.partition(EPS.map((e) => [e]));
      for (const e of EPS) w.start(e, 'g', { mergeProbeMs: 0 });
      await w.run(500 + w.world.rng.int(0, 500));
      w.world.heal();
      const one = await w.until(() => w.oneGroup(), 8000);
      assert.deepEqual(w.errors, []);
      assert.ok(one, `seed ${seed}: views ${w.views().join(' | ')}`);
      // Exactly one founder: the smallest id.
      const founded = w.history.events.filter((e) => e.k === 'view' && e.view === 1);
      assert.deepEqual(
        founded.map((e) => e.node),
        ['n1:1/1'],
        `seed ${seed}`,
      );
    }
  });

  it('nodes brought up one after another, each joining as it starts, end in one group', async () => {
    for (let seed = 1; seed <= 8; seed++) {
      const w = new NamesWorld(seed, EPS);
      // Reverse order: the largest id starts first, so the smallest-id rule has to wait for nothing.
      for (const e of [...EPS].reverse()) {
        w.start(e, 'g', { mergeProbeMs: 0 });
        await w.run(40 + w.world.rng.int(0, 300));
      }
      const one = await w.until(() => w.oneGroup(), 8000);
      assert.deepEqual(w.errors, []);
      assert.ok(one, `seed ${seed}: views ${w.views().join(' | ')}`);
    }
  });

  it('a node whose seeds answer that nobody knows the group founds it without waiting out the lookup', async () => {
    const w = new NamesWorld(1, EPS);
    // n2 and n3 run but are in no group and look for none: they answer "unknown" at once.
    w.start('n1:1', 'g', { lookupTimeoutMs: 5000, mergeProbeMs: 0 });
    for (const e of ['n2:1', 'n3:1']) new HorusNode(w.world.addNode(e, '1').env, w.history, []);
    const joined = await w.until(() => w.groups.has('n1:1'), 5000);
    assert.ok(joined);
    assert.ok(w.world.now() < 1000, `founded after ${w.world.now()} ms`);
  });
});
