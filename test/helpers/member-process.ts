// One Horus member in its own process, driven by a parent over IPC (see cluster.ts).
// Run as `node --import tsx test/helpers/member-process.ts` with an IPC channel (child_process.fork).
//
// It keeps no per-message history: per sender it tracks the last id delivered, counts, FIFO/duplicate
// violations and a running hash of the payload bytes, so 300k deliveries cost a few hundred bytes.
import { createHash } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToIo, setTimeout as sleep } from 'node:timers/promises';
import { createNode } from '../../src/api/create-node.js';
import type { Delivery } from '../../src/api/delivery.js';
import type { Group } from '../../src/api/group.js';
import type { HorusNode } from '../../src/api/node.js';
import type { HistoryEvent, HistoryRecorder } from '../../src/core/history.js';
import { messageName } from '../../src/core/history.js';
import type { LogLevel } from '../../src/core/logger.js';
import { nodeOfMember } from '../../src/core/member-id.js';
import { nameHash } from '../../src/sim/checkers/vsync.js';
import { pinoLogger } from '../../src/obs/pino-logger.js';
import { TcpTransport, type TcpTransportStats } from '../../src/transport/tcp-transport.js';
import { postToParent, reportFatal as fatal, serveIpc } from '../../bench/lib/ipc.js';
import { wallNow, wallOffset } from '../../src/obs/wall-clock.js';

// --- protocol (shared with cluster.ts through type-only imports) --------------------------------------

export type Command =
  | {
      cmd: 'listen';
      host: string;
      port: number;
      logLevel: LogLevel;
      statsIntervalMs: number;
      /** Other nodes' `host:port`, for the name service (dynamic groups). */
      seeds?: string[];
      /** Record the node's HistoryEvents to this file, one JSON object a line (see FileHistory). */
      historyFile?: string;
    }
  | { cmd: 'join'; group: string; members: string[]; stack?: string; sampleEvery: number; verify: boolean }
  /** Send `count` data messages of `size` bytes; with `burst`, pause `intervalMs` after each burst. */
  | { cmd: 'send'; count: number; size: number; burst?: number; intervalMs?: number; yieldEvery?: number; order?: 'fifo' | 'causal' | 'total'; safe?: boolean }
  /** Answer once this phase has delivered `total` data messages (from all senders, own included). */
  | { cmd: 'expect'; total: number; timeoutMs: number }
  /** Start a new measurement phase: zero the phase counters and latency samples. */
  | { cmd: 'phase' }
  /** Unloaded group round trip: fbcast a ping, wait for a pong from every other member, repeat. */
  | { cmd: 'pingpong'; rounds: number; size: number; timeoutMs: number }
  | { cmd: 'summary' }
  /**
   * Join a dynamic group (GMS) through the seeds, or found it if nobody knows it. `state`:
   * 'names' keeps the set of delivered message names as replicated state (the simulator's app) and
   * records a 'state' event at a joiner's first view; 'blob' offers the bytes of `blob` as state.
   * `api: 'join'` goes through HorusNode.join; the default, 'joinNow', attaches the listeners
   * before the first view (join() resolves too late to see the messages released with it).
   */
  | {
      cmd: 'djoin';
      group: string;
      stack?: string;
      create?: boolean;
      state: 'names' | 'blob' | 'none';
      api?: 'join' | 'joinNow';
      timeoutMs?: number;
      /** How long the seeds are asked about the group (join()'s default: 500 ms). */
      lookupTimeoutMs?: number;
    }
  /** Make `bytes` of pseudo-random state for 'blob' groups; answers its sha256. */
  | { cmd: 'blob'; bytes: number }
  /**
   * Multicast every `intervalMs` in the dynamic group (0 stops); some messages are `bigSize` bytes.
   * `busyMs`: after each send, keep the event loop busy that long (a slow handler, a stalled process).
   * `orders`: cycle through these orders (default fbcast only).
   */
  | {
      cmd: 'traffic';
      intervalMs: number;
      size: number;
      bigSize?: number;
      bigEvery?: number;
      busyMs?: number;
      orders?: ('fifo' | 'causal' | 'total')[];
      /** Every `safeEvery`-th message is sent with `{ safe: true }` (default: none). */
      safeEvery?: number;
    }
  | { cmd: 'status' }
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

export interface ViewInfo {
  id: number;
  members: string[];
}

export interface DynJoinResult {
  memberId: string;
  view: ViewInfo;
  /** From the join call to the first view (with state) being installed. */
  elapsedMs: number;
  /** The state this member holds after the join ('blob': bytes; 'names': message names). */
  stateSize: number;
  /** sha256 of the blob ('blob' state only). */
  stateSha256: string;
}

export interface DynStatus {
  endpoint: string;
  memberId: string;
  view: ViewInfo;
  blockedReasons: string[];
  flowBlocked: boolean;
  pendingSends: number;
  /** Times this member was excluded (and rejoined as a new member). */
  excluded: number;
  sent: number;
  /** Messages the application's listener saw. */
  delivered: number;
  /** Messages the group delivered (Group.delivered): more than `delivered` if some went by before the listener was on. */
  groupDelivered: number;
  /** The replicated state ('names'): how many message names it holds and their setDigest. */
  count: number;
  digest: number;
  historyEvents: number;
  errors: string[];
}

export interface CommandResults {
  listen: { endpoint: string; pid: number };
  join: { members: number; memberId: string };
  send: SendResult;
  expect: ExpectResult;
  phase: Record<string, never>;
  pingpong: PingPongResult;
  summary: Summary;
  djoin: DynJoinResult;
  blob: { bytes: number; sha256: string };
  traffic: { sent: number };
  status: DynStatus;
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
/** A view installed in a dynamic group; `t` is ms since the epoch (comparable across local processes). */
export interface ViewEvent {
  ev: 'view';
  t: number;
  memberId: string;
  view: ViewInfo;
}
export type ChildEvent = StatsEvent | ViewEvent | { ev: 'excluded'; t: number; memberId: string } | { ev: 'fatal'; error: string };
export type ChildMessage = Reply | ChildEvent;

// --- payload layout --------------------------------------------------------------------------------
//   0      u8     kind (data, ping, pong)
//   1..5   u32le  the sender's message number: must equal Delivery.id
//   5..13  f64le  send time, ms since the epoch (src/obs/wall-clock.ts: comparable across local processes)
//   13..   pong: u32le ping number; otherwise filler from a template
export const KIND_DATA = 0;
export const KIND_PING = 1;
export const KIND_PONG = 2;
export const PAYLOAD_HEADER_BYTES = 13;
export const MIN_PAYLOAD_BYTES = 17;

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

/** The order and safety of the current 'send' command (benchmarks of cbcast, abcast, safe). */
let sendOrder: 'fifo' | 'causal' | 'total' = 'fifo';
let sendSafe = false;

function cast(payload: Buffer): Promise<void> {
  sent++;
  if (verify) sentHash = fnv1a(sentHash, payload);
  if (sendOrder === 'fifo' && !sendSafe) return group!.fbcast(payload);
  return group!.cast(sendOrder, payload, sendSafe ? { safe: true } : undefined);
}

async function sendMany(c: Extract<Command, { cmd: 'send' }>): Promise<SendResult> {
  if (sending) throw new Error('a send is already running');
  sendOrder = c.order ?? 'fifo';
  sendSafe = c.safe === true;
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

// --- dynamic groups (GMS): history, replicated state, background traffic -----------------------------

/**
 * Writes HistoryEvents to a file, one JSON object a line, with `at` turned into ms since the epoch.
 * Everything but deliveries is written at once with a synchronous write, flushing what is buffered
 * before it: a 'send' is in the file before its message can leave the process, so a member killed
 * with SIGKILL leaves no delivery of a message whose send is missing. Deliveries are flushed every
 * 50 ms (a killed member's last ones may be lost: it installs no later view, so the checker needs them not).
 */
class FileHistory implements HistoryRecorder {
  private buf: string[] = [];
  count = 0;
  private fd: number | null;
  private readonly timer: NodeJS.Timeout;
  constructor(path: string) {
    this.fd = openSync(path, 'a');
    this.timer = setInterval(() => this.flush(), 50);
    this.timer.unref();
  }
  record(ev: HistoryEvent): void {
    this.count++;
    this.buf.push(JSON.stringify({ ...ev, at: wallOffset() + ev.at }));
    if (ev.k !== 'deliver') this.flush();
  }
  flush(): void {
    if (this.buf.length === 0 || this.fd === null) return;
    writeSync(this.fd, this.buf.join('\n') + '\n');
    this.buf = [];
  }
  close(): void {
    this.flush();
    clearInterval(this.timer);
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

let history: FileHistory | null = null;

const dyn = {
  mode: 'none' as 'names' | 'blob' | 'none',
  /** 'names': the message names delivered (or received as state), and their order-insensitive digest. */
  names: new Set<string>(),
  digest: 0,
  blob: Buffer.alloc(0) as Buffer,
  /** The next view is this member's first (as a joiner): record its state right after it. */
  firstAsJoiner: false,
  excluded: 0,
  sent: 0,
  delivered: 0,
  errors: [] as string[],
  traffic: null as NodeJS.Timeout | null,
};

function dynError(text: string): void {
  if (dyn.errors.length < 20) dyn.errors.push(text);
}

function viewInfo(g: Group): ViewInfo {
  return { id: g.view.id, members: [...g.view.members] };
}

function stateHandlers(): { get(): unknown; set(s: unknown): void } {
  return {
    get: () => (dyn.mode === 'blob' ? dyn.blob : [...dyn.names]),
    set: (s) => {
      if (dyn.mode === 'blob') {
        dyn.blob = Buffer.isBuffer(s) ? s : Buffer.from(s as Uint8Array);
        return;
      }
      dyn.names = new Set(s as string[]);
      dyn.digest = 0;
      for (const n of dyn.names) dyn.digest = (dyn.digest + nameHash(n)) | 0;
    },
  };
}

/** The listeners of a dynamic group, as scenario-vsync.ts's Member has them. */
function wireDynamic(g: Group, joiner: boolean): void {
  dyn.firstAsJoiner = joiner;
  g.on('message', (d: Delivery) => {
    dyn.delivered++;
    if (dyn.mode !== 'names') return;
    const name = messageName(d.src, d.id);
    if (dyn.names.has(name)) dynError(`${g.localId} delivered ${name}, which its state already holds`);
    dyn.names.add(name);
    dyn.digest = (dyn.digest + nameHash(name)) | 0;
  });
  g.on('view', (v: { id: number; members: readonly string[] }) => {
    if (dyn.firstAsJoiner && dyn.mode === 'names') {
      history?.record({ k: 'state', at: performance.now(), node: g.localId, group: g.name, view: v.id, count: dyn.names.size, digest: dyn.digest });
    }
    dyn.firstAsJoiner = false;
    post({ ev: 'view', t: wallNow(), memberId: g.localId, view: { id: v.id, members: [...v.members] } });
  });
  g.on('excluded', () => {
    // The node rejoins as a new member, with state: start from nothing, as the simulator's app does.
    dyn.excluded++;
    dyn.firstAsJoiner = true;
    dyn.names = new Set();
    dyn.digest = 0;
    post({ ev: 'excluded', t: wallNow(), memberId: g.localId });
  });
  g.on('error', (err: Error) => dynError(`group error: ${err.message}`));
}

async function dynJoin(c: Extract<Command, { cmd: 'djoin' }>): Promise<DynJoinResult> {
  const n = node!;
  if (group !== null) throw new Error('already in a group');
  dyn.mode = c.state;
  const opts = { ...(c.stack !== undefined ? { stack: c.stack } : {}), ...(c.state !== 'none' ? { state: stateHandlers() } : {}) };
  const t0 = performance.now();
  let g: Group;
  const timeoutMs = c.timeoutMs ?? 30_000;
  const within = <T>(p: Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${n.endpoint}: no first view in ${c.group} after ${timeoutMs} ms`)), timeoutMs);
    });
    return Promise.race([p, late]).finally(() => clearTimeout(timer));
  };
  if (c.api === 'join') {
    g = await within(
      n.join(c.group, { ...opts, create: c.create ?? true, ...(c.lookupTimeoutMs !== undefined ? { lookupTimeoutMs: c.lookupTimeoutMs } : {}) }),
    );
    wireDynamic(g, false);
  } else {
    // What join() does, with the listeners on before the first view.
    const info = await n.lookup(c.group, c.lookupTimeoutMs ?? 500);
    const contacts = info ? info.members.filter((m) => nodeOfMember(m) !== n.id) : [];
    if (contacts.length === 0 && c.create === false) throw new Error(`nobody knows group ${c.group}`);
    g = n.joinNow(c.group, { ...opts, contacts });
    wireDynamic(g, contacts.length > 0);
    await within(g.ready);
  }
  const elapsedMs = performance.now() - t0;
  group = g;
  selfId = g.localId;
  return {
    memberId: g.localId,
    view: viewInfo(g),
    elapsedMs,
    stateSize: dyn.mode === 'blob' ? dyn.blob.length : dyn.names.size,
    stateSha256: dyn.mode === 'blob' ? createHash('sha256').update(dyn.blob).digest('hex') : '',
  };
}

function makeBlob(bytes: number): { bytes: number; sha256: string } {
  const b = Buffer.allocUnsafe(bytes);
  // xorshift32, word by word: fast, and no two chunks alike.
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
  return { bytes, sha256: createHash('sha256').update(b).digest('hex') };
}

function setTraffic(c: Extract<Command, { cmd: 'traffic' }>): { sent: number } {
  if (dyn.traffic !== null) clearInterval(dyn.traffic);
  dyn.traffic = null;
  if (c.intervalMs <= 0) return { sent: dyn.sent };
  let tick = 0;
  dyn.traffic = setInterval(() => {
    const g = group;
    // Sends queue while a view change or a rejoin holds them; keep that queue short.
    if (g === null || g.isClosed || closing || g.pendingSends > 8) return;
    tick++;
    const size = c.bigEvery !== undefined && tick % c.bigEvery === 0 ? (c.bigSize ?? 32 * 1024) : c.size;
    const b = Buffer.allocUnsafe(Math.max(1, size));
    template.copy(b, 0, tick % 1024, (tick % 1024) + Math.min(size, template.length - 1024));
    dyn.sent++;
    const order = c.orders === undefined || c.orders.length === 0 ? 'fifo' : c.orders[tick % c.orders.length]!;
    const safe = c.safeEvery !== undefined && c.safeEvery > 0 && tick % c.safeEvery === 0;
    g.cast(order, b, safe ? { safe: true } : undefined).catch((err: unknown) => {
      if (!closing) dynError(`fbcast: ${err instanceof Error ? err.message : String(err)}`);
    });
    if (c.busyMs !== undefined) {
      const until = performance.now() + c.busyMs;
      while (performance.now() < until);
    }
  }, c.intervalMs);
  return { sent: dyn.sent };
}

function dynStatus(): DynStatus {
  const g = group;
  history?.flush();
  return {
    endpoint: node?.endpoint ?? '',
    memberId: g?.localId ?? '',
    view: g ? viewInfo(g) : { id: 0, members: [] },
    blockedReasons: g ? g.blockedReasons : [],
    flowBlocked: g?.blocked ?? false,
    pendingSends: g?.pendingSends ?? 0,
    excluded: dyn.excluded,
    sent: dyn.sent,
    delivered: dyn.delivered,
    groupDelivered: g?.delivered ?? 0,
    count: dyn.names.size,
    digest: dyn.digest,
    historyEvents: history?.count ?? 0,
    errors: dyn.errors,
  };
}

let statsTimer: NodeJS.Timeout | null = null;

async function handle(c: Command): Promise<CommandResults[keyof CommandResults]> {
  switch (c.cmd) {
    case 'listen': {
      if (c.historyFile !== undefined) history = new FileHistory(c.historyFile);
      node = await createNode({
        listen: `${c.host}:${c.port}`,
        logger: pinoLogger({ level: c.logLevel }),
        ...(c.seeds !== undefined ? { seeds: c.seeds } : {}),
        ...(history !== null ? { recorder: history } : {}),
      });
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
    case 'djoin':
      return dynJoin(c);
    case 'blob':
      return makeBlob(c.bytes);
    case 'traffic':
      return setTraffic(c);
    case 'status':
      return dynStatus();
    case 'close':
      closing = true;
      if (statsTimer !== null) clearInterval(statsTimer);
      if (dyn.traffic !== null) clearInterval(dyn.traffic);
      await node?.close();
      history?.close();
      return {};
  }
}

function post(m: ChildMessage): void {
  postToParent(m);
}

serveIpc<Request>('member-process.ts', handle);
