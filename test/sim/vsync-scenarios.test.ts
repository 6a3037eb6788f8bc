import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SimCluster, simGroup as cluster } from '../helpers/sim-cluster.js';
import { checkVirtualSynchrony } from '../../src/sim/checkers/vsync.js';
import { runVsyncScenarioAsync } from '../../src/sim/scenario-vsync.js';

function noViolations(c: SimCluster): void {
  const v = checkVirtualSynchrony(c.history.events, 'g');
  assert.deepEqual(v.items, []);
}

describe('virtual synchrony scenarios', () => {
  it('15 nodes split 5/5/5 block; two parts rejoined (10 of 15) continue; a full heal brings back all 15', () => {
    const { c, eps, groups } = cluster(15, 7);
    assert.equal(groups[0]!.view.members.length, 15);
    const before = groups[0]!.view.id;
    const parts = [eps.slice(0, 5), eps.slice(5, 10), eps.slice(10)];
    let blocked = 0;
    for (const g of groups) g.on('blocked', (b: { reason: string }) => b.reason === 'minority' && blocked++);
    c.world.partition(parts);
    for (let k = 0; k < 5; k++) groups.forEach((g) => void g.fbcast(Buffer.from('during split')));
    c.run(5000);
    for (const g of groups) assert.equal(g.view.id, before, 'no partition of 5 installs a view');
    assert.ok(blocked >= 10, `members report they are blocked in a minority (${blocked})`);
    c.world.partition([[...parts[0]!, ...parts[1]!], parts[2]!]);
    c.run(5000);
    const majority = groups.slice(0, 10);
    const v = majority[0]!.view;
    assert.ok(v.id > before, 'the 10 installed a new view');
    assert.equal(v.members.length, 10);
    for (const g of majority) assert.equal(g.view.id, v.id);
    for (const g of groups.slice(10)) assert.equal(g.view.id, before, 'the cut-off 5 are still blocked');
    c.world.heal();
    c.run(10_000);
    const final = groups[0]!.view;
    assert.equal(final.members.length, 15, 'all 15 are members again');
    for (const g of groups) assert.deepEqual(g.view, final);
    noViolations(c);
  });

  it('the coordinator crashes in the middle of a view change, then the next one does too', () => {
    const { c, eps, groups } = cluster(6, 11);
    groups.forEach((g) => {
      for (let k = 0; k < 20; k++) void g.fbcast(Buffer.from(`m${k}`));
    });
    // A join starts a view change; the coordinator dies inside it, then its successor.
    c.start('n7:1');
    const g7 = c.join('n7:1', 'g', eps.slice(0, 4));
    c.run(45);
    c.world.crash(eps[0]!);
    c.run(350);
    c.world.crash(eps[1]!);
    c.run(8000);
    const survivors = [...groups.slice(2), g7];
    const v = survivors[0]!.view;
    assert.deepEqual(new Set(v.members), new Set(survivors.map((g) => g.localId)));
    for (const g of survivors) assert.deepEqual(g.view, v);
    noViolations(c);
  });

  it('a member paused past the failure timeout learns it was excluded, delivers nothing the others did not, and rejoins', () => {
    const { c, eps, groups } = cluster(4, 13);
    const paused = groups[3]!;
    const oldId = paused.localId;
    c.world.pause(eps[3]!);
    groups.slice(0, 3).forEach((g) => {
      for (let k = 0; k < 10; k++) void g.fbcast(Buffer.from('while paused'));
    });
    c.run(2000);
    assert.ok(!groups[0]!.view.members.includes(oldId), 'the paused member was excluded');
    let excluded = false;
    paused.on('excluded', () => (excluded = true));
    c.world.resume(eps[3]!);
    c.run(5000);
    assert.ok(excluded, 'it was told');
    assert.notEqual(paused.localId, oldId, 'it came back as a new member');
    assert.deepEqual(paused.view, groups[0]!.view);
    noViolations(c);
  });

  it('passes the randomized fault scenario over 26 seeds (CI share of `npm run sim -- --faults all`)', async () => {
    const failing: string[] = [];
    for (let seed = 1; seed <= 26; seed++) {
      // Simultaneous starts have their own test below.
      const r = await runVsyncScenarioAsync({ seed, startTogether: false });
      if (r.violationCount > 0) failing.push(`seed ${seed}: ${r.violations[0]!.property}: ${r.violations[0]!.detail}`);
    }
    assert.deepEqual(failing, []);
  });

  it('nodes started together, joining by name, form one group (8 seeds)', async () => {
    const failing: string[] = [];
    for (let seed = 1; seed <= 8; seed++) {
      const r = await runVsyncScenarioAsync({ seed, startTogether: true, durationMs: 6000 });
      if (r.violationCount > 0) failing.push(`seed ${seed}: ${r.violations[0]!.property}: ${r.violations[0]!.detail}`);
    }
    assert.deepEqual(failing, []);
  });
});
