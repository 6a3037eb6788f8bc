import { z } from 'zod';
import { ProtocolError } from '../core/errors.js';
import { Message, MsgFlag, OrderCode } from '../core/message.js';
import type { NodeId } from '../core/node-id.js';
import type { View } from '../core/view.js';
import { defineHeader, HeaderIds } from '../codec/header-registry.js';
import { ViewAwareLayer, type LayerContext } from '../stack/layer.js';
import { registerLayer } from '../stack/registry.js';
import type { Counter } from '../core/metrics.js';
import { InputGuard, MAX_WIRE_INT } from '../core/input-guard.js';
import { TaggedRing } from '../core/tagged-ring.js';
import { HeldAbove } from '../stack/held-above.js';

/** Most runs one order announcement carries (the sequencer splits longer ones): bounds what a header makes us allocate. */
export const MAX_RUNS_PER_ORDER = 65_536;

const enum TotalType {
  /** An abcast, with how many abcasts its sender had delivered in this view (see newView). */
  Data = 1,
  /** From the sequencer: deliver the next `count` messages of member `index`, run after run. */
  Order = 2,
}

/**
 * A data header is one number, how far in this view's order its sender had delivered when it sent
 * the message (nothing allocated per message); an
 * order is the view and its runs, flat: `[index0, count0, index1, count1, ...]`.
 */
interface TotalOrder {
  view: number;
  runs: readonly number[];
}
type TotalHeader = number | TotalOrder;

export const TOTAL_HEADER = defineHeader<TotalHeader>(
  HeaderIds.TOTAL,
  'TOTAL',
  (w, h) => {
    if (typeof h === 'number') {
      w.u8(TotalType.Data);
      w.uvar(h);
      return;
    }
    w.u8(TotalType.Order);
    w.uvar(h.view);
    const runs = h.runs;
    w.uvar(runs.length >> 1);
    for (let i = 0; i < (runs.length & ~1); i++) w.uvar(runs[i]!);
  },
  (r) => {
    const t = r.u8();
    if (t === TotalType.Data) {
      const seen = r.uvar();
      if (seen > MAX_WIRE_INT) throw new ProtocolError('ERR_MALFORMED', `TOTAL position ${seen} out of range`);
      return seen;
    }
    if (t !== TotalType.Order) throw new ProtocolError('ERR_MALFORMED', `unknown TOTAL header type ${t}`);
    const view = r.uvar();
    const n = r.uvar();
    if (n > MAX_RUNS_PER_ORDER) throw new ProtocolError('ERR_MALFORMED', `TOTAL order with ${n} runs`);
    const runs = new Array<number>(n * 2);
    for (let i = 0; i < n * 2; i++) runs[i] = r.uvar();
    return { view, runs };
  },
);

const options = z.object({});

/** Runs announced and not yet delivered, flat `[index, count, ...]` from `head` on (a count falls as its messages go up). */
class RunQueue {
  private runs: number[] = [];
  private head = 0;
  get empty(): boolean {
    return this.head === this.runs.length;
  }
  push(index: number, count: number): void {
    this.runs.push(index, count);
  }
  get index(): number {
    return this.runs[this.head]!;
  }
  get count(): number {
    return this.runs[this.head + 1]!;
  }
  set count(n: number) {
    this.runs[this.head + 1] = n;
  }
  shift(): void {
    this.head += 2;
    if (this.head === this.runs.length) {
      this.runs.length = 0;
      this.head = 0;
    } else if (this.head > 2048 && this.head * 2 > this.runs.length) {
      this.runs = this.runs.slice(this.head);
      this.head = 0;
    }
  }
}

/**
 * Total order (abcast) by a sequencer: the most senior member of the view. Messages travel as
 * ordinary reliable multicasts and wait at every member; the sequencer announces the order in
 * batches of runs ("3 from member 0, then 5 from member 2"), one small multicast per burst, so
 * throughput holds up under many senders. The total order is causal on its own (CAUSAL below lets
 * abcasts pass): a member delivers an abcast only after the sequencer ordered it, so an abcast it
 * sends next reaches the sequencer after that order went out (FIFO per sender below). When the view changes, the flush has given every
 * survivor the same messages and the same announcements: each delivers what was announced (the
 * same prefix of the order everywhere, `D` messages long), then the rest in one deterministic
 * order. Every abcast carries how much of the order its sender had delivered when it sent it (`d`):
 * that prefix is all it causally depends on besides its sender's earlier messages (nothing
 * unordered can be delivered within a view). So the rest go by `d`, then member seniority (a
 * sender's own keep their order), and one with `d > D` is dropped with its sender's later ones:
 * it answers what no survivor can deliver (its sender, and whoever held that part of the order,
 * are on another side of a partition or gone; a surviving sender holds all it delivered, and the
 * flush gives it to everyone). This is what CAUSAL's dropping of orphans did for abcasts when
 * they went through it. The new view's most senior member orders from then on, so survivors
 * agree and lose none of their own messages.
 *
 * Latency: the sequencer orders a received batch at the batch's end (not a tick later); it
 * delivers only once its announcement comes back up, i.e. was handed to the network first. (It
 * does not order its own abcasts as it sends them: their own copies must pass SAFE below first,
 * or a safe message it holds would be overtaken; the real-partition test caught an isolated
 * sequencer delivering after the others had moved on.)
 */
export class TOTAL extends ViewAwareLayer {
  readonly name = 'TOTAL';
  private members: readonly NodeId[] = [];
  private indexOf = new Map<NodeId, number>();
  /** The sender last looked up in indexOf, and its index (-1: not a member). */
  private lastSrc: NodeId | null = null;
  private lastFrom = -1;
  private me = -1;
  private viewId = -1;
  /** Per member index: its messages waiting for their place, each with its `d` (a ring: no object per message). */
  private waiting: TaggedRing<Message>[] = [];
  /**
   * What flow control is told waits here (HELD_ABOVE): beyond FC's allowance, credit for an abcast
   * waits for its place, so however long the sequencer's order takes to come (its connection
   * congested, say), `waiting` stays within that allowance and a window per sender.
   */
  private readonly heldAbove = new HeldAbove('TOTAL', (ev) => this.below.downEvent(ev));
  /** Abcasts delivered in this view's order so far: the `d` of what we send. */
  private delivered = 0;
  /** Per member index: the largest `d` taken from it in this view. */
  private lastSeen: number[] = [];
  private runs = new RunQueue();
  /** Runs noted for the next announcement, flat `[index, count, ...]`. */
  private toAnnounce: number[] = [];
  private announceScheduled = false;
  /**
   * While an up batch is handled: its deliveries, handed up as one batch at its end. They are
   * written over the batch's messages already handled (`outRoom` of them) until they outnumber
   * those; then they spill into an array of their own.
   */
  private out: Message[] | null = null;
  private outN = 0;
  private outRoom = 0;
  private outSpilled = false;
  private readonly mOrdered: Counter;
  private readonly guard: InputGuard;

  constructor(ctx: LayerContext, _opts: z.infer<typeof options>) {
    super(ctx);
    this.mOrdered = ctx.metrics.counter('horus_total_ordered_total', 'messages delivered in total order');
    this.guard = new InputGuard(ctx, 'TOTAL');
  }

  private get isSequencer(): boolean {
    return this.me === 0;
  }

  override down(msg: Message): void {
    if (msg.order === OrderCode.Total && msg.dest === null) {
      // Capped at what the wire carries (the decoder refuses more): past 2^32 abcasts in one view the
      // end-of-view check can no longer tell the last orders apart, rather than every abcast being refused.
      const d = this.delivered;
      msg.push(TOTAL_HEADER, d < MAX_WIRE_INT ? d : MAX_WIRE_INT);
    }
    this.below.down(msg);
  }

  override up(msg: Message): void {
    this.upOne(msg);
    this.heldAbove.tell(this.members);
  }

  /** A frame's messages: deliveries go up as one batch, and the sequencer announces once, at the end. */
  override upBatch(batch: Message[]): void {
    if (this.out !== null) {
      // Re-entered (a layer below handed us a batch while we handled one): its messages are not
      // ours to overwrite, so what they deliver spills.
      const room = this.outRoom;
      this.outRoom = 0;
      for (let i = 0; i < batch.length; i++) this.upOne(batch[i]!);
      this.outRoom = room;
      return;
    }
    this.out = batch;
    this.outN = 0;
    this.outSpilled = false;
    try {
      for (let i = 0; i < batch.length; i++) {
        const msg = batch[i]!;
        this.outRoom = i + 1;
        this.upOne(msg);
      }
    } finally {
      this.out = null;
    }
    if (this.toAnnounce.length > 0) this.announce();
    this.heldAbove.tell(this.members);
    const n = this.outN;
    this.outN = 0;
    if (n === 0) return;
    if (!this.outSpilled) batch.length = n;
    this.above.upBatch(this.outSpilled ? this.spill : batch);
    this.spill = [];
  }

  /** Deliveries that outnumbered the messages handled (see `out`). */
  private spill: Message[] = [];

  private pass(msg: Message): void {
    const out = this.out;
    if (out === null) {
      this.above.up(msg);
      return;
    }
    if (!this.outSpilled && this.outN >= this.outRoom) {
      this.spill = out.slice(0, this.outN);
      this.outSpilled = true;
    }
    if (this.outSpilled) this.spill.push(msg);
    else out[this.outN] = msg;
    this.outN++;
  }

  private upOne(msg: Message): void {
    const h = msg.pop(TOTAL_HEADER);
    if (h === undefined) {
      this.pass(msg);
      return;
    }
    // Only what every member gets (reliable multicast) can take part in the order.
    if (!msg.isMulticast || msg.flags & MsgFlag.Unreliable) {
      this.guard.drop(msg.src, 'total-order header on a message that is not a reliable multicast');
      return;
    }
    if (typeof h !== 'number') {
      if (h.view !== this.viewId) return; // another view's sequencer
      if (msg.src !== this.members[0]) {
        this.guard.drop(msg.src, 'order from a member that is not the sequencer');
        return;
      }
      if (!this.validRuns(h.runs, msg.src)) return;
      const runs = h.runs;
      for (let i = 0; i < runs.length; i += 2) this.runs.push(runs[i]!, runs[i + 1]!);
      this.deliverOrdered();
      return;
    }
    // A frame's messages come from one sender in runs: look its index up once per run.
    let from: number;
    if (msg.src === this.lastSrc) from = this.lastFrom;
    else {
      from = this.indexOf.get(msg.src) ?? -1;
      this.lastSrc = msg.src;
      this.lastFrom = from;
    }
    if (from < 0) {
      this.guard.drop(msg.src, 'total-order message from a non-member');
      return;
    }
    // A sender's `d` only grows (a forged smaller one cannot reorder its own messages).
    const last = this.lastSeen[from]!;
    const seen = h > last ? h : last;
    this.lastSeen[from] = seen;
    this.waiting[from]!.push(msg, seen);
    this.heldAbove.hold(from, msg.payload.length);
    if (this.isSequencer) this.noteForOrder(from);
    if (!this.runs.empty && this.runs.index === from) this.deliverOrdered();
  }

  /** Every run names a member of the view and orders at least one message; else the whole order is dropped. */
  private validRuns(runs: readonly number[], src: NodeId): boolean {
    const n = this.members.length;
    if (runs.length & 1) {
      this.guard.drop(src, 'order with a run cut in half');
      return false;
    }
    for (let i = 0; i < runs.length; i += 2) {
      const index = runs[i]!;
      const count = runs[i + 1]!;
      if (index >= n || count === 0 || count > MAX_WIRE_INT) {
        this.guard.drop(src, 'order run out of range', { index, count, members: n });
        return false;
      }
    }
    return true;
  }

  private noteForOrder(from: number): void {
    const a = this.toAnnounce;
    const n = a.length;
    if (n > 0 && a[n - 2] === from) a[n - 1]!++;
    else a.push(from, 1);
    if (!this.announceScheduled && this.out === null) {
      this.announceScheduled = true;
      this.env.defer(() => {
        this.announceScheduled = false;
        this.announce();
      });
    }
  }

  private announce(): void {
    if (this.toAnnounce.length === 0 || !this.isSequencer) return;
    const all = this.toAnnounce;
    this.toAnnounce = [];
    const max = 2 * MAX_RUNS_PER_ORDER;
    for (let i = 0; i < all.length; i += max) {
      const runs = all.length <= max ? all : all.slice(i, i + max);
      const m = new Message(null, EMPTY);
      m.push(TOTAL_HEADER, { view: this.viewId, runs });
      this.below.down(m);
    }
  }

  private deliverOrdered(): void {
    const runs = this.runs;
    while (!runs.empty) {
      const from = runs.index;
      const q = this.waiting[from];
      let left = runs.count;
      while (left > 0 && q !== undefined && q.length > 0) {
        left--;
        this.delivered++;
        this.mOrdered.inc();
        const msg = q.shift()!;
        this.heldAbove.release(from, msg.payload.length);
        this.pass(msg);
      }
      if (left > 0) {
        runs.count = left;
        return;
      }
      runs.shift();
    }
  }

  protected newView(v: View): void {
    if (v.id === this.viewId) return;
    // A view met inside a batch: what the batch delivered so far goes up before the view does.
    if (this.out !== null && this.outN > 0) {
      const o = this.outSpilled ? this.spill : this.out.slice(0, this.outN);
      this.spill = [];
      this.outSpilled = true;
      this.outN = 0;
      this.above.upBatch(o);
    }
    if (this.viewId >= 0) {
      // End of a view: what was announced, then the rest by `d`, then seniority (the same everywhere),
      // without what depends on more of the order than was delivered here (see the class comment).
      this.deliverOrdered();
      const delivered = this.delivered;
      const rest: { msg: Message; seen: number; rank: number }[] = [];
      let orphans = 0;
      this.waiting.forEach((q, rank) => {
        let cut = false;
        q.forEach((msg, seen) => {
          if (cut || seen > delivered) {
            cut = true;
            orphans++;
          } else rest.push({ msg, seen, rank });
        });
      });
      if (orphans > 0) this.log.debug('dropping abcasts that depend on undelivered order at view change', { count: orphans, delivered });
      // Stable, and a sender's `d` never falls: its own messages keep their order.
      rest.sort((a, b) => a.seen - b.seen || a.rank - b.rank);
      for (const w of rest) {
        this.mOrdered.inc();
        this.pass(w.msg);
      }
    }
    this.members = v.members;
    this.indexOf = new Map(v.members.map((m, i) => [m, i]));
    this.lastSrc = null;
    this.me = this.indexOf.get(this.ctx.localId) ?? -1;
    this.waiting = v.members.map(() => new TaggedRing<Message>());
    this.heldAbove.reset(v.members.length);
    this.lastSeen = new Array<number>(v.members.length).fill(0);
    this.delivered = 0;
    this.runs = new RunQueue();
    this.toAnnounce = [];
    this.viewId = v.id;
  }
}

const EMPTY = Buffer.alloc(0);

registerLayer({
  name: 'TOTAL',
  provides: ['total'],
  requires: ['reliable'],
  options,
  create: (ctx, o) => new TOTAL(ctx, o),
});
