// One Horus member in its own process, driven by the benchmark over IPC (member-handle.ts forks it).
// It uses only the package's public API (src/index.ts), so changes inside the stack do not break it.
//
// It keeps no per-message history: per sender the last id delivered and a count; latency is sampled.
//
// Payload layout:
//   0      u8     kind (data, ping, pong)
//   1..5   u32le  the sender's message number: must equal Delivery.id
//   5..13  f64le  send time, ms since the epoch (src/obs/wall-clock.ts: comparable across local processes)
//   13..   ping: u8 mode (order code, +4 when safe); pong: u32le the ping's number; data: filler
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Session } from 'node:inspector/promises';
import { constants as perfConstants, monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';
import { setImmediate as yieldToIo, setTimeout as sleep } from 'node:timers/promises';
import { schedstatMs } from './proc-cpu.js';
import { benchSecurity } from './security.js';
import { DYNAMIC_STACK } from '../../src/layers/index.js';
import {
  createNode,
  type Delivery,
  type Group,
  type HorusNode,
  type Logger,
  type LogFields,
  type StackSpec,
  type StateHandlers,
  type View,
} from '../../src/index.js';
import type {
  ChildMessage,
  Command,
  CommandResults,
  DynJoinResult,
  DynStatus,
  GroupTimeouts,
  ExpectResult,
  LogLevel,
  PingPongResult,
  Request,
  SendOrder,
  SendResult,
  Summary,
} from './protocol.js';
import { postToParent, reportFatal as fatal, serveIpc } from './ipc.js';
import { wallNow } from '../../src/obs/wall-clock.js';

const KIND_DATA = 0;
const KIND_PING = 1;
const KIND_PONG = 2;
const HEADER_BYTES = 13;
export const MIN_PAYLOAD_BYTES = 17;
const ORDERS: readonly SendOrder[] = ['fifo', 'causal', 'total'];

// --- a logger for the node: JSON lines on stderr at or above a level ------------------------------------

const LEVELS: Record<LogLevel, number> = { debug: 20, info: 30, warn: 40, error: 50, silent: 100 };

/**
 * HORUS_BENCH_TRACE=DIR: every log line of every level (trace too) is kept in memory with its wall
 * time and written to DIR/member-PID.jsonl when the member is closed (bench/micro/view-phases.ts
 * reads them). Kept in memory so that tracing adds no write to the path it times.
 */
const TRACE_DIR = process.env.HORUS_BENCH_TRACE ?? null;
const TRACE_MAX_LINES = 500_000;
const traced: string[] = [];

function traceLogger(bindings: LogFields): Logger {
  const at =
    (name: string) =>
    (msg: string, fields?: LogFields): void => {
      if (traced.length < TRACE_MAX_LINES) traced.push(JSON.stringify({ level: name, msg, ...bindings, ...fields, ts: wallNow() }));
    };
  return { trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: (b) => traceLogger({ ...bindings, ...b }) };
}

function writeTrace(): void {
  if (TRACE_DIR === null) return;
  traced.push(JSON.stringify({ level: 'info', msg: 'clock', node: node?.endpoint ?? '', wallMinusDateNow: wallNow() - Date.now(), ts: wallNow() }));
  writeFileSync(join(TRACE_DIR, `member-${process.pid}.jsonl`), traced.length > 0 ? traced.join('\n') + '\n' : '');
  traced.length = 0;
}

function stderrLogger(level: LogLevel, bindings: LogFields = {}): Logger {
  if (TRACE_DIR !== null) return traceLogger(bindings);
  const min = LEVELS[level];
  const at =
    (lv: number, name: string) =>
    (msg: string, fields?: LogFields): void => {
      if (lv < min) return;
      process.stderr.write(JSON.stringify({ level: name, time: Date.now(), pid: process.pid, msg, ...bindings, ...fields }) + '\n');
    };
  return {
    trace: () => {},
    debug: at(20, 'debug'),
    info: at(30, 'info'),
    warn: at(40, 'warn'),
    error: at(50, 'error'),
    child: (b) => stderrLogger(level, { ...bindings, ...b }),
  };
}

// --- state -------------------------------------------------------------------------------------------

let node: HorusNode | null = null;
let group: Group | null = null;
let selfId = '';
let closing = false;
let sending = false;

let sent = 0;
let delivered = 0;
let violations = 0;
let firstViolation = '';
const lastIdOf = new Map<string, number>();

let sampleEvery = 100;
let phaseStart = performance.now();
let phaseDelivered = 0;
let latencyMs: number[] = [];
let expectTarget = Infinity;
let expectDone: ((r: ExpectResult) => void) | null = null;

/**
 * What stops this process from handling a message the moment it arrives, over the phase: the
 * collector's pauses, and how late the event loop ran a 1 ms timer (any stall: a long handler, a
 * collection, or the process waiting for a core). Latency's tail is read against these.
 */
const gcStalls = { count: 0, major: 0, totalMs: 0, maxMs: 0 };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gcStalls.count++;
    gcStalls.totalMs += e.duration;
    if (e.duration > gcStalls.maxMs) gcStalls.maxMs = e.duration;
    if ((e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) gcStalls.major++;
  }
}).observe({ entryTypes: ['gc'] });
const loopDelay = monitorEventLoopDelay({ resolution: 1 });
/**
 * Time the JavaScript thread spent runnable but waiting for a core (ms; Linux's schedstat, the
 * second field, ns), or null where the kernel does not keep it.
 */
function runQueueWaitMs(): number | null {
  return schedstatMs(1);
}

/** Time the JavaScript thread ran on a core (ms; schedstat's first field), or null where the kernel does not keep it. */
function mainThreadCpuMs(): number | null {
  return schedstatMs(0);
}

let phaseRunQueueWaitMs: number | null = null;

let pinger: { round: number; pongs: number; need: number; sentAt: number; selfMs: number; done: () => void } | null = null;

// Filler from a template: allocating and copying is what an application does too.
const template = Buffer.alloc(64 * 1024);
for (let i = 0; i < template.length; i++) template[i] = (i * 2654435761) >>> 24;

function violation(text: string): void {
  if (violations++ === 0) firstViolation = text;
}

function makePayload(kind: number, size: number): Buffer {
  return fillPayload(arenaSlice(size), kind, sent + 1, wallNow());
}

/**
 * Payloads are cut from 256 KiB arenas by bumping an offset, as the JVM's thread-local buffers do
 * for JGroups' bench: Buffer.allocUnsafe's own pool is 8 KiB, a fresh one every 7 payloads of 1 KiB.
 */
const ARENA_BYTES = 256 * 1024;
let arena = Buffer.allocUnsafeSlow(ARENA_BYTES);
let arenaUsed = 0;
function arenaSlice(size: number): Buffer {
  if (size > ARENA_BYTES / 8) return Buffer.allocUnsafe(size);
  if (arenaUsed + size > ARENA_BYTES) {
    arena = Buffer.allocUnsafeSlow(ARENA_BYTES);
    arenaUsed = 0;
  }
  const b = arena.subarray(arenaUsed, arenaUsed + size);
  arenaUsed += (size + 7) & ~7;
  return b;
}

/**
 * `n` payloads cut from one allocation, as an application that builds a batch would: one
 * allocation a batch instead of a fresh 8 KiB pool every few messages (a twelfth of a member's CPU
 * at 1 KiB went to the pools and to Buffer#copy's per-call view before).
 */
function makePayloads(kind: number, size: number, n: number): Buffer[] {
  const all = Buffer.allocUnsafeSlow(size * n);
  const list = new Array<Buffer>(n);
  const now = wallNow();
  for (let k = 0; k < n; k++) list[k] = fillPayload(all.subarray(k * size, (k + 1) * size), kind, sent + 1 + k, now);
  return list;
}

function fillPayload(b: Buffer, kind: number, seq: number, now: number): Buffer {
  b[0] = kind;
  b.writeUInt32LE(seq, 1);
  b.writeDoubleLE(now, 5);
  b.set(fillerOf(b.length - HEADER_BYTES), HEADER_BYTES);
  return b;
}

let filler = template.subarray(0, 0);
/** The template's first `bytes` (one view per size, not one per copy). */
function fillerOf(bytes: number): Buffer {
  if (filler.length !== bytes) filler = template.subarray(0, bytes);
  return filler;
}

type CastMany = (order: SendOrder, payloads: readonly Buffer[], opts?: { safe?: boolean }) => Promise<void>;

function cast(order: SendOrder, safe: boolean, payload: Buffer): Promise<void> {
  sent++;
  if (order === 'fifo' && !safe) return group!.fbcast(payload);
  return group!.cast(order, payload, safe ? { safe: true } : undefined);
}

let lastSrc = '';
let lastId = 0;

function onMessage(d: Delivery): void {
  const src = d.sender;
  const id = d.id;
  // Most runs deliver long runs from one sender: skip the map then.
  const prev = src === lastSrc ? lastId : (lastIdOf.get(src) ?? 0);
  if (id !== prev + 1) violation(`${selfId} delivered #${id} from ${src} right after #${prev}`);
  if (src !== lastSrc && lastSrc !== '') lastIdOf.set(lastSrc, lastId);
  lastSrc = src;
  lastId = id;
  delivered++;
  const raw = d.raw;
  if (raw.length < HEADER_BYTES || raw.readUInt32LE(1) !== id) {
    violation(`${selfId} got a payload from ${src} whose number does not match id ${id}`);
    return;
  }
  const kind = raw[0];
  if (kind === KIND_DATA) {
    phaseDelivered++;
    if (id % sampleEvery === 0 && src !== selfId) latencyMs.push(wallNow() - raw.readDoubleLE(5));
    if (phaseDelivered >= expectTarget && expectDone !== null) {
      const done = expectDone;
      expectDone = null;
      expectTarget = Infinity;
      done({ delivered: phaseDelivered, elapsedMs: performance.now() - phaseStart });
    }
  } else if (kind === KIND_PING) {
    if (src === selfId) {
      if (pinger !== null && id === pinger.round) pinger.selfMs = performance.now() - pinger.sentAt;
      return;
    }
    const mode = raw[HEADER_BYTES] ?? 0;
    const pong = makePayload(KIND_PONG, MIN_PAYLOAD_BYTES);
    pong.writeUInt32LE(id, HEADER_BYTES);
    cast(ORDERS[mode & 3] ?? 'fifo', (mode & 4) !== 0, pong).catch(fatal);
  } else if (kind === KIND_PONG) {
    if (pinger !== null && raw.length >= MIN_PAYLOAD_BYTES && raw.readUInt32LE(HEADER_BYTES) === pinger.round) {
      if (++pinger.pongs === pinger.need) pinger.done();
    }
  }
}

// --- commands ----------------------------------------------------------------------------------------

async function sendMany(c: Extract<Command, { cmd: 'send' }>): Promise<SendResult> {
  if (sending) throw new Error('a send is already running');
  if (c.size < MIN_PAYLOAD_BYTES) throw new Error(`size must be at least ${MIN_PAYLOAD_BYTES}`);
  sending = true;
  const t0 = performance.now();
  let blockedWaits = 0;
  let failed: unknown = null;
  const onFail = (err: unknown): void => {
    failed ??= err;
  };
  // The batch API (issue 10): used when this version of the API has it, reported either way.
  const castMany = (group as unknown as { castMany?: CastMany }).castMany?.bind(group);
  const batch = c.batch !== undefined && c.batch > 1 && castMany !== undefined && c.ratePerSec === undefined ? c.batch : 0;
  try {
    if (batch > 0) {
      let since = 0;
      for (let i = 0; i < c.count;) {
        if (closing) throw new Error(`closed after ${i} of ${c.count} sends`);
        const n = Math.min(batch, c.count - i);
        const list = makePayloads(KIND_DATA, c.size, n);
        sent += n;
        const p = castMany!(c.order, list, c.safe ? { safe: true } : undefined);
        i += n;
        if (group!.blocked) {
          blockedWaits++;
          await p;
        } else {
          p.catch(onFail);
          since += n;
          if (since >= 1000) {
            since = 0;
            await yieldToIo();
          }
        }
      }
    } else if (c.ratePerSec === undefined) {
      for (let i = 1; i <= c.count; i++) {
        if (closing) throw new Error(`closed after ${i - 1} of ${c.count} sends`);
        const p = cast(c.order, c.safe, makePayload(KIND_DATA, c.size));
        if (group!.blocked) {
          // Flow control holds us: wait until this message is taken (awaiting every send would be slow).
          blockedWaits++;
          await p;
        } else {
          p.catch(onFail);
          // Let incoming frames (deliveries, credits) in, or a long burst starves them.
          if (i % 1000 === 0) await yieldToIo();
        }
      }
    } else {
      // Open loop: at each tick, send what the clock says is due, whatever the group does.
      const perMs = c.ratePerSec / 1000;
      let i = 0;
      while (i < c.count) {
        if (closing) throw new Error(`closed after ${i} of ${c.count} sends`);
        const due = Math.min(c.count, Math.floor((performance.now() - t0) * perMs) + 1);
        for (; i < due; i++) cast(c.order, c.safe, makePayload(KIND_DATA, c.size)).catch(onFail);
        await sleep(1);
      }
    }
    if (failed !== null) throw failed instanceof Error ? failed : new Error(String(failed));
  } finally {
    sending = false;
  }
  return { sent: c.count, elapsedMs: performance.now() - t0, blockedWaits, usedCastMany: batch > 0 };
}

function expect(c: Extract<Command, { cmd: 'expect' }>): Promise<ExpectResult> {
  if (phaseDelivered >= c.total) return Promise.resolve({ delivered: phaseDelivered, elapsedMs: performance.now() - phaseStart });
  return new Promise<ExpectResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      expectDone = null;
      expectTarget = Infinity;
      reject(new Error(`${selfId}: ${phaseDelivered}/${c.total} delivered after ${c.timeoutMs} ms`));
    }, c.timeoutMs);
    expectTarget = c.total;
    expectDone = (r) => {
      clearTimeout(timer);
      resolve(r);
    };
  });
}

async function pingPong(c: Extract<Command, { cmd: 'pingpong' }>): Promise<PingPongResult> {
  const g = group!;
  const need = g.view.members.length - 1;
  const mode = ORDERS.indexOf(c.order) + (c.safe ? 4 : 0);
  const rttMs: number[] = [];
  const selfMs: number[] = [];
  for (let r = 0; r < c.rounds; r++) {
    const ping = makePayload(KIND_PING, Math.max(MIN_PAYLOAD_BYTES, c.size));
    ping[HEADER_BYTES] = mode;
    const round = sent + 1;
    const t0 = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const p = await new Promise<{ selfMs: number }>((resolve, reject) => {
      const state = { round, pongs: 0, need, sentAt: t0, selfMs: NaN, done: () => resolve(state) };
      pinger = state;
      timer = setTimeout(() => reject(new Error(`ping ${round}: ${state.pongs}/${need} pongs after ${c.timeoutMs} ms`)), c.timeoutMs);
      cast(c.order, c.safe, ping).catch(reject);
    }).finally(() => {
      clearTimeout(timer);
      pinger = null;
    });
    rttMs.push(performance.now() - t0);
    if (Number.isFinite(p.selfMs)) selfMs.push(p.selfMs);
  }
  return { rttMs, selfMs };
}

function runQueueWaitSincePhase(): { runQueueWaitMs?: number } {
  const now = runQueueWaitMs();
  return now !== null && phaseRunQueueWaitMs !== null ? { runQueueWaitMs: now - phaseRunQueueWaitMs } : {};
}

/** The TCP transport's own counts (frames, bytes, socket reads and writes), as `transport_NAME` counters. */
function transportCounters(): Record<string, number> {
  const t = node?.env.transport as { stats?: () => object } | undefined;
  if (t?.stats === undefined) return {};
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(t.stats())) if (typeof v === 'number') out[`transport_${k}`] = v;
  return out;
}

function summary(): Summary {
  const cpu = process.cpuUsage();
  const usage = process.resourceUsage();
  return {
    memberId: selfId,
    sent,
    delivered,
    violations,
    firstViolation,
    phase: {
      delivered: phaseDelivered,
      elapsedMs: performance.now() - phaseStart,
      latencyMs,
      stalls: {
        gcCount: gcStalls.count,
        gcMajor: gcStalls.major,
        gcTotalMs: gcStalls.totalMs,
        gcMaxMs: gcStalls.maxMs,
        ...runQueueWaitSincePhase(),
        // The histogram is in ns and counts the timer's own 1 ms: the delay beyond it.
        loopDelayP99Ms: loopDelay.count > 0 ? Math.max(0, loopDelay.percentile(99) / 1e6 - 1) : 0,
        loopDelayMaxMs: loopDelay.count > 0 ? Math.max(0, loopDelay.max / 1e6 - 1) : 0,
      },
    },
    rss: process.memoryUsage.rss(),
    maxRss: usage.maxRSS * 1024,
    cpuUs: cpu.user + cpu.system,
    sysCpuUs: cpu.system,
    voluntarySwitches: usage.voluntaryContextSwitches,
    involuntarySwitches: usage.involuntaryContextSwitches,
    minorPageFaults: usage.minorPageFault,
    counters: { ...(node?.metrics.snapshot().counters ?? {}), ...transportCounters() },
  };
}

// --- dynamic groups ------------------------------------------------------------------------------------

const dyn = {
  blob: Buffer.alloc(0) as Buffer,
  /** The state as a streaming joiner received it (null: it is `blob`). */
  pieces: null as Buffer[] | null,
  delivered: 0,
  errors: [] as string[],
  traffic: null as NodeJS.Timeout | null,
  trafficSent: 0,
};

function dynError(text: string): void {
  if (dyn.errors.length < 20) dyn.errors.push(text);
}

function viewInfo(v: View): { id: number; members: string[] } {
  return { id: v.id, members: [...v.members] };
}

/** The node's default dynamic stack, with other timeouts for FD and GMS. */

function stackWith(t: GroupTimeouts): StackSpec {
  const gms = {
    ...(t.flushTimeoutMs !== undefined ? { flushTimeoutMs: t.flushTimeoutMs } : {}),
    ...(t.joinTimeoutMs !== undefined ? { joinTimeoutMs: t.joinTimeoutMs } : {}),
  };
  const fd = t.suspectTimeoutMs !== undefined ? { suspectTimeoutMs: t.suspectTimeoutMs } : {};
  return DYNAMIC_STACK.split(':').map((name) => (name === 'GMS' ? { name, options: gms } : name === 'FD' ? { name, options: fd } : name));
}

async function dynJoin(c: Extract<Command, { cmd: 'djoin' }>): Promise<DynJoinResult> {
  const n = node!;
  if (group !== null) throw new Error('already in a group');
  const state: StateHandlers | undefined =
    c.state === 'blob'
      ? {
          get: (): unknown => dyn.blob,
          set: (s: unknown): void => {
            dyn.blob = Buffer.isBuffer(s) ? s : Buffer.from(s as Uint8Array);
          },
        }
      : c.state === 'blob-stream'
        ? streamedBlob()
        : undefined;
  const rssBefore = process.memoryUsage.rss();
  const cpu0 = process.cpuUsage();
  const main0 = mainThreadCpuMs();
  const faults0 = process.resourceUsage().minorPageFault;
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${n.endpoint}: no first view in ${c.group} after ${c.timeoutMs} ms`)), c.timeoutMs);
  });
  const g = await Promise.race([
    n.join(c.group, {
      create: c.create,
      ...(state !== undefined ? { state } : {}),
      ...(c.encrypt === true ? { encrypt: true } : {}),
      ...(c.partitionable === true ? { partition: { kind: 'partitionable' } } : {}),
      ...(c.mergeProbeMs !== undefined ? { mergeProbeMs: c.mergeProbeMs } : {}),
      ...(c.lookupTimeoutMs !== undefined ? { lookupTimeoutMs: c.lookupTimeoutMs } : {}),
      ...(c.timeouts !== undefined ? { stack: stackWith(c.timeouts) } : {}),
    }),
    late,
  ]).finally(() => clearTimeout(timer));
  const elapsedMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const main1 = mainThreadCpuMs();
  group = g;
  selfId = g.localId;
  g.on('message', () => {
    dyn.delivered++;
  });
  g.on('view', (v: View) => post({ ev: 'view', t: wallNow(), memberId: g.localId, view: viewInfo(v) }));
  g.on('error', (err: Error) => dynError(`group error: ${err.message}`));
  return {
    memberId: g.localId,
    view: viewInfo(g.view),
    elapsedMs,
    stateSize: dyn.pieces === null ? dyn.blob.length : dyn.pieces.reduce((n, p) => n + p.length, 0),
    stateSha256: c.state === 'none' ? '' : blobSha256(),
    rssBefore,
    maxRss: process.resourceUsage().maxRSS * 1024,
    cpuMs: (cpu.user + cpu.system) / 1000,
    sysCpuMs: cpu.system / 1000,
    mainThreadCpuMs: main0 !== null && main1 !== null ? Math.round(main1 - main0) : null,
    minorFaults: process.resourceUsage().minorPageFault - faults0,
  };
}

/**
 * The blob through the streaming state handlers: the provider hands out 1 MiB views of it, the
 * joiner keeps each chunk as it arrives (no buffer of the whole state is ever built).
 */
function streamedBlob(): StateHandlers {
  let got: Buffer[] = [];
  return {
    getChunks: () => {
      const blob = dyn.blob;
      const piece = 1024 * 1024;
      return {
        size: blob.length,
        *chunks(): Iterable<Uint8Array> {
          for (let o = 0; o < blob.length; o += piece) yield blob.subarray(o, Math.min(blob.length, o + piece));
        },
      };
    },
    receiveChunk: (chunk, at) => {
      if (at.offset === 0) got = [];
      got.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    },
    finish: () => {
      dyn.pieces = got;
      got = [];
    },
    abort: () => {
      got = [];
    },
  };
}

/** The sha256 of this member's state: the blob, or the pieces a streaming join kept. */
function blobSha256(): string {
  const h = createHash('sha256');
  for (const p of dyn.pieces ?? [dyn.blob]) h.update(p);
  return h.digest('hex');
}

/** Pseudo-random bytes (xorshift32, word by word): the same `bytes` in every process. */
function makeBlob(bytes: number): { bytes: number; sha256: string } {
  const b = Buffer.allocUnsafe(bytes);
  let x = 0x9e3779b9;
  const words = Math.floor(bytes / 4);
  for (let i = 0; i < words; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeInt32LE(x | 0, i * 4);
  }
  for (let i = words * 4; i < bytes; i++) b[i] = i & 0xff;
  dyn.blob = b;
  dyn.pieces = null;
  return { bytes, sha256: createHash('sha256').update(b).digest('hex') };
}

function setTraffic(c: Extract<Command, { cmd: 'traffic' }>): { sent: number } {
  if (dyn.traffic !== null) clearInterval(dyn.traffic);
  dyn.traffic = null;
  if (c.intervalMs <= 0) return { sent: dyn.trafficSent };
  dyn.traffic = setInterval(() => {
    const g = group;
    // Sends queue while a view change holds them; keep that queue short.
    if (g === null || closing || g.pendingSends > 8) return;
    dyn.trafficSent++;
    g.fbcast(template.subarray(0, c.size)).catch((err: unknown) => {
      if (!closing) dynError(`fbcast: ${err instanceof Error ? err.message : String(err)}`);
    });
  }, c.intervalMs);
  return { sent: dyn.trafficSent };
}

async function dynLeave(c: Extract<Command, { cmd: 'dleave' }>): Promise<{ elapsedMs: number }> {
  const g = group;
  if (g === null) throw new Error('not in a group');
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${g.localId}: not left after ${c.timeoutMs} ms`)), c.timeoutMs);
  });
  await Promise.race([g.leave(), late]).finally(() => clearTimeout(timer));
  group = null;
  return { elapsedMs: performance.now() - t0 };
}

/** CPU time (user and system) this process has used so far, ms. */
function cpuMsNow(): number {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
}

function dynStatus(): DynStatus {
  const g = group;
  return {
    memberId: g?.localId ?? '',
    view: g ? viewInfo(g.view) : { id: 0, members: [] },
    delivered: dyn.delivered,
    errors: dyn.errors,
    cpuMs: cpuMsNow(),
  };
}

// --- CPU profiles of a measured phase only (not the process start, not tsx compiling) -------------------

let profiler: Session | null = null;

async function profileStart(intervalUs: number): Promise<Record<string, never>> {
  if (profiler !== null) throw new Error('already profiling');
  const s = new Session();
  s.connect();
  await s.post('Profiler.enable');
  await s.post('Profiler.setSamplingInterval', { interval: intervalUs });
  await s.post('Profiler.start');
  // HORUS_BENCH_HEAP_SAMPLING=BYTES: also sample allocations (collected ones too), every BYTES on average.
  const heapEvery = Number(process.env.HORUS_BENCH_HEAP_SAMPLING ?? 0);
  if (heapEvery > 0) {
    await s.post('HeapProfiler.enable');
    await s.post('HeapProfiler.startSampling', { samplingInterval: heapEvery, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  }
  profiler = s;
  return {};
}

async function profileStop(file: string): Promise<{ file: string; samples: number }> {
  const s = profiler;
  if (s === null) throw new Error('not profiling');
  profiler = null;
  const { profile } = await s.post('Profiler.stop');
  if (Number(process.env.HORUS_BENCH_HEAP_SAMPLING ?? 0) > 0) {
    const { profile: heap } = await s.post('HeapProfiler.stopSampling');
    writeFileSync(file.replace(/\.cpuprofile$/, '') + '.heapprofile', JSON.stringify(heap));
  }
  s.disconnect();
  writeFileSync(file, JSON.stringify(profile));
  return { file, samples: profile.samples?.length ?? 0 };
}

// --- the IPC loop --------------------------------------------------------------------------------------

let statsTimer: NodeJS.Timeout | null = null;

async function handle(c: Command): Promise<CommandResults[keyof CommandResults]> {
  switch (c.cmd) {
    case 'listen': {
      node = await createNode({
        listen: `${c.host}:${c.port}`,
        logger: stderrLogger(c.logLevel),
        ...(c.seeds !== undefined ? { seeds: c.seeds } : {}),
        ...benchSecurity(),
      });
      selfId = node.endpoint;
      statsTimer = setInterval(() => post({ ev: 'stats', t: wallNow(), rss: process.memoryUsage.rss() }), c.statsIntervalMs);
      statsTimer.unref();
      return { endpoint: node.endpoint, pid: process.pid };
    }
    case 'join': {
      group = await node!.join(c.group, { members: c.members, ...(c.stack !== undefined ? { stack: c.stack } : {}) });
      group.on('message', onMessage);
      group.on('error', (err: Error) => violation(`group error: ${err.message}`));
      // Senders are named by member id, which need not be the node's endpoint.
      selfId = group.localId;
      return { memberId: selfId };
    }
    case 'phase':
      sampleEvery = Math.max(1, c.sampleEvery);
      phaseStart = performance.now();
      phaseDelivered = 0;
      latencyMs = [];
      Object.assign(gcStalls, { count: 0, major: 0, totalMs: 0, maxMs: 0 });
      phaseRunQueueWaitMs = runQueueWaitMs();
      loopDelay.disable();
      loopDelay.reset();
      if (c.watchStalls === true) loopDelay.enable();
      return {};
    case 'send':
      return sendMany(c);
    case 'expect':
      return expect(c);
    case 'pingpong':
      return pingPong(c);
    case 'summary':
      return summary();
    case 'djoin':
      return dynJoin(c);
    case 'dleave':
      return dynLeave(c);
    case 'blob':
      return makeBlob(c.bytes);
    case 'traffic':
      return setTraffic(c);
    case 'status':
      return dynStatus();
    case 'profile-start':
      return profileStart(c.intervalUs);
    case 'profile-stop':
      return profileStop(c.file);
    case 'close':
      writeTrace();
      closing = true;
      if (statsTimer !== null) clearInterval(statsTimer);
      if (dyn.traffic !== null) clearInterval(dyn.traffic);
      await node?.close();
      return {};
  }
}

function post(m: ChildMessage): void {
  postToParent(m);
}

serveIpc<Request>('bench/lib/member.ts', handle);
