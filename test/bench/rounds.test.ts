import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { combineRounds, type Round } from '../../bench/lib/rounds.js';
import type { BenchResult } from '../../bench/lib/results.js';

/** A throughput result with only what combining reads (its id, its headline, and a tag to tell runs apart). */
const tput = (id: string, rate: number, tag: string): BenchResult => ({ kind: 'throughput', id, msgsPerSecPerMember: rate, tag }) as unknown as BenchResult;
const rtt = (id: string, p50: number): BenchResult => ({ kind: 'round-trip', id, p50Ms: p50 }) as unknown as BenchResult;
const round = (fb3: number, cb3: number, r: number, extra: BenchResult[] = [], failures: Round['failures'] = []): Round => ({
  results: [tput('fbcast-3-100B', fb3, `fb${r}`), tput('cbcast-3-100B', cb3, `cb${r}`), ...extra],
  failures,
});

describe('bench --rounds', () => {
  it("keeps each case's result from the round at its median, whole", () => {
    const c = combineRounds([round(1000, 900, 1), round(1200, 800, 2), round(900, 950, 3)]);
    const byId = Object.fromEntries(c.results.map((r) => [r.id, r as unknown as { tag: string; msgsPerSecPerMember: number }]));
    assert.equal(byId['fbcast-3-100B']!.tag, 'fb1');
    assert.equal(byId['cbcast-3-100B']!.tag, 'cb1');
    assert.equal(byId['cbcast-3-100B']!.msgsPerSecPerMember, 900);
  });

  it('takes each ratio within a round, and reports the median of those with every sample', () => {
    // Per round: 0.9, 0.667, 1.056. The ratio of the medians (900 / 1000) would be 0.9 too here, so
    // a fourth round tells them apart: 1.5 / 1.6.
    const c = combineRounds([round(1000, 900, 1), round(1200, 800, 2), round(900, 950, 3), round(1600, 1500, 4)]);
    const f = c.derived.find((d) => d.id === 'cbcast-vs-fbcast-3')!;
    assert.deepEqual(f.samples, [0.9, 0.667, 1.056, 0.938]);
    assert.equal(f.value, 0.9, 'nearest-rank median of the four: the lower middle');
    assert.equal(f.aim, 0.9);
    assert.equal(f.meetsAim, true);
    assert.equal(c.rounds.length, 4);
    assert.deepEqual(c.rounds[1]!.headlines, { 'fbcast-3-100B': 1200, 'cbcast-3-100B': 800 });
    assert.equal(c.rounds[1]!.derived.find((d) => d.id === 'cbcast-vs-fbcast-3')!.value, 0.667);
  });

  it('orders by the headline whichever way is better, and keeps a case that ran in some rounds only', () => {
    const c = combineRounds([
      round(1000, 900, 1, [rtt('abcast-3-rtt', 0.3)]),
      round(1000, 900, 2, [], [{ id: 'abcast-3-rtt', error: 'timed out' }]),
      round(1000, 900, 3, [rtt('abcast-3-rtt', 0.2)]),
    ]);
    const r = c.results.find((x) => x.id === 'abcast-3-rtt') as unknown as { p50Ms: number };
    assert.equal(r.p50Ms, 0.2, 'of two, the lower middle by value');
    assert.deepEqual(c.rounds[1]!.failures, [{ id: 'abcast-3-rtt', error: 'timed out' }]);
  });
});
