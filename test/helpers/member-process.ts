// One Horus member in its own process, driven by a parent over IPC (see cluster.ts).
// Run as `node --import tsx test/helpers/member-process.ts` with an IPC channel (child_process.fork).
//
// It keeps no per-message history: per sender it tracks the last id delivered, counts, FIFO/duplicate
// violations and a running hash of the payload bytes, so 300k deliveries cost a few hundred bytes.
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToIo, setTimeout as sleep } from 'node:timers/promises';
import { createNode } from '../../src/api/create-node.js';
import type { Delivery } from '../../src/api/delivery.js';
import type { Group } from '../../src/api/group.js';
import type { HorusNode } from '../../src/api/node.js';
import type { LogLevel } from '../../src/core/logger.js';
import { pinoLogger } from '../../src/obs/pino-logger.js';
import { TcpTransport, type TcpTransportStats } from '../../src/transport/tcp-transport.js';

// --- protocol (shared with cluster.ts through type-only imports) --------------------------------------

export type Command =
  | { cmd: 'listen'; host: string; port: number; logLevel: LogLevel; statsIntervalMs: number }
  | { cmd: 'join'; group: string; members: string[]; stack?: string; sampleEvery: number; verify: boolean }
  /** Send `count` data messages of `size` bytes; with `burst`, pause `intervalMs` after each burst. */
  | { cmd: 'send'; count: number; size: number; burst?: number; intervalMs?: number; yieldEvery?: number }
  /** Answer once this phase has delivered `total` data messages (from all senders, own included). */
  | { cmd: 'expect'; total: number; timeoutMs: number }
  /** Start a new measurement phase: zero the phase counters and latency samples. */
  | { cmd: 'phase' }
  /** Unloaded group round trip: fbcast a ping, wait for a pong from every other member, repeat. */
  | { cmd: 'pingpong'; rounds: number; size: number; timeoutMs: number }
  | { cmd: 'summary' }
  | { cmd: 'close' };

export interface SenderSummary {
  src: string;
  count: number;
  lastId: number;
  /** Deliveries whose id was not last+1 (gaps) or not above last (duplicates / reordering). */
  gaps: number;
  duplicates: number;
  /** Payload whose embedded number disagrees with the delivered id, or too short to carry it. */
  corrupt: number;
  /** Running FNV-1a over every payload byte in delivery order (0 unless verify). */
  hash: number;
}

export interface Summary {
  endpoint: string;
  /** This member's id in the group: what other members' deliveries name as `src`. */
  memberId: string;
  sent: number;
  /** Running FNV-1a over every payload this member sent, in send order (0 unless verify). */
  sentHash: number;
  delivered: number;
  senders: SenderSummary[];
  violations: string[];
  phase: { delivered: number; elapsedMs: number; latencyMs: number[] };
  rss: number;
  heapUsed: number;
  /** CPU time used by this process so far (µs). */
  cpuUs: number;
  nakBufferedBytes: number;
  metrics: { counters: Record<string, number>; gauges: Record<string, number> };
  transport: TcpTransportStats | null;
}

export interface SendResult {
  sent: number;
  elapsedMs: number;
  blockedWaits: number;
}
export interface ExpectResult {
  delivered: number;
  /** From the start of the phase to the delivery that reached the target. */
  elapsedMs: number;
}
export interface PingPongResult {
  rttMs: number[];
}

export interface CommandResults {
  listen: { endpoint: string; pid: number };
  join: { members: number; memberId: string };
  send: SendResult;
  expect: ExpectResult;
  phase: Record<string, never>;
  pingpong: PingPongResult;
  summary: Summary;
  close: Record<string, never>;
}

export type Request = Command & { rid: number };
export type Reply = { rid: number; ok: true; result: CommandResults[keyof CommandResults] } | { rid: number; ok: false; error: string };
export interface StatsEvent {
  ev: 'stats';
  /** ms since the epoch. */
  t: number;
  rss: number;
  nakBufferedBytes: number;
  delivered: number;
}
export type ChildEvent = StatsEvent | { ev: 'fatal'; error: string };
export type ChildMessage = Reply | ChildEvent;

// --- payload layout --------------------------------------------------------------------------------
//   0      u8     kind (data, ping, pong)
//   1..5   u32le  the sender's message number: must equal Delivery.id
//   5..13  f64le  send time, ms since the epoch (timeOrigin + now: comparable across local processes)
//   13..   pong: u32le ping number; otherwise filler from a template
export const KIND_DATA = 0;
export const KIND_PING = 1;
export const KIND_PONG = 2;
export const PAYLOAD_HEADER_BYTES = 13;
export const MIN_PAYLOAD_BYTES = 17;

const wallNow = (): number => performance.timeOrigin + performance.now();

const FNV_OFFSET = 0x811c9dc5;
function fnv1a(h: number, b: Buffer): number {
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h >>> 0;
}

// --- member state ----------------------------------------------------------------------------------

type SenderState = SenderSummary;

let node: HorusNode | null = null;
let group: Group | null = null;
let selfId = '';
let sampleEvery = 100;
let verify = false;
let sending = false;
let closing = false;

let sent = 0;
let sentHash = FNV_OFFSET;
let delivered = 0;
const senders = new Map<string, SenderState>();
const violations: string[] = [];

let phaseStart = performance.now();
let phaseDelivered = 0;
let latencyMs: number[] = [];
let expectTarget = Infinity;
let expectDone: ((r: ExpectResult) => void) | null = null;

let pinger: { round: number; pongs: number; need: number; done: () => void } | null = null;

// A pseudo-random filler, so a payload shifted or mixed with another shows in the hash.
const template = Buffer.alloc(64 * 1024);
for (let i = 0; i < template.length; i++) template[i] = (i * 2654435761) >>> 24;

function violation(text: string): void {
  if (violations.length < 20) violations.push(text);
}

function senderState(src: string): SenderState {
  let s = senders.get(src);
  if (s === undefined) {
    s = { src, count: 0, lastId: 0, gaps: 0, duplicates: 0, corrupt: 0, hash: FNV_OFFSET };
    senders.set(src, s);
  }
  return s;
}

let lastSrc = '';
let lastState: SenderState | null = null;

function onMessage(d: Delivery): void {
  // Most runs deliver long runs from one sender: skip the map lookup then.
  const st = d.src === lastSrc && lastState !== null ? lastState : senderState(d.src);
  lastSrc = d.src;
  lastState = st;
  const id = d.id;
  if (id === st.lastId + 1) st.lastId = id;
  else if (id <= st.lastId) {
    st.duplicates++;
    violation(`${selfId} delivered #${id} from ${d.src} after #${st.lastId}`);
  } else {
    st.gaps++;
    violation(`${selfId} delivered #${id} from ${d.src} right after #${st.lastId}`);
    st.lastId = id;
  }
  st.count++;
  delivered++;
  const raw = d.raw;
  if (raw.length < PAYLOAD_HEADER_BYTES || raw.readUInt32LE(1) !== id) {
    st.corrupt++;
    violation(`${selfId} got a payload from ${d.src} whose number does not match id ${id}`);
    return;
  }
  if (verify) st.hash = fnv1a(st.hash, raw);
  const kind = raw[0];
  if (kind === KIND_DATA) {
    phaseDelivered++;
    if (id % sampleEvery === 0 && d.src !== selfId) latencyMs.push(wallNow() - raw.readDoubleLE(5));
    if (phaseDelivered >= expectTarget && expectDone !== null) {
      const done = expectDone;
      expectDone = null;
      expectTarget = Infinity;
      done({ delivered: phaseDelivered, elapsedMs: performance.now() - phaseStart });
    }
  } else if (kind === KIND_PING) {
    if (d.src !== selfId) {
      const pong = makePayload(KIND_PONG, MIN_PAYLOAD_BYTES);
      raw.copy(pong, 5, 5, 13); // echo the ping's timestamp
      pong.writeUInt32LE(id, PAYLOAD_HEADER_BYTES);
      cast(pong).catch(fatal);
    }
  } else if (kind === KIND_PONG) {
    if (pinger !== null && raw.length >= MIN_PAYLOAD_BYTES && raw.readUInt32LE(PAYLOAD_HEADER_BYTES) === pinger.round) {
      if (++pinger.pongs === pinger.need) pinger.done();
    }
  }
}

/** A payload numbered with the id the group will give it (ids are 1, 2, 3... per member). */
function makePayload(kind: number, size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  b[0] = kind;
  b.writeUInt32LE(sent + 1, 1);
  b.writeDoubleLE(wallNow(), 5);
  template.copy(b, PAYLOAD_HEADER_BYTES, 0, size - PAYLOAD_HEADER_BYTES);
  return b;
}

function cast(payload: Buffer): Promise<void> {
  sent++;
  if (verify) sentHash = fnv1a(sentHash, payload);
  return group!.fbcast(payload);
}

async function sendMany(c: Extract<Command, { cmd: 'send' }>): Promise<SendResult> {
  if (sending) throw new Error('a send is already running');
  if (c.size < MIN_PAYLOAD_BYTES) throw new Error(`size must be at least ${MIN_PAYLOAD_BYTES}`);
  sending = true;
  const t0 = performance.now();
  let blockedWaits = 0;
  const yieldEvery = c.yieldEvery ?? 1000;
  try {
    for (let i = 1; i <= c.count; i++) {
      if (closing) throw new Error(`closed after ${i - 1} of ${c.count} sends`);
      const p = cast(makePayload(KIND_DATA, c.size));
      if (group!.blocked) {
        // Flow control holds us: wait until this message is taken. Awaiting every send would be slow.
        blockedWaits++;
        await p;
      } else if (i % yieldEvery === 0) {
        // Let incoming frames (deliveries, credits) in, or a long burst starves them.
        await yieldToIo();
      }
      if (c.burst !== undefined && i % c.burst === 0 && i < c.count) await sleep(c.intervalMs ?? 1);
    }
  } finally {
    sending = false;
  }
  return { sent: c.count, elapsedMs: performance.now() - t0, blockedWaits };
}

async function pingPong(c: Extract<Command, { cmd: 'pingpong' }>): Promise<PingPongResult> {
  const g = group!;
  const need = g.view.members.length - 1;
  const rttMs: number[] = [];
  for (let r = 0; r < c.rounds; r++) {
    const ping = makePayload(KIND_PING, Math.max(MIN_PAYLOAD_BYTES, c.size));
    const round = sent + 1;
    const t0 = performance.now();
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve, reject) => {
      pinger = { round, pongs: 0, need, done: resolve };
      timer = setTimeout(() => reject(new Error(`ping ${round}: ${pinger?.pongs ?? 0}/${need} pongs after ${c.timeoutMs} ms`)), c.timeoutMs);
      cast(ping).catch(reject);
    }).finally(() => {
      clearTimeout(timer);
      pinger = null;
    });
    rttMs.push(performance.now() - t0);
  }
  return { rttMs };
}

function nakBuffered(): number {
  return node?.metrics.snapshot().gauges['horus_nak_buffered_bytes'] ?? 0;
}

function summary(): Summary {
  const mem = process.memoryUsage();
  const cpu = process.cpuUsage();
  const t = node?.env.transport;
  return {
    endpoint: node?.endpoint ?? '',
    memberId: selfId,
    sent,
    sentHash: verify ? sentHash : 0,
    delivered,
    senders: [...senders.values()].map((s) => ({ ...s, hash: verify ? s.hash : 0 })),
    violations,
    phase: { delivered: phaseDelivered, elapsedMs: performance.now() - phaseStart, latencyMs },
    rss: mem.rss,
    heapUsed: mem.heapUsed,
    cpuUs: cpu.user + cpu.system,
    nakBufferedBytes: nakBuffered(),
    metrics: node?.metrics.snapshot() ?? { counters: {}, gauges: {} },
    transport: t instanceof TcpTransport ? t.stats() : null,
  };
}

function expect(c: Extract<Command, { cmd: 'expect' }>): Promise<ExpectResult> {
  if (phaseDelivered >= c.total) return Promise.resolve({ delivered: phaseDelivered, elapsedMs: performance.now() - phaseStart });
  return new Promise<ExpectResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      expectDone = null;
      expectTarget = Infinity;
      const per = [...senders.values()].map((s) => `${s.src}: ${s.count}`).join(', ');
      reject(new Error(`${selfId}: ${phaseDelivered}/${c.total} delivered after ${c.timeoutMs} ms (per sender ${per})`));
    }, c.timeoutMs);
    expectTarget = c.total;
    expectDone = (r) => {
      clearTimeout(timer);
      resolve(r);
    };
  });
}

let statsTimer: NodeJS.Timeout | null = null;

async function handle(c: Command): Promise<CommandResults[keyof CommandResults]> {
  switch (c.cmd) {
    case 'listen': {
      node = await createNode({ listen: `${c.host}:${c.port}`, logger: pinoLogger({ level: c.logLevel }) });
      selfId = node.endpoint;
      // rss() alone: the full memoryUsage() walks the heap and showed in profiles.
      statsTimer = setInterval(() => {
        post({ ev: 'stats', t: wallNow(), rss: process.memoryUsage.rss(), nakBufferedBytes: nakBuffered(), delivered });
      }, c.statsIntervalMs);
      statsTimer.unref();
      return { endpoint: selfId, pid: process.pid };
    }
    case 'join': {
      sampleEvery = c.sampleEvery;
      verify = c.verify;
      // A fixed membership: the group is usable at once (join resolves with it).
      group = await node!.join(c.group, { members: c.members, ...(c.stack !== undefined ? { stack: c.stack } : {}) });
      group.on('message', onMessage);
      group.on('error', (err: Error) => violation(`group error: ${err.message}`));
      // Senders are named by member id, which need not be the node's endpoint.
      selfId = group.localId;
      return { members: c.members.length, memberId: selfId };
    }
    case 'send':
      return sendMany(c);
    case 'expect':
      return expect(c);
    case 'phase':
      phaseStart = performance.now();
      phaseDelivered = 0;
      latencyMs = [];
      return {};
    case 'pingpong':
      return pingPong(c);
    case 'summary':
      return summary();
    case 'close':
      closing = true;
      if (statsTimer !== null) clearInterval(statsTimer);
      await node?.close();
      return {};
  }
}

function post(m: ChildMessage): void {
  if (process.connected) process.send!(m);
}

function fatal(err: unknown): void {
  post({ ev: 'fatal', error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  process.exitCode = 1;
}

if (process.send === undefined) {
  console.error('member-process.ts must be started with an IPC channel (child_process.fork)');
  process.exit(2);
}
process.on('uncaughtException', fatal);
process.on('unhandledRejection', fatal);
// The parent is gone (or killed us off): nothing left to do.
process.on('disconnect', () => process.exit(0));
process.on('message', (m: Request) => {
  handle(m).then(
    (result) => {
      post({ rid: m.rid, ok: true, result });
      if (m.cmd === 'close') setImmediate(() => process.exit(0));
    },
    (err: unknown) => post({ rid: m.rid, ok: false, error: err instanceof Error ? err.message : String(err) }),
  );
});
