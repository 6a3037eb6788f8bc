// Closed-loop throughput: every member multicasts as fast as flow control allows.
import { orderOf, type ThroughputCase } from '../cases.js';
import type { Cluster, PhaseOptions, PhaseResult } from '../lib/cluster.js';
import type { Summary } from '../lib/protocol.js';
import type { ThroughputResult } from '../lib/results.js';
import { median, MiB, percentile, round } from '../lib/stats.js';
import { profileStart, profileStop, scaled, type RunContext } from './context.js';

export const PHASE_TIMEOUT_MS = 120_000;

export const counter = (s: Summary, name: string): number => s.counters[name] ?? 0;

/** A counter's growth between two snapshots of the members, all members together. */
export const counterGrowth = (after: readonly Summary[], before: readonly Summary[], name: string): number =>
  after.reduce((a, s, i) => a + counter(s, name) - counter(before[i]!, name), 0);

/**
 * How the traffic went over the sockets, all members together: bytes per socket read and per
 * corked write (one syscall each, about), frames per write, and deliveries (remote ones) per frame
 * received (control frames too), i.e. how well sends were batched. Absent when the transport does not count them.
 */
export function wireShape(sum: (name: string) => number, perMember: number, members: number): Partial<ThroughputResult> {
  const deliveries = perMember * members;
  const reads = sum('transport_reads');
  const writes = sum('transport_writes');
  if (reads === 0 || writes === 0) return {};
  const framesIn = sum('transport_framesIn');
  return {
    bytesPerRead: Math.round(sum('transport_bytesIn') / reads),
    bytesPerWrite: Math.round(sum('transport_bytesOut') / writes),
    framesPerWrite: round(sum('transport_framesOut') / writes),
    remoteDeliveriesPerFrame: framesIn > 0 ? round((perMember * (members - 1)) / framesIn) : 0,
    readsPerThousandDeliveries: round((reads / deliveries) * 1e3),
    writesPerThousandDeliveries: round((writes / deliveries) * 1e3),
  };
}

/** Messages per second each sender got through in a phase (each member delivers every sender's). */
export function senderRate(p: PhaseResult, senders: number): number {
  return median(p.reached.map((r) => (r.delivered / r.elapsedMs) * 1000)) / senders;
}

/**
 * Closed-loop phases of about a second each (sized from the last rate, starting at `rate` per
 * sender) until `seconds` are up, the rate climbing as the processes warm; the last rate per sender.
 * Every phase is a whole second's worth, even the last (which may run past `seconds`): a phase cut
 * to the few milliseconds left measures its ramp and drain, not the rate, and once sized a window
 * meant to be 8 s at 0.3 s.
 */
export async function warmUpFor(cluster: Pick<Cluster, 'phase' | 'members'>, p: Omit<PhaseOptions, 'count'>, seconds: number, rate: number): Promise<number> {
  const until = performance.now() + seconds * 1000;
  while (performance.now() < until) rate = senderRate(await cluster.phase({ ...p, count: Math.max(1, Math.round(rate)) }), cluster.members.length);
  return rate;
}

export async function runThroughput(cluster: Cluster, c: ThroughputCase, ctx: RunContext): Promise<ThroughputResult> {
  const warmup = scaled(c.warmup, ctx.scale);
  const { order, safe } = orderOf(c.op);
  const sampleEvery = Math.max(1, Math.min(100, Math.floor(scaled(c.count, ctx.scale) / 200)));
  ctx.log(`${c.id}: warm-up ${warmup} per member`);
  const batch = c.batch !== undefined ? { batch: c.batch } : {};
  const warm = await cluster.phase({ count: warmup, size: c.size, order, safe, timeoutMs: PHASE_TIMEOUT_MS, sampleEvery, ...batch });
  const timed = ctx.timed ?? null;
  let count = scaled(c.count, ctx.scale);
  let warmupS: number | undefined;
  if (timed !== null) {
    // Phases sized from the rate just seen: a long run's steady state, as JGroups' bench measures it
    // (a fresh process's first seconds pay for compiling, heap growth and first touches of memory).
    const t = performance.now();
    if (timed.warmupSeconds > 0) ctx.log(`${c.id}: warm-up for ${timed.warmupSeconds} s more`);
    const rate = await warmUpFor(
      cluster,
      { size: c.size, order, safe, timeoutMs: PHASE_TIMEOUT_MS, sampleEvery, ...batch },
      timed.warmupSeconds,
      senderRate(warm, c.members),
    );
    warmupS = round((performance.now() - t) / 1000);
    if (timed.measureSeconds !== null) count = Math.max(1, Math.round(rate * timed.measureSeconds));
  }
  const before = await cluster.summaries();
  const statsFrom = cluster.members.map((m) => m.stats.length);
  ctx.log(`${c.id}: ${count} per member`);
  await profileStart(cluster.members, ctx);
  const run = await cluster.phase({ count, size: c.size, order, safe, timeoutMs: PHASE_TIMEOUT_MS, sampleEvery, ...batch });
  await profileStop(cluster.members, ctx, c.id);
  const after = await cluster.summaries();

  const n = c.members;
  const total = count * n;
  const rates = run.reached.map((r) => (r.delivered / r.elapsedMs) * 1000);
  const cpu = after.map((s, i) => (s.cpuUs - before[i]!.cpuUs) / 1e6);
  const lat = after.flatMap((s) => s.phase.latencyMs);
  const peakRss = Math.max(...cluster.members.flatMap((m, i) => m.stats.slice(statsFrom[i]).map((s) => s.rss)), ...after.map((s) => s.rss));
  const sum = (name: string): number => counterGrowth(after, before, name);
  return {
    kind: 'throughput',
    id: c.id,
    op: c.op,
    members: n,
    size: c.size,
    api: run.sends.every((x) => x.usedCastMany) ? 'castMany' : 'cast',
    messagesPerSender: count,
    ...(warmupS !== undefined ? { timedWarmupS: warmupS } : {}),
    msgsPerSecPerMember: Math.round(median(rates)),
    remoteMsgsPerSecPerMember: Math.round((median(rates) * (n - 1)) / n),
    payloadMiBPerSecPerMember: round((median(rates) * c.size) / MiB),
    p50Ms: round(percentile(lat, 50)),
    p99Ms: round(percentile(lat, 99)),
    maxMs: round(percentile(lat, 100)),
    latencySamples: lat.length,
    durationS: round(run.wallMs / 1000),
    cpuSecPerMillionDeliveries: round(median(cpu.map((s) => (s / total) * 1e6))),
    sysCpuSecPerMillionDeliveries: round(median(after.map((s, i) => (((s.sysCpuUs ?? 0) - (before[i]!.sysCpuUs ?? 0)) / 1e6 / total) * 1e6))),
    voluntarySwitchesPerThousandDeliveries: round(
      median(after.map((s, i) => (((s.voluntarySwitches ?? 0) - (before[i]!.voluntarySwitches ?? 0)) / total) * 1e3)),
    ),
    involuntarySwitchesPerThousandDeliveries: round(
      median(after.map((s, i) => (((s.involuntarySwitches ?? 0) - (before[i]!.involuntarySwitches ?? 0)) / total) * 1e3)),
    ),
    minorPageFaultsPerThousandDeliveries: round(median(after.map((s, i) => (((s.minorPageFaults ?? 0) - (before[i]!.minorPageFaults ?? 0)) / total) * 1e3))),
    peakRssMiB: Math.round(peakRss / MiB),
    retransmissions: sum('horus_nak_retransmissions_total'),
    fcBlockedTotal: sum('horus_fc_blocked_total'),
    ...wireShape(sum, total, n),
    // Collector pauses in the measured phase against the member's CPU time (median over members): the share of a delivery's CPU that is GC.
    gcShareOfCpu: round(median(after.map((s, i) => (s.phase.stalls?.gcTotalMs ?? 0) / Math.max(1, cpu[i]! * 1000)))),
    gcMajorPerMember: median(after.map((s) => s.phase.stalls?.gcMajor ?? 0)),
    ...(c.op === 'cbcast'
      ? {
          causalHeldPerThousandDeliveries: round((sum('horus_causal_held_total') / (total * n)) * 1e3),
          // Times a sender's connections were left unread while its messages waited in CAUSAL (Transport.holdReads).
          readHoldsPerThousandDeliveries: round((sum('transport_readHolds') / (total * n)) * 1e3),
        }
      : {}),
    violations: after.reduce((a, s) => a + s.violations, 0),
  };
}
