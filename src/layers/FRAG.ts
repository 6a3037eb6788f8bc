import { z } from 'zod';
import { HorusError, invariant } from '../core/errors.js';
import type { DownEvent } from '../core/events.js';
import { InputGuard } from '../core/input-guard.js';
import { Message, MsgFlag } from '../core/message.js';
import type { NodeId } from '../core/node-id.js';
import { defineHeader, HeaderIds } from '../codec/header-registry.js';
import { messageFromBytes, messageToBytes } from '../codec/message-codec.js';
import { ProtocolError } from '../core/errors.js';
import { Layer, type LayerContext } from '../stack/layer.js';
import { registerLayer } from '../stack/registry.js';
import { HEADER_ALLOWANCE_BYTES } from './COM.js';
import type { Gauge } from '../core/metrics.js';

/** Largest message a stack carries (the header stack included). */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024 + 64 * 1024;
/** Largest payload FRAG carries: 64 MiB, which leaves the message limit room for the headers. */
export const FRAG_MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;
invariant(FRAG_MAX_PAYLOAD_BYTES + HEADER_ALLOWANCE_BYTES <= MAX_MESSAGE_BYTES, 'FRAG payload limit leaves no room for headers');
const MIN_FRAG_SIZE = 256;
const MAX_FRAG_SIZE = 8 * 1024 * 1024;
/** Most fragments one message can have, at the smallest fragment size. */
const MAX_FRAGMENTS = Math.ceil(MAX_MESSAGE_BYTES / MIN_FRAG_SIZE);

interface FragHeader {
  id: number;
  index: number;
  count: number;
}

export const FRAG_HEADER = defineHeader<FragHeader>(
  HeaderIds.FRAG,
  'FRAG',
  (w, h) => {
    w.uvar(h.id);
    w.uvar(h.index);
    w.uvar(h.count);
  },
  (r) => ({ id: r.uvar(), index: r.uvar(), count: r.uvar() }),
);

const options = z.object({
  /** Payload bytes per fragment. */
  fragSize: z
    .number()
    .int()
    .min(MIN_FRAG_SIZE)
    .max(MAX_FRAG_SIZE)
    .default(60 * 1024),
  /** Unfinished reassemblies kept per sender (unreliable unicasts may leave some behind); the oldest goes first. */
  maxPendingPerSender: z.number().int().positive().default(16),
  /** Bytes of unfinished reassemblies held for one sender: one largest message and some room. */
  maxPendingBytesPerSender: z
    .number()
    .int()
    .positive()
    .default(MAX_MESSAGE_BYTES + 8 * 1024 * 1024),
  /** ...and for all senders together. */
  maxPendingBytes: z
    .number()
    .int()
    .positive()
    .default(256 * 1024 * 1024),
  /** ...and for all senders that are not members of the view together (a joiner's peers, strangers). */
  maxStrangerPendingBytes: z
    .number()
    .int()
    .positive()
    .default(4 * 1024 * 1024),
  /** An unfinished reassembly that got no fragment for this long is dropped (a member's reliable multicast excepted: NAK completes it, or the view change ends it). */
  reassemblyIdleMs: z.number().positive().default(30_000),
});
export type FragOptions = z.infer<typeof options>;

interface Assembly {
  readonly sender: NodeId;
  readonly id: number;
  /** Its key among the sender's: reliable multicasts and the rest (unicasts, unreliable) apart. */
  readonly key: number;
  readonly parts: (Buffer | undefined)[];
  received: number;
  /** What it holds: its parts plus a fixed charge for its part table (a flood of tiny ones costs too). */
  bytes: number;
  /** A member's reliable multicast: fragments come in FIFO order, so at most one is unfinished per sender. */
  readonly reliable: boolean;
  readonly stranger: boolean;
  lastAt: number;
}

/** Reassemblies of a sender's reliable multicasts and of its other messages are kept apart (ids are at most 2^53 - 1). */
const assemblyKey = (id: number, reliable: boolean): number => (reliable ? id : -1 - id);

/** What an assembly costs before any part arrives. */
const assemblyCharge = (count: number): number => count * 8 + 1024;

/**
 * Splits messages larger than `fragSize` into fragments and reassembles them. Small messages pass
 * with no header at all. Placed above NAK, fragments are sequenced and repaired one by one.
 * Unfinished reassemblies are capped per sender, for non-members and in total, and pruned when their
 * sender leaves the view or they go idle; over a cap, the reassembly is dropped and counted.
 */
export class FRAG extends Layer {
  readonly name = 'FRAG';
  private nextId = 1;
  /** Unfinished reassemblies per sender, oldest first. */
  private readonly pending = new Map<NodeId, Map<number, Assembly>>();
  private readonly bytesBySender = new Map<NodeId, number>();
  private totalBytes = 0;
  private strangerBytes = 0;
  private members = new Set<NodeId>();
  private viewId = -1;
  private lastPruneAt = 0;
  private readonly guard: InputGuard;
  private readonly mPending: Gauge;

  constructor(
    ctx: LayerContext,
    private readonly opts: FragOptions,
  ) {
    super(ctx);
    this.guard = new InputGuard(ctx, 'FRAG');
    this.mPending = ctx.metrics.gauge('horus_frag_pending_bytes', 'bytes held in unfinished reassemblies');
  }

  /** Largest payload this layer carries (64 MiB); the stack also needs each fragment to fit COM's frame. */
  get maxPayloadBytes(): number {
    return FRAG_MAX_PAYLOAD_BYTES;
  }

  /** FRAG's limit, provided each fragment fits what the layers below carry (else theirs). */
  override payloadLimit(below: number): number {
    return this.opts.fragSize <= below ? this.maxPayloadBytes : below;
  }

  /** Payload bytes per fragment. */
  get fragSize(): number {
    return this.opts.fragSize;
  }

  /** Bytes held in unfinished reassemblies (tests check this stays under its caps). */
  get pendingBytes(): number {
    return this.totalBytes;
  }

  /** Unfinished reassemblies, all senders together. */
  get pendingCount(): number {
    let n = 0;
    for (const m of this.pending.values()) n += m.size;
    return n;
  }

  override downEvent(ev: DownEvent): void {
    if (ev.type === 'VIEW') this.newView(ev.view.id, ev.view.members);
    this.below.downEvent(ev);
  }

  /**
   * A new view: a member's reliable multicast of the old view is finished by now or never will be
   * (the flush delivered the cut), and nothing is kept for a sender that is not in the view.
   */
  private newView(id: number, members: readonly NodeId[]): void {
    this.members = new Set(members);
    const fresh = id !== this.viewId;
    this.viewId = id;
    for (const bySender of [...this.pending.values()]) {
      for (const a of [...bySender.values()]) {
        if ((fresh && a.reliable) || !this.members.has(a.sender)) this.discard(a);
      }
    }
  }

  override down(msg: Message): void {
    if (msg.payload.length + 256 <= this.opts.fragSize) {
      this.below.down(msg);
      return;
    }
    const whole = messageToBytes(msg);
    if (whole.length > MAX_MESSAGE_BYTES) {
      throw new HorusError('ERR_TOO_LARGE', `message of ${whole.length} bytes is over the ${MAX_MESSAGE_BYTES}-byte limit`);
    }
    const size = this.opts.fragSize;
    const count = Math.ceil(whole.length / size);
    const id = this.nextId++;
    for (let index = 0; index < count; index++) {
      const part = new Message(msg.dest, whole.subarray(index * size, Math.min(whole.length, (index + 1) * size)), msg.flags);
      part.push(FRAG_HEADER, { id, index, count });
      this.below.down(part);
    }
  }

  /** A frame's messages: whole ones (no fragment header: nearly all) go up in place, in one call. */
  override upBatch(batch: Message[]): void {
    if (this.gatheringUp) {
      this.eachUp(batch);
      return;
    }
    for (let i = 0; i < batch.length; i++) {
      if (batch[i]!.peek(FRAG_HEADER) !== undefined) {
        // From the first fragment on, one by one; the whole ones before it go up with what it completes.
        this.eachUpFrom(batch, i, i);
        return;
      }
    }
    if (batch.length > 0) this.above.upBatch(batch);
  }

  override up(msg: Message): void {
    const h = msg.pop(FRAG_HEADER);
    if (h === undefined) {
      this.above.up(msg);
      return;
    }
    const src = msg.src;
    const len = msg.payload.length;
    if (h.count === 0 || h.index >= h.count || h.count > MAX_FRAGMENTS || len > MAX_FRAG_SIZE || h.id > Number.MAX_SAFE_INTEGER) {
      this.guard.drop(src, 'fragment with an impossible id, index, count or size', { id: h.id, index: h.index, count: h.count, bytes: len });
      return;
    }
    // A fragment completes only a message sent the same way: one unicast to us must not take the
    // place of a part of a multicast that every other member reassembles from the real parts.
    const reliable = msg.isMulticast && !(msg.flags & MsgFlag.Unreliable) && this.members.has(src);
    let a = this.pending.get(src)?.get(assemblyKey(h.id, reliable));
    if (a === undefined) {
      a = this.begin(src, h.id, h.count, reliable);
      if (a === undefined) return;
    }
    if (a.parts.length !== h.count) {
      this.guard.drop(src, 'fragment count differs from the rest of its message', { id: h.id, count: h.count });
      return;
    }
    if (a.parts[h.index] !== undefined) return; // a duplicate
    if (!this.fits(a, len)) {
      this.discard(a);
      return;
    }
    a.parts[h.index] = Buffer.from(msg.payload); // copy: the frame buffer is not ours to keep
    a.received++;
    a.lastAt = this.env.now();
    this.charge(a, len);
    if (a.received < h.count) return;
    this.discard(a);
    let whole: Message;
    try {
      whole = messageFromBytes(Buffer.concat(a.parts as Buffer[]));
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.guard.drop(src, 'malformed reassembled message', { error: err.message });
      return;
    }
    whole.src = src;
    // The last fragment's sequence number: once it is stable, so are the ones before it (FIFO).
    whole.seq = msg.seq;
    this.above.up(whole);
  }

  /** Start a reassembly, making room by the per-sender count; undefined (and counted) when over a byte cap. */
  private begin(src: NodeId, id: number, count: number, reliable: boolean): Assembly | undefined {
    this.pruneIdle();
    const bySender = this.pending.get(src);
    if (bySender !== undefined) {
      for (const old of [...bySender.values()]) {
        // FIFO: a new reliable multicast means the sender's previous one will never finish.
        if (reliable && old.reliable) this.discard(old);
      }
      while (bySender.size >= this.opts.maxPendingPerSender) {
        const oldest = bySender.values().next().value;
        if (oldest === undefined) break;
        this.guard.drop(src, 'too many unfinished reassemblies from one sender', { dropped: oldest.id });
        this.discard(oldest);
      }
    }
    const a: Assembly = {
      sender: src,
      id,
      key: assemblyKey(id, reliable),
      parts: [],
      received: 0,
      bytes: 0,
      reliable,
      stranger: !this.members.has(src),
      lastAt: this.env.now(),
    };
    const charge = assemblyCharge(count);
    if (!this.fits(a, charge)) return undefined;
    a.parts.length = count;
    let map = this.pending.get(src);
    if (map === undefined) this.pending.set(src, (map = new Map()));
    map.set(a.key, a);
    this.charge(a, charge);
    return a;
  }

  /** Whether `a` may hold `more` bytes under every cap; counts the drop when not. */
  private fits(a: Assembly, more: number): boolean {
    const sender = (this.bytesBySender.get(a.sender) ?? 0) + more;
    let over: string | null = null;
    if (a.bytes + more > MAX_MESSAGE_BYTES + assemblyCharge(a.parts.length)) over = 'a reassembly over the message size limit';
    else if (sender > this.opts.maxPendingBytesPerSender) over = 'over the per-sender cap for reassemblies';
    else if (this.totalBytes + more > this.opts.maxPendingBytes) over = 'over the total cap for reassemblies';
    else if (a.stranger && this.strangerBytes + more > this.opts.maxStrangerPendingBytes) over = "over the cap for non-members' reassemblies";
    if (over === null) return true;
    this.guard.drop(a.sender, over, { id: a.id, bytes: a.bytes, senderBytes: sender - more, totalBytes: this.totalBytes });
    return false;
  }

  private charge(a: Assembly, n: number): void {
    a.bytes += n;
    this.totalBytes += n;
    if (a.stranger) this.strangerBytes += n;
    this.bytesBySender.set(a.sender, (this.bytesBySender.get(a.sender) ?? 0) + n);
    this.mPending.set(this.totalBytes);
  }

  /** Forget an assembly (finished, dropped or pruned) and what it held. */
  private discard(a: Assembly): void {
    const map = this.pending.get(a.sender);
    if (map?.get(a.key) !== a) return;
    map.delete(a.key);
    if (map.size === 0) this.pending.delete(a.sender);
    this.totalBytes -= a.bytes;
    if (a.stranger) this.strangerBytes -= a.bytes;
    const left = (this.bytesBySender.get(a.sender) ?? 0) - a.bytes;
    if (left > 0 && map.size > 0) this.bytesBySender.set(a.sender, left);
    else this.bytesBySender.delete(a.sender);
    this.mPending.set(this.totalBytes);
  }

  /** Drop reassemblies idle longer than reassemblyIdleMs; looks at most four times per period. */
  private pruneIdle(): void {
    const now = this.env.now();
    const idle = this.opts.reassemblyIdleMs;
    if (now - this.lastPruneAt < idle / 4) return;
    this.lastPruneAt = now;
    for (const map of [...this.pending.values()]) {
      for (const a of [...map.values()]) {
        if (!a.reliable && now - a.lastAt > idle) this.discard(a);
      }
    }
  }
}

registerLayer({
  name: 'FRAG',
  provides: ['fragmentation'],
  requires: ['transport'],
  options,
  create: (ctx, o) => new FRAG(ctx, o),
});
