// The benchmark's cases: one row each. A new kind of measurement is a new `kind` here, its result
// type in lib/results.ts and its runner in runners/ (run.ts's switch is exhaustive).
import type { SendOrder } from './lib/protocol.js';

export type CastOp = 'fbcast' | 'cbcast' | 'abcast' | 'safe abcast';

interface CaseBase {
  /** Short unique name, for --filter, --profile, --compare and the output. */
  id: string;
  members: number;
  /** Stack spec; the node's default when absent. */
  stack?: string;
  /** Start this case on new processes (a clean heap and fresh connections). */
  freshCluster?: boolean;
}

/** Every member multicasts `count` messages of `size` bytes as fast as flow control allows (closed loop). */
export interface ThroughputCase extends CaseBase {
  kind: 'throughput';
  op: CastOp;
  size: number;
  count: number;
  /** Messages per member sent (and delivered everywhere) before measuring. */
  warmup: number;
  /** Send in lists of this many through `group.castMany` (one promise a list) instead of one cast each. */
  batch?: number;
}

/**
 * Two orders' closed-loop throughput on the same warm processes, in alternating phases of
 * `phaseSeconds` (den, num, num, den, ...: a drift in the host's speed falls on both alike): the ratio
 * num ÷ den of each pair, and their median. Separate cases start their own phases minutes apart, on
 * processes placed and warmed differently; on this 2-core host two such runs of one case differ by a
 * quarter, so a ratio of two of them says little about what one order costs against the other.
 */
export interface InterleavedCase extends CaseBase {
  kind: 'interleaved';
  op: string;
  num: CastOp;
  den: CastOp;
  size: number;
  /** Pairs of measured phases (one of each order). */
  pairs: number;
  phaseSeconds: number;
  /** Messages per member of each order before measuring (without --warmup-seconds). */
  warmup: number;
  /** The least ratio issue 10 asks for; null where it sets none. */
  aim: number | null;
}

/** Unloaded group round trip: one member casts a ping, every other member answers with a pong in the same order. */
export interface RoundTripCase extends CaseBase {
  kind: 'round-trip';
  op: CastOp;
  size: number;
  rounds: number;
}

/**
 * Latency under a fixed load: a closed-loop phase finds the saturated rate, then every member sends
 * open loop (paced by the clock, not by the group) at `loadFraction` of it for `seconds`.
 */
export interface LoadLatencyCase extends CaseBase {
  kind: 'load-latency';
  op: CastOp;
  size: number;
  /** Messages per member in the saturating phase. */
  saturationCount: number;
  loadFraction: number;
  seconds: number;
}

/**
 * A dynamic group (default stack and timeouts) loses a member to kill -9, `kills` times per victim
 * role, roles alternating (a new process joins in the victim's place in between): time from the kill
 * to the survivors' view without it. One result row per role, `${id}-${role}`.
 */
export interface CrashToViewCase extends CaseBase {
  kind: 'crash-to-view';
  op: 'kill -9';
  victims: ('coordinator' | 'member')[];
  kills: number;
}

/**
 * `members` hold the same `stateBytes` of state and keep multicasting (`trafficIntervalMs`); new
 * processes join with state transfer, one at a time.
 */
export interface StateTransferCase extends CaseBase {
  kind: 'state-transfer';
  op: 'join with state';
  stateBytes: number;
  joins: number;
  trafficIntervalMs: number;
  /** How the application keeps its state: one value (get/set; default), or a stream of chunks it keeps as they arrive. */
  handlers?: 'snapshot' | 'stream';
}

/**
 * The News service on `members` processes: a client publishes `postings` postings of `size` bytes
 * over `subjects` subjects; `subscribers` clients outside the group subscribe to all of them.
 * Postings per second each subscriber receives (bench/runners/news.ts).
 */
export interface NewsCase extends CaseBase {
  kind: 'news';
  op: 'publish';
  subjects: number;
  subscribers: number;
  size: number;
  postings: number;
}

/**
 * The resource manager (`horus jobs serve` processes): the member running a job is killed with kill -9,
 * `kills` times (a fresh member joins after each): time from the kill to the job's next start.
 */
export interface JobsFailoverCase extends CaseBase {
  kind: 'jobs-failover';
  op: 'kill -9';
  kills: number;
}

/** The cases that share one fixed-membership cluster of `members` processes. */
type SharedClusterCase = ThroughputCase | RoundTripCase | LoadLatencyCase | InterleavedCase;

export type BenchCase =
  SharedClusterCase | CrashToViewCase | StateTransferCase | NewsCase | JobsFailoverCase | RekeyCase | ToolsCase | LwgCase | MergeHealCase | LargeCase;

/**
 * One large group of real processes (issue 15 item 2, bench/runners/large.ts): `members` form one
 * group; each member's idle CPU over `idleSeconds`; kill -9 of `kills` at once, to one new view
 * agreed by all survivors. --scale shrinks the group (never below 16, where relaying starts).
 */
export interface LargeCase extends CaseBase {
  kind: 'large';
  op: 'kill -9 in a large group';
  kills: number;
  idleSeconds: number;
}

/** Cases that start their own processes (dynamic groups, services) instead of sharing a fixed-membership cluster. */
export type OwnProcessesCase = Exclude<BenchCase, SharedClusterCase>;
const SHARED_CLUSTER_KINDS: ReadonlySet<BenchCase['kind']> = new Set<SharedClusterCase['kind']>(['throughput', 'round-trip', 'load-latency', 'interleaved']);
export const ownProcesses = (c: BenchCase): c is OwnProcessesCase => !SHARED_CLUSTER_KINDS.has(c.kind);

/**
 * An encrypted dynamic group (CRYPT, a fresh key per view sealed to each member) of `members`: a
 * further process joins, then leaves, `changes` times each; time from the request to the last
 * member's install of the new (re-keyed) view. Rows `${id}-join` and `${id}-leave`.
 */
export interface RekeyCase extends CaseBase {
  kind: 'rekey';
  op: 'view change with re-key';
  changes: number;
  /** False: the same view changes in a group that does not encrypt (the cost of re-keying is the difference). */
  encrypt: boolean;
}

/**
 * The tools (issue 13) on `members` processes (this one and children): `rpcCalls` calls to one member
 * one at a time, `mapWrites` ReplicatedMap writes (64 outstanding), `lockPairs` lock/release pairs,
 * and `kills` kill -9 of the member a client talks to (time to its next answer).
 */
export interface ToolsCase extends CaseBase {
  kind: 'tools';
  op: 'tools';
  rpcCalls: number;
  mapWrites: number;
  lockPairs: number;
  kills: number;
}

/**
 * Light-weight groups (issue 15 item 1) on `members` processes sharing one heavy-weight group: each
 * joins `groups` light-weight groups at once; join time, heap per idle group, idle CPU over `idleSeconds`.
 */
export interface LwgCase extends CaseBase {
  kind: 'lwg';
  op: 'join light-weight groups';
  groups: number;
  idleSeconds: number;
}

/**
 * A partitionable group (issue 15 item 3) of `members` processes, one per network namespace (root):
 * split into two halves by a real cut `splits` times; each side goes on in its own view for
 * `splitMs`, then the cut heals. Time from the heal to every member's install of one view of all
 * of them (the merge); the aim is 2 x `mergeProbeMs`, the interval at which a group looks for
 * another of its name.
 */
export interface MergeHealCase extends CaseBase {
  kind: 'merge-heal';
  op: 'merge after heal';
  splits: number;
  splitMs: number;
  mergeProbeMs: number;
}

export function orderOf(op: CastOp): { order: SendOrder; safe: boolean } {
  switch (op) {
    case 'fbcast':
      return { order: 'fifo', safe: false };
    case 'cbcast':
      return { order: 'causal', safe: false };
    case 'abcast':
      return { order: 'total', safe: false };
    case 'safe abcast':
      return { order: 'total', safe: true };
  }
}

const tp = (op: CastOp, members: number, size: number, count: number, more: Partial<ThroughputCase> = {}): ThroughputCase => ({
  id: `${op.replace(' ', '-')}${more.batch !== undefined ? '-many' : ''}-${members}-${size === 1024 ? '1KiB' : `${size}B`}`,
  kind: 'throughput',
  op,
  members,
  size,
  count,
  warmup: Math.round(count / 10),
  ...more,
});

const interleaved = (num: CastOp, den: CastOp, members: number, aim: number | null): InterleavedCase => ({
  id: `${num}-vs-${den}-interleaved-${members}`,
  kind: 'interleaved',
  op: `${num} ÷ ${den}`,
  num,
  den,
  members,
  size: 100,
  pairs: 6,
  phaseSeconds: 2,
  warmup: 100_000,
  aim,
});

export const CASES: BenchCase[] = [
  // 3 members: every order at 100 B and 1 KiB. cbcast 100 B sends as many as fbcast: issue 10 sets
  // the two against each other, and with a third of fbcast's count its measured phase lasted 0.4 s,
  // where the processes' warm-up still counted (0.91 against 0.63 µs of CPU per delivery; equal at
  // equal counts).
  tp('fbcast', 3, 100, 300_000),
  tp('fbcast', 3, 1024, 200_000),
  tp('cbcast', 3, 100, 300_000),
  tp('cbcast', 3, 1024, 50_000),
  // cbcast against fbcast on the same processes, phases alternating (issue 10 item 6).
  interleaved('cbcast', 'fbcast', 3, 0.9),
  tp('abcast', 3, 100, 100_000),
  tp('abcast', 3, 1024, 50_000),
  tp('safe abcast', 3, 100, 50_000),
  tp('safe abcast', 3, 1024, 25_000),
  // The same through the batch API (group.castMany, lists of 256): one promise a list, not a message.
  tp('fbcast', 3, 100, 300_000, { batch: 256 }),
  tp('cbcast', 3, 100, 300_000, { batch: 256 }),
  tp('abcast', 3, 100, 100_000, { batch: 256 }),
  // Unloaded round trips.
  { id: 'fbcast-3-rtt', kind: 'round-trip', op: 'fbcast', members: 3, size: 100, rounds: 3_000 },
  { id: 'abcast-3-rtt', kind: 'round-trip', op: 'abcast', members: 3, size: 100, rounds: 3_000 },
  { id: 'safe-abcast-3-rtt', kind: 'round-trip', op: 'safe abcast', members: 3, size: 100, rounds: 2_000 },
  // Latency at half the saturated rate.
  { id: 'fbcast-3-half-100B', kind: 'load-latency', op: 'fbcast', members: 3, size: 100, saturationCount: 100_000, loadFraction: 0.5, seconds: 5 },
  { id: 'abcast-3-half-100B', kind: 'load-latency', op: 'abcast', members: 3, size: 100, saturationCount: 50_000, loadFraction: 0.5, seconds: 5 },
  // 5 members. The fbcast cases of 5, 7 and 9 members make each member deliver what it does at 3
  // (900k: n x count), so the ratio compares steady states: with 20k per sender a 9-member run was
  // 3 s, and the processes' warm-up (JIT, heap growth) counted as a third of the CPU per delivery.
  tp('fbcast', 5, 100, 180_000, { freshCluster: true }),
  tp('cbcast', 5, 100, 180_000),
  // cbcast against fbcast on the same processes, phases alternating (issue 10 item 6).
  interleaved('cbcast', 'fbcast', 5, 0.9),
  tp('abcast', 5, 100, 30_000),
  tp('abcast', 5, 1024, 15_000),
  tp('safe abcast', 5, 100, 15_000),
  // Scale with members (each member delivers everything: the total work grows with n).
  tp('fbcast', 7, 100, 130_000),
  tp('fbcast', 9, 100, 100_000),
  // Dynamic groups, own processes.
  { id: 'crash-to-view-5', kind: 'crash-to-view', op: 'kill -9', members: 5, victims: ['member', 'coordinator'], kills: 3 },
  { id: 'state-transfer-100MB', kind: 'state-transfer', op: 'join with state', members: 3, stateBytes: 100 * 1024 * 1024, joins: 3, trafficIntervalMs: 2 },
  // The same through the streaming state handlers: the joiner keeps the chunks, no buffer of the whole state.
  {
    id: 'state-transfer-100MB-stream',
    kind: 'state-transfer',
    op: 'join with state',
    members: 3,
    stateBytes: 100 * 1024 * 1024,
    joins: 3,
    trafficIntervalMs: 2,
    handlers: 'stream',
  },
  // Services, own processes: News postings/s per subscriber.
  { id: 'news-1-subject', kind: 'news', op: 'publish', members: 3, subjects: 1, subscribers: 2, size: 100, postings: 20_000 },
  { id: 'news-1000-subjects', kind: 'news', op: 'publish', members: 3, subjects: 1000, subscribers: 2, size: 100, postings: 20_000 },
  // Services, own processes: the job manager's failover after kill -9.
  { id: 'jobs-failover-3', kind: 'jobs-failover', op: 'kill -9', members: 3, kills: 3 },
  // Re-key at a view change (run with --security pki for authenticated connections too).
  { id: 'rekey-5', kind: 'rekey', op: 'view change with re-key', members: 5, changes: 5, encrypt: true },
  { id: 'rekey-9', kind: 'rekey', op: 'view change with re-key', members: 9, changes: 5, encrypt: true },
  // Ensemble's published figure is for 20 members (about 100 ms): the same size, side by side.
  { id: 'rekey-20', kind: 'rekey', op: 'view change with re-key', members: 20, changes: 5, encrypt: true },
  { id: 'viewchange-5-plain', kind: 'rekey', op: 'view change with re-key', members: 5, changes: 5, encrypt: false },
  // The same 20-member changes without group keys: what the view change costs apart from re-keying.
  { id: 'viewchange-20-plain', kind: 'rekey', op: 'view change with re-key', members: 20, changes: 5, encrypt: false },
  // The tools: RPC, replicated map, locks, client failover.
  { id: 'tools-3', kind: 'tools', op: 'tools', members: 3, rpcCalls: 2000, mapWrites: 3000, lockPairs: 200, kills: 2 },
  // Light-weight groups: 10,000 groups on each of 3 processes over one heavy-weight group.
  { id: 'lwg-10000x3', kind: 'lwg', op: 'join light-weight groups', members: 3, groups: 10_000, idleSeconds: 5 },
  { id: 'merge-heal-4', kind: 'merge-heal', op: 'merge after heal', members: 4, splits: 3, splitMs: 1000, mergeProbeMs: 1000 },
  { id: 'large-64', kind: 'large', op: 'kill -9 in a large group', members: 64, kills: 5, idleSeconds: 30, freshCluster: true },
];

/**
 * The cases a --filter selects: comma-separated terms; a term that is a case's exact id selects that
 * case alone, any other term every case whose id contains it.
 */
export function selectCases(cases: readonly BenchCase[], filter: string | null): BenchCase[] {
  if (filter === null) return [...cases];
  const terms = filter
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
  const ids = new Set(cases.map((c) => c.id));
  return cases.filter((c) => terms.some((t) => (ids.has(t) ? c.id === t : c.id.includes(t))));
}
