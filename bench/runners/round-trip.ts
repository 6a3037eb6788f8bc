// Unloaded round trip: a ping cast in one order, a pong from every other member in the same order.
import { orderOf, type RoundTripCase } from '../cases.js';
import type { Cluster } from '../lib/cluster.js';
import type { RoundTripResult } from '../lib/results.js';
import { mean, percentile, round } from '../lib/stats.js';
import { profileStart, profileStop, scaled, type RunContext } from './context.js';

export async function runRoundTrip(cluster: Cluster, c: RoundTripCase, ctx: RunContext): Promise<RoundTripResult> {
  const rounds = scaled(c.rounds, ctx.scale, 10);
  const { order, safe } = orderOf(c.op);
  const pinger = cluster.members[0]!;
  ctx.log(`${c.id}: ${rounds} round trips`);
  // A few unmeasured rounds first: connections, JIT.
  await pinger.request<'pingpong'>({ cmd: 'pingpong', rounds: 20, size: c.size, order, safe, timeoutMs: 10_000 });
  const t0 = performance.now();
  await profileStart(cluster.members, ctx);
  const r = await pinger.request<'pingpong'>({ cmd: 'pingpong', rounds, size: c.size, order, safe, timeoutMs: 10_000 });
  await profileStop(cluster.members, ctx, c.id);
  return {
    kind: 'round-trip',
    id: c.id,
    op: c.op,
    members: c.members,
    size: c.size,
    rounds,
    p50Ms: round(percentile(r.rttMs, 50), 3),
    p99Ms: round(percentile(r.rttMs, 99), 3),
    meanMs: round(mean(r.rttMs), 3),
    selfP50Ms: round(percentile(r.selfMs, 50), 3),
    selfP99Ms: round(percentile(r.selfMs, 99), 3),
    durationS: round((performance.now() - t0) / 1000),
  };
}
