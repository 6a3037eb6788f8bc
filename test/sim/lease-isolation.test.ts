import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HorusNode } from '../../src/api/node.js';
import type { Group } from '../../src/api/group.js';
import type { HistoryEvent } from '../../src/core/history.js';
import { DYNAMIC_STACK } from '../../src/layers/index.js';
import { checkNoTwoPrimaries } from '../../src/sim/checkers/primaries.js';
import { ViolationList } from '../../src/sim/checkers/violation.js';
import { SimWorld } from '../../src/sim/sim-world.js';
import { WorldHistory } from '../../src/sim/world-history.js';

const GROUP = 'trader';

/** Three members with the default timeouts (heartbeat 100, suspect 1000, lease 700) and clocks up to 1% off. */
function threeMembers(seed: number) {
  const world = new SimWorld(seed, { clockDrift: 0.01, jitterMs: 1, delayMs: 0.5 });
  const history = new WorldHistory(world);
  const eps = ['a:7000', 'b:7000', 'c:7000'];
  const groups = new Map<string, Group>();
  const start = (e: string, contacts: string[]) => {
    const node = new HorusNode(world.addNode(e, '1').env, history);
    groups.set(e, node.joinNow(GROUP, { contacts, stack: DYNAMIC_STACK }));
  };
  start(eps[0]!, []);
  world.runFor(50);
  start(eps[1]!, [eps[0]!]);
  world.runFor(300);
  start(eps[2]!, [eps[0]!]);
  world.runFor(2000);
  for (const g of groups.values()) assert.equal(g.view.members.length, 3, `seed ${seed}: all three in one view`);
  // The primary (senior member) sends totally ordered trades all along: it delivers its own.
  const primary = groups.get(eps[0]!)!;
  const r = world.forkRng('test-traffic');
  const send = (): void => {
    if (world.node(eps[0]!)?.status === 'up' && primary.blockedReasons.length === 0) void primary.cast('total', Buffer.from('trade')).catch(() => {});
    world.scheduler.schedule(5 + r.float() * 10, send);
  };
  send();
  // Cut at a different phase of the heartbeats in each seed.
  world.runFor(200 + ((seed * 7919) % 300));
  return { world, history, eps, groups, primaryId: primary.localId };
}

const firstAfter = (evs: readonly HistoryEvent[], t: number, pred: (e: HistoryEvent) => boolean): number | undefined =>
  evs.find((e) => e.at >= t && pred(e))?.at;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

describe('leases: an isolated primary stops before the others move on (promise 7b)', () => {
  it('blocks as a minority strictly before the majority installs a view without it, with drifting clocks, over 40 seeds', () => {
    const toBlock: number[] = [];
    const toView: number[] = [];
    for (let seed = 1; seed <= 40; seed++) {
      const { world, history, eps, primaryId } = threeMembers(seed);
      const cut = world.now();
      world.partition([[eps[0]!], [eps[1]!, eps[2]!]]);
      world.runFor(3000);
      const evs = history.events;
      const blocked = firstAfter(evs, cut, (e) => e.k === 'blocked' && e.node === primaryId && e.reason === 'minority');
      const moved = firstAfter(evs, cut, (e) => e.k === 'view' && e.node !== primaryId && !e.members.includes(primaryId));
      assert.ok(blocked !== undefined, `seed ${seed}: the isolated primary never blocked`);
      assert.ok(moved !== undefined, `seed ${seed}: the majority never moved on`);
      assert.ok(blocked < moved, `seed ${seed}: blocked at ${blocked - cut} ms after the cut, the others installed at ${moved - cut} ms`);
      // Out of lease it delivers nothing: not even its own trades.
      const late = evs.filter((e) => e.k === 'deliver' && e.node === primaryId && e.at > blocked);
      assert.equal(late.length, 0, `seed ${seed}: delivered ${late.length} after blocking`);
      const out = new ViolationList();
      checkNoTwoPrimaries(evs, GROUP, out);
      assert.equal(out.total, 0, `seed ${seed}: ${out.items.map((v) => v.detail).join('; ')}`);
      toBlock.push(blocked - cut);
      toView.push(moved - cut);
    }
    const fmt = (xs: number[]) =>
      `min ${Math.min(...xs).toFixed(0)} p50 ${pct(xs, 50).toFixed(0)} p90 ${pct(xs, 90).toFixed(0)} max ${Math.max(...xs).toFixed(0)} ms`;
    console.log(`cut → minority block: ${fmt(toBlock)}; cut → majority's new view: ${fmt(toView)}`);
    const gaps = toView.map((v, i) => v - toBlock[i]!);
    console.log(`margin (view − block): min ${Math.min(...gaps).toFixed(0)} ms`);
  });

  it('a primary paused past the timeout delivers nothing after it resumes, until it learns it was excluded', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const { world, history, eps, primaryId } = threeMembers(seed);
      const pausedAt = world.now();
      history.record({ k: 'pause', at: 0, node: primaryId });
      world.pause(eps[0]!);
      world.runFor(2500);
      const resumedAt = world.now();
      history.record({ k: 'resume', at: 0, node: primaryId });
      world.resume(eps[0]!);
      world.runFor(3000);
      const evs = history.events;
      const moved = firstAfter(evs, pausedAt, (e) => e.k === 'view' && e.node !== primaryId && !e.members.includes(primaryId));
      assert.ok(moved !== undefined && moved < resumedAt, `seed ${seed}: the others moved on during the pause`);
      const ended = firstAfter(evs, resumedAt, (e) => e.k === 'ended' && e.node === primaryId);
      assert.ok(ended !== undefined, `seed ${seed}: the paused primary learned it was excluded`);
      const late = evs.filter((e) => e.k === 'deliver' && e.node === primaryId && e.at >= resumedAt && e.at <= ended);
      assert.equal(late.length, 0, `seed ${seed}: delivered ${late.length} after resuming`);
      const out = new ViolationList();
      checkNoTwoPrimaries(evs, GROUP, out);
      assert.equal(out.total, 0, `seed ${seed}: ${out.items.map((v) => v.detail).join('; ')}`);
    }
  });
});
