// Two orders in alternating phases on one cluster (bench/runners/interleaved.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { InterleavedCase } from '../../../bench/cases.js';
import type { PhaseOptions, PhaseResult } from '../../../bench/lib/cluster.js';
import type { Summary } from '../../../bench/lib/protocol.js';
import { phaseOrder, runInterleaved } from '../../../bench/runners/interleaved.js';
import type { RunContext } from '../../../bench/runners/context.js';

/**
 * A cluster of `n` whose phases report `rateOf(order, k)` messages/s per sender for the k-th phase of
 * that order, and whose members each spend `cpuUsPerDelivery(order)` µs of CPU per delivery.
 */
function fakeCluster(n: number, rateOf: (order: string, k: number) => number, cpuUsPerDelivery: (order: string) => number) {
  const phases: { order: string; count: number }[] = [];
  let cpuUs = 0;
  const summary = (): Summary => ({ cpuUs, violations: 0, counters: {}, phase: { delivered: 0, elapsedMs: 0, latencyMs: [1, 2, 3] } }) as unknown as Summary;
  return {
    phases,
    members: Array.from({ length: n }) as never[],
    async summaries(): Promise<Summary[]> {
      return Array.from({ length: n }, summary);
    },
    async phase(o: PhaseOptions): Promise<PhaseResult> {
      const k = phases.filter((p) => p.order === o.order).length;
      const rate = rateOf(o.order, k);
      phases.push({ order: o.order, count: o.count });
      const delivered = o.count * n;
      cpuUs += delivered * cpuUsPerDelivery(o.order);
      return { sends: [], reached: Array.from({ length: n }, () => ({ delivered, elapsedMs: (o.count / rate) * 1000 })), wallMs: 1 };
    },
  };
}

const ctx: RunContext = { scale: 1, execArgv: [], loadRate: null, timed: null, profile: null, log: () => {} };
const CASE: InterleavedCase = {
  id: 'cbcast-vs-fbcast-interleaved-3',
  kind: 'interleaved',
  op: 'cbcast ÷ fbcast',
  num: 'cbcast',
  den: 'fbcast',
  members: 3,
  size: 100,
  pairs: 4,
  phaseSeconds: 2,
  warmup: 500,
  aim: 0.9,
};

describe('interleaved orders', () => {
  it('alternates which order goes first in each pair, so a drift of the host falls on both alike', () => {
    assert.deepEqual(phaseOrder(3), [1, 0, 0, 1, 1, 0]);
  });

  it('warms up both orders, then sizes each phase from its own order’s last rate; the ratio is the median of the pairs', async () => {
    // fbcast runs at 1000 a sender a second, cbcast at 850 in pair 1 and 900 after: the host "drifts".
    const c = fakeCluster(3, (order, k) => (order === 'causal' ? (k === 1 ? 850 : 900) : 1000), (order) => (order === 'causal' ? 1.1 : 1));
    const r = await runInterleaved(c, CASE, ctx);
    assert.deepEqual(
      c.phases.map((p) => p.order),
      ['causal', 'fifo', ...['fifo', 'causal', 'causal', 'fifo', 'fifo', 'causal', 'causal', 'fifo']],
    );
    assert.deepEqual(
      c.phases.map((p) => p.count),
      [500, 500, 2000, 1800, 1700, 2000, 2000, 1800, 1800, 2000],
      'warm-ups at the case count, then 2 s at the last rate of the same order',
    );
    // Per member deliveries a second are the sender rate times 3 members.
    assert.deepEqual(r.pairRatios, [0.85, 0.9, 0.9, 0.9]);
    assert.equal(r.ratio, 0.9);
    assert.equal(r.meetsAim, true);
    assert.deepEqual(r.num.phaseRates, [2550, 2700, 2700, 2700]);
    assert.equal(r.den.msgsPerSecPerMember, 3000);
    assert.equal(r.num.cpuSecPerMillionDeliveries, 1.1);
    assert.equal(r.den.cpuSecPerMillionDeliveries, 1);
    assert.equal(r.num.causalHeldPerThousandDeliveries, 0);
    assert.equal(r.den.causalHeldPerThousandDeliveries, undefined);
  });
});
