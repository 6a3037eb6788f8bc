// The timed warm-up that sizes a measured throughput window (bench/runners/throughput.ts).
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import type { PhaseOptions, PhaseResult } from '../../../bench/lib/cluster.js';
import { warmUpFor } from '../../../bench/runners/throughput.js';

/** A cluster of `n` whose phases each take 20 ms of real time and report `rateOf(k)` messages/s per sender for the k-th phase. */
function fakeCluster(n: number, rateOf: (k: number) => number) {
  const counts: number[] = [];
  return {
    counts,
    members: Array.from({ length: n }) as never[],
    async phase(o: PhaseOptions): Promise<PhaseResult> {
      const rate = rateOf(counts.length);
      counts.push(o.count);
      await sleep(20);
      const delivered = o.count * n;
      return { sends: [], reached: Array.from({ length: n }, () => ({ delivered, elapsedMs: (o.count / rate) * 1000 })), wallMs: 20 };
    },
  };
}

const opts = { size: 100, order: 'fifo', safe: false, timeoutMs: 1000, sampleEvery: 1 } as unknown as Omit<PhaseOptions, 'count'>;

describe('warmUpFor', () => {
  it('sizes every phase, the last one too, at a whole second of the rate last seen', async () => {
    const c = fakeCluster(3, (k) => 1000 + 100 * k);
    const rate = await warmUpFor(c, opts, 0.15, 500);
    assert.ok(c.counts.length >= 3, `${c.counts.length} phases`);
    // The first phase comes from the given rate, each later one from the phase before it.
    assert.deepEqual(
      c.counts,
      c.counts.map((_, k) => (k === 0 ? 500 : 1000 + 100 * (k - 1))),
    );
    assert.equal(Math.round(rate), 1000 + 100 * (c.counts.length - 1), 'the last phase rate, per sender');
  });

  it('runs no phase when no time is asked for', async () => {
    const c = fakeCluster(3, () => 1000);
    assert.equal(await warmUpFor(c, opts, 0, 700), 700);
    assert.deepEqual(c.counts, []);
  });
});
