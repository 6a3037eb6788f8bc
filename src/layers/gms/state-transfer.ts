import type { Env } from '../../core/env.js';
import { memberSet } from '../../core/member-set.js';
import { MAX_WIRE_INT } from '../../core/input-guard.js';
import type { Logger } from '../../core/logger.js';
import type { Counter, Metrics } from '../../core/metrics.js';
import { nodeOfMember } from '../../core/member-id.js';
import { Message, MsgFlag } from '../../core/message.js';
import type { NodeId } from '../../core/node-id.js';
import { sourceOfBuffers, type StateSink, type StateSource } from '../../core/state-stream.js';
import type { View } from '../../core/view.js';
import { G, GMS_HEADER } from './messages.js';
import { STATE_HEADER } from './state-header.js';

/** What state transfer needs from the membership layer it serves. */
export interface StateTransferHost {
  readonly env: Env;
  readonly log: Logger;
  /** Send a GMS control message. */
  send(to: NodeId, t: G, body: unknown): void;
  /** Pass a ready message to the layer below. */
  down(msg: Message): void;
  /**
   * The joiner's state arrived: install its first view with it (`state` is null when a sink from
   * `openSink` took the bytes).
   */
  complete(first: View, state: Buffer | null): void;
  /** Count and log input we will not act on. */
  drop(from: NodeId, reason: string): void;
  /** Is `from` a member of our current view? */
  isMember(from: NodeId): boolean;
  /** The transfer cannot succeed (the state is too large, the sink refused it): the join fails. */
  fail(message: string): void;
  /** A state of `size` bytes is coming for view `viewId`: the application's sink for it, if it has one. */
  openSink?(viewId: number, size: number): StateSink | null;
  /** Largest payload the layers below carry in one message (the stack's limit under GMS). */
  maxPayloadBytes?(): number;
  /** Where the transfer's counters go. */
  readonly metrics?: Metrics;
}

export interface StateTransferOptions {
  retryMs: number;
  /** Largest chunk a provider sends (clamped to what the layers below carry in one message). */
  stateChunkBytes: number;
  /** Most chunks in flight per joiner. */
  stateWindow: number;
  /** Most bytes in flight per joiner: the bandwidth-delay product of the member-to-member path. */
  stateWindowBytes: number;
  /** Largest state a joiner accepts. */
  maxStateBytes: number;
  /** Largest chunk a joiner accepts. */
  maxStateChunkBytes: number;
}

/** A chunk sent and not yet acked: a view of the source's bytes, kept only to resend it. */
interface InFlight {
  offset: number;
  bytes: Buffer;
  /** The joiner is asked to ack this one at once. */
  ackNow: boolean;
}

/** One snapshot shared by the joiners of one view; released when the last of them is done. */
interface SharedSource {
  source: StateSource;
  users: number;
}

interface OutgoingState {
  joiner: NodeId;
  viewId: number;
  size: number;
  shared: SharedSource;
  /** The source, opened for this joiner; null once it has yielded everything. */
  reader: Iterator<Uint8Array> | null;
  /** What is left of the source's current piece (pieces larger than a chunk go in several). */
  rest: Buffer | null;
  /** Sent and not acked, oldest first (from `head`): resent from here on loss. */
  inflight: InFlight[];
  head: number;
  inflightBytes: number;
  /** Offset of the next byte never sent yet. */
  sentUpTo: number;
  acked: number;
  lastSend: number;
  /** When the joiner's ack last moved forward (or the first send). */
  progressAt: number;
  /** The resend interval's multiplier: doubles with each resend that brings no progress (a starved joiner is not a lossy one). */
  backoff: number;
  /** The joiner acked a chunk: the whole window may go (until then, one chunk: it may not be ready yet). */
  opened: boolean;
  /** Probes (the oldest unacked chunk alone, sent again when acks stalled) since the ack last moved forward. */
  probes: number;
  /** The window went again for a gap report since the ack last moved (one per place: reports cost a window each). */
  gapResent: boolean;
  /** Bytes and chunks sent since the last chunk that asked for an ack. */
  sinceAskBytes: number;
  sinceAskChunks: number;
  done: boolean;
}

interface IncomingState {
  viewId: number;
  from: NodeId;
  firstView: View;
  /** Bytes in the state, once the first chunk said; -1 before. */
  size: number;
  /** Bytes received in order so far: the next chunk must start here. */
  next: number;
  /** Where the bytes go: the application's sink, or one buffer of `size` bytes filled in place. */
  sink: StateSink | null;
  buffer: Buffer | null;
  ackedUpTo: number;
  /** `next` when we last reported a gap (-1: none): one report per place we are stuck at. */
  gapAt: number;
  /** Acks sent with a size known (the first chunk is acked at once: it opens the provider's window). */
  acks: number;
  lastAck: number;
  progressAt: number;
}

/** Probes with no ack moving forward before the window is sent again (the timeouts double: 1 + 2 of them). */
const MAX_PROBES = 2;

/** Bytes a chunk's header takes at most (three varints): kept free below the layers' payload limit. */
const CHUNK_HEADER_BYTES = 32;

/**
 * State transfer, apart from membership (as JGroups' STATE_TRANSFER beside GMS). The provider named
 * in the install reads the snapshot lazily and sends it to each joiner as unreliable unicasts (no
 * ordering layer sees them), each chunk a view of the snapshot's bytes with its offset in a header,
 * under a window of bytes in flight; the joiner writes each in-order chunk straight into its sink
 * (the application's, or one buffer of the announced size) and acks its byte offset. A chunk past
 * where the joiner is reveals a loss: the joiner says so at once and the window goes again from the
 * oldest unacked chunk; acks that stall bring a probe (that chunk alone) and, only if probes move
 * nothing, the window again. Caps: state size, chunk size.
 */
export class StateTransfer {
  private readonly outgoing = new Map<NodeId, OutgoingState>();
  private incoming: IncomingState | null = null;
  /** Counts for tests: chunks sent first time and again (probes among them), bytes taken in order as a joiner. */
  readonly stats = { chunksSent: 0, chunksResent: 0, probes: 0, bytesReceived: 0 };
  private readonly mSent: Counter | null;
  private readonly mResent: Counter | null;
  private readonly mReceived: Counter | null;

  constructor(
    private readonly host: StateTransferHost,
    private readonly opts: StateTransferOptions,
  ) {
    const m = host.metrics;
    this.mSent = m?.counter('horus_gms_state_bytes_sent_total', 'state bytes sent to joiners, first time') ?? null;
    this.mResent = m?.counter('horus_gms_state_chunks_resent_total', 'state chunks sent again after a loss') ?? null;
    this.mReceived = m?.counter('horus_gms_state_bytes_received_total', 'state bytes taken in order as a joiner') ?? null;
  }

  /** True while this member waits for its own state. */
  get receiving(): boolean {
    return this.incoming !== null;
  }

  /** The provider we wait for, if any. */
  get provider(): NodeId | null {
    return this.incoming?.from ?? null;
  }

  /** Joiners this member is streaming state to now. */
  get sending(): number {
    return this.outgoing.size;
  }

  /** Joiner: expect `firstView`'s state from `from`. */
  expect(firstView: View, from: NodeId): void {
    this.abandon('a new transfer began');
    const now = this.host.env.now();
    const inc: IncomingState = {
      viewId: firstView.id,
      from,
      firstView,
      size: -1,
      next: 0,
      sink: null,
      buffer: null,
      ackedUpTo: 0,
      gapAt: -1,
      acks: 0,
      lastAck: now,
      progressAt: now,
    };
    this.incoming = inc;
    // "Ready": a provider whose first chunk arrived before we knew of the transfer sends it again.
    this.ack(inc, now);
  }

  /** Stop waiting for our state (the join failed or we leave to rejoin): a sink is told to discard what it has. */
  abandon(reason = 'the state transfer was abandoned'): void {
    const inc = this.incoming;
    this.incoming = null;
    if (inc?.sink) {
      try {
        inc.sink.abort(reason);
      } catch (err) {
        this.host.log.warn('state sink abort threw', { error: (err as Error).message });
      }
    }
  }

  /** Is `viewId` the view whose state we wait for? */
  awaits(viewId: unknown): boolean {
    return this.incoming !== null && this.incoming.viewId === viewId;
  }

  /** Provider: stream `snapshot` (or the failure to take it) to each joiner of view `viewId`. */
  provide(joiners: readonly NodeId[], viewId: number, snapshot: Buffer | StateSource | null, snapshotError: Error | null): void {
    if (snapshotError) {
      for (const j of joiners) this.host.send(j, G.StateFail, { view: viewId, message: snapshotError.message });
      return;
    }
    const source = snapshot === null ? sourceOfBuffers([]) : Buffer.isBuffer(snapshot) ? sourceOfBuffers([snapshot]) : snapshot;
    // One use held for the loop itself: a joiner that fails at once must not release the source under the others.
    const shared: SharedSource = { source, users: 1 };
    for (const j of joiners) {
      const old = this.outgoing.get(j);
      if (old) this.finishOutgoing(old);
      let reader: Iterator<Uint8Array>;
      try {
        reader = source.open();
      } catch (err) {
        this.host.send(j, G.StateFail, { view: viewId, message: `the state could not be read: ${(err as Error).message}` });
        continue;
      }
      const o: OutgoingState = {
        joiner: j,
        viewId,
        size: source.size,
        shared,
        reader,
        rest: null,
        inflight: [],
        head: 0,
        inflightBytes: 0,
        sentUpTo: 0,
        acked: 0,
        lastSend: 0,
        progressAt: this.host.env.now(),
        backoff: 1,
        opened: false,
        probes: 0,
        gapResent: false,
        sinceAskBytes: 0,
        sinceAskChunks: 0,
        done: false,
      };
      shared.users++;
      this.outgoing.set(j, o);
      this.pump(o);
    }
    if (--shared.users === 0) this.release(shared);
  }

  /**
   * Provider: an ack of view `viewId`'s state. `position` 0 says the joiner is ready and has nothing
   * (before any chunk was acked) or that chunks were lost (after); otherwise the joiner knows the
   * size and has the first `position - 1` bytes.
   */
  onAck(from: NodeId, viewId: number, position: number): void {
    const o = this.outgoing.get(from);
    if (!o || o.viewId !== viewId) return;
    const now = this.host.env.now();
    if (position === 0) {
      // Before the window opened: ready and holding nothing (our first chunk reached it before it
      // knew of the transfer). After: a chunk came after a gap, so the chunks before it were lost
      // (they cross one in-order connection): the window goes again from the oldest unacked, once
      // until the ack moves (a joiner that repeats itself gets no more: timeouts and probes go on).
      if (o.head >= o.inflight.length) return;
      if (!o.opened) return this.resend(o, now);
      if (o.gapResent) return;
      o.gapResent = true;
      this.resend(o, now);
      return;
    }
    const next = position - 1;
    if (next > o.sentUpTo) {
      this.host.drop(from, 'state ack past what was sent');
      return;
    }
    if (next <= o.acked && o.size > 0 && o.opened) return; // old news (acks may lag far behind under load)
    o.opened = true;
    o.acked = next;
    o.progressAt = now;
    o.backoff = 1;
    o.probes = 0;
    o.gapResent = false;
    while (o.head < o.inflight.length) {
      const c = o.inflight[o.head]!;
      if (c.offset + c.bytes.length > next) break;
      o.inflightBytes -= c.bytes.length;
      o.inflight[o.head++] = undefined as unknown as InFlight; // let the view go
    }
    if (o.head === o.inflight.length) {
      o.inflight.length = 0;
      o.head = 0;
    } else if (o.head > 64) {
      o.inflight.splice(0, o.head);
      o.head = 0;
    }
    if (o.acked >= o.size) this.finishOutgoing(o);
    else this.pump(o);
  }

  /**
   * Joiner: a chunk, only from our provider. Its header is checked before use: the size never
   * changes and is within our cap, the chunk lies inside the state and within the chunk cap, and
   * every chunk of a non-empty state carries bytes. Only the chunk that starts where we are is taken.
   */
  onChunk(from: NodeId, msg: Message): void {
    const inc = this.incoming;
    if (!inc) return; // late chunks after the state arrived
    if (from !== inc.from) {
      // A provider of an earlier attempt, or ours after it left the view, may still be streaming: only a stranger is counted.
      if (!this.host.isMember(from) && nodeOfMember(from) !== nodeOfMember(inc.from)) this.host.drop(from, 'state chunk not from the state provider');
      return;
    }
    const h = msg.pop(STATE_HEADER);
    if (h === undefined) return this.host.drop(from, 'state chunk without its header');
    if (h.view !== inc.viewId) return; // an earlier attempt's
    const len = msg.payload.length;
    if (
      h.view > MAX_WIRE_INT ||
      h.size > Number.MAX_SAFE_INTEGER ||
      h.offset + len > h.size ||
      (inc.size >= 0 && h.size !== inc.size) ||
      len > Math.max(this.opts.maxStateChunkBytes, this.opts.stateChunkBytes) ||
      (len === 0 && h.size > 0)
    ) {
      return this.host.drop(from, 'malformed state chunk');
    }
    if (inc.size < 0 && !this.begin(inc, from, h.size)) return;
    const now = this.host.env.now();
    const inOrder = h.offset === inc.next;
    if (inOrder) {
      if (len > 0) {
        if (inc.buffer) msg.payload.copy(inc.buffer, h.offset);
        else if (!this.writeSink(inc, msg.payload)) return;
      }
      inc.next += len;
      inc.progressAt = now;
      inc.gapAt = -1;
      this.stats.bytesReceived += len;
      this.mReceived?.inc(len);
    }
    // Ack at once: the first chunk (it opens the provider's window), one the provider asks about (a
    // resent window's last asks too: our ack may have been lost), the last. Also every quarter of our
    // own window, should the provider ask too seldom. A gap waits for the provider's resend.
    const every = Math.max(1, Math.floor(this.opts.stateWindowBytes / 4));
    if ((inOrder && inc.acks === 0) || (h.ackNow && h.offset <= inc.next) || inc.next >= inc.size || inc.next - inc.ackedUpTo >= every) {
      this.ack(inc, now);
    }
    if (inc.next >= inc.size) this.completeIncoming(inc);
    else if (h.offset > inc.next && inc.gapAt !== inc.next) {
      // A chunk past where we are: those before it were lost (one in-order connection carries them).
      // Say so at once, once per place, rather than wait for the provider's timeout.
      inc.gapAt = inc.next;
      inc.lastAck = now;
      this.host.send(inc.from, G.StateAck, { view: inc.viewId, next: 0 });
    }
  }

  /** Joiner: has our provider gone (silent too long, or out of the view)? */
  providerLost(now: number, members: readonly NodeId[], silentMs: number): boolean {
    return this.incoming !== null && (now - this.incoming.progressAt > silentMs || !memberSet(members).has(this.incoming.from));
  }

  /** Periodic work: re-ack our progress; keep streaming to joiners still in the view. */
  tick(now: number, members: readonly NodeId[]): void {
    const inc = this.incoming;
    if (inc && now - inc.lastAck > this.opts.retryMs * 2) this.ack(inc, now);
    for (const o of [...this.outgoing.values()]) {
      // Keep streaming through later view changes: the joiner waits for exactly this snapshot.
      if (!memberSet(members).has(o.joiner)) this.finishOutgoing(o);
      else if (now - Math.max(o.lastSend, o.progressAt) > this.opts.retryMs * 3 * o.backoff) {
        // No ack moved us forward for a while. A loaded joiner is the likely cause (a loss the joiner
        // sees reports itself: see onChunk): the oldest unacked chunk alone asks where the joiner is
        // (a window sent again to a joiner that is merely slow is megabytes of waste on both sides);
        // its answer, or the gap it reveals, moves us on. Only after probes that moved nothing
        // (a broken connection) does the window go again from there.
        if (o.head < o.inflight.length) {
          if (o.opened && o.probes < MAX_PROBES) this.probe(o, now);
          else this.resend(o, now);
          o.backoff = Math.min(o.backoff * 2, 8);
        } else this.pump(o);
      }
    }
  }

  // ---- joiner ----

  /** The first chunk told the size: check it against our cap and open where the bytes go. */
  private begin(inc: IncomingState, from: NodeId, size: number): boolean {
    if (size > this.opts.maxStateBytes) {
      this.host.drop(from, 'state over maxStateBytes');
      this.incoming = null;
      this.host.fail(`the state (${size} bytes) is larger than maxStateBytes (${this.opts.maxStateBytes})`);
      return false;
    }
    inc.size = size;
    let sink: StateSink | null = null;
    try {
      sink = this.host.openSink?.(inc.viewId, size) ?? null;
    } catch (err) {
      this.incoming = null;
      this.host.fail(`the state receiver refused the state: ${(err as Error).message}`);
      return false;
    }
    inc.sink = sink;
    // Without a sink: one buffer of the announced size, filled in place (never a list and a concat).
    if (!sink) inc.buffer = Buffer.allocUnsafe(size);
    return true;
  }

  /** Hand bytes to the application's sink; false (and the join failed) if it threw. */
  private writeSink(inc: IncomingState, bytes: Buffer): boolean {
    try {
      inc.sink!.write(bytes);
      return true;
    } catch (err) {
      this.abandon('the state receiver refused a chunk');
      this.host.fail(`the state receiver refused a chunk: ${(err as Error).message}`);
      return false;
    }
  }

  /** Where we are: 0 before the first chunk, else one more than the bytes we have (0 after it: a gap; see onAck). */
  private ack(inc: IncomingState, now: number): void {
    inc.lastAck = now;
    inc.ackedUpTo = inc.next;
    if (inc.size >= 0) inc.acks++;
    this.host.send(inc.from, G.StateAck, { view: inc.viewId, next: inc.size < 0 ? 0 : inc.next + 1 });
  }

  private completeIncoming(inc: IncomingState): void {
    this.incoming = null;
    if (inc.sink) {
      try {
        inc.sink.finish();
      } catch (err) {
        this.host.fail(`the state could not be restored (the receiver's finish() threw): ${(err as Error).message}`);
        return;
      }
    }
    this.host.log.info('state received', { viewId: inc.firstView.id, bytes: inc.size, streamed: inc.sink !== null });
    this.host.complete(inc.firstView, inc.buffer);
  }

  // ---- provider ----

  /** Largest chunk we send: our option, within what the layers below carry in one message. */
  private chunkBytes(): number {
    const below = this.host.maxPayloadBytes?.() ?? Infinity;
    return Math.max(1, Math.min(this.opts.stateChunkBytes, below - CHUNK_HEADER_BYTES));
  }

  /** Send new chunks while the window has room (one chunk until the joiner acked one). */
  private pump(o: OutgoingState): void {
    const now = this.host.env.now();
    const max = this.chunkBytes();
    const maxChunks = o.opened ? this.opts.stateWindow : 1;
    let sent = false;
    while (o.inflight.length - o.head < maxChunks && o.inflightBytes < this.opts.stateWindowBytes) {
      if (o.size === 0) {
        // An empty state still needs one (empty) chunk: it tells the joiner the size.
        if (o.inflight.length > 0) break;
        this.sendChunk(o, Buffer.alloc(0));
        sent = true;
        break;
      }
      if (o.sentUpTo >= o.size) break;
      const piece = this.nextPiece(o, Math.min(max, o.size - o.sentUpTo));
      if (piece === null) return; // the source failed: the joiner was told
      this.sendChunk(o, piece);
      sent = true;
    }
    // Only a send restarts the resend clock.
    if (sent) o.lastSend = now;
  }

  /** The next at most `max` bytes of the source, as a view (no copy); null if the source broke its word. */
  private nextPiece(o: OutgoingState, max: number): Buffer | null {
    while (o.rest === null || o.rest.length === 0) {
      let r: IteratorResult<Uint8Array>;
      try {
        r = o.reader!.next();
      } catch (err) {
        return this.sourceFailed(o, `the state source threw: ${(err as Error).message}`);
      }
      if (r.done) return this.sourceFailed(o, `the state source ended after ${o.sentUpTo} of the ${o.size} bytes it announced`);
      const v = r.value;
      o.rest = Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    }
    const rest = o.rest;
    if (rest.length <= max) {
      o.rest = null;
      return rest;
    }
    o.rest = rest.subarray(max);
    return rest.subarray(0, max);
  }

  private sourceFailed(o: OutgoingState, message: string): null {
    this.host.log.warn('state transfer failed at the provider', { joiner: o.joiner, message });
    this.host.send(o.joiner, G.StateFail, { view: o.viewId, message });
    this.finishOutgoing(o);
    return null;
  }

  /**
   * Send the next piece of the state. It asks for an ack at once when it is the first or the last,
   * or a quarter of the window went since the last that asked: the provider paces the acks it needs.
   */
  private sendChunk(o: OutgoingState, bytes: Buffer): void {
    o.sinceAskBytes += bytes.length;
    o.sinceAskChunks++;
    const last = o.sentUpTo + bytes.length >= o.size;
    const ackNow = !o.opened || last || o.sinceAskBytes * 4 >= this.opts.stateWindowBytes || o.sinceAskChunks * 4 >= this.opts.stateWindow;
    if (ackNow) o.sinceAskBytes = o.sinceAskChunks = 0;
    const c: InFlight = { offset: o.sentUpTo, bytes, ackNow };
    o.sentUpTo += bytes.length;
    o.inflight.push(c);
    o.inflightBytes += c.bytes.length;
    this.stats.chunksSent++;
    this.mSent?.inc(c.bytes.length);
    this.transmit(o, c);
  }

  private transmit(o: OutgoingState, c: InFlight): void {
    const m = new Message(o.joiner, c.bytes, MsgFlag.Unreliable);
    m.push(STATE_HEADER, { view: o.viewId, offset: c.offset, size: o.size, ackNow: c.ackNow });
    m.push(GMS_HEADER, G.StateChunk);
    this.host.down(m);
  }

  /** Send the oldest unacked chunk alone, asking for an ack at once (see `probes`). */
  private probe(o: OutgoingState, now: number): void {
    const c = o.inflight[o.head]!;
    this.host.log.debug('state transfer probed', { joiner: o.joiner, acked: o.acked, sentUpTo: o.sentUpTo });
    this.stats.chunksResent++;
    this.stats.probes++;
    this.mResent?.inc();
    c.ackNow = true;
    o.probes++;
    this.transmit(o, c);
    o.lastSend = now;
  }

  /** Go back to the oldest unacked chunk and send the window again. */
  private resend(o: OutgoingState, now: number): void {
    o.probes = 0;
    this.host.log.debug('state window resent', { joiner: o.joiner, acked: o.acked, chunks: o.inflight.length - o.head });
    for (let i = o.head; i < o.inflight.length; i++) {
      this.stats.chunksResent++;
      this.mResent?.inc();
      const c = o.inflight[i]!;
      // The last of the window asks for an ack, so the joiner says at once how far it got.
      if (i === o.inflight.length - 1) c.ackNow = true;
      this.transmit(o, c);
    }
    o.lastSend = now;
  }

  private finishOutgoing(o: OutgoingState): void {
    if (o.done) return;
    o.done = true;
    if (this.outgoing.get(o.joiner) === o) this.outgoing.delete(o.joiner);
    o.inflight = [];
    o.head = 0;
    o.inflightBytes = 0;
    o.rest = null;
    if (o.reader) {
      try {
        o.reader.return?.();
      } catch {
        // a source that cannot close is the application's affair
      }
      o.reader = null;
    }
    if (--o.shared.users === 0) this.release(o.shared);
  }

  private release(shared: SharedSource): void {
    try {
      shared.source.release?.();
    } catch (err) {
      this.host.log.warn('state source release threw', { error: (err as Error).message });
    }
  }
}
