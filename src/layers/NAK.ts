import { z } from 'zod';
import type { Timer } from '../core/env.js';
import type { Digest, DownEvent } from '../core/events.js';
import { invariant, ProtocolError } from '../core/errors.js';
import { Message, MsgFlag } from '../core/message.js';
import type { NodeId } from '../core/node-id.js';
import { SeqBuffer } from '../core/seq-buffer.js';
import { SliceStore } from '../core/slice-store.js';
import { messageFromBytes, messageToBytes } from '../codec/message-codec.js';
import { membershipSeq, nodeOfMember } from '../core/member-id.js';
import { defineHeader, HeaderIds } from '../codec/header-registry.js';
import { Layer, type LayerContext } from '../stack/layer.js';
import { registerLayer } from '../stack/registry.js';
import type { Counter, Gauge } from '../core/metrics.js';
import { InputGuard, MAX_ID_BYTES, MAX_WIRE_INT } from '../core/input-guard.js';

const enum NakType {
  Data = 1,
  /** Retransmitted data, unicast to whoever asked; carries the original sender. */
  Xmit = 2,
  /** "Send me origin's messages from..to". */
  Req = 3,
  /** Unreliable announcement of a sender's highest sequence number: reveals lost tails. */
  High = 4,
}

/**
 * Every NAK header names the view its sequence numbers belong to: numbering restarts per view. A
 * data message's sequence number is its `Message.seq` (set by the sender's NAK, and by the decoder
 * on receipt), so its header is one record per view shared by all its data messages, not one per
 * message; a record made by hand may carry the number itself (`seq`), which then goes first.
 */
type NakHeader =
  | { t: NakType.Data; view: number; seq?: number }
  | { t: NakType.Xmit; view: number; origin: NodeId; seq: number }
  | { t: NakType.Req; view: number; origin: NodeId; from: number; to: number }
  | { t: NakType.High; view: number; seq: number };

/** The shared data header of the view last decoded (frames carry runs of one view's messages). */
let lastData: { t: NakType.Data; view: number } = Object.freeze({ t: NakType.Data, view: 0 });
function dataHeaderOf(view: number): { t: NakType.Data; view: number } {
  if (lastData.view !== view) lastData = Object.freeze({ t: NakType.Data, view });
  return lastData;
}

/** A data message's sequence number: its header's own, if it has one, else the message's. */
function dataSeq(h: { t: NakType.Data; seq?: number }, msg: Message): number {
  return h.seq ?? msg.seq;
}

export const NAK_HEADER = defineHeader<NakHeader>(
  HeaderIds.NAK,
  'NAK',
  (w, h, msg) => {
    w.u8(h.t);
    w.uvar(h.view);
    switch (h.t) {
      case NakType.Data: {
        const seq = h.seq ?? msg?.seq;
        invariant(seq !== undefined, 'a NAK data header encoded apart from its message');
        w.uvar(seq);
        break;
      }
      case NakType.High:
        w.uvar(h.seq);
        break;
      case NakType.Xmit:
        w.str(h.origin);
        w.uvar(h.seq);
        break;
      case NakType.Req:
        w.str(h.origin);
        w.uvar(h.from);
        w.uvar(h.to);
        break;
    }
  },
  (r, msg) => {
    const t = r.u8();
    const view = r.uvar();
    switch (t) {
      case NakType.Data: {
        const seq = r.uvar();
        if (msg === undefined) return { t, view, seq };
        msg.seq = seq;
        return dataHeaderOf(view);
      }
      case NakType.High:
        return { t, view, seq: r.uvar() };
      case NakType.Xmit:
        return { t, view, origin: r.str(MAX_ID_BYTES), seq: r.uvar() };
      case NakType.Req:
        return { t, view, origin: r.str(MAX_ID_BYTES), from: r.uvar(), to: r.uvar() };
      default:
        throw new ProtocolError('ERR_MALFORMED', `unknown NAK header type ${t}`);
    }
  },
);

const options = z.object({
  /** How often gaps are re-requested and the highest sequence number is announced. */
  xmitIntervalMs: z.number().positive().default(20),
  /** Most messages one retransmission request asks for. */
  maxXmitBatch: z.number().int().positive().default(1024),
  /** After this many unanswered requests to the original sender, ask other members. */
  askOthersAfter: z.number().int().positive().default(3),
  /** Most bytes retransmitted to one member per xmitIntervalMs (it asks again for the rest): what a member's small requests can make us send. */
  maxXmitBytes: z
    .number()
    .int()
    .positive()
    .default(8 * 1024 * 1024),
  /** Out-of-order messages held per sender, in bytes; more are dropped (and fetched again later). */
  maxEarlyBytesPerSender: z
    .number()
    .int()
    .positive()
    .default(16 * 1024 * 1024),
  /** How far ahead of the next expected sequence number a message (or an announced HIGH) may be. */
  maxEarlyAhead: z.number().int().positive().default(65_536),
  /** Messages for a view not installed yet, in bytes, from all peers together. */
  maxFutureBytes: z
    .number()
    .int()
    .positive()
    .default(32 * 1024 * 1024),
  /** ...and from any one peer. */
  maxFutureBytesPerPeer: z
    .number()
    .int()
    .positive()
    .default(8 * 1024 * 1024),
  /** ...and how many messages in all. */
  maxFutureMessages: z.number().int().positive().default(100_000),
});
export type NakOptions = z.infer<typeof options>;

/** Bytes a kept message accounts for (fixed at keeping time: its header top moves afterwards). */
const keptBytes = (m: Message): number => m.payload.length + 32;

/** What a kept encoding costs beyond its bytes (its slots in the store's arrays, and a share of its frame's). */
const SLICE_OVERHEAD_BYTES = 32;

/**
 * Give a message its own copy of its encoding, with the payload a view into that copy: for one
 * held a while out of order, or one that would pin a buffer far larger than itself (a hostile
 * peer's huge frame around one tiny message). A message that came in no frame is encoded afresh
 * with our header still on it (popping leaves it in place, one above the top).
 */
function ownWire(msg: Message): void {
  const wire = msg.wire;
  if (wire === null) {
    const top = msg.htop;
    msg.htop = top + 1;
    const bytes = messageToBytes(msg);
    msg.htop = top;
    msg.wire = bytes;
    msg.wireStart = 0;
    msg.wireEnd = bytes.length;
    return;
  }
  const copy = Buffer.from(wire.subarray(msg.wireStart, msg.wireEnd));
  const p = msg.payload;
  const at = p.byteOffset - (wire.byteOffset + msg.wireStart);
  msg.payload = copy.subarray(at, at + p.length);
  msg.wire = copy;
  msg.wireStart = 0;
  msg.wireEnd = copy.length;
}

/** The message's encoding would pin a buffer far larger than itself; ordinary batched frames stay shared, so the in-order path allocates nothing. */
function pinsTooMuch(msg: Message): boolean {
  const wire = msg.wire;
  if (wire === null) return true;
  // The messages of one frame share it: its buffer's size is read once per frame, not per message.
  if (wire !== lastWire) {
    lastWire = wire;
    lastWireBufferBytes = wire.buffer.byteLength;
  }
  return lastWireBufferBytes > (msg.wireEnd - msg.wireStart) * 16 + 256 * 1024;
}
let lastWire: Buffer | null = null;
let lastWireBufferBytes = 0;

/** Receive state for one sender. */
class SenderWindow {
  /** Next sequence number to deliver. */
  next = 1;
  /** Arrived ahead of a gap (or beyond a flush freeze). */
  readonly early = new Map<number, Message>();
  /** Bytes held in `early` (payloads are copies: see keepEarly). */
  earlyBytes = 0;
  /** Highest sequence number known to exist. */
  high = 0;
  /** Deliver nothing above this (a flush freezes or cuts the view). */
  limit = Infinity;
  /**
   * Delivered, kept until stable so any member can retransmit for this sender: the encoding as it
   * arrived, tagged with the index of our header in it (the message object itself is not kept).
   */
  readonly store = new SliceStore(1, SLICE_OVERHEAD_BYTES);
  lastReqAt = -Infinity;
  reqTries = 0;
  /** During a flush: a member known to hold everything up to the cut. */
  holder: NodeId | null = null;
  constructor(readonly origin: NodeId) {}
  get missing(): boolean {
    return Math.min(this.high, this.limit) >= this.next;
  }
}

/**
 * Reliable per-sender FIFO multicast by negative acknowledgement: every multicast gets a per-sender
 * sequence number within its view; a receiver that sees a gap (or learns of a higher number through
 * HIGH) asks for the missing range, first from the sender, then from other members. Messages are
 * kept until STABLE says every member holds them. For the flush, it freezes delivery and then
 * delivers exactly up to a cut, fetching what it lacks from members that hold it. Only members are
 * heard, and what a peer can make it hold or send is capped (out-of-order and future-view bytes,
 * retransmitted bytes per member and interval): over a cap, input is dropped and counted, and a
 * dropped message is a gap like any other, fetched again once there is room.
 */
export class NAK extends Layer {
  readonly name = 'NAK';
  private viewId = 0;
  private members: readonly NodeId[] = [];
  /**
   * Our own multicasts kept until stable: the oldest as slices of the frames they went out in
   * (`sentSlices`, tagged with the top of the headers above ours), the newest, not yet sent by COM,
   * as objects (`sent`). Objects move to slices as COM sends them: a message object kept until
   * stable would outlive a young-generation collection (see SliceStore).
   */
  private sent: SeqBuffer<Message> = new SeqBuffer<Message>(1, keptBytes);
  private sentSlices = new SliceStore(1, SLICE_OVERHEAD_BYTES);
  private lastSent = 0;
  /** Our own messages come back up through COM's loopback a moment after sending: the highest seen. */
  private ownDelivered = 0;
  private stableSelf = 0;
  private windows = new Map<NodeId, SenderWindow>();
  /** The window upInOrder used last (a frame's messages come from one sender): reset with `windows`. */
  private lastWindow: SenderWindow | null = null;
  /** The data header of this view, shared by all our data messages (their numbers are their `seq`). */
  private dataHeader: { t: NakType.Data; view: number } = { t: NakType.Data, view: 0 };
  /** Messages stamped with a view this member has not installed yet: kept for when it does, within caps. */
  private future: Message[] = [];
  private futureBytes = 0;
  private futureByPeer = new Map<NodeId, number>();
  private readonly guard: InputGuard;
  /** Per requester (members only; reset with each view): bytes retransmitted to it since `since`. */
  private xmitBudget = new Map<NodeId, { since: number; bytes: number }>();
  private readonly mXmitThrottled: Counter;
  private cut: Digest | null = null;
  private cutReported = false;
  private timer: Timer | null = null;
  private halted = false;
  private readonly mRetransmitted: Counter;
  private readonly mRequests: Counter;
  private readonly mDuplicates: Counter;
  private readonly mBuffered: Gauge;

  constructor(
    ctx: LayerContext,
    private readonly opts: NakOptions,
  ) {
    super(ctx);
    this.mRetransmitted = ctx.metrics.counter('horus_nak_retransmissions_total', 'messages retransmitted');
    this.mRequests = ctx.metrics.counter('horus_nak_requests_total', 'retransmission requests sent');
    this.mDuplicates = ctx.metrics.counter('horus_nak_duplicates_total', 'duplicate messages dropped');
    this.mBuffered = ctx.metrics.gauge('horus_nak_buffered_bytes', 'bytes held for retransmission');
    this.guard = new InputGuard(ctx, 'NAK');
    this.mXmitThrottled = ctx.metrics.counter('horus_nak_xmit_throttled_total', 'retransmission requests cut short by the per-member byte budget');
  }

  override start(): void {
    this.wake();
  }

  override stop(): void {
    this.halted = true;
    this.timer?.cancel();
    this.timer = null;
  }

  /**
   * The tick runs only while it has work: our messages not yet stable (announced by HIGH), a gap
   * in some sender's window, sent messages not yet kept as slices. A quiet group sets no timer at
   * all (a timer firing 50 times a second in every group of every member was most of an idle
   * member's CPU); whatever can make work (a message of ours, one with our header, an event from
   * above) wakes it.
   */
  private wake(): void {
    if (this.timer !== null || this.halted) return;
    this.timer = this.env.setTimer(this.opts.xmitIntervalMs, this.onTimer);
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    this.wake(); // first: a tick that throws must not stop the timer for good
    this.tick();
    const t = this.timer as Timer | null; // set again by wake() above
    if (t !== null && this.quiet()) {
      t.cancel();
      this.timer = null;
    }
  };

  private quiet(): boolean {
    if (this.lastSent > this.stableSelf || this.sent.firstSeq < this.sent.nextSeq) return false;
    for (const w of this.windows.values()) if (w.missing) return false;
    return true;
  }

  override down(msg: Message): void {
    if (msg.dest !== null || msg.flags & MsgFlag.Unreliable) {
      this.below.down(msg);
      return;
    }
    if (this.sent.length >= 64) this.sliceSent();
    if (this.timer === null) this.wake();
    const seq = ++this.lastSent;
    msg.seq = seq;
    msg.push(NAK_HEADER, this.dataHeader);
    msg.keptTop = msg.htop; // the same object also goes up as our own copy: remember its headers' top
    this.sent.append(seq, msg);
    this.below.down(msg);
  }

  override up(msg: Message): void {
    const h = msg.peek(NAK_HEADER);
    if (h === undefined) {
      // A reliable multicast always carries our header: one without it is forged or broken.
      if (msg.isMulticast && !(msg.flags & MsgFlag.Unreliable)) {
        this.guard.drop(msg.src, 'reliable multicast without a NAK header');
        return;
      }
      this.above.up(msg);
      return;
    }
    if (this.timer === null) this.wake();
    if (h.view !== this.viewId) {
      // A member that installed the next view before us: keep its messages for when we do.
      if (h.view > this.viewId && (h.t === NakType.Data || h.t === NakType.Xmit)) this.keepForLater(msg, h.view);
      return; // an older view's straggler
    }
    msg.dropTop();
    const src = msg.src;
    switch (h.t) {
      case NakType.Data: {
        const seq = dataSeq(h, msg);
        if (src === this.ctx.localId) {
          msg.seq = seq;
          if (seq > this.ownDelivered) this.ownDelivered = seq;
          this.above.up(msg); // own loopback: already in order
          if (this.cut !== null) this.checkCut();
          return;
        }
        const w = this.windows.get(src);
        if (w === undefined) this.guard.drop(src, 'data from a non-member');
        else this.receive(w, seq, msg, src);
        return;
      }
      case NakType.Xmit: {
        // Only a member may vouch for another's message, only for a member of this view, and only
        // for what we know exists (we ask up to `high`): nothing unasked-for is kept.
        if (h.origin === this.ctx.localId) return;
        const w = this.windows.get(h.origin);
        if (w === undefined || !this.members.includes(src)) {
          this.guard.drop(src, w === undefined ? 'retransmission for a non-member' : 'retransmission from a non-member');
          return;
        }
        if (h.seq > w.high) {
          this.guard.drop(src, 'retransmission nobody asked for', { seq: h.seq, high: w.high });
          return;
        }
        msg.src = h.origin;
        msg.dest = null;
        msg.flags = MsgFlag.Multicast | (msg.flags & MsgFlag.Causal); // the original's, as sent (see answer)
        this.receive(w, h.seq, msg, src);
        return;
      }
      case NakType.Req:
        // Strangers get nothing: no retransmission, no reply of any size.
        if (!this.members.includes(src)) this.guard.drop(src, 'retransmission request from a non-member');
        else if (h.from === 0 || h.from > h.to || h.to > MAX_WIRE_INT)
          this.guard.drop(src, 'retransmission request with a bad range', { from: h.from, to: h.to });
        else this.answer(src, h.origin, h.from, h.to);
        return;
      case NakType.High: {
        const w = this.windows.get(src);
        if (w === undefined) {
          this.guard.drop(src, 'announcement from a non-member');
          return;
        }
        // An announcement far ahead is believed only as far as we would hold messages: more comes with the next one.
        const seq = Math.min(h.seq, w.next - 1 + this.opts.maxEarlyAhead);
        if (seq > w.high) {
          w.high = seq;
          this.request(w, false);
        }
        return;
      }
    }
  }

  /**
   * A frame's messages. The common case — the next data message of its sender in this view, with
   * nothing held out of order for that sender and no flush cut — is handled in this loop and the
   * batch goes up in place, in one call; from the first message that needs more (a gap, a
   * retransmission, a request, another view) on, each goes through `up` as before, what passes up
   * gathered behind the ones handled here (the layers above see the same sequence either way).
   */
  override upBatch(batch: Message[]): void {
    if (this.gatheringUp || this.cut !== null) {
      this.eachUp(batch);
      return;
    }
    const len = batch.length;
    for (let i = 0; i < len;) {
      const end = this.upRun(batch, i);
      if (end !== i) {
        i = end;
        continue;
      }
      // Not ours and not sequenced (a digest, a credit, a unicast that COM bundled in): `up` passes it
      // on as it is, so it stays in its place.
      const msg = batch[i]!;
      if (msg.peek(NAK_HEADER) === undefined && (!msg.isMulticast || msg.flags & MsgFlag.Unreliable)) {
        i++;
        continue;
      }
      // Everything before it is handled and stays where it is, at the front.
      this.eachUpFrom(batch, i, i);
      return;
    }
    if (len > 0) this.above.upBatch(batch);
  }

  /**
   * `up` for the run of messages from `batch[i]` on that can be delivered at once and need nothing
   * else (see upBatch): data messages of one sender in this view, each the next of its sender, while
   * nothing of that sender is held out of order. A frame carries such a run, its messages sharing one
   * header record: the checks and the window's bookkeeping are made once per run, not per message.
   * Returns where the run ends (`i` itself, with nothing changed, when `batch[i]` is for `up`).
   */
  private upRun(batch: Message[], i: number): number {
    const first = batch[i]!;
    const h = first.peek(NAK_HEADER);
    if (h === undefined || h.t !== NakType.Data || h.view !== this.viewId) return i;
    const src = first.src;
    const len = batch.length;
    let j = i;
    if (src === this.ctx.localId) {
      // Our own, looped back: already in order.
      let own = this.ownDelivered;
      for (; j < len; j++) {
        const m = batch[j]!;
        const seq = this.runSeq(m, src, h);
        if (seq < 0) break;
        m.htop--;
        m.seq = seq;
        if (seq > own) own = seq;
      }
      this.ownDelivered = own;
      if (this.timer === null) this.wake();
      return j;
    }
    // A frame's run of one sender's messages: its window looked up once.
    let w = this.lastWindow;
    if (w === null || w.origin !== src) {
      w = this.windows.get(src) ?? null;
      if (w === null) return i;
      this.lastWindow = w;
    }
    if (w.early.size > 0) return i;
    const limit = w.limit;
    const store = w.store;
    let next = w.next;
    for (; j < len; j++) {
      const m = batch[j]!;
      const seq = this.runSeq(m, src, h);
      if (seq !== next || seq > limit) break;
      const top = --m.htop;
      if (pinsTooMuch(m)) ownWire(m);
      m.seq = seq;
      store.append(seq, m.wire!, m.wireStart, m.wireEnd, top);
      next++;
    }
    if (j === i) return i;
    w.next = next;
    if (next - 1 > w.high) w.high = next - 1;
    if (!w.missing) w.reqTries = 0;
    if (this.timer === null) this.wake();
    return j;
  }

  /**
   * The sequence number of `m` if it goes on a run of `src`'s data messages in this view whose first
   * header is `h` (its header on top, `h` itself or one like it), else -1.
   */
  private runSeq(m: Message, src: NodeId, h: Extract<NakHeader, { t: NakType.Data }>): number {
    const top = m.htop - 1;
    if (m.src !== src || top < 0 || m.htypes[top] !== NAK_HEADER) return -1;
    const mh = m.hvalues[top] as NakHeader;
    if (mh !== h && (mh.t !== NakType.Data || mh.view !== this.viewId)) return -1;
    return dataSeq(mh, m);
  }

  /** Keep a message of a view not installed yet, within the per-peer and total byte caps. */
  private keepForLater(msg: Message, view: number): void {
    const src = msg.src;
    if (view > MAX_WIRE_INT) {
      this.guard.drop(src, 'view id out of range', { view });
      return;
    }
    const bytes = futureBytesOf(msg);
    const peer = this.futureByPeer.get(src) ?? 0;
    if (
      this.future.length >= this.opts.maxFutureMessages ||
      this.futureBytes + bytes > this.opts.maxFutureBytes ||
      peer + bytes > this.opts.maxFutureBytesPerPeer
    ) {
      this.guard.drop(src, 'over the cap for messages of future views', { view, peerBytes: peer, totalBytes: this.futureBytes });
      return;
    }
    ownWire(msg); // its own bytes: held a while, it must not pin the frame
    this.future.push(msg);
    this.futureBytes += bytes;
    this.futureByPeer.set(src, peer + bytes);
  }

  /** Bytes held for views not installed yet (tests check this stays under its cap). */
  get futureHeldBytes(): number {
    return this.futureBytes;
  }

  /** Bytes held out of order, all senders together. */
  get earlyHeldBytes(): number {
    let bytes = 0;
    for (const w of this.windows.values()) bytes += w.earlyBytes;
    return bytes;
  }

  override downEvent(ev: DownEvent): void {
    if (ev.type !== 'GET_DIGEST' && this.timer === null) this.wake();
    switch (ev.type) {
      case 'VIEW':
        this.installView(ev.view.id, ev.view.members);
        break;
      case 'GET_DIGEST':
        ev.digest = this.digest();
        return; // answered here
      case 'STABLE':
        this.free(ev.stable);
        break;
      case 'FLUSH_FREEZE':
        for (const w of this.windows.values()) w.limit = w.next - 1;
        ev.digest = this.digest();
        return;
      case 'FLUSH_CUT':
        this.applyCut(ev.cut, ev.holders);
        return;
      case 'STOP':
        break;
    }
    this.below.downEvent(ev);
  }

  private installView(id: number, members: readonly NodeId[]): void {
    const fresh = id !== this.viewId;
    this.members = members;
    this.xmitBudget = new Map();
    if (fresh) {
      this.viewId = id;
      this.sent = new SeqBuffer<Message>(1, keptBytes);
      this.sentSlices = new SliceStore(1, SLICE_OVERHEAD_BYTES);
      this.lastSent = 0;
      this.ownDelivered = 0;
      this.stableSelf = 0;
      this.windows = new Map();
      this.lastWindow = null;
      this.dataHeader = { t: NakType.Data, view: id };
      this.cut = null;
      this.cutReported = false;
    }
    for (const m of members) if (m !== this.ctx.localId && !this.windows.has(m)) this.windows.set(m, new SenderWindow(m));
    if (fresh && this.future.length > 0) {
      const held = this.future;
      this.future = [];
      this.futureBytes = 0;
      this.futureByPeer = new Map();
      // They arrived before this view told COM who is who: name their senders as members now.
      // What came from a node that is not in this view, or from another of its memberships (one it
      // has replaced since: its numbering is not the new member's), is dropped: if it is in a later
      // one, NAK fetches it again there (a dropped message is a gap like any other).
      const byNode = new Map(members.map((m) => [nodeOfMember(m), m]));
      for (const m of held) {
        const member = members.includes(m.src) ? m.src : byNode.get(nodeOfMember(m.src));
        if (member === undefined || membershipSeq(member) !== membershipSeq(m.src)) continue;
        m.src = member;
        this.up(m);
      }
    }
  }

  private applyCut(cut: Digest, holders: Map<NodeId, NodeId>): void {
    this.cut = cut;
    this.cutReported = false;
    for (const [sender, w] of this.windows) {
      const c = cut.get(sender) ?? w.next - 1;
      w.limit = c;
      if (c > w.high) w.high = c;
      w.holder = holders.get(sender) ?? null;
      w.reqTries = 0;
      for (const [seq, m] of [...w.early]) {
        if (seq > c) {
          w.early.delete(seq);
          w.earlyBytes -= keptBytes(m);
        }
      }
      this.drainEarly(w);
      this.request(w, true);
    }
    this.checkCut();
  }

  private checkCut(): void {
    if (this.cut === null || this.cutReported) return;
    // Our own messages count too: their local copies may still be on their way back up.
    if (this.ownDelivered < this.lastSent) return;
    for (const [sender, w] of this.windows) if (w.next - 1 < (this.cut.get(sender) ?? 0)) return;
    this.cutReported = true;
    this.above.upEvent({ type: 'FLUSH_REACHED' });
  }

  /** `from` is who sent it (the origin itself, or a member retransmitting for it). */
  private receive(w: SenderWindow, seq: number, msg: Message, from: NodeId): void {
    // Sequence numbers start at 1; none is held further ahead than maxEarlyAhead.
    if (seq === 0 || seq - w.next >= this.opts.maxEarlyAhead) {
      this.guard.drop(from, 'sequence number out of range', { seq, next: w.next });
      return;
    }
    if (seq < w.next || w.early.has(seq)) {
      this.mDuplicates.inc();
      return;
    }
    if (seq > w.limit) {
      if (this.cut === null) this.keepEarly(w, seq, msg, from); // frozen: hold it in case the cut includes it
      return;
    }
    if (seq > w.high) w.high = seq;
    if (seq !== w.next) {
      this.keepEarly(w, seq, msg, from);
      this.request(w, false);
      return;
    }
    this.deliver(w, msg);
    this.drainEarly(w);
    if (!w.missing) w.reqTries = 0;
    if (this.cut !== null) this.checkCut();
  }

  /** Hold an out-of-order message within the sender's byte cap; over it, drop it (it is asked for again once the gap before it fills). */
  private keepEarly(w: SenderWindow, seq: number, msg: Message, from: NodeId): void {
    const bytes = keptBytes(msg);
    if (w.earlyBytes + bytes > this.opts.maxEarlyBytesPerSender) {
      this.guard.drop(from, 'over the cap for out-of-order messages', { origin: w.origin, bytes: w.earlyBytes });
      return;
    }
    ownWire(msg); // held a while: its own bytes, not a pin on the frame
    w.early.set(seq, msg);
    w.earlyBytes += bytes;
  }

  private drainEarly(w: SenderWindow): void {
    let more: Message | undefined;
    while (w.next <= w.limit && (more = w.early.get(w.next)) !== undefined) {
      w.early.delete(w.next);
      w.earlyBytes -= keptBytes(more);
      this.deliver(w, more);
    }
  }

  private deliver(w: SenderWindow, msg: Message): void {
    if (pinsTooMuch(msg)) ownWire(msg);
    msg.seq = w.next;
    // Kept as the bytes it came in, without a copy: decoded again only to retransmit, cut at our header.
    w.store.append(w.next, msg.wire!, msg.wireStart, msg.wireEnd, msg.htop);
    w.next++;
    this.above.up(msg);
  }

  /** Ask for what `w` lacks, unless asked very recently (the timer retries). */
  private request(w: SenderWindow, fromTimer: boolean): void {
    if (!w.missing) return;
    const now = this.env.now();
    if (!fromTimer && now - w.lastReqAt < this.opts.xmitIntervalMs / 2) return;
    w.lastReqAt = now;
    let from = w.next;
    // Skip what already arrived early: ask for the first hole only.
    while (w.early.has(from)) from++;
    const top = Math.min(w.high, w.limit);
    if (from > top) return;
    let to = from;
    while (to < top && !w.early.has(to + 1) && to - from + 1 < this.opts.maxXmitBatch) to++;
    const target = this.pickSource(w);
    const req = new Message(target, Buffer.alloc(0), MsgFlag.Unreliable);
    req.push(NAK_HEADER, { t: NakType.Req, view: this.viewId, origin: w.origin, from, to });
    this.mRequests.inc();
    w.reqTries++;
    this.below.down(req);
  }

  /** The flush's holder if there is one; else the original sender first, then other members in turn. */
  private pickSource(w: SenderWindow): NodeId {
    // Every fourth try goes elsewhere: a holder or an origin may have died since it was named.
    const elsewhere = w.reqTries % 4 === 3;
    if (w.holder !== null && w.holder !== this.ctx.localId && !elsewhere) return w.holder;
    if ((w.reqTries < this.opts.askOthersAfter && !elsewhere) || this.members.length <= 2) return w.origin;
    const others = this.members.filter((m) => m !== this.ctx.localId);
    // The "elsewhere" tries are every fourth: counted by reqTries they would ask the same member each
    // time (with four others, always the last), which may be dead too. Count them on their own.
    const turn = elsewhere ? Math.floor(w.reqTries / 4) : w.reqTries;
    return others[turn % others.length] ?? w.origin;
  }

  private answer(requester: NodeId, origin: NodeId, from: number, to: number): void {
    const last = Math.min(to, from + this.opts.maxXmitBatch - 1);
    const own = origin === this.ctx.localId;
    const store = own ? this.sent : this.windows.get(origin)?.store;
    if (!store) {
      this.guard.drop(requester, 'retransmission request for a non-member', { origin: origin.slice(0, 64) });
      return;
    }
    const now = this.env.now();
    let budget = this.xmitBudget.get(requester);
    if (budget === undefined || now - budget.since >= this.opts.xmitIntervalMs) this.xmitBudget.set(requester, (budget = { since: now, bytes: 0 }));
    const cap = this.opts.maxXmitBytes;
    // Our own: the slices come first, then the objects not yet sliced.
    const first = own && this.sentSlices.length > 0 ? this.sentSlices.firstSeq : store.firstSeq;
    for (let seq = Math.max(from, first); seq <= last; seq++) {
      if (budget.bytes >= cap) {
        this.mXmitThrottled.inc();
        return;
      }
      let copy: Message;
      const orig = own ? this.sent.get(seq) : undefined;
      if (orig !== undefined) {
        budget.bytes += keptBytes(orig);
        copy = orig.cloneAt(orig.keptTop);
        copy.dropTop(); // our own copies still carry their DATA header
      } else {
        const slices = own ? this.sentSlices : (store as SliceStore);
        const bytes = slices.get(seq);
        if (bytes === undefined) break;
        budget.bytes += bytes.length + SLICE_OVERHEAD_BYTES;
        copy = messageFromBytes(bytes);
        copy.htop = slices.tag(seq); // cut at our header: what the layers above us pushed
        copy.wire = null;
      }
      copy.dest = requester;
      // Sent to one member outside the sequence; CAUSAL's bit is part of the message and goes with it.
      copy.flags = MsgFlag.Unreliable | (copy.flags & MsgFlag.Causal);
      copy.push(NAK_HEADER, { t: NakType.Xmit, view: this.viewId, origin, seq });
      this.mRetransmitted.inc();
      this.below.down(copy);
    }
  }

  /** Own messages COM has sent since (their encoding is known now): kept as slices from here on. */
  private sliceSent(): void {
    const sent = this.sent;
    const slices = this.sentSlices;
    let seq = sent.firstSeq;
    const end = sent.nextSeq;
    if (seq >= end) return;
    // Stability may have freed the objects' seqs past the slices' end: the slices start where they do.
    if (slices.length === 0 && slices.nextSeq < seq) slices.truncate(seq - 1);
    for (; seq < end; seq++) {
      const m = sent.get(seq)!;
      const wire = m.wire;
      if (wire === null) break;
      slices.append(seq, wire, m.wireStart, m.wireEnd, m.keptTop - 1);
    }
    if (seq > sent.firstSeq) sent.truncate(seq - 1);
  }

  private tick(): void {
    this.sliceSent();
    for (const w of this.windows.values()) if (w.missing) this.request(w, true);
    if (this.lastSent > this.stableSelf && this.viewId > 0) {
      const hi = new Message(null, Buffer.alloc(0), MsgFlag.Multicast | MsgFlag.Unreliable);
      hi.push(NAK_HEADER, { t: NakType.High, view: this.viewId, seq: this.lastSent });
      this.below.down(hi);
    }
    this.mBuffered.set(this.bufferedBytes);
  }

  private digest(): Digest {
    const d: Digest = new Map();
    for (const m of this.members) {
      if (m === this.ctx.localId) d.set(m, this.lastSent);
      else d.set(m, (this.windows.get(m)?.next ?? 1) - 1);
    }
    return d;
  }

  private free(stable: Digest): void {
    for (const [sender, seq] of stable) {
      if (sender === this.ctx.localId) {
        if (seq > this.stableSelf) {
          this.stableSelf = seq;
          this.sentSlices.truncate(seq);
          this.sent.truncate(seq);
        }
      } else {
        this.windows.get(sender)?.store.truncate(seq);
      }
    }
  }

  /** Bytes held for retransmission (tests check this stays bounded). */
  get bufferedBytes(): number {
    let bytes = this.sent.bytes + this.sentSlices.bytes;
    for (const w of this.windows.values()) bytes += w.store.bytes;
    return bytes;
  }
}

/** What a message held for a future view costs: its payload, its sender's id and the objects around them. */
function futureBytesOf(msg: Message): number {
  return msg.payload.length + msg.src.length + 128;
}

registerLayer({
  name: 'NAK',
  provides: ['reliable', 'fifo', 'digest'],
  requires: ['transport'],
  options,
  create: (ctx, o) => new NAK(ctx, o),
});
