// Two orders' closed-loop throughput on one cluster, in alternating phases: the ratio of their rates
// taken on the same warm processes in the same minutes (see InterleavedCase).
import { orderOf, type CastOp, type InterleavedCase } from '../cases.js';
import type { Cluster } from '../lib/cluster.js';
import type { InterleavedResult, InterleavedSide } from '../lib/results.js';
import { median, percentile, round } from '../lib/stats.js';
import type { RunContext } from './context.js';
import { counterGrowth, PHASE_TIMEOUT_MS, senderRate, warmUpFor } from './throughput.js';

/** What one order's measured phases add up to. */
interface SideTally {
  op: CastOp;
  /** Messages per sender per second, last seen: sizes its next phase. */
  senderRate: number;
  phaseRates: number[];
  cpuS: number[];
  /** Collector pauses per member, ms. */
  gcMs: number[];
  deliveries: number;
  latencyMs: number[];
  held: number;
}

/** The measured phases (den first in even pairs, num first in odd ones): [side index, ...] for pair k. */
export function phaseOrder(pairs: number): (0 | 1)[] {
  const out: (0 | 1)[] = [];
  for (let k = 0; k < pairs; k++) out.push(...(k % 2 === 0 ? ([1, 0] as const) : ([0, 1] as const)));
  return out;
}

export async function runInterleaved(
  cluster: Pick<Cluster, 'phase' | 'summaries' | 'members'>,
  c: InterleavedCase,
  ctx: RunContext,
): Promise<InterleavedResult> {
  const n = c.members;
  const phaseSeconds = Math.max(0.1, c.phaseSeconds * Math.min(1, ctx.scale));
  const pairs = Math.max(2, Math.round(c.pairs * Math.min(1, ctx.scale)));
  const sampleEvery = 100;
  const base = { size: c.size, timeoutMs: PHASE_TIMEOUT_MS, sampleEvery };
  const tally = (op: CastOp): SideTally => ({
    op,
    senderRate: 0,
    phaseRates: [],
    cpuS: new Array<number>(n).fill(0),
    gcMs: new Array<number>(n).fill(0),
    deliveries: 0,
    latencyMs: [],
    held: 0,
  });
  const sides: [SideTally, SideTally] = [tally(c.num), tally(c.den)];

  // Warm-up: each order in turn, so both find the processes as warm as the other will.
  const warmup = Math.max(1, Math.round(c.warmup * ctx.scale));
  ctx.log(`${c.id}: warm-up ${warmup} per member of each order`);
  for (const side of sides) {
    const p = await cluster.phase({ ...base, ...orderOf(side.op), count: warmup });
    side.senderRate = senderRate(p, n);
  }
  const warmupSeconds = ctx.timed?.warmupSeconds ?? 0;
  if (warmupSeconds > 0) {
    ctx.log(`${c.id}: warm-up for ${warmupSeconds} s more, orders alternating`);
    for (let i = 0; i < 2 * Math.ceil(warmupSeconds / 2); i++) {
      const side = sides[i % 2]!;
      side.senderRate = await warmUpFor(cluster, { ...base, ...orderOf(side.op) }, 1, side.senderRate);
    }
  }

  const t0 = performance.now();
  let violations = 0;
  ctx.log(`${c.id}: ${pairs} pairs of ${phaseSeconds} s phases`);
  for (const which of phaseOrder(pairs)) {
    const side = sides[which];
    const count = Math.max(1, Math.round(side.senderRate * phaseSeconds));
    const before = await cluster.summaries();
    const p = await cluster.phase({ ...base, ...orderOf(side.op), count });
    const after = await cluster.summaries();
    side.senderRate = senderRate(p, n);
    side.phaseRates.push(Math.round(median(p.reached.map((r) => (r.delivered / r.elapsedMs) * 1000))));
    after.forEach((s, i) => {
      side.cpuS[i]! += (s.cpuUs - before[i]!.cpuUs) / 1e6;
      side.gcMs[i]! += s.phase.stalls?.gcTotalMs ?? 0;
    });
    side.deliveries += count * n;
    side.latencyMs.push(...after.flatMap((s) => s.phase.latencyMs));
    side.held += counterGrowth(after, before, 'horus_causal_held_total');
    violations = after.reduce((a, s) => a + s.violations, 0);
  }
  const pairRatios = Array.from({ length: pairs }, (_, k) => round(sides[0].phaseRates[k]! / sides[1].phaseRates[k]!, 3));
  const ratio = round(median(pairRatios), 3);
  return {
    kind: 'interleaved',
    id: c.id,
    op: c.op,
    members: n,
    size: c.size,
    ratio,
    aim: c.aim,
    meetsAim: c.aim === null ? null : ratio >= c.aim,
    pairRatios,
    num: sideResult(sides[0], n),
    den: sideResult(sides[1], n),
    phaseSeconds,
    durationS: round((performance.now() - t0) / 1000),
    violations,
  };
}

function sideResult(t: SideTally, members: number): InterleavedSide {
  return {
    op: t.op,
    msgsPerSecPerMember: Math.round(median(t.phaseRates)),
    phaseRates: t.phaseRates,
    cpuSecPerMillionDeliveries: round(median(t.cpuS.map((s) => (s / t.deliveries) * 1e6))),
    gcShareOfCpu: round(median(t.gcMs.map((ms, i) => ms / Math.max(1, t.cpuS[i]! * 1000)))),
    p50Ms: round(percentile(t.latencyMs, 50)),
    ...(t.op === 'cbcast' ? { causalHeldPerThousandDeliveries: round((t.held / (t.deliveries * members)) * 1e3) } : {}),
  };
}
