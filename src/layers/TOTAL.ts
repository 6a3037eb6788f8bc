import { z } from 'zod';
import { ProtocolError } from '../core/errors.js';
import { Message, MsgFlag, OrderCode } from '../core/message.js';
import type { NodeId } from '../core/node-id.js';
import type { View } from '../core/view.js';
import { defineHeader, HeaderIds } from '../codec/header-registry.js';
import { ViewAwareLayer, type LayerContext } from '../stack/layer.js';
import { registerLayer } from '../stack/registry.js';
import { FifoQueue } from '../core/fifo-queue.js';
import type { Counter } from '../core/metrics.js';
import { InputGuard, MAX_WIRE_INT } from '../core/input-guard.js';

/** Most runs one order announcement carries (the sequencer splits longer ones): bounds what a header makes us allocate. */
export const MAX_RUNS_PER_ORDER = 65_536;

const enum TotalType {
  /** An abcast, with its sender's Lamport stamp (see newView). */
  Data = 1,
  /** From the sequencer: deliver the next `count` messages of member `index`, run after run. */
  Order = 2,
}

type TotalHeader = { t: TotalType.Data; stamp: number } | { t: TotalType.Order; view: number; runs: [number, number][] };

export const TOTAL_HEADER = defineHeader<TotalHeader>(
  HeaderIds.TOTAL,
  'TOTAL',
  (w, h) => {
    w.u8(h.t);
    if (h.t === TotalType.Data) w.uvar(h.stamp);
    if (h.t === TotalType.Order) {
      w.uvar(h.view);
      w.uvar(h.runs.length);
      for (const [i, n] of h.runs) {
        w.uvar(i);
        w.uvar(n);
      }
    }
  },
  (r) => {
    const t = r.u8();
    if (t === TotalType.Data) {
      const stamp = r.uvar();
      if (stamp > MAX_WIRE_INT) throw new ProtocolError('ERR_MALFORMED', `TOTAL stamp ${stamp} out of range`);
      return { t, stamp };
    }
    if (t !== TotalType.Order) throw new ProtocolError('ERR_MALFORMED', `unknown TOTAL header type ${t}`);
    const view = r.uvar();
    const n = r.uvar();
    if (n > MAX_RUNS_PER_ORDER) throw new ProtocolError('ERR_MALFORMED', `TOTAL order with ${n} runs`);
    const runs: [number, number][] = [];
    for (let i = 0; i < n; i++) runs.push([r.uvar(), r.uvar()]);
    return { t, view, runs };
  },
);

const options = z.object({});

/** A message waiting for its place in the order, with its sender's Lamport stamp. */
interface Waiting {
  msg: Message;
  stamp: number;
}

/**
 * Total order (abcast) by a sequencer: the most senior member of the view. Messages travel as
 * ordinary reliable multicasts and wait at every member; the sequencer announces the order in
 * batches of runs ("3 from member 0, then 5 from member 2"), one small multicast per burst, so
 * throughput holds up under many senders. Sitting above CAUSAL, the sequencer sees messages in
 * causal order, so the total order is causal too. When the view changes, the flush has given every
 * survivor the same messages and the same announcements: each delivers what was announced, then
 * the rest in one deterministic order that keeps causality: by Lamport stamp (each abcast carries
 * its sender's, which is past every stamp the sender had received), then by member seniority. A
 * message that depends on another (its sender delivered that one first) has the higher stamp, even
 * when the announcement of both was lost with a sequencer cut off in a minority. The new view's
 * most senior member orders from then on, so survivors agree and lose none of their own messages.
 */
export class TOTAL extends ViewAwareLayer {
  readonly name = 'TOTAL';
  private members: readonly NodeId[] = [];
  private viewId = -1;
  private waiting = new Map<NodeId, FifoQueue<Waiting>>();
  /** Lamport clock: above every stamp sent or received. */
  private clock = 0;
  /** The last stamp taken from each sender in this view. */
  private lastStamp = new Map<NodeId, number>();
  private runs = new FifoQueue<[number, number]>();
  private toAnnounce: [number, number][] = [];
  private announceScheduled = false;
  private readonly mOrdered: Counter;
  private readonly guard: InputGuard;

  constructor(ctx: LayerContext, _opts: z.infer<typeof options>) {
    super(ctx);
    this.mOrdered = ctx.metrics.counter('horus_total_ordered_total', 'messages delivered in total order');
    this.guard = new InputGuard(ctx, 'TOTAL');
  }

  private get isSequencer(): boolean {
    return this.members[0] === this.ctx.localId;
  }

  override down(msg: Message): void {
    if (msg.order === OrderCode.Total && msg.dest === null) {
      if (this.clock < MAX_WIRE_INT) this.clock++;
      msg.push(TOTAL_HEADER, { t: TotalType.Data, stamp: this.clock });
    }
    this.below.down(msg);
  }

  override up(msg: Message): void {
    const h = msg.pop(TOTAL_HEADER);
    if (h === undefined) {
      this.above.up(msg);
      return;
    }
    // Only what every member gets (reliable multicast) can take part in the order.
    if (!msg.isMulticast || msg.flags & MsgFlag.Unreliable) {
      this.guard.drop(msg.src, 'total-order header on a message that is not a reliable multicast');
      return;
    }
    if (h.t === TotalType.Order) {
      if (h.view !== this.viewId) return; // another view's sequencer
      if (msg.src !== this.members[0]) {
        this.guard.drop(msg.src, 'order from a member that is not the sequencer');
        return;
      }
      if (!this.validRuns(h.runs, msg.src)) return;
      for (const r of h.runs) this.runs.push([r[0], r[1]]); // copies: header values are shared and immutable
      this.deliverOrdered();
      return;
    }
    const from = this.members.indexOf(msg.src);
    if (from < 0) {
      this.guard.drop(msg.src, 'total-order message from a non-member');
      return;
    }
    if (h.stamp > this.clock) this.clock = h.stamp;
    let q = this.waiting.get(msg.src);
    if (!q) this.waiting.set(msg.src, (q = new FifoQueue<Waiting>()));
    // A sender's stamps only grow (a forged smaller one cannot reorder its own messages).
    const stamp = Math.max(h.stamp, this.lastStamp.get(msg.src) ?? 0);
    this.lastStamp.set(msg.src, stamp);
    q.push({ msg, stamp });
    if (this.isSequencer) this.noteForOrder(from);
    this.deliverOrdered();
  }

  /** Every run names a member of the view and orders at least one message; else the whole order is dropped. */
  private validRuns(runs: readonly [number, number][], src: NodeId): boolean {
    const n = this.members.length;
    for (const [index, count] of runs) {
      if (index >= n || count === 0 || count > MAX_WIRE_INT) {
        this.guard.drop(src, 'order run out of range', { index, count, members: n });
        return false;
      }
    }
    return true;
  }

  private noteForOrder(from: number): void {
    const last = this.toAnnounce.at(-1);
    if (last && last[0] === from) last[1]++;
    else this.toAnnounce.push([from, 1]);
    if (!this.announceScheduled) {
      this.announceScheduled = true;
      this.env.defer(() => this.announce());
    }
  }

  private announce(): void {
    this.announceScheduled = false;
    if (this.toAnnounce.length === 0 || !this.isSequencer) return;
    const all = this.toAnnounce;
    this.toAnnounce = [];
    for (let i = 0; i < all.length; i += MAX_RUNS_PER_ORDER) {
      const runs = all.length <= MAX_RUNS_PER_ORDER ? all : all.slice(i, i + MAX_RUNS_PER_ORDER);
      const m = new Message(null, Buffer.alloc(0));
      m.push(TOTAL_HEADER, { t: TotalType.Order, view: this.viewId, runs });
      this.below.down(m);
    }
  }

  private deliverOrdered(): void {
    let run: [number, number] | undefined;
    while ((run = this.runs.peek()) !== undefined) {
      const q = this.waiting.get(this.members[run[0]] ?? '');
      while (run[1] > 0 && q && q.length > 0) {
        run[1]--;
        this.mOrdered.inc();
        this.above.up(q.shift()!.msg);
      }
      if (run[1] > 0) return;
      this.runs.shift();
    }
  }

  protected newView(v: View): void {
    if (v.id === this.viewId) return;
    if (this.viewId >= 0) {
      // End of a view: what was announced, then the rest by stamp, then seniority (the same everywhere).
      this.deliverOrdered();
      const rest: (Waiting & { rank: number })[] = [];
      this.members.forEach((m, rank) => {
        const q = this.waiting.get(m);
        if (q) for (const w of q) rest.push({ ...w, rank });
      });
      // Stable, and a sender's stamps never fall: its own messages keep their order.
      rest.sort((a, b) => a.stamp - b.stamp || a.rank - b.rank);
      for (const w of rest) {
        this.mOrdered.inc();
        this.above.up(w.msg);
      }
    }
    this.waiting = new Map();
    this.lastStamp = new Map();
    this.runs = new FifoQueue<[number, number]>();
    this.toAnnounce = [];
    this.viewId = v.id;
    this.members = v.members;
  }
}

registerLayer({
  name: 'TOTAL',
  provides: ['total'],
  requires: ['reliable'],
  options,
  create: (ctx, o) => new TOTAL(ctx, o),
});
