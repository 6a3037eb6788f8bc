// What each kind of case reports, the one figure --compare judges it by, and the figures issue 10
// derives from several cases (scale with members, cbcast against fbcast).

export interface ThroughputResult {
  kind: 'throughput';
  id: string;
  op: string;
  members: number;
  size: number;
  /** How the members sent: one `cast` per message, or lists through `castMany` (a case asks for it; an API without it falls back). */
  api: 'cast' | 'castMany';
  messagesPerSender: number;
  /** With --warmup-seconds / --measure-seconds: how long the extra warm-up ran before the measured phase, s. */
  timedWarmupS?: number;
  /** Deliveries per second at one member, all senders (own loopback included): median of members. */
  msgsPerSecPerMember: number;
  /** The same, counting only messages from other members (comparable to a raw socket mesh). */
  remoteMsgsPerSecPerMember: number;
  /** Payload MiB/s delivered per member (median). */
  payloadMiBPerSecPerMember: number;
  /** One-way delivery latency under this (saturating) load, sender clock to receiver delivery. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  latencySamples: number;
  /** Wall time of the measured phase. */
  durationS: number;
  /** CPU seconds per member per million deliveries (median): what a delivery costs. */
  cpuSecPerMillionDeliveries: number;
  /**
   * Of that, the kernel's part (sockets, scheduling), and the context switches per thousand
   * deliveries (voluntary: waiting for input; involuntary: preempted), median over members.
   * Absent in runs before session 8.
   */
  sysCpuSecPerMillionDeliveries?: number;
  voluntarySwitchesPerThousandDeliveries?: number;
  involuntarySwitchesPerThousandDeliveries?: number;
  /** Minor page faults (first touches of fresh memory) per thousand deliveries, median over members. Absent before session 10. */
  minorPageFaultsPerThousandDeliveries?: number;
  peakRssMiB: number;
  retransmissions: number;
  fcBlockedTotal: number;
  /**
   * The shape of the traffic on the sockets, all members together (see wireShape): bytes per read
   * and per corked write, frames per write, others' messages per frame received, reads and writes
   * per thousand deliveries. Absent in runs before session 10.
   */
  bytesPerRead?: number;
  bytesPerWrite?: number;
  framesPerWrite?: number;
  remoteDeliveriesPerFrame?: number;
  readsPerThousandDeliveries?: number;
  writesPerThousandDeliveries?: number;
  /** The collector's pauses in the measured phase over the member's CPU time, and its major collections (medians over members). Absent before session 10. */
  gcShareOfCpu?: number;
  gcMajorPerMember?: number;
  /** cbcast: messages CAUSAL held back (they arrived before something they depend on), per thousand deliveries. */
  causalHeldPerThousandDeliveries?: number;
  /** cbcast: times a sender's connections were left unread while its messages waited in CAUSAL, per thousand deliveries. Absent before session 26. */
  readHoldsPerThousandDeliveries?: number;
  /** Deliveries out of a sender's order, or with a wrong payload: must be 0. */
  violations: number;
}

export interface RoundTripResult {
  kind: 'round-trip';
  id: string;
  op: string;
  members: number;
  size: number;
  rounds: number;
  /** Ping cast to the last pong delivered, at the pinging member. */
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  /** Ping cast to its own delivery at the pinging member (one way through the ordering). */
  selfP50Ms: number;
  selfP99Ms: number;
  durationS: number;
}

export interface LoadLatencyResult {
  kind: 'load-latency';
  id: string;
  op: string;
  members: number;
  size: number;
  /** Per-member delivered rate of the closed-loop phase. */
  saturatedMsgsPerSecPerMember: number;
  /** The offered rate / the saturated rate (0.5 unless --load-rate fixed the offered rate). */
  loadFraction: number;
  /** The rate each member sent at, open loop, and what every member was offered in all. */
  sendRatePerMember: number;
  offeredMsgsPerSecPerMember: number;
  /** What a member delivered during the loaded phase (median): should equal the offered rate. */
  deliveredMsgsPerSecPerMember: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  latencySamples: number;
  durationS: number;
  violations: number;
  /**
   * What the tail is read against (over the open-loop phase; absent in runs before session 8): the
   * worst member's collector pauses (ms per second of phase, longest pause, major collections), its
   * wait for a core, the worst member's event-loop delay (p99 and longest: any stall, including waiting for a core), the
   * cores the members used between them, and whether the protocol made anyone wait (flow-control
   * blocks, retransmissions).
   */
  gcPauseMsPerSec?: number;
  gcMaxPauseMs?: number;
  gcMajorCollections?: number;
  /** The worst member's time runnable but waiting for a core, ms per second of phase (Linux). */
  runQueueWaitMsPerSec?: number;
  loopDelayP99Ms?: number;
  loopDelayMaxMs?: number;
  membersCpuCores?: number;
  fcBlockedTotal?: number;
  retransmissions?: number;
}

export interface CrashToViewResult {
  kind: 'crash-to-view';
  id: string;
  op: string;
  members: number;
  victim: 'coordinator' | 'member';
  kills: number;
  /** Kill to the last survivor's install of the view without the victim, one sample per kill. */
  samplesMs: number[];
  medianMs: number;
  maxMs: number;
  /** Kill to the first survivor's install: median over kills. */
  firstSurvivorMedianMs: number;
  /** The whole case (both roles, process starts and rejoins included). */
  durationS: number;
}

export interface StateTransferResult {
  kind: 'state-transfer';
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
  /** A join into the same group without state, just before: what a join costs besides the transfer. */
  emptyJoinMs: number;
  /** stateBytes / (median - emptyJoinMs): the transfer alone, estimated (null if the difference is not positive). */
  streamMbPerSec: number | null;
  /** Every joiner's state had the holders' length and sha256. */
  verified: boolean;
  /** The joiners' resident set before the join and at its peak (max over joins), MiB. */
  joinerRssBeforeMiB: number;
  joinerPeakRssMiB: number;
  /** CPU ms per 10^6 state bytes (median join): the joiner's whole join call, and the provider's (the busiest old member) over it. */
  joinerCpuMsPerMB: number;
  /** Of joinerCpuMsPerMB: the kernel's part (socket reads, page faults), and the JavaScript thread's (null off Linux); optional: older saved runs lack them. */
  joinerSysCpuMsPerMB?: number;
  joinerMainThreadCpuMsPerMB?: number | null;
  providerCpuMsPerMB: number;
  /** The old members' deliveries per second while the transfers ran (median member): the group kept delivering. */
  deliveredPerSecDuringTransfer: number;
  durationS: number;
}

export interface NewsResult {
  kind: 'news';
  id: string;
  op: string;
  members: number;
  subjects: number;
  subscribers: number;
  size: number;
  postings: number;
  /** Postings each subscriber received per second (the slowest one), first publish to last delivery. */
  postingsPerSecPerSubscriber: number;
  /** Publishes acknowledged per second (safe delivery: every member holds each one). */
  publishesPerSec: number;
  /** Postings some subscriber never received, and ones received twice or out of order: must be 0. */
  missing: number;
  violations: number;
  durationS: number;
}

/** The kill -9 of the member running a job to the job's next start elsewhere. */
export interface JobsFailoverResult {
  kind: 'jobs-failover';
  id: string;
  op: string;
  members: number;
  kills: number;
  /** One sample per kill, ms (wall clock: the kill to the job's own start line). */
  samplesMs: number[];
  medianMs: number;
  maxMs: number;
  durationS: number;
}

/** Two orders' throughput in alternating phases on one cluster (bench/runners/interleaved.ts). */
export interface InterleavedResult {
  kind: 'interleaved';
  id: string;
  op: string;
  members: number;
  size: number;
  /** Median of `pairRatios`: num's rate ÷ den's, each pair's two phases one after the other. */
  ratio: number;
  aim: number | null;
  meetsAim: boolean | null;
  /** Each pair's ratio, in the order run (pairs alternate which order goes first). */
  pairRatios: number[];
  /** Deliveries per second at one member (median of members), per phase, and their medians. */
  num: InterleavedSide;
  den: InterleavedSide;
  phaseSeconds: number;
  durationS: number;
  violations: number;
}

export interface InterleavedSide {
  op: string;
  msgsPerSecPerMember: number;
  phaseRates: number[];
  /** CPU seconds per member per million deliveries over this order's measured phases (median of members). */
  cpuSecPerMillionDeliveries: number;
  /** The collector's pauses over the member's CPU time in those phases (median of members). */
  gcShareOfCpu: number;
  p50Ms: number;
  /** cbcast: messages CAUSAL held back per thousand deliveries. */
  causalHeldPerThousandDeliveries?: number;
}

export type BenchResult =
  | InterleavedResult
  | ThroughputResult
  | RoundTripResult
  | LoadLatencyResult
  | CrashToViewResult
  | StateTransferResult
  | NewsResult
  | JobsFailoverResult
  | RekeyResult
  | ToolsResult
  | LwgResult
  | MergeHealResult
  | LargeResult;
/** One member's idle CPU and transport frames per second (LargeResult.idleByRole). */
export interface RoleIdle {
  cpuPct: number;
  framesOut: number;
  framesIn: number;
}
/** An ordinary member (the busiest, or one at the median) over the idle window (LargeResult.idleByRole): its index among the processes, and per second its PINGs and PONGs, collections, page faults and context switches; `gcMajor` is a count. */
export interface IdleDetail extends RoleIdle {
  index: number;
  pingsOut: number;
  pongsOut: number;
  gcPerS: number;
  gcMajor: number;
  gcMsPerS: number;
  pageFaultsPerS: number;
  switchesPerS: number;
}
/** One large group of real processes (bench/runners/large.ts). */
export interface LargeResult {
  kind: 'large';
  id: string;
  op: string;
  members: number;
  kills: number;
  /** kill -9 to the last survivor's install of a view without any killed member (ms). */
  viewMs: number;
  firstSurvivorMs: number;
  /** Every survivor installed the same view (one id, all survivors). */
  oneView: boolean;
  /** Views the survivors installed up to that one (most of any survivor). */
  viewChanges: number;
  /** How long after forming the idle window started (HORUS_BENCH_LARGE_SETTLE_MS). */
  idleAfterMs: number;
  /** Each member's CPU over the idle window, % of one core; max and median. Aim: under 1. */
  idleSeconds: number;
  idleCpuPctMax: number;
  idleCpuPctMedian: number;
  idleCpuPct: number[];
  /** What each member's transport did while idle, per second (median over members; open connections as counts). */
  idleTraffic?: Record<string, number>;
  /**
   * The idle window by role in the view: the coordinator (view index 0), the FD relays (indices
   * 1-3: the first is the active one), and the others' median and max. CPU % of one core, frames/s.
   */
  idleByRole?: {
    coordinator: RoleIdle;
    relays: RoleIdle[];
    othersCpuPctMedian: number;
    othersCpuPctMax: number;
    busiestOther?: IdleDetail;
    typicalOther?: IdleDetail;
  };
  aimCpuPct: number;
  /** Processes started to one view of all of them (joins one at a time). */
  formedS: number;
  durationS: number;
}
/** Partitionable groups (bench/runners/merge-heal.ts): heal of a real cut to the merged view. */
export interface MergeHealResult {
  kind: 'merge-heal';
  id: string;
  op: string;
  members: number;
  /** Each split: from the cut to every member's install of a view of its own side only (ms). */
  splitSamplesMs: number[];
  /** Each heal: from the heal to every member's install of one view of all members (ms). */
  samplesMs: number[];
  medianMs: number;
  maxMs: number;
  mergeProbeMs: number;
  /** 2 x mergeProbeMs (issue 15). */
  aimMs: number;
  durationS: number;
}
/** Light-weight groups (bench/runners/lwg.ts): the worst process of each figure, and each process's. */
export interface LwgResult {
  kind: 'lwg';
  id: string;
  op: string;
  members: number;
  /** Light-weight groups each process joined (one joinMany). */
  groups: number;
  /** From the join command to every group holding every member, at the slowest process (ms). */
  joinMs: number;
  joinMsPerProcess: number[];
  /** Heap after the joins less heap before, per group, after a GC, at the process where it is largest. */
  bytesPerIdleGroup: number;
  bytesPerIdleGroupPerProcess: number[];
  /** CPU of a process while idle with every group joined, % of one core (largest; null where /proc is missing). */
  idleCpuPercent: number | null;
  idleCpuPercentPerProcess: (number | null)[];
  /** The same before joining any light-weight group: what the heavy-weight group alone costs. */
  baselineIdleCpuPercentPerProcess: (number | null)[];
  /** Issue 15's aims for these figures. */
  aims: { joinMs: number; bytesPerIdleGroup: number; idleCpuPercent: number };
  durationS: number;
}
export interface RekeyResult {
  kind: 'rekey';
  id: string;
  op: string;
  /** Members before a join (after a leave). */
  members: number;
  change: 'join' | 'leave';
  /** The request (djoin or leave, sent from the bench) to the last member's install of the new view. */
  samplesMs: number[];
  medianMs: number;
  maxMs: number;
  /** The same to the first member's install: median. */
  firstMemberMedianMs: number;
  /** Every view carried a fresh key (the group encrypts); false: the same changes without, for comparison. */
  encrypted: boolean;
  durationS: number;
}
export interface ToolsResult {
  kind: 'tools';
  id: string;
  op: string;
  members: number;
  /**
   * Calls to one member process, one at a time: round trip at the caller (µs), once the call path is
   * optimised (after `rpcWarmupCalls` calls; `rpcCold`: the same number of calls right after the join).
   */
  rpcCalls: number;
  rpcWarmupCalls: number;
  rpcP50Us: number;
  rpcP99Us: number;
  rpcCallsPerSec: number;
  /** CPU per call in the calling process and in the called one (null where /proc is missing), µs, less what each burns idle. */
  rpcCallerCpuUsPerCall: number;
  rpcCalleeCpuUsPerCall: number | null;
  /** The first `rpcCalls` calls after the join, while V8 still interprets much of the path. */
  rpcCold: { p50Us: number; p99Us: number; callerCpuUsPerCall: number; calleeCpuUsPerCall: number | null };
  /** What each burns idle (heartbeats, gossip), % of a core, measured for 1 s before the calls. */
  rpcIdleCpuPercent: { caller: number; callee: number | null };
  /** ReplicatedMap writes at 3 members, 64 outstanding. */
  mapWrites: number;
  mapWritesPerSec: number;
  /** LockService lock + release, one pair after the other. */
  lockPairs: number;
  lockPairsPerSec: number;
  /** kill -9 of the member a client talks to, to the client's next answer; the aim is 1.5 x the suspect timeout. */
  kills: number;
  failoverSamplesMs: number[];
  failoverMedianMs: number;
  suspectTimeoutMs: number;
  failoverAimMs: number;
  durationS: number;
}

/** A figure computed from several cases (a ratio), with the aim issue 10 sets for it. */
export interface DerivedFigure {
  id: string;
  what: string;
  value: number;
  /** The least value issue 10 asks for; null where it sets none. */
  aim: number | null;
  meetsAim: boolean | null;
  /** With --rounds: the figure in each round; `value` is their median. */
  samples?: number[];
}

/** The one figure a case is compared by, and which way is better. */
export interface Headline {
  metric: string;
  value: number;
  better: 'higher' | 'lower';
}

export function headline(r: BenchResult): Headline {
  switch (r.kind) {
    case 'throughput':
      return { metric: 'msgsPerSecPerMember', value: r.msgsPerSecPerMember, better: 'higher' };
    case 'interleaved':
      return { metric: 'ratio', value: r.ratio, better: 'higher' };
    case 'round-trip':
      return { metric: 'p50Ms', value: r.p50Ms, better: 'lower' };
    case 'load-latency':
      return { metric: 'p99Ms', value: r.p99Ms, better: 'lower' };
    case 'crash-to-view':
      return { metric: 'medianMs', value: r.medianMs, better: 'lower' };
    case 'rekey':
      return { metric: 'medianMs', value: r.medianMs, better: 'lower' };
    case 'state-transfer':
      return { metric: 'mbPerSec', value: r.mbPerSec, better: 'higher' };
    case 'news':
      return { metric: 'postingsPerSecPerSubscriber', value: r.postingsPerSecPerSubscriber, better: 'higher' };
    case 'jobs-failover':
      return { metric: 'medianMs', value: r.medianMs, better: 'lower' };
    case 'tools':
      return { metric: 'rpcP50Us', value: r.rpcP50Us, better: 'lower' };
    case 'lwg':
      return { metric: 'joinMs', value: r.joinMs, better: 'lower' };
    case 'merge-heal':
      return { metric: 'medianMs', value: r.medianMs, better: 'lower' };
    case 'large':
      return { metric: 'viewMs', value: r.viewMs, better: 'lower' };
  }
}

const r2 = (x: number): number => Number(x.toFixed(3));

/** Issue 10's ratios, for the cases present in `results`. */
export function deriveFigures(results: readonly BenchResult[]): DerivedFigure[] {
  const rate = (id: string): number | undefined => {
    const r = results.find((x) => x.id === id);
    return r?.kind === 'throughput' ? r.msgsPerSecPerMember : undefined;
  };
  const out: DerivedFigure[] = [];
  const ratio = (id: string, what: string, num: string, den: string, aim: number | null): void => {
    const a = rate(num);
    const b = rate(den);
    if (a === undefined || b === undefined || b === 0) return;
    const value = r2(a / b);
    out.push({ id, what, value, aim, meetsAim: aim === null ? null : value >= aim });
  };
  for (const n of [5, 7, 9]) {
    ratio(`fbcast-scale-${n}v3`, `fbcast 100 B per-member rate at ${n} members / at 3`, `fbcast-${n}-100B`, 'fbcast-3-100B', n === 9 ? r2(1 / 3) : null);
  }
  for (const n of [3, 5]) {
    ratio(`cbcast-vs-fbcast-${n}`, `cbcast / fbcast at ${n} members, 100 B`, `cbcast-${n}-100B`, `fbcast-${n}-100B`, 0.9);
  }
  for (const op of ['fbcast', 'cbcast', 'abcast'])
    ratio(`${op}-many-vs-single-3`, `${op} 100 B through castMany / one cast each`, `${op}-many-3-100B`, `${op}-3-100B`, null);
  ratio('cbcast-vs-fbcast-3-1KiB', 'cbcast / fbcast at 3 members, 1 KiB', 'cbcast-3-1KiB', 'fbcast-3-1KiB', 0.9);
  for (const r of results) {
    if (r.kind !== 'interleaved') continue;
    out.push({ id: r.id, what: `${r.op} at ${r.members} members, ${r.size} B, in alternating phases on one cluster`, value: r.ratio, aim: r.aim, meetsAim: r.meetsAim });
  }
  return out;
}
