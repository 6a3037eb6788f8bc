import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ExcludedEvent } from '../../src/api/group.js';
import { NamesWorld } from './names-helpers.js';

const EPS = ['n1:1', 'n2:1', 'n3:1'];

describe('rejoin back-off', () => {
  it('a member excluded over and over waits longer before each rejoin, says so, and is blocked (joining) while it waits', async () => {
    const w = new NamesWorld(11, EPS);
    const backoff = { baseMs: 400, maxMs: 1000, windowMs: 60_000, stableMs: 10_000 };
    for (const e of EPS) w.start(e, 'g', { mergeProbeMs: 0, rejoinBackoff: backoff, ...(e === 'n1:1' ? { contacts: [] } : { contacts: ['n1:1'] }) });
    assert.ok(await w.until(() => w.oneGroup(), 10_000), w.views().join(' | '));
    const g3 = w.groups.get('n3:1')!;
    const excluded: (ExcludedEvent & { at: number })[] = [];
    const blocked: { reason: string; at: number }[] = [];
    const views: { at: number; members: number }[] = [];
    g3.on('excluded', (ev) => excluded.push({ ...ev, at: w.world.now() }));
    g3.on('blocked', (ev) => blocked.push({ reason: ev.reason, at: w.world.now() }));
    g3.on('view', (v) => views.push({ at: w.world.now(), members: v.members.length }));
    for (let round = 1; round <= 5; round++) {
      // Cut n3 off until the others have excluded it, then heal: it hears it was excluded and rejoins.
      w.world.isolate('n3:1');
      const others = [w.groups.get('n1:1')!, w.groups.get('n2:1')!];
      assert.ok(await w.until(() => others.every((g) => g.view.members.length === 2), 10_000), `round ${round}: not excluded`);
      w.world.heal();
      assert.ok(await w.until(() => excluded.length === round, 10_000), `round ${round}: no 'excluded' event`);
      assert.ok(await w.until(() => w.oneGroup(), 10_000), `round ${round}: did not rejoin: ${w.views().join(' | ')}`);
    }
    assert.deepEqual(
      excluded.map((e) => [e.type, e.attempt, e.rejoinDelayMs]),
      [
        ['EXCLUDED', 1, 0],
        ['EXCLUDED', 2, 400],
        ['EXCLUDED', 3, 800],
        ['EXCLUDED', 4, 1000],
        ['EXCLUDED', 5, 1000],
      ],
    );
    // Each rejoin's first view comes no sooner than its delay after the exclusion, and the member is
    // blocked (joining) in between.
    for (const ex of excluded) {
      const next = views.find((v) => v.at >= ex.at && v.members === 3)!;
      assert.ok(next.at - ex.at >= ex.rejoinDelayMs, `rejoined ${next.at - ex.at} ms after an exclusion that asked for ${ex.rejoinDelayMs}`);
      assert.ok(
        blocked.some((b) => b.reason === 'joining' && b.at === ex.at),
        `blocked (joining) at ${ex.at}`,
      );
    }
  });

  it('starts counting again after the member stayed in a view for stableMs', async () => {
    const w = new NamesWorld(12, EPS);
    const backoff = { baseMs: 400, stableMs: 2000 };
    for (const e of EPS) w.start(e, 'g', { mergeProbeMs: 0, rejoinBackoff: backoff, ...(e === 'n1:1' ? { contacts: [] } : { contacts: ['n1:1'] }) });
    assert.ok(await w.until(() => w.oneGroup(), 10_000));
    const excluded: ExcludedEvent[] = [];
    w.groups.get('n3:1')!.on('excluded', (ev) => excluded.push(ev));
    for (let round = 1; round <= 3; round++) {
      w.world.isolate('n3:1');
      await w.until(() => w.groups.get('n1:1')!.view.members.length === 2, 10_000);
      w.world.heal();
      assert.ok(await w.until(() => w.oneGroup(), 10_000));
      if (round === 2) await w.run(2500); // a stable membership
    }
    assert.deepEqual(
      excluded.map((e) => e.attempt),
      [1, 2, 1],
    );
  });
});
