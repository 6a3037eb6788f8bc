import { z } from 'zod';
import { every, type Timer } from '../core/env.js';
import type { Digest, DownEvent } from '../core/events.js';
import { ProtocolError } from '../core/errors.js';
import { Message, MsgFlag } from '../core/message.js';
import type { NodeId } from '../core/node-id.js';
import { SeqBuffer } from '../core/seq-buffer.js';
import { nodeOfMember } from '../core/member-id.js';
import { defineHeader, HeaderIds } from '../codec/header-registry.js';
import { Layer, type LayerContext } from '../stack/layer.js';
import { registerLayer } from '../stack/registry.js';
import type { Counter, Gauge } from '../obs/metrics.js';

const enum NakType {
  Data = 1,
  /** Retransmitted data, unicast to whoever asked; carries the original sender. */
  Xmit = 2,
  /** "Send me origin's messages from..to". */
  Req = 3,
  /** Unreliable announcement of a sender's highest sequence number: reveals lost tails. */
  High = 4,
}

/** Every NAK header names the view its sequence numbers belong to: numbering restarts per view. */
type NakHeader =
  | { t: NakType.Data; view: number; seq: number }
  | { t: NakType.Xmit; view: number; origin: NodeId; seq: number }
  | { t: NakType.Req; view: number; origin: NodeId; from: number; to: number }
  | { t: NakType.High; view: number; seq: number };

export const NAK_HEADER = defineHeader<NakHeader>(
  HeaderIds.NAK,
  'NAK',
  (w, h) => {
    w.u8(h.t);
    w.uvar(h.view);
    switch (h.t) {
      case NakType.Data:
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
  (r) => {
    const t = r.u8();
    const view = r.uvar();
    switch (t) {
      case NakType.Data:
        return { t, view, seq: r.uvar() };
      case NakType.High:
        return { t, view, seq: r.uvar() };
      case NakType.Xmit:
        return { t, view, origin: r.str(1024), seq: r.uvar() };
      case NakType.Req:
        return { t, view, origin: r.str(1024), from: r.uvar(), to: r.uvar() };
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
});
export type NakOptions = z.infer<typeof options>;

/** Bytes a kept message accounts for (fixed at keeping time: its header top moves afterwards). */
const keptBytes = (m: Message): number => m.payload.length + 32;

/** Receive state for one sender. */
class SenderWindow {
  /** Next sequence number to deliver. */
  next = 1;
  /** Arrived ahead of a gap (or beyond a flush freeze). */
  readonly early = new Map<number, Message>();
  /** Highest sequence number known to exist. */
  high = 0;
  /** Deliver nothing above this (a flush freezes or cuts the view). */
  limit = Infinity;
  /** Delivered, kept until stable so any member can retransmit for this sender. */
  readonly store = new SeqBuffer<Message>(1, keptBytes);
  lastReqAt = -Infinity;
  reqTries = 0;
  /** During a flush: a member known to hold everything up to the cut. */
  holder: NodeId | null = null;
  constructor(readonly origin: NodeId) {}
  get missing(): boolean {
    return Math.min(this.high, this.limit) >= this.next;
  }
}

/** Messages stamped with a view this member has not installed yet: kept for when it does. */
const MAX_FUTURE = 100_000;

/**
 * Reliable per-sender FIFO multicast by negative acknowledgement: every multicast gets a per-sender
 * sequence number within its view; a receiver that sees a gap (or learns of a higher number through
 * HIGH) asks for the missing range, first from the sender, then from other members. Messages are
 * kept until STABLE says every member holds them. For the flush, it freezes delivery and then
 * delivers exactly up to a cut, fetching what it lacks from members that hold it.
 */
export class NAK extends Layer {
  readonly name = 'NAK';
  private viewId = 0;
  private members: readonly NodeId[] = [];
  private sent: SeqBuffer<Message> = new SeqBuffer<Message>(1, keptBytes);
  private lastSent = 0;
  /** Our own messages come back up through COM's loopback a moment after sending: the highest seen. */
  private ownDelivered = 0;
  private stableSelf = 0;
  private windows = new Map<NodeId, SenderWindow>();
  private future: Message[] = [];
  private cut: Digest | null = null;
  private cutReported = false;
  private timer: Timer | null = null;
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
  }

  override start(): void {
    this.timer = every(this.env, this.opts.xmitIntervalMs, () => this.tick());
  }

  override stop(): void {
    this.timer?.cancel();
  }

  override down(msg: Message): void {
    if (msg.dest !== null || msg.flags & MsgFlag.Unreliable) {
      this.below.down(msg);
      return;
    }
    const seq = ++this.lastSent;
    msg.push(NAK_HEADER, { t: NakType.Data, view: this.viewId, seq });
    msg.keptTop = msg.htop; // the same object also goes up as our own copy: remember its headers' top
    this.sent.append(seq, msg);
    this.below.down(msg);
  }

  override up(msg: Message): void {
    const h = msg.peek(NAK_HEADER);
    if (h === undefined) {
      // A reliable multicast always carries our header: one without it is forged or broken.
      if (msg.isMulticast && !(msg.flags & MsgFlag.Unreliable)) return;
      this.above.up(msg);
      return;
    }
    if (h.view !== this.viewId) {
      // A member that installed the next view before us: keep its messages for when we do.
      if (h.view > this.viewId && (h.t === NakType.Data || h.t === NakType.Xmit) && this.future.length < MAX_FUTURE) this.future.push(msg);
      return;
    }
    msg.dropTop();
    switch (h.t) {
      case NakType.Data:
        if (msg.src === this.ctx.localId) {
          msg.seq = h.seq;
          if (h.seq > this.ownDelivered) this.ownDelivered = h.seq;
          this.above.up(msg); // own loopback: already in order
          if (this.cut !== null) this.checkCut();
        }
        else this.receive(msg.src, h.seq, msg);
        return;
      case NakType.Xmit:
        if (!this.members.includes(msg.src)) return; // only members may vouch for others' messages
        msg.src = h.origin;
        msg.dest = null;
        msg.flags = MsgFlag.Multicast;
        if (h.origin !== this.ctx.localId) this.receive(h.origin, h.seq, msg);
        return;
      case NakType.Req:
        if (this.members.includes(msg.src)) this.answer(msg.src, h.origin, h.from, h.to);
        return;
      case NakType.High: {
        const w = this.window(msg.src);
        if (w && h.seq > w.high) {
          w.high = h.seq;
          this.request(w, false);
        }
        return;
      }
    }
  }

  override downEvent(ev: DownEvent): void {
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
    if (fresh) {
      this.viewId = id;
      this.sent = new SeqBuffer<Message>(1, keptBytes);
      this.lastSent = 0;
      this.ownDelivered = 0;
      this.stableSelf = 0;
      this.windows = new Map();
      this.cut = null;
      this.cutReported = false;
    }
    for (const m of members) if (m !== this.ctx.localId && !this.windows.has(m)) this.windows.set(m, new SenderWindow(m));
    if (fresh && this.future.length > 0) {
      const held = this.future;
      this.future = [];
      // They arrived before this view told COM who is who: name their senders as members now.
      const byNode = new Map(members.map((m) => [nodeOfMember(m), m]));
      for (const m of held) {
        if (!members.includes(m.src)) m.src = byNode.get(nodeOfMember(m.src)) ?? m.src;
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
      for (const seq of [...w.early.keys()]) if (seq > c) w.early.delete(seq);
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

  private window(sender: NodeId): SenderWindow | undefined {
    return this.windows.get(sender);
  }

  private receive(sender: NodeId, seq: number, msg: Message): void {
    const w = this.window(sender);
    if (!w) return; // not a member of this view
    if (seq < w.next || w.early.has(seq) || seq > w.limit) {
      if (seq < w.next || w.early.has(seq)) this.mDuplicates.inc();
      else if (this.cut === null) w.early.set(seq, msg); // frozen: hold it in case the cut includes it
      return;
    }
    if (seq > w.high) w.high = seq;
    if (seq !== w.next) {
      w.early.set(seq, msg);
      this.request(w, false);
      return;
    }
    this.deliver(w, msg);
    this.drainEarly(w);
    if (!w.missing) w.reqTries = 0;
    if (this.cut !== null) this.checkCut();
  }

  private drainEarly(w: SenderWindow): void {
    let more: Message | undefined;
    while (w.next <= w.limit && (more = w.early.get(w.next)) !== undefined) {
      w.early.delete(w.next);
      this.deliver(w, more);
    }
  }

  private deliver(w: SenderWindow, msg: Message): void {
    msg.seq = w.next;
    // Kept without a copy: layers above only pop (entries stay), so cloneAt(keptTop) rebuilds it.
    msg.keptTop = msg.htop;
    w.store.append(w.next, msg);
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
    return others[w.reqTries % others.length] ?? w.origin;
  }

  private answer(requester: NodeId, origin: NodeId, from: number, to: number): void {
    const last = Math.min(to, from + this.opts.maxXmitBatch - 1);
    const store = origin === this.ctx.localId ? this.sent : this.windows.get(origin)?.store;
    if (!store) return;
    for (let seq = Math.max(from, store.firstSeq); seq <= last; seq++) {
      const orig = store.get(seq);
      if (orig === undefined) break;
      const copy = orig.cloneAt(orig.keptTop);
      // The sender's own copies still carry their DATA header; stored copies of others' do not.
      if (origin === this.ctx.localId) copy.dropTop();
      copy.dest = requester;
      copy.flags = MsgFlag.Unreliable;
      copy.push(NAK_HEADER, { t: NakType.Xmit, view: this.viewId, origin, seq });
      this.mRetransmitted.inc();
      this.below.down(copy);
    }
  }

  private tick(): void {
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
          this.sent.truncate(seq);
        }
      } else {
        this.windows.get(sender)?.store.truncate(seq);
      }
    }
  }

  /** Bytes held for retransmission (tests check this stays bounded). */
  get bufferedBytes(): number {
    let bytes = this.sent.bytes;
    for (const w of this.windows.values()) bytes += w.store.bytes;
    return bytes;
  }
}

registerLayer({
  name: 'NAK',
  provides: ['reliable', 'fifo', 'digest'],
  requires: ['transport'],
  options,
  create: (ctx, o) => new NAK(ctx, o),
});
