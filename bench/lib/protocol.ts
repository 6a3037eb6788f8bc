// The parent <-> member-process protocol of the benchmark (bench/lib/member.ts runs in the child,
// bench/lib/member-handle.ts drives it). Type-only: both sides import it.

export type SendOrder = 'fifo' | 'causal' | 'total';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export type Command =
  | { cmd: 'listen'; host: string; port: number; logLevel: LogLevel; statsIntervalMs: number; seeds?: string[] }
  /** Join a fixed-membership group of these endpoints. */
  | { cmd: 'join'; group: string; members: string[]; stack?: string }
  /**
   * Start a measurement phase: zero the phase counters; sample the latency of every `sampleEvery`-th
   * message per sender; with `watchStalls`, also measure the event loop's delay (`Summary.phase.stalls`).
   */
  | { cmd: 'phase'; sampleEvery: number; watchStalls?: boolean }
  /**
   * Send `count` data messages of `size` bytes. Closed loop (as fast as flow control allows) unless
   * `ratePerSec` is given: then open loop, paced by the clock, whatever the group does.
   */
  | {
      cmd: 'send';
      count: number;
      size: number;
      order: SendOrder;
      safe: boolean;
      ratePerSec?: number;
      /** Closed loop: hand the group lists of this many payloads (`group.castMany`, where the API has it). */
      batch?: number;
    }
  /** Answer once this phase has delivered `total` data messages (all senders, own included). */
  | { cmd: 'expect'; total: number; timeoutMs: number }
  /** Unloaded round trip: cast a ping in `order`, every other member answers with a pong in the same order. */
  | { cmd: 'pingpong'; rounds: number; size: number; order: SendOrder; safe: boolean; timeoutMs: number }
  | { cmd: 'summary' }
  /**
   * Join (or found, if `create`) a dynamic group through the seeds; `state: 'blob'` offers this member's blob as state
   * (get/set: the joiner gets one buffer), `'blob-stream'` the same bytes through the streaming handlers (the joiner keeps the chunks).
   */
  | {
      cmd: 'djoin';
      group: string;
      state: 'blob' | 'blob-stream' | 'none';
      create: boolean;
      timeoutMs: number;
      encrypt?: boolean;
      /** Every side of a split goes on and the sides merge on heal (policy 'partitionable'), probing every `mergeProbeMs`. */
      partitionable?: boolean;
      mergeProbeMs?: number;
      /** How long the join's lookup waits for the seeds to answer (the node's default when absent). */
      lookupTimeoutMs?: number;
      /** Timeouts of the group's stack (the defaults when absent): a starved machine needs longer ones. */
      timeouts?: GroupTimeouts;
    }
  /** Leave the dynamic group (answers once left; the node may djoin again). */
  | { cmd: 'dleave'; timeoutMs: number }
  /** Make `bytes` of pseudo-random state (the same bytes in every process) for 'blob' groups. */
  | { cmd: 'blob'; bytes: number }
  /** fbcast `size` bytes every `intervalMs` in the dynamic group (0 stops): a group that keeps delivering. */
  | { cmd: 'traffic'; intervalMs: number; size: number }
  | { cmd: 'status' }
  /** Sample this process's CPU (V8's profiler, through node:inspector) from now on, every `intervalUs`. */
  | { cmd: 'profile-start'; intervalUs: number }
  /** Stop sampling and write the profile (.cpuprofile JSON) to `file`. */
  | { cmd: 'profile-stop'; file: string }
  | { cmd: 'close' };

/** FD's suspicion timeout, GMS's flush step and join timeouts, for the default dynamic stack. */
export interface GroupTimeouts {
  suspectTimeoutMs?: number;
  flushTimeoutMs?: number;
  joinTimeoutMs?: number;
}

export interface Summary {
  memberId: string;
  sent: number;
  delivered: number;
  /** Deliveries out of the sender's order (gaps, duplicates) or with a payload that does not match its id. */
  violations: number;
  firstViolation: string;
  phase: { delivered: number; elapsedMs: number; latencyMs: number[]; stalls?: PhaseStalls };
  rss: number;
  /** Peak resident set size of the process so far (bytes). */
  maxRss: number;
  /** CPU time used by this process so far (µs), and the part of it spent in the kernel. */
  cpuUs: number;
  sysCpuUs?: number;
  /** Context switches so far: the process gave up its core (waiting for input), or was made to. */
  voluntarySwitches?: number;
  involuntarySwitches?: number;
  /** Minor page faults so far: first touches of fresh memory (costly on some VMs, see docs/performance.md). */
  minorPageFaults?: number;
  counters: Record<string, number>;
}

/** What kept a member process from running the protocol during a phase (bench/lib/member.ts). */
export interface PhaseStalls {
  /** Collections (minor and major), the major ones, their summed and longest pause (ms). */
  gcCount: number;
  gcMajor: number;
  gcTotalMs: number;
  gcMaxMs: number;
  /** Time the JavaScript thread was runnable but waited for a core (Linux only). */
  runQueueWaitMs?: number;
  /** How late the event loop ran a 1 ms timer: 99th percentile and worst (ms). */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

export interface SendResult {
  sent: number;
  elapsedMs: number;
  /** Times the sender waited for flow control. */
  blockedWaits: number;
  /** Sent in lists through `group.castMany` (false: one cast per message). */
  usedCastMany: boolean;
}

export interface ExpectResult {
  delivered: number;
  /** From the start of the phase to the delivery that reached the target. */
  elapsedMs: number;
}

export interface PingPongResult {
  /** Ping cast to the last pong delivered. */
  rttMs: number[];
  /** Ping cast to its delivery at the pinging member itself (what ordering costs one way). */
  selfMs: number[];
}

export interface ViewInfo {
  id: number;
  members: string[];
}

export interface DynJoinResult {
  memberId: string;
  view: ViewInfo;
  /** The join call to the first view (with the state in). */
  elapsedMs: number;
  stateSize: number;
  stateSha256: string;
  /** This process's resident set size when the join started, and its peak after it (bytes). */
  rssBefore: number;
  maxRss: number;
  /** CPU time (user and system) this process spent in the join call, ms. */
  cpuMs: number;
  /** Of cpuMs: the kernel's part (system time), ms. */
  sysCpuMs: number;
  /** Of cpuMs: the JavaScript thread's part (Linux: /proc/self/task; null elsewhere), ms. The rest is V8's helper threads (compiler, collector). */
  mainThreadCpuMs: number | null;
  /** Minor page faults this process took in the join call (fresh memory touched: costly in a VM). */
  minorFaults: number;
}

export interface DynStatus {
  memberId: string;
  view: ViewInfo;
  /** Messages delivered in the dynamic group. */
  delivered: number;
  errors: string[];
  /** CPU time (user and system) this process has used since it started, ms. */
  cpuMs: number;
}

export interface CommandResults {
  listen: { endpoint: string; pid: number };
  join: { memberId: string };
  phase: Record<string, never>;
  send: SendResult;
  expect: ExpectResult;
  pingpong: PingPongResult;
  summary: Summary;
  djoin: DynJoinResult;
  dleave: { elapsedMs: number };
  blob: { bytes: number; sha256: string };
  traffic: { sent: number };
  status: DynStatus;
  'profile-start': Record<string, never>;
  'profile-stop': { file: string; samples: number };
  close: Record<string, never>;
}

export type Request = Command & { rid: number };
export type Reply = { rid: number; ok: true; result: CommandResults[keyof CommandResults] } | { rid: number; ok: false; error: string };

export interface StatsEvent {
  ev: 'stats';
  /** ms since the epoch. */
  t: number;
  rss: number;
}
/** A view installed in a dynamic group; `t` is ms since the epoch (comparable across local processes). */
export interface ViewEvent {
  ev: 'view';
  t: number;
  memberId: string;
  view: ViewInfo;
}
export type ChildEvent = StatsEvent | ViewEvent | { ev: 'fatal'; error: string };
export type ChildMessage = Reply | ChildEvent;
