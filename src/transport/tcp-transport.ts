import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import type { FrameHandler, PeerEvent, PiecedFrameHandler, PeerIdentity, Timer, Transport, Unwatch } from '../core/env.js';
import { ConfigError, HorusError, ProtocolError } from '../core/errors.js';
import { RateLimitedLog, silentLogger, type Logger } from '../core/logger.js';
import { endpointOf, makeNodeId, parseEndpoint, type NodeId } from '../core/node-id.js';
import { Reader } from '../codec/reader.js';
import { Writer } from '../codec/writer.js';
import { DEFAULT_MAX_FRAME_SIZE, FRAME_HEADER_BYTES, FrameDecoder, MAX_ENCODABLE_FRAME_SIZE, encodeControlWord, encodeFrames } from './frame-decoder.js';
import { PeerIdentities } from './peer-identities.js';
import { alignedEvery } from './aligned-ticks.js';
import { ReadHolds } from './read-holds.js';
import {
  AcceptorHandshake,
  DialerHandshake,
  SECURE_HELLO_FRAME,
  authError,
  isRecordFailure,
  ownIdentity,
  sealAcceptor,
  sealDialer,
  PROTOCOL_VERSION,
  type ChannelSecurity,
} from './secure-channel.js';

// ---------------------------------------------------------------------------------------------------
// HELLO: the first frame on every connection, in both directions.
//   magic 'HRUS' | version u8 | kind u8 | node id (uvar length + UTF-8, printable ASCII)
// The connecting side sends HELLO_CONNECT; the accepting side answers HELLO_ACCEPT with its own id, so
// the connecting side learns which incarnation it reached before it writes any data.
// ---------------------------------------------------------------------------------------------------

export const HELLO_MAGIC: Uint8Array = Uint8Array.of(0x48, 0x52, 0x55, 0x53); // 'HRUS'
/** The plaintext HELLO's version: defined beside the secure channel's, which tells a security-off peer by it. */
export { PROTOCOL_VERSION };
export const HELLO_CONNECT = 1;
export const HELLO_ACCEPT = 2;
export type HelloKind = typeof HELLO_CONNECT | typeof HELLO_ACCEPT;
export const MAX_NODE_ID_BYTES = 512;
/** Default frame limit before the handshake: a stranger cannot make us buffer more than this. */
export const MAX_HELLO_FRAME = 1024;
/** A HELLO with the longest node id must fit under the pre-handshake limit. */
const MIN_HELLO_FRAME = 16 + MAX_NODE_ID_BYTES;

const PRINTABLE_ASCII = /^[\x21-\x7e]+$/;
const INCARNATION = /^[\x21-\x2e\x30-\x7e]+$/; // printable ASCII without '/'

/** `host:port/incarnation` with a connectable port and printable ASCII only. */
export function isValidNodeId(id: string): boolean {
  if (id.length > MAX_NODE_ID_BYTES || !PRINTABLE_ASCII.test(id)) return false;
  const slash = id.lastIndexOf('/');
  if (slash <= 0 || slash === id.length - 1) return false;
  try {
    return parseEndpoint(id.slice(0, slash)).port > 0;
  } catch {
    return false;
  }
}

/** The body of a HELLO frame (without the stream's length prefix). */
export function encodeHello(kind: HelloKind, id: NodeId): Buffer {
  const w = new Writer(16 + id.length);
  w.bytes(HELLO_MAGIC);
  w.u8(PROTOCOL_VERSION);
  w.u8(kind);
  w.str(id);
  return w.toBytes();
}

/** Parses a HELLO body of the expected kind; any deviation is a `ProtocolError`. */
export function decodeHello(frame: Buffer, kind: HelloKind): NodeId {
  if (frame.length < HELLO_MAGIC.length + 2 || HELLO_MAGIC.some((b, i) => frame[i] !== b)) {
    throw new ProtocolError('ERR_PROTOCOL', 'first frame is not a Horus HELLO (bad magic)');
  }
  const r = new Reader(frame, HELLO_MAGIC.length);
  const version = r.u8();
  if (version !== PROTOCOL_VERSION) throw new ProtocolError('ERR_PROTOCOL', `unsupported protocol version ${version}`);
  const k = r.u8();
  if (k !== kind) throw new ProtocolError('ERR_PROTOCOL', `expected HELLO kind ${kind}, got ${k}`);
  const id = r.str(MAX_NODE_ID_BYTES);
  if (r.remaining !== 0) throw new ProtocolError('ERR_MALFORMED', `${r.remaining} trailing bytes after HELLO`);
  if (!isValidNodeId(id)) throw new ProtocolError('ERR_MALFORMED', `HELLO carries an invalid node id ${JSON.stringify(id.slice(0, 80))}`);
  return id;
}

// ---------------------------------------------------------------------------------------------------
// Liveness: after the HELLO, the dialing side sends PING control words on its connection when it has
// heard nothing for pingIntervalMs; the accepting side answers each PING, and any data it receives,
// with a PONG on the same connection (at most one per half ping interval, and only while the dialer
// reads them). A connection that has heard no PONG for stallTimeoutMs is suspect (a cut leaves TCP in
// retransmission back-off): a new dial starts beside it at once, writes wait in the queue, and the
// first of the two to answer wins; the loser is reset, so a stuck one delivers no stale burst later.
// ---------------------------------------------------------------------------------------------------

export const CONTROL_PING = 1;
export const CONTROL_PONG = 2;
const PING_WORD = encodeControlWord(CONTROL_PING);
const PONG_WORD = encodeControlWord(CONTROL_PONG);
/** A PONG is not written while this much is unread in the socket: a peer that never reads gets no more. */
const MAX_PONG_BACKLOG_BYTES = 64;
/** A connection that heard from its peer for this long after opening was healthy: back-off starts afresh. */
const HEALTHY_CONNECTION_MS = 1000;
/**
 * A connection whose silence was a slow peer (it answered again before the replacement dial did)
 * waits twice as long before the next stall, up to this many stallTimeoutMs, until the peer has
 * not been slow for SLOW_PEER_MEMORY_MS. Tens of processes starved of CPU went silent for 1-18 s;
 * each silence dialled a replacement the slow peer also had to accept, 400 dials a second in all.
 */
const MAX_STALL_STRETCH = 8;
const SLOW_PEER_MEMORY_MS = 10_000;
/**
 * Per frame-bearing read, a peer's longest recent gap between frames shrinks by this factor (so a
 * burst after one long pause forgets it in a few dozen reads; see OutboundPeer.frameGap).
 */
const FRAME_GAP_DECAY = 0.9;
/** A peer's contact restarts a dial no sooner than this after the last one began (a HELLO needs a round trip). */
const CONTACT_REDIAL_MIN_MS = 250;
/** Dials to one peer at once (see redialIntervalMs). */
const MAX_PARALLEL_DIALS = 8;

// ---------------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------------

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.number().int().min(min).max(max);

const optionsSchema = z
  .object({
    /** `host:port` to bind; port 0 picks an ephemeral port. */
    listen: z.string().min(1),
    /** Distinguishes restarts of the process on the same endpoint. */
    incarnation: z.string().min(1).max(128).regex(INCARNATION, 'printable ASCII without "/"'),
    /** Host written into `localId` when the bind host is not what peers should dial (e.g. 0.0.0.0). */
    advertiseHost: z.string().min(1).optional(),
    maxFrameSize: int(1, MAX_ENCODABLE_FRAME_SIZE).default(DEFAULT_MAX_FRAME_SIZE),
    /** Socket write buffer level at which we stop writing until 'drain'. */
    highWaterBytes: int(1024).default(1024 * 1024),
    /** Per-peer bytes queued in the transport beyond which new frames are dropped. */
    maxQueuedBytes: int(1024).default(64 * 1024 * 1024),
    /** A batch of small frames is written once it reaches this size, else at the end of the tick. */
    batchBytes: int(256, 16 * 1024 * 1024).default(64 * 1024),
    /** Bytes queued in the transport for all peers together beyond which new frames are dropped. */
    maxTotalQueuedBytes: int(1024).default(256 * 1024 * 1024),
    /** A dial whose SYN has no answer by then is abandoned and retried: SYNs into a cut hang for long. */
    connectTimeoutMs: int(1).default(1000),
    /** A HELLO exchange must be complete this long after the dial or accept (absolute, not idle), both sides. */
    handshakeTimeoutMs: int(1).default(5000),
    /**
     * While a dial's SYN has no answer, another starts beside it this often (each still given up after
     * connectTimeoutMs), so after a cut heals a fresh SYN goes out within this rather than at the
     * kernel's next SYN retransmission; the first to finish its HELLO wins (0: one dial at a time).
     * A dial whose SYN was answered but not its HELLO gets one beside it after connectTimeoutMs.
     */
    redialIntervalMs: int(0).default(250),
    /** An open outbound connection that has heard nothing for this long sends a PING (the peer answers PONG). */
    pingIntervalMs: int(10).default(200),
    /** An open outbound connection that has heard nothing back for this long is replaced (0: never). */
    stallTimeoutMs: int(0).default(600),
    /**
     * An open outbound connection to which nothing was written for this long is quiet: it sends no
     * PINGs, and its silence counts again from the next write (0: always PING). A large group's
     * members each hold a connection to most others but write to few of them; PINGs and PONGs on
     * the rest were most of an idle member's socket work (63 connections each at 64 members).
     */
    quietAfterMs: int(0).default(2000),
    /**
     * Frames a peer sends us (on its own connection) count as hearing from it on ours: while they
     * arrive we send it no PING, and we answer its data with no PONG while we write to it ourselves
     * (it hears our frames). A peer's PINGs are always answered. In a large group every member
     * writes FD beats to the relays and reads their tables: those were pinged and ponged besides,
     * about half of an idle member's socket writes at 64 members. False: PONGs alone prove a path.
     */
    framesProveLife: z.boolean().default(true),
    /** Frame limit until the HELLO is done: a stranger cannot make us buffer more than this. */
    maxHelloFrameSize: int(MIN_HELLO_FRAME, 64 * 1024).default(MAX_HELLO_FRAME),
    /** Inbound connections open at once (handshake done or not); more are refused. */
    maxConnections: int(1).default(1024),
    /** Inbound connections open at once from one remote address; more are refused. */
    maxConnectionsPerAddress: int(1).default(256),
    /** Inbound connections still in their handshake; over this the oldest is closed to make room. */
    maxUnauthenticated: int(1).default(128),
    /** Inbound connections still in their handshake from one remote address; more are refused. */
    maxUnauthenticatedPerAddress: int(1).default(16),
    /** A frame started and not finished is checked once per this interval (0 disables the check). */
    frameProgressIntervalMs: int(0).default(3000),
    /** ...and the connection is closed unless this many of its bytes arrived in the interval. */
    minFrameProgressBytes: int(0).default(4096),
    /** ...or once one frame has been arriving for longer than this, whatever its pace. */
    maxFrameReadMs: int(1).default(60_000),
    /** Bytes of frames in progress on all inbound connections together; over it the biggest holder is closed. */
    maxBufferedBytes: int(1).default(256 * 1024 * 1024),
    reconnectMinMs: int(1).default(50),
    /** Back-off cap between dials; a peer that reaches us is dialled at once whatever the back-off. */
    reconnectMaxMs: int(1).default(1000),
    /** A peer unreachable for this long loses its queued frames and we stop dialing it until the next send. */
    dropQueuedAfterMs: int(0).default(30_000),
    /** How long `close()` lets open connections flush queued frames before destroying them. */
    closeGraceMs: int(0).default(200),
    /**
     * The longest a peer's connections stay unread at a stretch on request (`holdReads`); then they
     * are read again for as long before a request still standing pauses them again (read-holds.ts).
     */
    maxReadHoldMs: int(1, 1000).default(20),
  })
  .refine((o) => o.reconnectMinMs <= o.reconnectMaxMs, { message: 'reconnectMinMs must be <= reconnectMaxMs' })
  .refine((o) => o.stallTimeoutMs === 0 || o.stallTimeoutMs >= 2 * o.pingIntervalMs, {
    message: 'stallTimeoutMs must be 0 or at least twice pingIntervalMs',
  })
  .refine((o) => o.quietAfterMs === 0 || o.quietAfterMs > o.stallTimeoutMs, { message: 'quietAfterMs must be 0 or more than stallTimeoutMs' })
  .refine((o) => o.maxQueuedBytes >= o.maxFrameSize + FRAME_HEADER_BYTES, { message: 'maxQueuedBytes must hold one frame of maxFrameSize' })
  .refine((o) => o.maxTotalQueuedBytes >= o.maxQueuedBytes, { message: 'maxTotalQueuedBytes must be >= maxQueuedBytes' })
  .refine((o) => o.maxBufferedBytes >= o.maxFrameSize + FRAME_HEADER_BYTES, { message: 'maxBufferedBytes must hold one frame of maxFrameSize' })
  .refine((o) => o.maxConnectionsPerAddress <= o.maxConnections, { message: 'maxConnectionsPerAddress must be <= maxConnections' })
  .refine((o) => o.maxUnauthenticatedPerAddress <= o.maxUnauthenticated, { message: 'maxUnauthenticatedPerAddress must be <= maxUnauthenticated' });

/**
 * The options a node config may set: the transport's limits on what peers can make it hold, and the
 * timings of dialing and of stall detection (consistency is checked when the transport starts).
 * @internal
 */
export const transportLimitsSchema = z
  .object({
    maxFrameSize: int(1, MAX_ENCODABLE_FRAME_SIZE),
    maxQueuedBytes: int(1024),
    maxTotalQueuedBytes: int(1024),
    handshakeTimeoutMs: int(1),
    maxHelloFrameSize: int(MIN_HELLO_FRAME, 64 * 1024),
    maxConnections: int(1),
    maxConnectionsPerAddress: int(1),
    maxUnauthenticated: int(1),
    maxUnauthenticatedPerAddress: int(1),
    frameProgressIntervalMs: int(0),
    minFrameProgressBytes: int(0),
    maxFrameReadMs: int(1),
    maxBufferedBytes: int(1),
    connectTimeoutMs: int(1),
    redialIntervalMs: int(0),
    pingIntervalMs: int(10),
    stallTimeoutMs: int(0),
    reconnectMinMs: int(1),
    reconnectMaxMs: int(1),
  })
  .partial()
  .strict();
export type TransportLimits = z.infer<typeof transportLimitsSchema>;

export type TcpTransportOptions = z.input<typeof optionsSchema> & {
  log?: Logger;
  /** How connections are authenticated and sealed (default 'off': plaintext HELLO); see secure-channel.ts. */
  security?: ChannelSecurity;
};
type ResolvedOptions = z.output<typeof optionsSchema>;

export interface TcpTransportStats {
  /** Data frames delivered to the frame handler / handed to sockets. */
  framesIn: number;
  framesOut: number;
  /** Wire bytes of those frames, length prefixes included (HELLOs excluded). */
  bytesIn: number;
  bytesOut: number;
  /** Socket reads on inbound connections (data events) and batches handed to outbound sockets (one corked write each): bytes per syscall. */
  reads: number;
  writes: number;
  /** All frames this transport dropped on purpose (sum of the `dropped*` counts). */
  dropped: number;
  droppedQueueFull: number;
  /** Queued for an incarnation other than the one the peer's HELLO announced. */
  droppedStale: number;
  droppedUnreachable: number;
  /** Oversized, or addressed to something that is not `host:port[/incarnation]`. */
  droppedInvalid: number;
  droppedNoHandler: number;
  /** Frames not queued because all peers' queues together hold maxTotalQueuedBytes. */
  droppedTotalQueueFull: number;
  /** Connections closed because of bad input (bad HELLO, oversized or unexpected frame). */
  malformed: number;
  /** Of those, connections closed because authentication failed (a bad proof or certificate, another security mode, a record that does not authenticate). */
  authFailures: number;
  /** Inbound connections their peer closed before finishing the handshake (a truncated handshake). */
  handshakesAbandoned: number;
  /** Inbound connections refused: maxConnections open already, none to close for fairness. */
  refusedTotal: number;
  /** At maxConnections, connections of the address holding the most closed to let another in. */
  evictedOverTotal: number;
  /** Connections closed because frames in progress on all connections exceeded maxBufferedBytes. */
  closedOverBuffer: number;
  /** Inbound connections refused: maxConnectionsPerAddress open from that address. */
  refusedPerAddress: number;
  /** Inbound connections refused: maxUnauthenticatedPerAddress in their handshake from that address. */
  refusedUnauthenticated: number;
  /** Connections in their handshake closed to make room for a new one (maxUnauthenticated). */
  evictedUnauthenticated: number;
  /** Inbound connections closed for not completing the HELLO within handshakeTimeoutMs. */
  handshakeTimeouts: number;
  /** Inbound connections closed for a frame that stalled (too slow, or arriving for too long). */
  slowFrames: number;
  handlerErrors: number;
  connectionsIn: number;
  connectionsOut: number;
  connectFailures: number;
  /** Dials given up for no answer within connectTimeoutMs, each dial (also those beside another) once. */
  connectTimeouts: number;
  /** Open outbound connections that heard nothing for stallTimeoutMs (each then replaced, or recovered). */
  stallsDetected: number;
  /** Silent outbound connections (nothing heard for stallTimeoutMs) replaced by a new one that answered first. */
  stalledReplaced: number;
  /** Silent outbound connections that answered again before their replacement did (a slow peer, not a cut). */
  stallsRecovered: number;
  /** Dials started early because the peer reached us while we waited out a back-off or a lost dial. */
  redialsOnContact: number;
  /** Open connections (ours or the peer's) its end closed or reset: each reported as `closed`. */
  peerClosed: number;
  /** Dials started at once to learn whether a peer that closed a connection still runs. */
  probes: number;
  /** Peers reported `gone`: a dial to their endpoint refused, or answered by a new incarnation. */
  goneRefused: number;
  goneReplaced: number;
  pingsOut: number;
  pongsOut: number;
  /** PINGs not answered: over the rate (one PONG per half ping interval) or the peer is not reading. */
  pingsIgnored: number;
  /** Times a peer's connections were left unread on request (`holdReads`). */
  readHolds: number;
  /** Of those, pauses ended after maxReadHoldMs, whatever was asked. */
  readHoldsCut: number;
  openInbound: number;
  /** Inbound connections still in their handshake. */
  openUnauthenticated: number;
  /** Bytes of frames in progress on all inbound connections. */
  partialBytes: number;
  openOutbound: number;
  queuedBytes: number;
}

type Counters = Omit<TcpTransportStats, 'dropped' | 'openInbound' | 'openUnauthenticated' | 'partialBytes' | 'openOutbound' | 'queuedBytes'>;

// ---------------------------------------------------------------------------------------------------
// Outbound side: one connection per peer endpoint, used only for sending.
// ---------------------------------------------------------------------------------------------------

interface QueueTotal {
  bytes: number;
}

interface QueuedChunk {
  buf: Buffer;
  frames: number;
  /** The node id these frames were addressed to, or null for a bare endpoint. */
  target: NodeId | null;
  /**
   * A by-reference frame's body: the chunk before it ends with the body's length word, so the two go
   * to the same socket back to back (a stream that began with a body would be read as garbage).
   */
  follows: boolean;
}

const EMPTY = Buffer.alloc(0);
const KEEPALIVE_MS = 15_000;
/** Schedules the end-of-tick flush as a microtask (see send). */
const SETTLED: Promise<void> = Promise.resolve();
/**
 * A frame given away (`owned`) at least this large goes to the socket by reference (a piece of a
 * gathered write) instead of being copied into the slab; smaller ones are cheaper to copy than to
 * write as a piece of their own.
 */
const BY_REFERENCE_MIN_BYTES = 8 * 1024;
/** Cap on the send-address cache (one entry per distinct `to` string). */
const MAX_ROUTES = 100_000;

/**
 * Frames for one endpoint, length-prefixed and copied at `send` time into a slab shared by successive
 * batches: each flush hands the socket a view of the bytes added since the last one, so small frames
 * cost no allocation and one write carries many of them. Runs of frames with the same target stay in
 * one chunk so frames for a stale incarnation can be dropped once the peer's HELLO is known.
 */
class OutboundPeer {
  socket: net.Socket | null = null;
  state: 'idle' | 'connecting' | 'open' | 'backoff' = 'idle';
  /** The id the last successful HELLO exchange announced. */
  knownId: NodeId | null = null;
  /** What `send` last named this peer, for events before any HELLO. */
  lastTarget: string;
  /** Last connectivity we reported: null until the first report. */
  up: boolean | null = null;
  failures = 0;
  timer: NodeJS.Timeout | null = null;
  blocked = false;
  dirty = false;
  /** Earlier dials still waiting for an answer beside `socket`, the newest (see redialIntervalMs). */
  olderDials: net.Socket[] = [];
  /** When the newest dial began, and whether a peer's contact may add a fresh one beside it. */
  attemptStartedAt = -Infinity;
  attemptRestartable = true;
  /** When the open connection opened, last heard from its peer, and last sent a PING. */
  openedAt = 0;
  lastHeard = 0;
  lastPingAt = 0;
  /** When frames were last handed to the open connection (see quietAfterMs). */
  lastWriteAt = 0;
  /**
   * When the peer's frames last arrived (framesProveLife), and the longest gap between them lately
   * (a decaying max): a peer that talks every `frameGap` ms is not pinged for silences that short.
   */
  frameAt = 0;
  frameGap = 0;
  /**
   * The open connection that stopped answering, kept (writes held back) while a new dial proves the
   * path: whichever answers first wins. Its last answer before the silence began.
   */
  suspect: net.Socket | null = null;
  suspectLastHeard = 0;
  /** The stall timeout for this peer (0: stallTimeoutMs), stretched while it is slow, and when it last was. */
  stallMs = 0;
  lastSlowAt = -Infinity;
  /** Key under which `aliases` maps the endpoint the peer announced to this peer, if not `endpoint`. */
  aliasKey: string | null = null;
  /** The last incarnation reported `gone`: each is reported once. */
  goneReported: NodeId | null = null;
  /**
   * Our last open connection to it was closed from its end (FIN or RST), and none has opened or
   * stalled since. Only then is a refused dial proof that the process is gone: a process that dies
   * closes its connections first. A firewall that rejects (ICMP port unreachable, the iptables
   * default) also refuses dials, but leaves open connections silent: that is a cut, not a death.
   */
  closedByPeer = false;
  /** When a connection it closed last made us probe it (see outboundClosed): rate-limits those probes. */
  closeProbeAt = -Infinity;

  chunks: QueuedChunk[] = [];
  head = 0;
  slab: Buffer = EMPTY;
  start = 0;
  pos = 0;
  curFrames = 0;
  curTarget: NodeId | null = null;
  queuedBytes = 0;
  queuedSince = 0;

  constructor(
    readonly endpoint: string,
    readonly host: string,
    readonly port: number,
    /** Bytes queued for all peers together, kept in step with `queuedBytes`. */
    private readonly total: QueueTotal,
  ) {
    this.lastTarget = endpoint;
  }

  /** Queued bytes left this peer's queue (written, or dropped). */
  release(n: number): void {
    this.queuedBytes -= n;
    this.total.bytes -= n;
  }

  /** Copies one frame in; returns true when a full batch was sealed and should be written now. */
  append(target: NodeId | null, frame: Uint8Array, batchBytes: number): boolean {
    const len = frame.length;
    const need = FRAME_HEADER_BYTES + len;
    let full = false;
    if (target !== this.curTarget) {
      this.seal();
      this.curTarget = target;
    }
    if (this.pos + need > this.slab.length) {
      full = this.pos > this.start;
      this.seal();
      this.newSlab(need > batchBytes ? need : batchBytes);
    }
    if (this.queuedBytes === 0) this.queuedSince = performance.now();
    const s = this.slab;
    let p = this.pos;
    s[p] = len >>> 24;
    s[p + 1] = len >>> 16;
    s[p + 2] = len >>> 8;
    s[p + 3] = len;
    p += FRAME_HEADER_BYTES;
    if (len > 0) s.set(frame, p);
    this.pos = p + len;
    this.curFrames++;
    this.queuedBytes += need;
    this.total.bytes += need;
    return full;
  }

  /**
   * Queues a frame whose bytes the sender gave away (see Transport.send's `owned`): only its length
   * word is copied into the slab; the frame goes to the socket as it is, one more piece of the same
   * gathered write. Returns true when what is queued makes a full batch to write now.
   */
  appendRef(target: NodeId | null, frame: Buffer, batchBytes: number): boolean {
    const len = frame.length;
    if (target !== this.curTarget) {
      this.seal();
      this.curTarget = target;
    }
    if (this.pos + FRAME_HEADER_BYTES > this.slab.length) {
      this.seal();
      this.newSlab(batchBytes);
    }
    if (this.queuedBytes === 0) this.queuedSince = performance.now();
    const s = this.slab;
    const p = this.pos;
    s[p] = len >>> 24;
    s[p + 1] = len >>> 16;
    s[p + 2] = len >>> 8;
    s[p + 3] = len;
    this.pos = p + FRAME_HEADER_BYTES;
    // The length word closes the slab's piece (its frame is counted with the body, so a stale
    // target's retainFor drops both: they share the target).
    this.seal();
    this.chunks.push({ buf: frame, frames: 1, target, follows: true });
    const need = FRAME_HEADER_BYTES + len;
    this.queuedBytes += need;
    this.total.bytes += need;
    return this.queuedBytes >= batchBytes;
  }

  private newSlab(size: number): void {
    this.slab = Buffer.allocUnsafe(size);
    this.start = this.pos = 0;
  }

  seal(): void {
    if (this.pos === this.start) return;
    this.chunks.push({
      buf: this.slab.subarray(this.start, this.pos),
      frames: this.curFrames,
      target: this.curTarget,
      follows: false,
    });
    this.start = this.pos;
    this.curFrames = 0;
  }

  /** Keeps only frames for `id` or a bare endpoint; returns how many frames were dropped. */
  retainFor(id: NodeId): number {
    this.seal();
    let dropped = 0;
    const kept: QueuedChunk[] = [];
    for (let i = this.head; i < this.chunks.length; i++) {
      const c = this.chunks[i]!;
      if (c.target === null || c.target === id) kept.push(c);
      else {
        dropped += c.frames;
        this.release(c.buf.length);
      }
    }
    if (dropped > 0) {
      this.chunks = kept;
      this.head = 0;
    }
    return dropped;
  }

  /** Drops everything queued; returns the number of frames. */
  clear(): number {
    this.seal();
    let frames = 0;
    for (let i = this.head; i < this.chunks.length; i++) frames += this.chunks[i]!.frames;
    this.chunks = [];
    this.head = 0;
    this.release(this.queuedBytes);
    return frames;
  }
}

/** One accepted connection: receive-only. */
interface Inbound {
  socket: net.Socket;
  /** Remote IP address: the key of the per-address limits. */
  address: string;
  remote: string;
  /** The id its HELLO announced; null during the handshake. */
  from: NodeId | null;
  inHandshake: boolean;
  handshakeTimer: NodeJS.Timeout | null;
  decoder: FrameDecoder;
  /** Bytes received and frames delivered, and their values at the last progress check. */
  bytes: number;
  frames: number;
  checkedBytes: number;
  checkedFrames: number;
  /** When the frame in progress at the last check was first seen in progress; -1 for none. */
  partialSince: number;
  /** Bytes of the frame in progress counted in the transport's partialBytes. */
  held: number;
  /** A PING arrived in the chunk being read; when the last PONG went out. */
  pingPending: boolean;
  lastPongAt: number;
  /** Our outbound peer for the endpoint this connection's HELLO announced, and when it was looked up. */
  peer: OutboundPeer | null;
  peerLookupAt: number;
  /** Secure modes: the handshake until it is done, then (until TLS starts) the connection's key. */
  acceptor: AcceptorHandshake | null;
  helloSeen: boolean;
  key: Buffer | null;
  /** Where PONG words are written: the socket, or in secure modes once the handshake is done its TLS stream. */
  out: net.Socket;
}

/** Bytes of frames in progress on an inbound connection. */
function bufferedOf(conn: Inbound): number {
  return conn.decoder.bufferedBytes;
}

interface Route {
  peer: OutboundPeer;
  target: NodeId | null;
}

/** pki: this node's certificate must allow its own id, or peers would refuse it. */
function checkOwnCertificate(security: ChannelSecurity, localId: NodeId): void {
  if (security.mode !== 'pki') return;
  try {
    security.credentials.trust.identify(security.credentials.certificate, localId, security.now?.() ?? Date.now());
  } catch (err) {
    throw new HorusError('ERR_AUTH', `this node's certificate does not allow its own id ${localId}: ${(err as Error).message}`, { cause: err });
  }
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function errorFields(err: unknown): { code: string; error: string } {
  if (err instanceof HorusError) return { code: err.code, error: err.message };
  if (err instanceof Error) return { code: (err as NodeJS.ErrnoException).code ?? err.name, error: err.message };
  return { code: 'ERR_UNKNOWN', error: String(err) };
}

/**
 * The real transport: length-prefixed frames over TCP.
 *
 * Each node dials one outbound connection per peer endpoint and only sends on it; it receives on the
 * connections peers dial to it. Both sides open with a HELLO; the accepting side answers with its own,
 * so a sender addressing `host:port/inc` learns whether it reached that incarnation and drops queued
 * frames for an older one. Frames are batched per peer and written once per tick or per ~64 KiB.
 * Each outbound connection proves it works both ways with PING/PONG (see Liveness above); one that
 * stalls is replaced. A dial whose SYN has no answer gets fresh dials beside it (redialIntervalMs); each is given
 * up after connectTimeoutMs; back-off between failed dials is capped at reconnectMaxMs, and a peer that
 * reaches us (HELLO, PING, data) is dialled at once whatever the back-off.
 * `onPeer` reports the outbound connections: `connected` once the HELLO exchange is done (peer = the id
 * it announced), `disconnected` when one breaks or a dial fails (peer = the last known id, else the
 * address `send` used, which may be a bare `host:port`); repeated failures report once.
 * Bad input closes only the offending connection, counted and logged at a rate limit.
 */
export class TcpTransport implements Transport {
  readonly localId: NodeId;
  readonly maxFrameSize: number;
  private readonly opts: ResolvedOptions;
  private readonly log: Logger;
  private readonly badInput: RateLimitedLog;
  private readonly peerLog: RateLimitedLog;
  private readonly helloConnectFrame: Buffer;
  private readonly helloAcceptFrame: Buffer;
  private readonly peers = new Map<string, OutboundPeer>();
  /** Endpoint a peer announced in its HELLO -> our peer, where we dial it under another (a proxy, NAT). */
  private readonly aliases = new Map<string, OutboundPeer>();
  private readonly routes = new Map<string, Route>();
  private readonly inbound = new Map<net.Socket, Inbound>();
  /** Inbound connections still in their handshake, oldest first. */
  private readonly unauthenticated = new Set<Inbound>();
  private readonly byAddress = new Map<string, { open: number; pending: number }>();
  private readonly queued: QueueTotal = { bytes: 0 };
  /** Bytes of frames in progress on all inbound connections. */
  private partialBytes = 0;
  private lastProgressCheck = performance.now();
  private readonly handshakeTimeoutMs: number;
  private readonly limitLog: RateLimitedLog;
  private readonly progressTimer: NodeJS.Timeout | null = null;
  private readonly livenessTimer: Timer | null = null;
  private readonly livenessTickMs: number;
  private readonly maxParallelDials: number;
  private lastLivenessCheck = performance.now();
  private readonly dirty: OutboundPeer[] = [];
  /**
   * A flush is queued as a microtask: it runs once the current callback (COM's end-of-burst flush,
   * which hands over every frame of the burst) returns, not an event-loop turn later; a turn is
   * tens of microseconds on a busy process, on every hop of a round trip.
   */
  private flushQueued = false;
  private frameHandler: FrameHandler | null = null;
  private piecedHandler: PiecedFrameHandler | null = null;
  private peerHandler: ((ev: PeerEvent) => void) | null = null;
  private readonly peerWatchers = new Set<(ev: PeerEvent) => void>();
  private closed = false;
  private closing: Promise<void> | null = null;
  /** Secure modes: the handshake's settings, the TLS stream over each open outbound socket, peers' proven identities. */
  private readonly security: ChannelSecurity;
  private readonly streams = new WeakMap<net.Socket, net.Socket>();
  private readonly identities = new PeerIdentities();
  /** Frame limit before the handshake is done. */
  private readonly helloLimit: number;
  private readonly c: Counters = {
    framesIn: 0,
    framesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    reads: 0,
    writes: 0,
    droppedQueueFull: 0,
    droppedStale: 0,
    droppedUnreachable: 0,
    droppedInvalid: 0,
    droppedNoHandler: 0,
    droppedTotalQueueFull: 0,
    malformed: 0,
    authFailures: 0,
    handshakesAbandoned: 0,
    refusedTotal: 0,
    evictedOverTotal: 0,
    closedOverBuffer: 0,
    refusedPerAddress: 0,
    refusedUnauthenticated: 0,
    evictedUnauthenticated: 0,
    handshakeTimeouts: 0,
    slowFrames: 0,
    handlerErrors: 0,
    connectionsIn: 0,
    connectionsOut: 0,
    connectFailures: 0,
    connectTimeouts: 0,
    stallsDetected: 0,
    stalledReplaced: 0,
    stallsRecovered: 0,
    redialsOnContact: 0,
    peerClosed: 0,
    probes: 0,
    goneRefused: 0,
    goneReplaced: 0,
    pingsOut: 0,
    pongsOut: 0,
    pingsIgnored: 0,
    readHolds: 0,
    readHoldsCut: 0,
  };
  private readonly readHolds: ReadHolds;

  private constructor(
    private readonly server: net.Server,
    opts: ResolvedOptions,
    localId: NodeId,
    log: Logger,
    security: ChannelSecurity,
  ) {
    this.opts = opts;
    this.security = security;
    this.helloLimit = security.mode === 'off' ? opts.maxHelloFrameSize : Math.max(opts.maxHelloFrameSize, SECURE_HELLO_FRAME);
    const own = ownIdentity(security, localId);
    if (own !== null) this.identities.setOwn(localId, own);
    this.localId = localId;
    this.maxFrameSize = opts.maxFrameSize;
    this.log = log;
    const now = (): number => performance.now();
    this.badInput = new RateLimitedLog(log, now);
    this.peerLog = new RateLimitedLog(log, now);
    this.limitLog = new RateLimitedLog(log, now);
    this.handshakeTimeoutMs = opts.handshakeTimeoutMs;
    if (opts.frameProgressIntervalMs > 0) {
      this.progressTimer = setInterval(() => this.checkPartialFrames(), opts.frameProgressIntervalMs);
      this.progressTimer.unref();
    }
    this.livenessTickMs = Math.max(5, Math.floor(Math.min(opts.pingIntervalMs, opts.redialIntervalMs || Infinity) / 2));
    this.maxParallelDials =
      opts.redialIntervalMs === 0 ? 1 : Math.max(1, Math.min(MAX_PARALLEL_DIALS, Math.ceil(opts.connectTimeoutMs / opts.redialIntervalMs)));
    if (opts.stallTimeoutMs > 0 || this.maxParallelDials > 1) {
      // In the wake-up of the stacks' own ticks of that period (FD, GMS: 100 ms by default).
      this.livenessTimer = alignedEvery(this.livenessTickMs, () => this.checkLiveness(), { ref: false });
    }
    this.helloConnectFrame = encodeFrames([encodeHello(HELLO_CONNECT, localId)]);
    this.helloAcceptFrame = encodeFrames([encodeHello(HELLO_ACCEPT, localId)]);
    this.readHolds = new ReadHolds(opts.maxReadHoldMs, (endpoint) => this.framesFrom(endpoint), this.c);
    server.on('connection', (socket: net.Socket) => this.onConnection(socket));
    server.on('error', (err: Error) => this.log.error('tcp server error', errorFields(err)));
  }

  static async listen(options: TcpTransportOptions): Promise<TcpTransport> {
    const { log: givenLog, security = { mode: 'off' }, ...rest } = options;
    const parsed = optionsSchema.safeParse(rest);
    if (!parsed.success) throw new ConfigError(`invalid TcpTransport options: ${parsed.error.message}`, { cause: parsed.error });
    const opts = parsed.data;
    let bind: { host: string; port: number };
    try {
      bind = parseEndpoint(opts.listen);
    } catch (err) {
      throw new ConfigError(`invalid listen address ${JSON.stringify(opts.listen)}`, { cause: err });
    }
    // A fixed port: the certificate is checked before anything listens (port 0: once it is known).
    if (bind.port > 0) checkOwnCertificate(security, makeNodeId(`${opts.advertiseHost ?? bind.host}:${bind.port}`, opts.incarnation));
    const server = net.createServer({ noDelay: true });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(new ConfigError(`cannot listen on ${opts.listen}: ${err.message}`, { cause: err }));
      server.once('error', onError);
      server.listen(bind.port, stripBrackets(bind.host), () => {
        server.off('error', onError);
        resolve();
      });
    });
    const addr = server.address();
    if (addr === null || typeof addr === 'string') {
      server.close();
      throw new ConfigError(`listening on ${opts.listen} gave no TCP address`);
    }
    const host = opts.advertiseHost ?? bind.host;
    const localId = makeNodeId(`${host}:${addr.port}`, opts.incarnation);
    const log = (givenLog ?? silentLogger).child({ component: 'tcp-transport', localId });
    if (!isValidNodeId(localId)) {
      server.close();
      throw new ConfigError(`local node id ${JSON.stringify(localId)} is not a valid node id`);
    }
    if (host === '0.0.0.0' || host === '::' || host === '[::]') {
      log.warn('listening on a wildcard address without advertiseHost: peers cannot dial this node id', { listen: opts.listen });
    }
    try {
      checkOwnCertificate(security, localId);
    } catch (err) {
      server.close();
      throw err;
    }
    return new TcpTransport(server, opts, localId, log, security);
  }

  onFrame(handler: FrameHandler): void {
    this.frameHandler = handler;
  }

  onPiecedFrame(handler: PiecedFrameHandler): void {
    this.piecedHandler = handler;
  }

  onPeer(handler: (ev: PeerEvent) => void): void {
    this.peerHandler = handler;
  }

  peerIdentity(node: NodeId): PeerIdentity | null {
    return this.identities.get(node);
  }

  /** Counts and logs a connection closed for bad input (an authentication failure counted apart too). */
  private rejected(err: unknown, what: string, fields: Record<string, unknown>): void {
    this.c.malformed++;
    if (err instanceof HorusError && err.code === 'ERR_AUTH') this.c.authFailures++;
    this.badInput.warn(what, { ...errorFields(err), ...fields });
  }

  /** A connection's TLS stream failed: a record or TLS handshake that does not authenticate is bad input, anything else a broken connection. */
  private streamFailed(socket: net.Socket, err: Error, fields: Record<string, unknown>): void {
    if (isRecordFailure(err))
      this.rejected(
        authError('sealed record or TLS handshake does not authenticate: altered, replayed or not from the handshake peer', err),
        'closing connection: its TLS stream failed',
        fields,
      );
    else this.log.debug('connection error', { ...errorFields(err), ...fields });
    socket.destroy();
  }

  watchPeers(handler: (ev: PeerEvent) => void): Unwatch {
    // A fresh wrapper each time: the same function watched twice is called twice, unwatched once each.
    const h = (ev: PeerEvent): void => handler(ev);
    this.peerWatchers.add(h);
    return () => {
      this.peerWatchers.delete(h);
    };
  }

  // -------------------------------------------------------------------------------------------------
  // Sending
  // -------------------------------------------------------------------------------------------------

  send(to: string, frame: Uint8Array, owned?: boolean): void {
    if (this.closed) return;
    const route = this.routes.get(to) ?? this.addRoute(to);
    if (route === null) {
      this.c.droppedInvalid++;
      this.badInput.warn('send to an invalid address dropped', { code: 'ERR_INVALID_ARGUMENT', to: to.slice(0, 80) });
      return;
    }
    const len = frame.length;
    if (len > this.opts.maxFrameSize) {
      this.c.droppedInvalid++;
      this.badInput.warn('oversized frame dropped', { code: 'ERR_FRAME_TOO_LARGE', to, bytes: len, max: this.opts.maxFrameSize });
      return;
    }
    const peer = route.peer;
    let target = route.target;
    if (peer.state === 'open') {
      // The connection already names the incarnation it reached: anything else is for a dead one.
      if (target !== null && target !== peer.knownId) {
        this.c.droppedStale++;
        return;
      }
      target = peer.knownId;
    }
    if (peer.queuedBytes + FRAME_HEADER_BYTES + len > this.opts.maxQueuedBytes) {
      this.c.droppedQueueFull++;
      this.badInput.warn('send queue full, frame dropped', { code: 'ERR_BLOCKED', to, queuedBytes: peer.queuedBytes });
      return;
    }
    if (this.queued.bytes + FRAME_HEADER_BYTES + len > this.opts.maxTotalQueuedBytes) {
      this.c.droppedTotalQueueFull++;
      this.badInput.warn('send queues full (all peers), frame dropped', { code: 'ERR_BLOCKED', to, queuedBytes: this.queued.bytes });
      return;
    }
    const full =
      owned === true && len >= BY_REFERENCE_MIN_BYTES && frame instanceof Buffer
        ? peer.appendRef(target, frame, this.opts.batchBytes)
        : peer.append(target, frame, this.opts.batchBytes);
    if (full && peer.state === 'open' && !peer.blocked) this.writeQueued(peer);
    if (!peer.dirty) {
      peer.dirty = true;
      this.dirty.push(peer);
      if (!this.flushQueued) {
        this.flushQueued = true;
        // A reaction to a settled promise, not queueMicrotask: the same microtask queue, but
        // Node's queueMicrotask makes an AsyncResource (and its async-hook calls) per flush.
        void SETTLED.then(this.flush);
      }
    }
    if (peer.state === 'idle') {
      peer.lastTarget = to;
      this.dial(peer);
    }
  }

  /** Bytes queued for the peer at `to` (in the transport and in the socket's write buffer). */
  bufferedBytes(to: string): number {
    const route = this.routes.get(to);
    const peer = route !== undefined ? route.peer : this.peers.get(endpointOf(to));
    if (peer === undefined) return 0;
    return peer.queuedBytes + (peer.socket === null ? 0 : this.writerOf(peer.socket).writableLength);
  }

  stats(): TcpTransportStats {
    let openOutbound = 0;
    for (const p of this.peers.values()) if (p.state === 'open') openOutbound++;
    const c = this.c;
    return {
      ...c,
      dropped: c.droppedQueueFull + c.droppedTotalQueueFull + c.droppedStale + c.droppedUnreachable + c.droppedInvalid + c.droppedNoHandler,
      openInbound: this.inbound.size,
      openUnauthenticated: this.unauthenticated.size,
      partialBytes: this.partialBytes,
      openOutbound,
      queuedBytes: this.queued.bytes,
    };
  }

  private addRoute(to: string): Route | null {
    const slash = to.lastIndexOf('/');
    let target: NodeId | null = null;
    let endpoint = to;
    if (slash >= 0) {
      if (!isValidNodeId(to)) return null;
      target = to;
      endpoint = to.slice(0, slash);
    }
    let peer = this.peers.get(endpoint);
    if (peer === undefined) {
      if (endpoint.length > MAX_NODE_ID_BYTES || !PRINTABLE_ASCII.test(endpoint)) return null;
      let hp: { host: string; port: number };
      try {
        hp = parseEndpoint(endpoint);
      } catch {
        return null;
      }
      if (hp.port === 0) return null;
      peer = new OutboundPeer(endpoint, stripBrackets(hp.host), hp.port, this.queued);
      this.peers.set(endpoint, peer);
    }
    if (this.routes.size >= MAX_ROUTES) this.routes.clear();
    const route: Route = { peer, target };
    this.routes.set(to, route);
    return route;
  }

  /** End of tick: hand every peer's new batch to its socket. */
  private readonly flush = (): void => {
    if (!this.flushQueued) return; // cancelled by close()
    this.flushQueued = false;
    const list = this.dirty;
    for (let i = 0; i < list.length; i++) {
      const p = list[i]!;
      p.dirty = false;
      p.seal();
      if (p.state === 'open' && !p.blocked) this.writeQueued(p);
    }
    list.length = 0;
  };

  /** Where `socket`'s bytes are written: the socket itself, or in secure modes its TLS stream. */
  private writerOf(socket: net.Socket): net.Socket {
    if (this.security.mode === 'off') return socket;
    return this.streams.get(socket) ?? socket;
  }

  private writeQueued(p: OutboundPeer): void {
    if (p.socket === null || p.head === p.chunks.length) return;
    this.c.writes++;
    const now = performance.now();
    // A quiet connection was not watched: its silence counts from this write, as on a fresh one.
    if (this.opts.quietAfterMs > 0 && now - p.lastWriteAt >= this.opts.quietAfterMs) p.lastHeard = Math.max(p.lastHeard, now);
    p.lastWriteAt = now;
    const s = this.writerOf(p.socket);
    const many = p.chunks.length - p.head > 1;
    if (many) s.cork();
    let ok = true;
    while (p.head < p.chunks.length) {
      const chunk = p.chunks[p.head++]!;
      p.release(chunk.buf.length);
      this.c.framesOut += chunk.frames;
      this.c.bytesOut += chunk.buf.length;
      ok = s.write(chunk.buf);
      // Backpressure stops the loop only between frames: a body whose length word is written goes too.
      if (!ok && (p.head === p.chunks.length || !p.chunks[p.head]!.follows)) {
        p.blocked = true;
        break;
      }
    }
    if (many) s.uncork();
    if (p.head === p.chunks.length) {
      p.chunks.length = 0;
      p.head = 0;
    } else if (p.head >= 1024) {
      p.chunks.splice(0, p.head);
      p.head = 0;
    }
  }

  // -------------------------------------------------------------------------------------------------
  // Dialing and reconnecting
  // -------------------------------------------------------------------------------------------------

  private dial(p: OutboundPeer): void {
    if (p.failures > 0) this.scheduleReconnect(p, true);
    else this.connect(p);
  }

  /**
   * Waits out the back-off for `p.failures`, counted from the start of the last dial when that dial
   * failed (a dial that hung for connectTimeoutMs has waited already), then dials if frames are queued.
   */
  private scheduleReconnect(p: OutboundPeer, fromAttempt: boolean): void {
    const o = this.opts;
    const base = Math.min(o.reconnectMaxMs, o.reconnectMinMs * 2 ** Math.min(Math.max(p.failures, 1) - 1, 30));
    // Equal jitter: spread peers that lost the same node so they do not redial in lockstep.
    const jittered = base / 2 + (Math.random() * base) / 2;
    const delay = fromAttempt ? Math.max(0, jittered - (performance.now() - p.attemptStartedAt)) : jittered;
    p.state = 'backoff';
    p.timer = setTimeout(() => {
      p.timer = null;
      if (this.closed) return;
      if (p.queuedBytes > 0) this.connect(p);
      else p.state = 'idle';
    }, delay);
  }

  /**
   * Starts a dial. `restartable`: a peer's contact may add a fresh dial beside this one (not beside one
   * it started). `beside`: the dial in progress is kept and may still win.
   */
  private connect(p: OutboundPeer, restartable = true, beside = false): void {
    if (beside && p.socket !== null) p.olderDials.push(p.socket);
    p.state = 'connecting';
    const startedAt = performance.now();
    p.attemptStartedAt = startedAt;
    p.attemptRestartable = restartable;
    // Node passes stream options through to the socket; @types/node 20 does not list this one.
    const connectOpts: net.TcpNetConnectOpts & { writableHighWaterMark: number } = {
      host: p.host,
      port: p.port,
      noDelay: true,
      writableHighWaterMark: this.opts.highWaterBytes,
    };
    const socket = net.connect(connectOpts);
    p.socket = socket;
    const isDial = (): boolean => p.state === 'connecting' && (p.socket === socket || p.olderDials.includes(socket));
    const handshake = this.security.mode === 'off' ? null : new DialerHandshake(this.security, this.localId, { isValidId: isValidNodeId });
    const onPong = (code: number): void => {
      if (code !== CONTROL_PONG) throw new ProtocolError('ERR_PROTOCOL', `unexpected control word ${code} on an outbound connection`);
      if (p.socket === socket) p.lastHeard = performance.now();
      else if (p.suspect === socket) this.revive(p);
    };
    // An outbound connection receives the peer's HELLO_ACCEPT, then only PONG control words.
    let decoder = new FrameDecoder((frame) => {
      if (!isDial()) throw new ProtocolError('ERR_PROTOCOL', 'unexpected frame on an outbound connection');
      let id: NodeId;
      if (handshake === null) {
        id = decodeHello(frame, HELLO_ACCEPT);
        decoder.onControl = onPong;
      } else {
        const done = handshake.accept(frame);
        id = done.peerId;
        socket.write(encodeFrames([done.finish]));
        // From here on both ways go through TLS. A clear byte after the handshake (the rest of this
        // read) meets the handshake's decoder, which takes no more frames nor control words: closed.
        const stream = sealDialer(socket, done.key);
        this.streams.set(socket, stream);
        this.identities.add(socket, id, done.identity);
        decoder = new FrameDecoder(() => {
          throw new ProtocolError('ERR_PROTOCOL', 'unexpected frame on an outbound connection');
        }, 0);
        decoder.onControl = onPong;
        stream.on('data', onData);
        stream.on('drain', onDrain);
        stream.on('error', (err: Error) => this.streamFailed(socket, err, { peer: p.endpoint }));
      }
      clearTimeout(deadline);
      // The first dial to finish its HELLO wins; the others go.
      const losers = p.olderDials.filter((s) => s !== socket);
      if (p.socket !== null && p.socket !== socket) losers.push(p.socket);
      p.olderDials = [];
      p.socket = socket;
      for (const s of losers) s.destroy();
      this.opened(p, id);
    }, this.helloLimit);
    // Two absolute deadlines: no SYN-ACK within connectTimeoutMs (a cut: SYNs hang for long), then no
    // HELLO reply within handshakeTimeoutMs of the dial (the peer is reachable, but a peer trickling its
    // HELLO, or too busy to answer, must not hold us).
    let deadline = setTimeout(() => {
      if (socket.destroyed || !isDial()) return;
      this.c.connectTimeouts++;
      socket.destroy(new HorusError('ERR_TIMEOUT', `connecting to ${p.endpoint}: no answer within ${this.opts.connectTimeoutMs} ms`));
    }, this.opts.connectTimeoutMs);
    socket.on('connect', () => {
      clearTimeout(deadline);
      deadline = setTimeout(
        () => {
          if (socket.destroyed || !isDial()) return;
          this.c.connectTimeouts++;
          socket.destroy(new HorusError('ERR_TIMEOUT', `no HELLO from ${p.endpoint} within ${this.opts.handshakeTimeoutMs} ms`));
        },
        Math.max(0, startedAt + this.opts.handshakeTimeoutMs - performance.now()),
      );
      socket.setKeepAlive(true, KEEPALIVE_MS);
      socket.write(handshake === null ? this.helloConnectFrame : encodeFrames([handshake.hello()]));
    });
    const onData = (chunk: Buffer): void => {
      try {
        decoder.push(chunk);
      } catch (err) {
        this.rejected(err, 'closing outbound connection: bad input from peer', { peer: p.endpoint });
        socket.destroy();
      }
    };
    socket.on('data', onData);
    // Nothing listens on the port: no process holds it (a stopped one still would, and accept).
    let refused = false;
    // Our kernel gave up on it (a cut, not the peer's doing): not reported as closed by the peer.
    let timedOut = false;
    socket.on('error', (err: Error) => {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ECONNREFUSED') refused = true;
      else if (code === 'ETIMEDOUT') timedOut = true;
      this.log.debug('outbound connection error', { ...errorFields(err), peer: p.endpoint });
    });
    const onDrain = (): void => {
      if (this.closed || p.socket !== socket || p.state !== 'open') return;
      p.blocked = false;
      this.writeQueued(p);
    };
    socket.on('drain', onDrain);
    socket.on('close', () => {
      clearTimeout(deadline);
      this.identities.remove(socket);
      this.outboundClosed(p, socket, refused, timedOut);
    });
  }

  private opened(p: OutboundPeer, id: NodeId): void {
    const previous = p.knownId;
    p.knownId = id;
    p.state = 'open';
    p.closedByPeer = false;
    p.blocked = false;
    const now = performance.now();
    p.openedAt = p.lastHeard = p.lastPingAt = p.lastWriteAt = now;
    p.frameAt = p.frameGap = 0;
    this.c.connectionsOut++;
    const announced = endpointOf(id);
    const aliasKey = announced === p.endpoint ? null : announced;
    if (aliasKey !== p.aliasKey) {
      if (p.aliasKey !== null && this.aliases.get(p.aliasKey) === p) this.aliases.delete(p.aliasKey);
      if (aliasKey !== null) this.aliases.set(aliasKey, p);
      p.aliasKey = aliasKey;
    }
    const stale = p.retainFor(id);
    if (stale > 0) this.c.droppedStale += stale;
    if (previous !== null && previous !== id) {
      this.log.info('peer has a new incarnation', { peer: id, previous, droppedFrames: stale });
      // Our own dial reached another process that announces the same host:port: it holds the port
      // the previous one listened on, so that one no longer runs. (Behind a proxy or a NAT the
      // announced endpoints may differ: two live processes, proof of nothing.)
      if (endpointOf(previous) === announced) this.reportGone(p, previous, 'replaced');
    }
    this.log.debug('connected', { peer: id });
    const old = p.suspect;
    if (old !== null) {
      // The new connection works and the old one is still silent: it is stuck (TCP back-off after a
      // cut). Reset it, so the kernel does not deliver what it holds as a stale burst later.
      p.suspect = null;
      p.stallMs = 0; // a cut, not a slow peer: the next stall is found at stallTimeoutMs again
      this.c.stalledReplaced++;
      this.peerLog.warn('stalled connection replaced', { code: 'ERR_TIMEOUT', peer: id, silentMs: Math.round(now - p.suspectLastHeard) });
      old.resetAndDestroy();
    }
    this.writeQueued(p);
    if (p.up !== true) {
      p.up = true;
      this.emitPeer({ type: 'connected', peer: id });
    }
  }

  /** Heard from its peer for a while after opening: a later failure starts the back-off afresh. */
  private wasHealthy(p: OutboundPeer): boolean {
    return p.lastHeard - p.openedAt >= HEALTHY_CONNECTION_MS;
  }

  private outboundClosed(p: OutboundPeer, socket: net.Socket, refused: boolean, timedOut: boolean): void {
    if (p.suspect === socket) {
      p.suspect = null; // the dial that replaces it carries on
      return;
    }
    const older = p.olderDials.indexOf(socket);
    if (older >= 0) {
      p.olderDials.splice(older, 1); // the newest dial carries on
      return;
    }
    if (p.socket !== socket) return;
    p.socket = null;
    p.blocked = false;
    // The newest dial failed: older ones (lost in a cut, or refused alike) are no better.
    for (const s of p.olderDials.splice(0)) s.destroy();
    if (this.closed) {
      p.state = 'idle';
      return;
    }
    const wasOpen = p.state === 'open';
    const byPeer = wasOpen && !timedOut;
    const healthy = byPeer && this.wasHealthy(p);
    if (wasOpen) {
      // A peer that accepts and soon drops us must not spin us: only a healthy connection resets the back-off.
      p.failures = this.wasHealthy(p) ? 0 : p.failures + 1;
    } else {
      p.failures++;
      this.c.connectFailures++;
      // Only where we dial the endpoint it announces: a proxy or NAT in between may refuse for its own reasons.
      if (refused && p.closedByPeer && p.knownId !== null && p.aliasKey === null) this.reportGone(p, p.knownId, 'refused');
    }
    if (wasOpen) p.closedByPeer = byPeer;
    if (byPeer && p.knownId !== null) {
      this.c.peerClosed++;
      this.emitPeer({ type: 'closed', peer: p.knownId });
    }
    // A process that dies closes its connections: we learn now whether it still runs. A young
    // connection counts too (a member killed soon after it joined), at most once per
    // HEALTHY_CONNECTION_MS, so a peer that accepts and drops us at once cannot spin us.
    const now = performance.now();
    if (byPeer && (healthy || now - p.closeProbeAt >= HEALTHY_CONNECTION_MS) && this.probe(p)) {
      p.closeProbeAt = now;
    } else if (p.queuedBytes === 0) {
      p.state = 'idle';
    } else if (!wasOpen && performance.now() - p.queuedSince > this.opts.dropQueuedAfterMs) {
      const n = p.clear();
      this.c.droppedUnreachable += n;
      this.peerLog.warn('peer unreachable, queued frames dropped', { peer: p.knownId ?? p.lastTarget, frames: n });
      p.state = 'idle';
    } else {
      this.scheduleReconnect(p, !wasOpen);
    }
    if (p.up !== false) {
      p.up = false;
      this.emitPeer({ type: 'disconnected', peer: p.knownId ?? p.lastTarget });
    }
  }

  /**
   * Every half ping interval: PING open connections that have been silent for a ping interval, and
   * replace those silent for stallTimeoutMs (quiet ones, with nothing written for quietAfterMs, neither). After a pause of this process (SIGSTOP, a long GC) the
   * silence is ours, not the peers': only start counting afresh.
   */
  private checkLiveness(): void {
    if (this.closed) return;
    const o = this.opts;
    const now = performance.now();
    const late = now - this.lastLivenessCheck > this.livenessTickMs * 4;
    this.lastLivenessCheck = now;
    for (const p of this.peers.values()) {
      const s = p.socket;
      if (s === null) continue;
      if (p.state === 'connecting') {
        // Every redialIntervalMs while the SYN is unanswered. Once the SYN was answered, the peer is
        // reachable (its HELLO may be slow: paused, busy) or the cut came just after: one dial beside
        // it after connectTimeoutMs, never more, so a slow peer's accept queue does not fill with ours.
        const age = now - p.attemptStartedAt;
        const due = s.connecting ? age >= o.redialIntervalMs : age >= o.connectTimeoutMs && p.olderDials.length === 0;
        if (!late && due && p.olderDials.length + 1 < this.maxParallelDials) this.connect(p, p.attemptRestartable, true);
        continue;
      }
      if (p.state !== 'open' || o.stallTimeoutMs === 0) continue;
      if (late) {
        p.lastHeard = now;
        continue;
      }
      // Nothing written for quietAfterMs: no PING (an unanswered write was suspected before this).
      if (o.quietAfterMs > 0 && now - p.lastWriteAt >= o.quietAfterMs) continue;
      const silent = now - p.lastHeard;
      if (p.stallMs > 0 && now - p.lastSlowAt > SLOW_PEER_MEMORY_MS) p.stallMs = 0;
      const paced = this.pacedMs(p);
      if (silent >= (p.stallMs || o.stallTimeoutMs) + paced) {
        this.suspectConnection(p, 'stalled');
      } else if (silent >= o.pingIntervalMs + paced && now - p.lastPingAt >= o.pingIntervalMs) {
        p.lastPingAt = now;
        this.c.pingsOut++;
        this.writerOf(s).write(PING_WORD);
      }
    }
  }

  /**
   * How much longer than pingIntervalMs `p` may stay silent before a PING (and stallTimeoutMs before
   * it is replaced): a peer whose frames come every `frameGap` ms (FD beats and relay tables every
   * round, STABLE digests every second) is silent that long between them, and pinging it every
   * pingIntervalMs was most of an idle member's socket work once FD rounds grew past 200 ms (each
   * member pinged its relay and the coordinator 9 times a second at 16 members). Up to 1.5 gaps,
   * at most quietAfterMs − stallTimeoutMs (a peer that talks that rarely is nearly quiet); a busy
   * peer's gap is small and its pings and stall are as before.
   */
  /**
   * Data from a peer we wrote to within this long gets no PONG: its connection to us hears our frames
   * and waits for them as long as our pace (pacedMs, on its side). Before, within pingIntervalMs only:
   * a member that answered each 300 ms relay table with its beat PONGed the table first.
   */
  private get writesProveLifeMs(): number {
    const o = this.opts;
    return o.quietAfterMs > 0 ? Math.max(o.pingIntervalMs, o.quietAfterMs - o.stallTimeoutMs) : o.pingIntervalMs;
  }

  private pacedMs(p: OutboundPeer): number {
    const o = this.opts;
    if (!o.framesProveLife || p.frameGap === 0) return 0;
    const cap = o.quietAfterMs > 0 ? o.quietAfterMs - o.stallTimeoutMs : o.stallTimeoutMs;
    return Math.max(0, Math.min(1.5 * p.frameGap, cap) - o.pingIntervalMs);
  }

  /**
   * `p`'s open connection went silent (or the peer redialled us while it was quiet): keep it, hold
   * writes back in the queue, and dial anew beside it at once. The new connection replaces it once its
   * HELLO is answered (`opened`), and the queue goes there; an answer on the old one first means the
   * peer was only slow, not cut off (`revive`), and the new dial goes instead. Nothing written is lost
   * to a busy peer, and a connection stuck in TCP back-off is never waited on.
   */
  private suspectConnection(p: OutboundPeer, why: 'stalled' | 'contact'): void {
    const s = p.socket;
    if (s === null) return;
    if (why === 'contact') this.c.redialsOnContact++;
    else this.c.stallsDetected++;
    p.closedByPeer = false; // a silent connection is a cut or a pause, never proof of a death
    this.log.info('connection silent: dialing a replacement beside it', {
      peer: p.knownId ?? p.lastTarget,
      silentMs: Math.round(performance.now() - p.lastHeard),
      why,
    });
    if (why === 'contact' || this.wasHealthy(p)) p.failures = 0;
    p.suspect = s;
    p.suspectLastHeard = p.lastHeard;
    p.socket = null;
    p.blocked = false;
    this.connect(p, why === 'stalled');
  }

  /** The silent connection answered before its replacement did: keep it, drop the dials. */
  private revive(p: OutboundPeer): void {
    const old = p.suspect;
    if (old === null || this.closed) return;
    p.suspect = null;
    if (p.timer !== null) {
      clearTimeout(p.timer);
      p.timer = null;
    }
    const dials = p.olderDials.splice(0);
    if (p.socket !== null) dials.push(p.socket);
    p.socket = old;
    p.state = 'open';
    p.lastHeard = performance.now();
    p.blocked = this.writerOf(old).writableNeedDrain;
    for (const d of dials) d.destroy();
    this.c.stallsRecovered++;
    // A slow peer, not a cut: wait longer before the next replacement dial (see MAX_STALL_STRETCH).
    p.stallMs = Math.min((p.stallMs || this.opts.stallTimeoutMs) * 2, this.opts.stallTimeoutMs * MAX_STALL_STRETCH);
    p.lastSlowAt = p.lastHeard;
    this.log.info('silent connection answered again: kept', { peer: p.knownId ?? p.lastTarget, silentMs: Math.round(p.lastHeard - p.suspectLastHeard) });
    if (p.up !== true && p.knownId !== null) {
      p.up = true;
      this.emitPeer({ type: 'connected', peer: p.knownId });
    }
    if (!p.blocked) this.writeQueued(p);
  }

  /**
   * The peer behind `p` just reached us (`fresh`: a new connection's HELLO), so a path to it works now:
   * a dial waiting out its back-off goes at once, and a dial lost in a cut (no answer yet) is started
   * afresh. A fresh connection from the peer while ours is silent means it is probably stalled: replace it.
   * Each dial may be restarted this way once, and no sooner than CONTACT_REDIAL_MIN_MS after it began.
   */
  private contact(p: OutboundPeer, fresh: boolean): void {
    if (this.closed) return;
    const now = performance.now();
    if (now - p.attemptStartedAt < CONTACT_REDIAL_MIN_MS) return;
    switch (p.state) {
      case 'backoff': {
        if (p.queuedBytes === 0) return;
        if (p.timer !== null) clearTimeout(p.timer);
        p.timer = null;
        this.c.redialsOnContact++;
        this.log.debug('peer reached us during our back-off: dialing it now', { peer: p.knownId ?? p.lastTarget });
        this.connect(p, false);
        return;
      }
      case 'connecting': {
        const s = p.socket;
        if (!p.attemptRestartable || s === null) return;
        this.c.redialsOnContact++;
        this.log.debug('peer reached us while our dial had no answer: dialing it afresh', { peer: p.knownId ?? p.lastTarget });
        if (this.maxParallelDials > 1) {
          // At the cap, the oldest dial makes room: it is the one least likely to be answered.
          if (p.olderDials.length + 1 >= this.maxParallelDials) p.olderDials.shift()?.destroy();
          this.connect(p, false, true);
        } else {
          p.socket = null;
          s.destroy();
          this.connect(p, false);
        }
        return;
      }
      case 'open': {
        if (fresh && this.opts.stallTimeoutMs > 0 && now - p.lastHeard >= this.opts.pingIntervalMs * 1.5) this.suspectConnection(p, 'contact');
        return;
      }
      case 'idle':
        return;
    }
  }

  /** Our outbound peer for the endpoint in an inbound HELLO, looked up at most once a second while there is none. */
  private peerOf(conn: Inbound, now: number): OutboundPeer | null {
    if (conn.peer !== null || conn.from === null || now - conn.peerLookupAt < 1000) return conn.peer;
    conn.peerLookupAt = now;
    const endpoint = endpointOf(conn.from);
    conn.peer = this.peers.get(endpoint) ?? this.aliases.get(endpoint) ?? null;
    return conn.peer;
  }

  private emitPeer(ev: PeerEvent): void {
    const h = this.peerHandler;
    if (h !== null) this.callPeerHandler(h, ev);
    for (const w of [...this.peerWatchers]) this.callPeerHandler(w, ev);
  }

  private callPeerHandler(h: (ev: PeerEvent) => void, ev: PeerEvent): void {
    try {
      h(ev);
    } catch (err) {
      this.c.handlerErrors++;
      this.peerLog.warn('onPeer handler threw', errorFields(err));
    }
  }

  /** The process `id` is known not to run any more (once per incarnation). */
  private reportGone(p: OutboundPeer, id: NodeId, why: 'refused' | 'replaced'): void {
    if (p.goneReported === id) return;
    p.goneReported = id;
    this.c[why === 'refused' ? 'goneRefused' : 'goneReplaced']++;
    this.log.info('peer is gone', { peer: id, why });
    this.emitPeer({ type: 'gone', peer: id, why });
  }

  /**
   * A connection with the peer behind `p` was closed from its end: dial it now rather than after a
   * back-off, to learn at once whether it still runs (refused: gone; a new incarnation: gone; the
   * same one: it only reconnected). At most once per CONTACT_REDIAL_MIN_MS, and only from idle or
   * back-off (a dial under way answers the same question). True if it dialed.
   */
  private probe(p: OutboundPeer): boolean {
    if (this.closed || p.socket !== null || (p.state !== 'idle' && p.state !== 'backoff' && p.state !== 'open')) return false;
    if (performance.now() - p.attemptStartedAt < CONTACT_REDIAL_MIN_MS) return false;
    if (p.timer !== null) {
      clearTimeout(p.timer);
      p.timer = null;
    }
    this.c.probes++;
    this.connect(p);
    return true;
  }

  // -------------------------------------------------------------------------------------------------
  // Inbound side
  // -------------------------------------------------------------------------------------------------

  private onConnection(socket: net.Socket): void {
    socket.on('error', (err: Error) => {
      this.log.debug('inbound connection error', { ...errorFields(err), remote: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}` });
    });
    if (this.closed) {
      socket.destroy();
      return;
    }
    const o = this.opts;
    const address = socket.remoteAddress ?? '?';
    const remote = `${address}:${socket.remotePort ?? '?'}`;
    let perAddress = this.byAddress.get(address);
    if (this.inbound.size >= o.maxConnections) this.makeRoomFor(perAddress?.open ?? 0);
    const refused: keyof Counters | null =
      this.inbound.size >= o.maxConnections
        ? 'refusedTotal'
        : (perAddress?.open ?? 0) >= o.maxConnectionsPerAddress
          ? 'refusedPerAddress'
          : (perAddress?.pending ?? 0) >= o.maxUnauthenticatedPerAddress
            ? 'refusedUnauthenticated'
            : null;
    if (refused !== null) {
      this.c[refused]++;
      this.limitLog.warn('inbound connection refused: over a connection limit', { code: 'ERR_BLOCKED', limit: refused, remote });
      socket.destroy();
      return;
    }
    if (this.unauthenticated.size >= o.maxUnauthenticated) {
      // Make room by closing the oldest handshake: a real peer finishes its HELLO in a round trip,
      // so under a flood of silent connections it still gets in.
      const oldest = this.unauthenticated.values().next().value!;
      this.c.evictedUnauthenticated++;
      this.limitLog.warn('connection still in its handshake closed to make room', { code: 'ERR_BLOCKED', remote: oldest.remote });
      this.forget(oldest);
      oldest.socket.destroy();
    }
    if (perAddress === undefined) this.byAddress.set(address, (perAddress = { open: 0, pending: 0 }));
    perAddress.open++;
    perAddress.pending++;
    socket.setNoDelay(true);
    const onPing = (code: number): void => {
      if (code !== CONTROL_PING) throw new ProtocolError('ERR_PROTOCOL', `unexpected control word ${code} on an inbound connection`);
      // Many PINGs in one read get one PONG.
      if (conn.pingPending) this.c.pingsIgnored++;
      conn.pingPending = true;
    };
    const onFrame = (frame: Buffer): void => {
      if (this.closed) {
        conn.decoder.close();
        return;
      }
      deliver(frame, null, frame.length);
    };
    const onPieces = (pieces: Buffer[], length: number): void => {
      if (this.closed) {
        conn.decoder.close();
        return;
      }
      deliver(null, pieces, length);
    };
    const decoder = new FrameDecoder((frame) => {
      if (conn.from !== null) {
        // Secure modes: the handshake's decoder takes nothing after it (a clear byte in the same read).
        if (conn.decoder !== decoder) throw new ProtocolError('ERR_PROTOCOL', 'clear bytes after the secure handshake');
        onFrame(frame);
        return;
      }
      if (conn.acceptor !== null) {
        if (!this.inboundHandshake(conn, frame)) return;
        // Both ways go through TLS from here on, read by a decoder of its own.
        const stream = sealAcceptor(socket, conn.key!);
        conn.key = null;
        conn.out = stream;
        conn.decoder = new FrameDecoder(onFrame, o.maxFrameSize);
        stream.on('data', onData);
        stream.on('error', (err: Error) => {
          this.forget(conn);
          this.streamFailed(socket, err, { from: conn.from, remote });
        });
      } else {
        conn.from = decodeHello(frame, HELLO_CONNECT);
        decoder.maxFrameSize = o.maxFrameSize;
      }
      this.leaveHandshake(conn);
      conn.decoder.onControl = onPing;
      conn.decoder.onPieces = onPieces;
      socket.setKeepAlive(true, KEEPALIVE_MS);
      if (this.security.mode === 'off') socket.write(this.helloAcceptFrame);
      this.c.connectionsIn++;
      this.log.debug('accepted', { from: conn.from });
      const peer = this.peerOf(conn, performance.now());
      if (peer !== null) this.contact(peer, true);
    }, this.helloLimit);
    /** A frame, whole or (`frame` null) in pieces. */
    const deliver = (frame: Buffer | null, pieces: Buffer[] | null, length: number): void => {
      const from = conn.from!;
      conn.frames++;
      this.c.framesIn++;
      this.c.bytesIn += FRAME_HEADER_BYTES + length;
      const h = this.frameHandler;
      if (h === null) {
        this.c.droppedNoHandler++;
        return;
      }
      try {
        if (frame !== null) h(from, frame);
        else if (this.piecedHandler !== null) this.piecedHandler(from, pieces!, length);
        else h(from, Buffer.concat(pieces!, length));
      } catch (err) {
        // The handler's bug, not the peer's: keep the connection.
        this.c.handlerErrors++;
        this.peerLog.warn('onFrame handler threw', { ...errorFields(err), from });
      }
    };
    const conn: Inbound = {
      socket,
      address,
      remote,
      from: null,
      inHandshake: true,
      handshakeTimer: null,
      decoder,
      bytes: 0,
      frames: 0,
      checkedBytes: 0,
      checkedFrames: 0,
      partialSince: -1,
      held: 0,
      pingPending: false,
      lastPongAt: -Infinity,
      peer: null,
      peerLookupAt: -Infinity,
      acceptor: this.security.mode === 'off' ? null : new AcceptorHandshake(this.security, this.localId, { isValidId: isValidNodeId }),
      helloSeen: false,
      key: null,
      out: socket,
    };
    this.inbound.set(socket, conn);
    this.unauthenticated.add(conn);
    // Absolute, unlike a socket idle timeout: a HELLO sent a byte at a time must not keep it open.
    conn.handshakeTimer = setTimeout(() => {
      conn.handshakeTimer = null;
      if (!conn.inHandshake) return;
      this.c.handshakeTimeouts++;
      this.badInput.warn('closing inbound connection: no HELLO in time', { code: 'ERR_TIMEOUT', remote, timeoutMs: this.handshakeTimeoutMs });
      socket.destroy();
    }, this.handshakeTimeoutMs);
    const onData = (chunk: Buffer): void => {
      conn.bytes += chunk.length;
      this.c.reads++;
      const framesBefore = conn.frames;
      try {
        conn.decoder.push(chunk);
      } catch (err) {
        this.rejected(err, 'closing inbound connection: bad input', { from: conn.from, remote });
        this.forget(conn);
        socket.destroy();
        return;
      }
      if (conn.from !== null && !this.closed && !socket.destroyed) {
        const now = performance.now();
        const gotFrames = conn.frames !== framesBefore;
        const peer = this.peerOf(conn, now);
        const same = peer !== null && o.framesProveLife && peer.knownId === conn.from;
        // Its frames prove it runs and talks to us: our connection to it needs no PING meanwhile.
        if (same && gotFrames && peer.state === 'open' && peer.socket !== null) {
          peer.lastHeard = Math.max(peer.lastHeard, now);
          if (peer.frameAt > 0) peer.frameGap = Math.max(now - peer.frameAt, peer.frameGap * FRAME_GAP_DECAY);
          peer.frameAt = now;
        }
        // Data is life too: the sender hears of it even when its PING waits behind a backlog (and
        // needs no PONG for it while our own frames reach it: we wrote to it lately, and it waits
        // for our frames as long as our pace, up to quietAfterMs − stallTimeoutMs; see pacedMs).
        if (conn.pingPending || (gotFrames && !(same && peer.state === 'open' && now - peer.lastWriteAt < this.writesProveLifeMs))) this.answer(conn, now);
        if (peer !== null && (peer.state === 'backoff' || peer.state === 'connecting')) this.contact(peer, false);
      }
      const held = bufferedOf(conn);
      if (held !== conn.held) {
        this.partialBytes += held - conn.held;
        conn.held = held;
        if (this.partialBytes > o.maxBufferedBytes) this.shedPartialFrames();
      }
    };
    socket.on('data', onData);
    socket.on('end', () => {
      if (bufferedOf(conn) > 0) {
        this.log.debug('inbound connection ended inside a frame', { from: conn.from, bytes: bufferedOf(conn) });
      }
    });
    socket.on('close', () => {
      decoder.close();
      conn.decoder.close();
      this.identities.remove(socket);
      // Still listed: the peer's end closed it, not us (we forget a connection before we close it).
      const byPeer = this.inbound.has(socket) && !this.closed;
      if (byPeer && conn.inHandshake) this.c.handshakesAbandoned++;
      this.forget(conn);
      if (byPeer && conn.from !== null) this.inboundClosedByPeer(conn, conn.from);
    });
  }

  /**
   * One message of the secure handshake on an inbound connection: the hello is answered (false: not
   * done); the finish proves the peer's id (true: done, conn.from and conn.key set). Throws on a bad one.
   */
  private inboundHandshake(conn: Inbound, frame: Buffer): boolean {
    const hs = conn.acceptor!;
    if (!conn.helloSeen) {
      conn.helloSeen = true;
      conn.socket.write(encodeFrames([hs.hello(frame).reply]));
      return false;
    }
    const done = hs.finish(frame);
    conn.acceptor = null;
    conn.key = done.key;
    conn.from = done.peerId;
    this.identities.add(conn.socket, done.peerId, done.identity);
    return true;
  }

  /**
   * A peer's connection to us closed from its end: a hint that it died. Report it, and if we hold no
   * connection to it now, dial it (see probe) so that a dead one is known at once. The id its HELLO
   * announced is only a claim: what it says is checked by our own dial, never taken as proof.
   */
  private inboundClosedByPeer(conn: Inbound, from: NodeId): void {
    this.c.peerClosed++;
    this.emitPeer({ type: 'closed', peer: from });
    const peer = this.peerOf(conn, performance.now());
    if (peer !== null && peer.socket === null && peer.suspect === null) this.probe(peer);
  }

  /**
   * PONG for a PING (or for data) on an inbound connection: at most one per half ping interval, and
   * none while earlier ones are unread, so a peer cannot make us write or hold more than a few bytes.
   */
  private answer(conn: Inbound, now: number): void {
    const wasPing = conn.pingPending;
    conn.pingPending = false;
    if (now - conn.lastPongAt < this.opts.pingIntervalMs / 2 || conn.out.writableLength > MAX_PONG_BACKLOG_BYTES) {
      if (wasPing) this.c.pingsIgnored++;
      return;
    }
    conn.lastPongAt = now;
    this.c.pongsOut++;
    conn.out.write(PONG_WORD);
  }

  /** The connection finished its handshake, or is going: it no longer counts as unauthenticated. */
  private leaveHandshake(conn: Inbound): void {
    if (!conn.inHandshake) return;
    conn.inHandshake = false;
    this.unauthenticated.delete(conn);
    if (conn.handshakeTimer !== null) {
      clearTimeout(conn.handshakeTimer);
      conn.handshakeTimer = null;
    }
    const a = this.byAddress.get(conn.address);
    if (a !== undefined) a.pending--;
  }

  /**
   * At maxConnections: if one address holds clearly more connections than the newcomer's, close its
   * oldest, so an attacker with a few addresses cannot lock real peers out by filling the table.
   */
  private makeRoomFor(newcomerCount: number): void {
    let top: string | null = null;
    let most = 0;
    for (const [address, a] of this.byAddress) {
      if (a.open > most) {
        most = a.open;
        top = address;
      }
    }
    if (top === null || most <= newcomerCount + 1) return;
    for (const conn of this.inbound.values()) {
      if (conn.address !== top) continue;
      this.c.evictedOverTotal++;
      this.limitLog.warn('connection closed to make room: its address holds the most', { code: 'ERR_BLOCKED', remote: conn.remote, connections: most });
      this.forget(conn);
      conn.socket.destroy();
      return;
    }
  }

  /** Frames in progress on all connections hold more than maxBufferedBytes: close the biggest holder. */
  private shedPartialFrames(): void {
    while (this.partialBytes > this.opts.maxBufferedBytes) {
      let biggest: Inbound | null = null;
      for (const conn of this.inbound.values()) if (biggest === null || conn.held > biggest.held) biggest = conn;
      if (biggest === null || biggest.held === 0) return;
      this.c.closedOverBuffer++;
      this.limitLog.warn('connection closed: frames in progress over maxBufferedBytes', {
        code: 'ERR_BLOCKED',
        from: biggest.from,
        remote: biggest.remote,
        bufferedBytes: biggest.held,
      });
      this.forget(biggest);
      biggest.decoder.close();
      biggest.socket.destroy();
    }
  }

  private forget(conn: Inbound): void {
    this.leaveHandshake(conn);
    this.partialBytes -= conn.held;
    conn.held = 0;
    if (!this.inbound.delete(conn.socket)) return;
    const a = this.byAddress.get(conn.address);
    if (a !== undefined && --a.open <= 0) this.byAddress.delete(conn.address);
  }

  /**
   * Periodic check of frames in progress: a frame that was started must keep arriving at
   * minFrameProgressBytes per interval and be complete within maxFrameReadMs, or its connection
   * is closed. Socket idleness alone would let a peer trickle a byte a second and hold the buffer.
   */
  private checkPartialFrames(): void {
    const o = this.opts;
    const now = performance.now();
    // This process was stopped or busy (a long GC, SIGSTOP): the bytes peers sent meanwhile are still
    // unread in the kernel, so this interval says nothing about their pace. Only start counting afresh.
    const late = now - this.lastProgressCheck > o.frameProgressIntervalMs * 1.5;
    this.lastProgressCheck = now;
    for (const conn of this.inbound.values()) {
      if (conn.from === null) continue; // the handshake has its own deadline
      const buffered = bufferedOf(conn);
      if (late || buffered === 0 || conn.partialSince < 0 || conn.frames !== conn.checkedFrames) {
        // Nothing in progress, or a new frame began since the last check: start timing it now.
        conn.partialSince = buffered === 0 ? -1 : now;
      } else {
        const progress = conn.bytes - conn.checkedBytes;
        const age = now - conn.partialSince;
        if (progress < o.minFrameProgressBytes || age > o.maxFrameReadMs) {
          this.c.slowFrames++;
          this.badInput.warn('closing inbound connection: a frame stalled', {
            code: 'ERR_TIMEOUT',
            from: conn.from,
            remote: conn.remote,
            bufferedBytes: buffered,
            bytesInInterval: progress,
            frameAgeMs: Math.round(age),
          });
          this.forget(conn);
          conn.decoder.close();
          conn.socket.destroy();
          continue;
        }
      }
      conn.checkedFrames = conn.frames;
      conn.checkedBytes = conn.bytes;
    }
  }

  // -------------------------------------------------------------------------------------------------
  // Read holds
  // -------------------------------------------------------------------------------------------------

  /** See Transport.holdReads: `peer`'s inbound connections, by its endpoint, are paused at most maxReadHoldMs at a stretch. */
  holdReads(peer: string, holder: object, hold: boolean): void {
    if (this.closed) return;
    this.readHolds.set(endpointOf(peer), holder, hold);
  }

  /** The streams its frames reach us on: each open inbound connection from `endpoint` (its TLS stream in secure modes). */
  private framesFrom(endpoint: string): net.Socket[] {
    const out: net.Socket[] = [];
    for (const conn of this.inbound.values()) {
      if (conn.from !== null && !conn.inHandshake && endpointOf(conn.from) === endpoint) out.push(conn.out);
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------------
  // Shutdown
  // -------------------------------------------------------------------------------------------------

  close(): Promise<void> {
    if (this.closing === null) {
      this.closed = true;
      this.closing = this.shutdown();
    }
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.flushQueued = false;
    const pending: Promise<void>[] = [];
    const outbound: net.Socket[] = [];
    for (const p of this.peers.values()) {
      if (p.timer !== null) {
        clearTimeout(p.timer);
        p.timer = null;
      }
      p.dirty = false;
      for (const d of p.olderDials.splice(0)) d.destroy();
      p.suspect?.destroy();
      p.suspect = null;
      const s = p.socket;
      if (s === null) continue;
      pending.push(new Promise<void>((resolve) => s.once('close', () => resolve())));
      outbound.push(s);
      // Best effort: what an open, unblocked connection holds still goes out before the FIN.
      if (p.state === 'open' && !p.blocked) {
        p.seal();
        this.writeQueued(p);
        this.writerOf(s).end();
      } else {
        s.destroy();
      }
    }
    this.dirty.length = 0;
    if (this.progressTimer !== null) clearInterval(this.progressTimer);
    this.livenessTimer?.cancel();
    this.readHolds.clear();
    for (const s of this.inbound.keys()) s.destroy();
    pending.push(new Promise<void>((resolve) => this.server.close(() => resolve())));
    const grace = setTimeout(() => {
      for (const s of outbound) s.destroy();
    }, this.opts.closeGraceMs);
    await Promise.all(pending);
    clearTimeout(grace);
    for (const p of this.peers.values()) p.clear();
    this.identities.clear();
    this.peers.clear();
    this.aliases.clear();
    this.routes.clear();
  }
}
