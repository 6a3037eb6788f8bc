// `npm run bench`: throughput and latency of real member processes on loopback.
// Prints ONE JSON document on stdout; progress goes to stderr.
//
//   tsx bench/run.ts [--filter <text>] [--scale <factor>] [--list]
//
// Cases are rows of CASES below. A new kind of measurement (abcast, safe delivery, crash-to-new-view,
// state transfer...) is a new `kind` in BenchCase plus its runner in runCase; cases with the same
// members and stack share one cluster unless they ask for a fresh one.
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { Cluster, median, percentile } from '../test/helpers/cluster.js';
import type { Summary } from '../test/helpers/member-process.js';

// --- the table -------------------------------------------------------------------------------------

interface CaseBase {
  /** Short unique name, for --filter and the output. */
  id: string;
  members: number;
  /** Stack spec; the node's default when absent. */
  stack?: string;
  /** Start this case on new processes (e.g. after a case that crashes members). */
  freshCluster?: boolean;
}

/** Every member multicasts `count` messages of `size` bytes as fast as flow control allows. */
interface ThroughputCase extends CaseBase {
  kind: 'throughput';
  op: 'fbcast';
  size: number;
  count: number;
  /** Messages per member sent (and delivered everywhere) before measuring. */
  warmup: number;
}

/** Unloaded group round trip: one member multicasts a ping, every other member multicasts a pong. */
interface RoundTripCase extends CaseBase {
  kind: 'round-trip';
  op: 'fbcast';
  size: number;
  rounds: number;
}

type BenchCase = ThroughputCase | RoundTripCase;

const CASES: BenchCase[] = [
  { id: 'fbcast-3-100B', kind: 'throughput', op: 'fbcast', members: 3, size: 100, count: 400_000, warmup: 40_000 },
  { id: 'fbcast-3-1KiB', kind: 'throughput', op: 'fbcast', members: 3, size: 1024, count: 200_000, warmup: 20_000 },
  { id: 'fbcast-3-rtt', kind: 'round-trip', op: 'fbcast', members: 3, size: 100, rounds: 3_000 },
];

// --- results ---------------------------------------------------------------------------------------

interface ThroughputResult {
  id: string;
  op: string;
  members: number;
  size: number;
  messagesPerSender: number;
  /** Deliveries per second at one member, all senders (own loopback included): median of members. */
  msgsPerSecPerMember: number;
  /** The same, counting only messages from other members (comparable to a raw socket mesh). */
  remoteMsgsPerSecPerMember: number;
  /** Payload MiB/s delivered per member (median). */
  payloadMiBPerSecPerMember: number;
  /** One-way delivery latency under this load, sender clock to receiver delivery, all members' samples. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  latencySamples: number;
  /** Wall time of the measured phase. */
  durationS: number;
  /** CPU seconds per member per million deliveries (median): what a delivery costs. */
  cpuSecPerMillionDeliveries: number;
  peakRssMiB: number;
  retransmissions: number;
  fcBlockedTotal: number;
}

interface RoundTripResult {
  id: string;
  op: string;
  members: number;
  size: number;
  rounds: number;
  /** Ping sent to last pong delivered, at the pinging member. */
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  durationS: number;
}

type BenchResult = ThroughputResult | RoundTripResult;

// --- runners ---------------------------------------------------------------------------------------

const log = (msg: string): void => {
  process.stderr.write(`bench: ${msg}\n`);
};

const round = (x: number, digits = 2): number => Number(x.toFixed(digits));
const MiB = 1024 * 1024;

function counter(s: Summary, name: string): number {
  return s.metrics.counters[name] ?? 0;
}

async function runThroughput(cluster: Cluster, c: ThroughputCase, scale: number): Promise<ThroughputResult> {
  const count = Math.max(1, Math.round(c.count * scale));
  const warmup = Math.max(1, Math.round(c.warmup * scale));
  const timeoutMs = 120_000;
  log(`${c.id}: warm-up ${warmup} per member`);
  await cluster.phase({ count: warmup, size: c.size, timeoutMs });
  const before = await cluster.summaries();
  const statsFrom = cluster.members.map((m) => m.stats.length);
  log(`${c.id}: ${count} per member`);
  const run = await cluster.phase({ count, size: c.size, timeoutMs });
  const after = await cluster.summaries();

  const n = c.members;
  const total = count * n;
  const rates = run.reached.map((r) => (r.delivered / r.elapsedMs) * 1000);
  const cpu = after.map((s, i) => (s.cpuUs - before[i]!.cpuUs) / 1e6);
  const lat = after.flatMap((s) => s.phase.latencyMs);
  const peakRss = Math.max(...cluster.members.flatMap((m, i) => m.stats.slice(statsFrom[i]).map((s) => s.rss)), ...after.map((s) => s.rss));
  const sum = (name: string): number => after.reduce((a, s, i) => a + counter(s, name) - counter(before[i]!, name), 0);
  return {
    id: c.id,
    op: c.op,
    members: n,
    size: c.size,
    messagesPerSender: count,
    msgsPerSecPerMember: Math.round(median(rates)),
    remoteMsgsPerSecPerMember: Math.round((median(rates) * (n - 1)) / n),
    payloadMiBPerSecPerMember: round((median(rates) * c.size) / MiB),
    p50Ms: round(percentile(lat, 50)),
    p99Ms: round(percentile(lat, 99)),
    maxMs: round(percentile(lat, 100)),
    latencySamples: lat.length,
    durationS: round(run.wallMs / 1000),
    cpuSecPerMillionDeliveries: round(median(cpu.map((s) => (s / total) * 1e6))),
    peakRssMiB: Math.round(peakRss / MiB),
    retransmissions: sum('horus_nak_retransmissions_total'),
    fcBlockedTotal: sum('horus_fc_blocked_total'),
  };
}

async function runRoundTrip(cluster: Cluster, c: RoundTripCase, scale: number): Promise<RoundTripResult> {
  const rounds = Math.max(10, Math.round(c.rounds * scale));
  log(`${c.id}: ${rounds} round trips`);
  // A few unmeasured rounds first: connections, JIT.
  await cluster.members[0]!.request<'pingpong'>({ cmd: 'pingpong', rounds: 20, size: c.size, timeoutMs: 10_000 });
  const t0 = performance.now();
  const r = await cluster.members[0]!.request<'pingpong'>({ cmd: 'pingpong', rounds, size: c.size, timeoutMs: 10_000 });
  const rtt = r.rttMs;
  return {
    id: c.id,
    op: c.op,
    members: c.members,
    size: c.size,
    rounds,
    p50Ms: round(percentile(rtt, 50), 3),
    p99Ms: round(percentile(rtt, 99), 3),
    meanMs: round(rtt.reduce((a, b) => a + b, 0) / rtt.length, 3),
    durationS: round((performance.now() - t0) / 1000),
  };
}

/** One runner per kind; the switch is exhaustive, so a new kind without a runner does not compile. */
function runCase(cluster: Cluster, c: BenchCase, scale: number): Promise<BenchResult> {
  switch (c.kind) {
    case 'throughput':
      return runThroughput(cluster, c, scale);
    case 'round-trip':
      return runRoundTrip(cluster, c, scale);
  }
}

// --- main ------------------------------------------------------------------------------------------

function parseArgs(argv: readonly string[]): { filter: string | null; scale: number; list: boolean } {
  let filter: string | null = null;
  let scale = 1;
  let list = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--filter') filter = argv[++i] ?? '';
    else if (a === '--scale') scale = Number(argv[++i]);
    else if (a === '--list') list = true;
    else throw new Error(`unknown argument ${a} (use --filter <text>, --scale <factor>, --list)`);
  }
  if (!(scale > 0)) throw new Error('--scale must be a positive number');
  return { filter, scale, list };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const cases = CASES.filter((c) => args.filter === null || c.id.includes(args.filter));
  if (args.list) {
    for (const c of CASES) process.stderr.write(`${c.id}\n`);
    return;
  }
  const started = new Date();
  const loadAtStart = os.loadavg()[0] ?? 0;
  const t0 = performance.now();
  const results: BenchResult[] = [];
  let cluster: Cluster | null = null;
  let clusterKey = '';
  try {
    for (const c of cases) {
      const key = `${c.members}|${c.stack ?? ''}`;
      if (cluster === null || key !== clusterKey || c.freshCluster) {
        await cluster?.close();
        log(`starting ${c.members} members${c.stack !== undefined ? ` (${c.stack})` : ''}`);
        cluster = await Cluster.start({ size: c.members, ...(c.stack !== undefined ? { stack: c.stack } : {}), sampleEvery: 100, logLevel: 'error' });
        clusterKey = key;
      }
      const r = await runCase(cluster, c, args.scale);
      log(JSON.stringify(r));
      results.push(r);
    }
  } finally {
    await cluster?.close();
  }
  const cpus = os.cpus();
  const doc = {
    machine: {
      cpus: cpus.length,
      cpuModel: cpus[0]?.model ?? 'unknown',
      totalMemGiB: round(os.totalmem() / 2 ** 30, 1),
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      /** Other work on the machine skews these numbers: 1-minute load before and after. */
      loadAvg1mStart: round(loadAtStart),
      loadAvg1mEnd: round(os.loadavg()[0] ?? 0),
    },
    startedAt: started.toISOString(),
    totalS: round((performance.now() - t0) / 1000, 1),
    scale: args.scale,
    results,
  };
  process.stdout.write(JSON.stringify(doc, null, 2) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
