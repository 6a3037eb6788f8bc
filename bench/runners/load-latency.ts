// Latency at a fixed fraction of the saturated rate: find the rate closed loop, then send open loop.
import { orderOf, type LoadLatencyCase } from '../cases.js';
import type { Cluster } from '../lib/cluster.js';
import type { LoadLatencyResult } from '../lib/results.js';
import { median, percentile, round } from '../lib/stats.js';
import { profileStart, profileStop, scaled, type RunContext } from './context.js';
import { counterGrowth, PHASE_TIMEOUT_MS, senderRate, warmUpFor } from './throughput.js';
import type { PhaseStalls } from '../lib/protocol.js';

export async function runLoadLatency(cluster: Cluster, c: LoadLatencyCase, ctx: RunContext): Promise<LoadLatencyResult> {
  const { order, safe } = orderOf(c.op);
  const n = c.members;
  const satCount = scaled(c.saturationCount, ctx.scale);
  ctx.log(`${c.id}: saturating, ${satCount} per member`);
  // Twice: the first warms up (JIT, connection buffers), the second is the rate.
  const warm = await cluster.phase({ count: scaled(satCount / 5, 1), size: c.size, order, safe, timeoutMs: PHASE_TIMEOUT_MS, sampleEvery: 100 });
  // --warmup-seconds: warm processes, as the throughput cases get them (the saturated rate of fresh ones is lower).
  const warmupS = ctx.timed?.warmupSeconds ?? 0;
  if (warmupS > 0) {
    ctx.log(`${c.id}: warm-up for ${warmupS} s more`);
    await warmUpFor(cluster, { size: c.size, order, safe, timeoutMs: PHASE_TIMEOUT_MS, sampleEvery: 100 }, warmupS, senderRate(warm, n));
  }
  const sat = await cluster.phase({ count: satCount, size: c.size, order, safe, timeoutMs: PHASE_TIMEOUT_MS, sampleEvery: 100 });
  const saturated = median(sat.reached.map((r) => (r.delivered / r.elapsedMs) * 1000));
  // Each member delivers every sender's messages: a member sends 1/n of what a member delivers.
  // --load-rate fixes what a member is offered (to compare two versions at the same load).
  const offered = ctx.loadRate ?? saturated * c.loadFraction;
  const sendRate = Math.max(1, offered / n);
  const seconds = Math.max(0.5, c.seconds * ctx.scale);
  const count = Math.max(10, Math.round(sendRate * seconds));
  // About 2000 latency samples per member, whatever the rate.
  const sampleEvery = Math.max(1, Math.floor((count * (n - 1)) / 2000));
  ctx.log(`${c.id}: ${Math.round(saturated)} msgs/s per member saturated; ${Math.round(sendRate)}/s per sender for ${seconds} s`);
  const before = await cluster.summaries();
  await profileStart(cluster.members, ctx);
  const run = await cluster.phase({ count, size: c.size, order, safe, timeoutMs: PHASE_TIMEOUT_MS, sampleEvery, ratePerSec: sendRate });
  await profileStop(cluster.members, ctx, c.id);
  const after = await cluster.summaries();
  const lat = after.flatMap((s) => s.phase.latencyMs);
  const stalls = after.map((s) => s.phase.stalls);
  // Each member's stalls over its own phase (from the phase command to the summary): per second of that.
  const worst = (f: (x: PhaseStalls, seconds: number) => number): number =>
    round(Math.max(0, ...after.map((s) => (s.phase.stalls !== undefined ? f(s.phase.stalls, s.phase.elapsedMs / 1000) : 0))), 3);
  const phaseS = run.wallMs / 1000;
  const cpuS = after.reduce((a, s, i) => a + (s.cpuUs - before[i]!.cpuUs) / 1e6, 0);
  const sum = (name: string): number => counterGrowth(after, before, name);
  return {
    kind: 'load-latency',
    id: c.id,
    op: c.op,
    members: n,
    size: c.size,
    saturatedMsgsPerSecPerMember: Math.round(saturated),
    loadFraction: round(offered / saturated, 3),
    sendRatePerMember: Math.round(sendRate),
    offeredMsgsPerSecPerMember: Math.round(sendRate * n),
    deliveredMsgsPerSecPerMember: Math.round(median(run.reached.map((r) => (r.delivered / r.elapsedMs) * 1000))),
    p50Ms: round(percentile(lat, 50), 3),
    p99Ms: round(percentile(lat, 99), 3),
    maxMs: round(percentile(lat, 100), 3),
    latencySamples: lat.length,
    durationS: round(run.wallMs / 1000),
    violations: after.reduce((a, s) => a + s.violations, 0),
    gcPauseMsPerSec: worst((x, sec) => x.gcTotalMs / sec),
    gcMaxPauseMs: worst((x) => x.gcMaxMs),
    gcMajorCollections: stalls.reduce((a, x) => a + (x?.gcMajor ?? 0), 0),
    ...(stalls.some((x) => x?.runQueueWaitMs !== undefined) ? { runQueueWaitMsPerSec: worst((x, sec) => (x.runQueueWaitMs ?? 0) / sec) } : {}),
    loopDelayP99Ms: worst((x) => x.loopDelayP99Ms),
    loopDelayMaxMs: worst((x) => x.loopDelayMaxMs),
    membersCpuCores: round(cpuS / phaseS, 2),
    fcBlockedTotal: sum('horus_fc_blocked_total'),
    retransmissions: sum('horus_nak_retransmissions_total'),
  };
}
