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
import { Cluster, forkMember, median, percentile, waitUntil, type Member } from '../test/helpers/cluster.js';
import type { DynStatus, Summary } from '../test/helpers/member-process.js';

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
  op: 'fbcast' | 'cbcast' | 'abcast' | 'safe abcast';
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

/**
 * A dynamic group (default stack and timeouts) loses a member to kill -9, `kills` times per victim
 * role, roles alternating (a new process joins in the victim's place in between): time from the kill
 * to the survivors' view without it. One result row per role, `${id}-${role}`.
 */
interface CrashToViewCase extends CaseBase {
  kind: 'crash-to-view';
  op: 'kill -9';
  /** Who dies: the coordinator (view.members[0]) or the most junior other member. */
  victims: ('coordinator' | 'member')[];
  kills: number;
}

/** A member holds `stateBytes` of state (a Buffer); new processes join with state transfer, one at a time. */
interface StateTransferCase extends CaseBase {
  kind: 'state-transfer';
  op: 'join with state';
  stateBytes: number;
  joins: number;
}

type BenchCase = ThroughputCase | RoundTripCase | CrashToViewCase | StateTransferCase;

/** Cases that start their own processes (dynamic groups) instead of sharing a fixed-membership Cluster. */
type OwnProcessesCase = CrashToViewCase | StateTransferCase;
const ownProcesses = (c: BenchCase): c is OwnProcessesCase => c.kind === 'crash-to-view' || c.kind === 'state-transfer';

const CASES: BenchCase[] = [
  { id: 'fbcast-3-100B', kind: 'throughput', op: 'fbcast', members: 3, size: 100, count: 300_000, warmup: 30_000 },
  { id: 'fbcast-3-1KiB', kind: 'throughput', op: 'fbcast', members: 3, size: 1024, count: 200_000, warmup: 20_000 },
  { id: 'fbcast-3-rtt', kind: 'round-trip', op: 'fbcast', members: 3, size: 100, rounds: 3_000 },
  { id: 'cbcast-3-100B', kind: 'throughput', op: 'cbcast', members: 3, size: 100, count: 100_000, warmup: 10_000 },
  { id: 'cbcast-3-1KiB', kind: 'throughput', op: 'cbcast', members: 3, size: 1024, count: 50_000, warmup: 5_000 },
  { id: 'abcast-3-100B', kind: 'throughput', op: 'abcast', members: 3, size: 100, count: 100_000, warmup: 10_000 },
  { id: 'abcast-3-1KiB', kind: 'throughput', op: 'abcast', members: 3, size: 1024, count: 50_000, warmup: 5_000 },
  { id: 'safe-abcast-3-100B', kind: 'throughput', op: 'safe abcast', members: 3, size: 100, count: 50_000, warmup: 5_000 },
  { id: 'safe-abcast-3-1KiB', kind: 'throughput', op: 'safe abcast', members: 3, size: 1024, count: 25_000, warmup: 2_500 },
  { id: 'fbcast-5-100B', kind: 'throughput', op: 'fbcast', members: 5, size: 100, count: 40_000, warmup: 4_000, freshCluster: true },
  { id: 'cbcast-5-100B', kind: 'throughput', op: 'cbcast', members: 5, size: 100, count: 30_000, warmup: 3_000 },
  { id: 'abcast-5-100B', kind: 'throughput', op: 'abcast', members: 5, size: 100, count: 30_000, warmup: 3_000 },
  { id: 'abcast-5-1KiB', kind: 'throughput', op: 'abcast', members: 5, size: 1024, count: 15_000, warmup: 1_500 },
  { id: 'safe-abcast-5-100B', kind: 'throughput', op: 'safe abcast', members: 5, size: 100, count: 15_000, warmup: 1_500 },
  { id: 'crash-to-view-5', kind: 'crash-to-view', op: 'kill -9', members: 5, victims: ['member', 'coordinator'], kills: 2 },
  { id: 'state-transfer-100MB', kind: 'state-transfer', op: 'join with state', members: 2, stateBytes: 100 * 1024 * 1024, joins: 2 },
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

interface CrashToViewResult {
  id: string;
  op: string;
  members: number;
  victim: 'coordinator' | 'member';
  kills: number;
  /** FD defaults of the dynamic stack. */
  heartbeatMs: number;
  suspectTimeoutMs: number;
  /** Kill to the last survivor's install of the view without the victim, one sample per kill. */
  samplesMs: number[];
  medianMs: number;
  maxMs: number;
  /** Kill to the first survivor's install (the coordinator's, usually): median over kills. */
  firstSurvivorMedianMs: number;
  /** The whole case (both roles, process starts and rejoins included). */
  durationS: number;
}

interface StateTransferResult {
  id: string;
  op: string;
  members: number;
  stateBytes: number;
  joins: number;
  /** The join call to the joiner's first view with the whole state, one sample per join. */
  samplesMs: number[];
  medianMs: number;
  maxMs: number;
  /** stateBytes / median time: 10^6 bytes per second, and MiB per second. */
  mbPerSec: number;
  mibPerSec: number;
  /** Every joiner's state had the holder's length and sha256. */
  verified: boolean;
  peakRssMiB: number;
  durationS: number;
}

type BenchResult = ThroughputResult | RoundTripResult | CrashToViewResult | StateTransferResult;

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
  const order = c.op === 'cbcast' ? 'causal' : c.op === 'fbcast' ? 'fifo' : 'total';
  const safe = c.op === 'safe abcast';
  await cluster.phase({ count: warmup, size: c.size, timeoutMs, order, safe });
  const before = await cluster.summaries();
  const statsFrom = cluster.members.map((m) => m.stats.length);
  log(`${c.id}: ${count} per member`);
  const run = await cluster.phase({ count, size: c.size, timeoutMs, order, safe });
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

// --- dynamic groups: own processes -----------------------------------------------------------------

const wallNow = (): number => performance.timeOrigin + performance.now();
const FD_DEFAULTS = { heartbeatMs: 100, suspectTimeoutMs: 1000 };
const DYN_TIMEOUT_MS = 20_000;

/** Statuses of `ms` once they all hold one view whose members are exactly them. */
async function agreedView(ms: Member[]): Promise<DynStatus[] | null> {
  const st = await Promise.all(ms.map((m) => m.request<'status'>({ cmd: 'status' })));
  const v = st[0]!.view;
  const same = st.every((s) => s.view.id === v.id && s.view.members.join() === v.members.join());
  return same &&
    v.id > 0 &&
    [...v.members].sort().join() ===
      st
        .map((s) => s.memberId)
        .sort()
        .join()
    ? st
    : null;
}

async function waitForAgreedView(ms: Member[], what: string): Promise<DynStatus[]> {
  let st: DynStatus[] = [];
  await waitUntil(
    async () => {
      const s = await agreedView(ms);
      if (s !== null) st = s;
      return s !== null;
    },
    { timeoutMs: DYN_TIMEOUT_MS, what, pollMs: 20 },
  );
  return st;
}

async function runCrashToView(c: CrashToViewCase, scale: number): Promise<CrashToViewResult[]> {
  const kills = Math.max(1, Math.round(c.kills * Math.min(1, scale)));
  const order = Array.from({ length: kills * c.victims.length }, (_, i) => c.victims[i % c.victims.length]!);
  const t0 = performance.now();
  const procs: Member[] = [];
  const spawn = (): Member => {
    const m = forkMember(procs.length);
    procs.push(m);
    return m;
  };
  try {
    log(`${c.id}: starting ${c.members} members (dynamic group) and ${order.length} spares`);
    // The spares (one joins after each kill) are forked and loaded now, so no process start takes CPU
    // from the survivors while they detect a crash.
    const initial = Array.from({ length: c.members }, spawn);
    const spares = order.map(spawn);
    await initial[0]!.listen({ logLevel: 'error' });
    await initial[0]!.request<'djoin'>({ cmd: 'djoin', group: 'crash', state: 'none' });
    await Promise.all(initial.slice(1).map((m) => m.listen({ logLevel: 'error', seeds: [initial[0]!.endpoint] })));
    await Promise.all(
      initial.slice(1).map((m) => m.request<'djoin'>({ cmd: 'djoin', group: 'crash', state: 'none', create: false, timeoutMs: DYN_TIMEOUT_MS })),
    );
    let group = initial;
    let st = await waitForAgreedView(group, `${c.members} members in one view`);
    log(`${c.id}: ${c.members} members in one view after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const samples = new Map<string, { last: number[]; first: number[] }>(c.victims.map((v) => [v, { last: [], first: [] }]));
    for (let k = 0; k < order.length; k++) {
      const role = order[k]!;
      const spare = spares[k]!;
      // Whom to seed the spare with: the members now (its lookup asks them who is in the group).
      await spare.listen({ logLevel: 'error', seeds: group.map((m) => m.endpoint) });
      const view = st[0]!.view;
      const byId = new Map(st.map((s, i) => [s.memberId, group[i]!]));
      const victimId = role === 'coordinator' ? view.members[0]! : view.members.at(-1)!;
      const victim = byId.get(victimId)!;
      const survivors = group.filter((m) => m !== victim);
      const seen = survivors.map((m) => m.views.length);
      // Let the group idle a moment: heartbeats flowing, nothing pending.
      await new Promise((r) => setTimeout(r, 300));
      const killedAt = wallNow();
      victim.kill();
      const installs: number[] = [];
      await waitUntil(
        () => {
          installs.length = 0;
          survivors.forEach((m, i) => {
            const v = m.views.slice(seen[i]).find((x) => !x.view.members.includes(victimId));
            if (v !== undefined) installs.push(v.t - killedAt);
          });
          return installs.length === survivors.length;
        },
        { timeoutMs: DYN_TIMEOUT_MS, what: `the survivors' view without ${victimId}`, pollMs: 10 },
      );
      samples.get(role)!.last.push(Math.max(...installs));
      samples.get(role)!.first.push(Math.min(...installs));
      const j = await spare.request<'djoin'>({ cmd: 'djoin', group: 'crash', state: 'none', create: false, timeoutMs: DYN_TIMEOUT_MS });
      group = [...survivors, spare];
      st = await waitForAgreedView(group, `${c.members} members again after kill ${k + 1}`);
      log(
        `${c.id}: kill ${k + 1}/${order.length} (${role} ${victimId}): ${Math.round(Math.max(...installs))} ms; a new member joined in ${Math.round(j.elapsedMs)} ms`,
      );
    }
    const durationS = round((performance.now() - t0) / 1000);
    return c.victims.map((role) => {
      const s = samples.get(role)!;
      return {
        id: `${c.id}-${role}`,
        op: c.op,
        members: c.members,
        victim: role,
        kills,
        ...FD_DEFAULTS,
        samplesMs: s.last.map((x) => Math.round(x)),
        medianMs: Math.round(median(s.last)),
        maxMs: Math.round(Math.max(...s.last)),
        firstSurvivorMedianMs: Math.round(median(s.first)),
        durationS,
      };
    });
  } finally {
    await Promise.all(procs.map((m) => m.close(0)));
  }
}

async function runStateTransfer(c: StateTransferCase, scale: number): Promise<StateTransferResult> {
  const bytes = Math.max(1024, Math.round(c.stateBytes * Math.min(1, scale)));
  const t0 = performance.now();
  const procs: Member[] = [];
  try {
    const holder = forkMember(0);
    procs.push(holder);
    await holder.listen({ logLevel: 'error', statsIntervalMs: 100 });
    log(`${c.id}: making ${(bytes / MiB).toFixed(0)} MiB of state`);
    const blob = await holder.request<'blob'>({ cmd: 'blob', bytes });
    await holder.request<'djoin'>({ cmd: 'djoin', group: 'state', state: 'blob' });
    const samples: number[] = [];
    let verified = true;
    for (let j = 0; j < c.joins; j++) {
      const joiner = forkMember(procs.length);
      procs.push(joiner);
      await joiner.listen({ logLevel: 'error', statsIntervalMs: 100, seeds: [holder.endpoint] });
      // Through the public join(): it resolves with the first view, after the state is in.
      const r = await joiner.request<'djoin'>({ cmd: 'djoin', group: 'state', state: 'blob', create: false, api: 'join', timeoutMs: 60_000 });
      const good = r.stateSize === bytes && r.stateSha256 === blob.sha256;
      if (!good) log(`${c.id}: join ${j + 1}: state of ${r.stateSize} bytes, sha256 ${r.stateSha256} (want ${bytes}, ${blob.sha256})`);
      verified &&= good;
      samples.push(r.elapsedMs);
      log(`${c.id}: join ${j + 1}/${c.joins}: ${Math.round(r.elapsedMs)} ms, ${good ? 'state verified' : 'STATE MISMATCH'}`);
    }
    const med = median(samples);
    const peakRss = Math.max(...procs.flatMap((m) => m.stats.map((s) => s.rss)));
    return {
      id: c.id,
      op: c.op,
      members: c.members,
      stateBytes: bytes,
      joins: c.joins,
      samplesMs: samples.map((x) => Math.round(x)),
      medianMs: Math.round(med),
      maxMs: Math.round(Math.max(...samples)),
      mbPerSec: round(bytes / 1e6 / (med / 1000), 1),
      mibPerSec: round(bytes / MiB / (med / 1000), 1),
      verified,
      peakRssMiB: Math.round(peakRss / MiB),
      durationS: round((performance.now() - t0) / 1000),
    };
  } finally {
    await Promise.all(procs.map((m) => m.close(0)));
  }
}

/** One runner per kind; the switch is exhaustive, so a new kind without a runner does not compile. */
function runCase(cluster: Cluster, c: BenchCase, scale: number): Promise<BenchResult> {
  switch (c.kind) {
    case 'throughput':
      return runThroughput(cluster, c, scale);
    case 'round-trip':
      return runRoundTrip(cluster, c, scale);
    case 'crash-to-view':
    case 'state-transfer':
      throw new Error(`${c.id} starts its own processes: see runOwn`);
  }
}

async function runOwn(c: OwnProcessesCase, scale: number): Promise<BenchResult[]> {
  switch (c.kind) {
    case 'crash-to-view':
      return runCrashToView(c, scale);
    case 'state-transfer':
      return [await runStateTransfer(c, scale)];
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
      if (ownProcesses(c)) {
        // Nothing else runs meanwhile: the shared cluster's processes would take CPU from the measured ones.
        await cluster?.close();
        cluster = null;
        for (const r of await runOwn(c, args.scale)) {
          log(JSON.stringify(r));
          results.push(r);
        }
        continue;
      }
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
