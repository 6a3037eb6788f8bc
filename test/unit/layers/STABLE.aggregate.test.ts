import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { framesIn, loseFrames, simGroup } from '../../helpers/sim-group.js';

const stack = (aggregateFrom: number, idleEvery = 10) => [
  'SAFE',
  { name: 'STABLE', options: { gossipIntervalMs: 50, aggregateFrom, idleEvery } },
  'NAK',
  'COM',
];

describe('STABLE aggregated digests (large views)', () => {
  it('makes safe messages stable through the coordinator in a 20-member view', () => {
    const s = simGroup(20, stack(16));
    for (const i of [0, 3, 19]) void s.groups[i]!.fbcast({ from: i }, { safe: true });
    s.world.runFor(500);
    assert.deepEqual(
      s.delivered.map((d) => d.length),
      Array<number>(20).fill(3),
    );
  });

  it('never calls stable what one member lacks: a member cut off holds safe delivery back everywhere', () => {
    const s = simGroup(20, stack(16));
    s.world.partition([s.endpoints.slice(0, 19), [s.endpoints[19]!]]);
    void s.groups[4]!.fbcast({ x: 1 }, { safe: true });
    s.world.runFor(500);
    assert.deepEqual(
      s.delivered.map((d) => d.length),
      Array<number>(20).fill(0),
    );
    s.world.heal();
    s.world.runFor(1000);
    assert.deepEqual(
      s.delivered.map((d) => d.length),
      Array<number>(20).fill(1),
    );
  });

  it('idle, costs about 2n frames per 10 intervals where all-to-all gossip costs n² per interval', () => {
    const n = 20;
    const agg = simGroup(n, stack(16));
    const all = simGroup(n, stack(1000, 1)); // idleEvery 1: all-to-all gossip at every interval
    agg.world.runFor(1000);
    all.world.runFor(1000);
    const aggFrames = framesIn(agg, 2000); // 40 intervals
    const allFrames = framesIn(all, 2000);
    assert.ok(allFrames >= 40 * n * (n - 1) * 0.9, `all-to-all: ${allFrames}`);
    assert.ok(aggFrames <= 4 * 2 * n * 1.25, `aggregated: ${aggFrames}`);
  });

  it('idle and settled, sends nothing at all, and a safe message after the quiet is delivered at once', () => {
    const n = 20;
    const s = simGroup(n, stack(16));
    s.world.runFor(1000);
    // 20 s = 400 intervals. Resending unchanged reports once per idleEvery (10) intervals was 40
    // rounds of 2n frames; backing off to once per 80, the rounds at 10, 20, 40 and then every 80
    // (session 14). Settled, neither the coordinator nor a member holding nothing beyond the
    // minimum has anything anyone waits for.
    const frames = framesIn(s, 20_000);
    assert.equal(frames, 0, `idle frames in 20 s: ${frames}`);
    const t0 = s.world.now();
    void s.groups[7]!.fbcast({ late: 1 }, { safe: true });
    s.world.runFor(300);
    assert.deepEqual(
      s.delivered.map((d) => d.length),
      Array<number>(n).fill(1),
      `safe delivery within ${s.world.now() - t0} ms after a long quiet`,
    );
  });

  it('a member whose new digest the coordinator lost resends it, backing off, until it is stable', () => {
    const n = 20;
    const s = simGroup(n, stack(16));
    s.world.runFor(2000);
    const coordinator = s.endpoints[0]!;
    const lossy = s.endpoints[7]!;
    let dropUntil = -1;
    const frames = loseFrames(s.world, (from, to) => from === lossy && to === coordinator && s.world.now() < dropUntil);
    // A safe message everyone holds at once; member 7's digest saying so does not reach the coordinator.
    dropUntil = s.world.now() + 1200;
    void s.groups[3]!.fbcast({ x: 1 }, { safe: true });
    s.world.runFor(1200);
    assert.ok(frames.lost >= 2, `member 7's digest and at least one resend were lost (${frames.lost})`);
    assert.ok(
      s.delivered.every((d) => d.length === 0),
      'not stable without member 7',
    );
    const t0 = s.world.now();
    for (let t = 0; t < 5000 && !s.delivered.every((d) => d.length === 1); t += 10) s.world.runFor(10);
    assert.ok(
      s.delivered.every((d) => d.length === 1),
      'delivered everywhere',
    );
    assert.ok(s.world.now() - t0 <= 2100, `stable ${s.world.now() - t0} ms after the loss ended`);
  });

  it('idle for long, each member wakes once per idleEvery intervals, not at every interval, while its resends back off', () => {
    const n = 20;
    const s = simGroup(n, stack(16));
    s.world.runFor(8000); // past the first backed-off resends
    const events0 = s.world.scheduler.eventsRun;
    const frames = framesIn(s, 20_000); // 400 intervals
    const events = s.world.scheduler.eventsRun - events0;
    // Each member's timer: 40 ticks in 20 s (400 at every interval), and a deferred flush per send; the rest are the frames' arrivals.
    assert.ok(events - 2 * frames <= n * 40 * 1.5, `${events} events, ${frames} of them frames`);
  });

  it('settled, the coordinator resends no minimum; a member that missed the last one gets it alone at its next digest', () => {
    const n = 20;
    const s = simGroup(n, stack(16));
    s.world.runFor(2000);
    const coordinator = s.endpoints[0]!;
    const deaf = s.endpoints[7]!;
    let fromCoordinator = 0;
    let dropUntil = -1;
    // Count the coordinator's frames; lose those to `deaf` while dropUntil lasts, as on a broken connection.
    loseFrames(s.world, (from, to) => {
      if (from !== coordinator) return false;
      fromCoordinator++;
      return s.world.now() < dropUntil && to === deaf;
    });
    s.world.runFor(20_000);
    assert.equal(fromCoordinator, 0, 'an idle, settled group: nothing from the coordinator');
    // A safe message: everyone holds it at once, but the minima saying so do not reach one member.
    dropUntil = s.world.now() + 600;
    void s.groups[3]!.fbcast({ x: 1 }, { safe: true });
    s.world.runFor(600);
    assert.equal(s.delivered[7]!.length, 0, 'it missed every minimum');
    assert.ok(
      s.delivered.every((d, i) => i === 7 || d.length === 1),
      'the others delivered it',
    );
    const t0 = s.world.now();
    for (let t = 0; t < 5000 && s.delivered[7]!.length === 0; t += 10) s.world.runFor(10);
    assert.equal(s.delivered[7]!.length, 1, 'it delivered it');
    assert.ok(s.world.now() - t0 <= 1500, `repaired ${s.world.now() - t0} ms after the loss ended (all-to-all fallback: 8 s)`);
  });

  it('leaves a view below aggregateFrom exactly as before: the same frames as with aggregation off', () => {
    const a = simGroup(5, stack(16));
    const b = simGroup(5, stack(1000));
    void a.groups[1]!.fbcast({ x: 1 }, { safe: true });
    void b.groups[1]!.fbcast({ x: 1 }, { safe: true });
    a.world.runFor(1000);
    b.world.runFor(1000);
    assert.deepEqual(a.world.stats, b.world.stats);
    assert.deepEqual(
      a.delivered.map((d) => d.length),
      Array<number>(5).fill(1),
    );
  });
});
