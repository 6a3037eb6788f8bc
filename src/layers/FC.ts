import { z } from 'zod';
import { every, type Timer } from '../core/env.js';
import type { DownEvent } from '../core/events.js';
import { Message, MsgFlag } from '../core/message.js';
import type { NodeId } from '../core/node-id.js';
import { defineHeader, HeaderIds } from '../codec/header-registry.js';
import { ProtocolError } from '../core/errors.js';
import { Layer, type LayerContext } from '../stack/layer.js';
import { registerLayer } from '../stack/registry.js';
import type { Counter } from '../core/metrics.js';
import { InputGuard } from '../core/input-guard.js';

const enum FcType {
  /** Receiver to sender: "I have consumed `total` bytes of yours". Cumulative, so a lost one is repaired by the next. */
  Credit = 1,
  /** Blocked sender to receiver: "tell me your total again". */
  Ask = 2,
}

interface FcHeader {
  t: FcType;
  /** Credit is counted per view: totals restart at every view change. */
  view: number;
  total: number;
}

export const FC_HEADER = defineHeader<FcHeader>(
  HeaderIds.FC,
  'FC',
  (w, h) => {
    w.u8(h.t);
    w.uvar(h.view);
    w.uvar(h.total);
  },
  (r) => {
    const t = r.u8();
    if (t !== FcType.Credit && t !== FcType.Ask) throw new ProtocolError('ERR_MALFORMED', `unknown FC header type ${t}`);
    return { t, view: r.uvar(), total: r.uvar() };
  },
);

/** What a message counts for besides its payload (headers, framing), roughly. */
const PER_MESSAGE_BYTES = 16;

/** What this member consumed of one sender's multicasts, and what it last told it. */
interface Consumed {
  readonly src: NodeId;
  consumed: number;
  told: number;
  /** Of `consumed`, what layers above hold (HELD_ABOVE) beyond `maxHeldAbove`: not granted until delivered. */
  withheld: number;
  /** Per holding layer, the bytes it last said it holds (null until one reports); `withheld` is from their sum. */
  heldBy: Map<string, number> | null;
}

const options = z.object({
  /** Bytes a sender may have in flight beyond what its slowest receiver has consumed. */
  maxCredits: z
    .number()
    .int()
    .positive()
    .default(4 * 1024 * 1024),
  /** A receiver grants more credit after consuming this fraction of maxCredits. */
  replenishFraction: z.number().gt(0).lte(1).default(0.25),
  /** How often a blocked sender asks again. */
  askIntervalMs: z.number().positive().default(50),
  /**
   * Bytes of a sender's messages the layers above may hold undelivered (HELD_ABOVE: waiting for a
   * causal dependency, an order, stability) before holding more costs that sender credit. A wait
   * that short is part of the normal pipeline and should not slow the sender; a longer one (a
   * congested connection) blocks it, so a member holds at most this plus a window of a sender's.
   * Default: 4 x maxCredits (under CAUSAL's maxHeldBytesPerSender with the defaults: keep it so).
   */
  maxHeldAbove: z.number().int().nonnegative().optional(),
});
export type FcOptions = z.infer<typeof options>;

/**
 * Credit-based flow control for multicast: a sender may run at most `maxCredits` bytes ahead of
 * the member that has consumed least. Past `maxHeldAbove`, what layers above hold undelivered
 * (HELD_ABOVE: messages waiting on a causal dependency, an order, stability) counts as not consumed,
 * so a long wait blocks the sender too. It never holds a message itself (so nothing it took can slip
 * into the next view): when credit runs out it raises BLOCK_SEND and the application waits until
 * UNBLOCK_SEND, so a slow member cannot make the sender's memory grow without bound.
 */
export class FC extends Layer {
  readonly name = 'FC';
  private members: readonly NodeId[] = [];
  private viewId = 0;
  /** Cumulative multicast bytes this member sent in the current view. */
  private sentTotal = 0;
  /** Cumulative bytes each receiver said it consumed from us. */
  private granted = new Map<NodeId, number>();
  /** Per sender: cumulative bytes consumed from it, and what we last told it. */
  private fromSender = new Map<NodeId, Consumed>();
  private blocked = false;
  /** The least any other member has granted: changes only when a credit or a view comes, not per send. */
  private minGranted = Infinity;
  private timer: Timer | null = null;
  private halted = false;
  /** The layers above hold what they took (HOLD_CREDIT): consumption is counted, no credit granted. */
  private holding = false;
  private readonly mBlocked: Counter;
  private readonly guard: InputGuard;
  private readonly maxHeldAbove: number;

  constructor(
    ctx: LayerContext,
    private readonly opts: FcOptions,
  ) {
    super(ctx);
    this.mBlocked = ctx.metrics.counter('horus_fc_blocked_total', 'times a sender ran out of credit');
    this.guard = new InputGuard(ctx, 'FC');
    this.maxHeldAbove = opts.maxHeldAbove ?? 4 * opts.maxCredits;
  }

  override stop(): void {
    this.halted = true;
    this.timer?.cancel();
    this.timer = null;
  }

  private static sizeOf(msg: Message): number {
    return msg.payload.length + PER_MESSAGE_BYTES;
  }

  private creditOf(m: NodeId): number {
    return this.opts.maxCredits + (this.granted.get(m) ?? 0) - this.sentTotal;
  }

  /** Least credit over the other members (Infinity when alone). */
  private minCredit(): number {
    return this.opts.maxCredits + this.minGranted - this.sentTotal;
  }

  private updateMinGranted(): void {
    let min = Infinity;
    for (const m of this.members) {
      if (m === this.ctx.localId) continue;
      const g = this.granted.get(m) ?? 0;
      if (g < min) min = g;
    }
    this.minGranted = min;
  }

  override down(msg: Message): void {
    if (msg.dest !== null || msg.flags & MsgFlag.Unreliable) {
      this.below.down(msg);
      return;
    }
    this.sentTotal += FC.sizeOf(msg);
    this.below.down(msg);
    if (!this.blocked && this.minCredit() <= 0) {
      this.blocked = true;
      this.mBlocked.inc();
      this.above.upEvent({ type: 'BLOCK_SEND' });
      this.askLagging();
      // Asked again every askIntervalMs while blocked, and only then: an unblocked sender sets no timer.
      if (this.timer === null && !this.halted)
        this.timer = every(this.env, this.opts.askIntervalMs, () => {
          if (this.blocked) this.askLagging();
        });
    }
  }

  private maybeUnblock(): void {
    if (this.blocked && this.minCredit() > 0) {
      this.blocked = false;
      this.timer?.cancel();
      this.timer = null;
      this.above.upEvent({ type: 'UNBLOCK_SEND' });
    }
  }

  private askLagging(): void {
    for (const m of this.members) {
      if (m !== this.ctx.localId && this.creditOf(m) <= 0) this.sendFc(m, FcType.Ask, 0);
    }
  }

  private sendFc(to: NodeId, t: FcType, total: number): void {
    const m = new Message(to, Buffer.alloc(0), MsgFlag.Unreliable);
    m.push(FC_HEADER, { t, view: this.viewId, total });
    this.below.down(m);
  }

  override up(msg: Message): void {
    const h = msg.peek(FC_HEADER);
    if (h !== undefined) {
      this.control(msg);
      return;
    }
    if (msg.isMulticast && !(msg.flags & MsgFlag.Unreliable) && msg.src !== this.ctx.localId) {
      const acc = this.consumedFrom(msg.src);
      acc.consumed += FC.sizeOf(msg);
      this.above.up(msg);
      // Granted after delivery: credit reflects what the application above has taken.
      this.maybeGrant(acc);
      return;
    }
    this.above.up(msg);
  }

  /**
   * A frame's messages: consumption counted per message, the batch passed up in place (without
   * our control messages), and credit granted after it, once per sender.
   */
  override upBatch(batch: Message[]): void {
    let n = 0;
    let touched: Consumed[] | null = null;
    let last: Consumed | null = null;
    for (let i = 0; i < batch.length; i++) {
      const msg = batch[i]!;
      if (msg.peek(FC_HEADER) !== undefined) {
        // What came before it goes up first (a credit may unblock sends: an event, in its place).
        if (n > 0) this.above.upBatch(batch.slice(0, n));
        n = 0;
        last = null; // what went up may have changed the view (and our counts with it)
        this.control(msg);
        continue;
      }
      if (msg.isMulticast && !(msg.flags & MsgFlag.Unreliable) && msg.src !== this.ctx.localId) {
        // A frame's messages come from one sender (and retransmissions, for few): one lookup per run of a sender.
        let acc = last;
        if (acc === null || acc.src !== msg.src) {
          acc = last = this.consumedFrom(msg.src);
          if (touched === null) touched = [acc];
          else if (!touched.includes(acc)) touched.push(acc);
        }
        acc.consumed += FC.sizeOf(msg);
      }
      batch[n++] = msg;
    }
    if (n > 0) {
      batch.length = n;
      this.above.upBatch(batch);
    }
    if (touched !== null) for (const acc of touched) this.maybeGrant(acc);
  }

  private consumedFrom(src: NodeId): Consumed {
    let acc = this.fromSender.get(src);
    if (!acc) this.fromSender.set(src, (acc = { src, consumed: 0, told: 0, withheld: 0, heldBy: null }));
    return acc;
  }

  private maybeGrant(acc: Consumed): void {
    if (this.holding) return;
    if (FC.delivered(acc) - acc.told >= this.opts.maxCredits * this.opts.replenishFraction) this.grant(acc);
  }

  /** What of a sender's messages went past the layers above: credit is granted for this only. */
  private static delivered(acc: Consumed): number {
    return acc.consumed - acc.withheld;
  }

  private grant(acc: Consumed): void {
    acc.told = FC.delivered(acc);
    this.sendFc(acc.src, FcType.Credit, acc.told);
  }

  /** A layer above says how much of a sender's it holds now (see HELD_ABOVE). */
  private heldAbove(ev: Extract<DownEvent, { type: 'HELD_ABOVE' }>): void {
    if (ev.member === this.ctx.localId || !this.members.includes(ev.member)) return;
    const acc = this.consumedFrom(ev.member);
    const by = (acc.heldBy ??= new Map());
    by.set(ev.layer, ev.payloadBytes + PER_MESSAGE_BYTES * ev.messages);
    let held = 0;
    for (const b of by.values()) held += b;
    // Never more than was consumed: a report that crossed a view change cannot make credit run backwards.
    acc.withheld = Math.min(Math.max(0, held - this.maxHeldAbove), acc.consumed);
    this.maybeGrant(acc);
  }

  /** A credit or a request for one (never passed up). */
  private control(msg: Message): void {
    const h = msg.pop(FC_HEADER);
    if (h !== undefined) {
      if (h.view !== this.viewId) return; // another view's: totals restart per view
      // A member speaks for its own consumption only, and cannot have consumed more than we sent.
      if (!this.members.includes(msg.src) || msg.src === this.ctx.localId) {
        this.guard.drop(msg.src, 'flow control from a non-member');
        return;
      }
      if (h.t === FcType.Credit) {
        if (h.total > this.sentTotal) {
          this.guard.drop(msg.src, 'credit for more than was sent', { total: h.total, sent: this.sentTotal });
          return;
        }
        if (h.total > (this.granted.get(msg.src) ?? 0)) {
          this.granted.set(msg.src, h.total);
          this.updateMinGranted();
          this.maybeUnblock();
        }
      } else {
        // While holding, only what was granted already: a blocked sender must stay blocked.
        const acc = this.fromSender.get(msg.src);
        this.sendFc(msg.src, FcType.Credit, acc === undefined ? 0 : this.holding ? acc.told : Math.max(acc.told, FC.delivered(acc)));
      }
    }
  }

  override downEvent(ev: DownEvent): void {
    if (ev.type === 'HOLD_CREDIT') {
      if (ev.hold === this.holding) return;
      this.holding = ev.hold;
      // Released: everything consumed meanwhile is granted at once (its senders may be blocked on it).
      if (!ev.hold) for (const acc of this.fromSender.values()) if (FC.delivered(acc) > acc.told) this.grant(acc);
      return;
    }
    if (ev.type === 'HELD_ABOVE') {
      this.heldAbove(ev);
      return;
    }
    if (ev.type === 'VIEW') {
      this.members = ev.view.members;
      if (ev.view.id !== this.viewId) {
        this.viewId = ev.view.id;
        this.sentTotal = 0;
        this.granted = new Map();
        this.fromSender = new Map();
      }
      this.updateMinGranted();
      this.below.downEvent(ev);
      this.maybeUnblock();
      return;
    }
    this.below.downEvent(ev);
  }
}

registerLayer({
  name: 'FC',
  provides: ['flow-control'],
  requires: ['reliable'],
  options,
  create: (ctx, o) => new FC(ctx, o),
});
