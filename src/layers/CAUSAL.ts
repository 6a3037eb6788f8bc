import { z } from 'zod';
import { MsgFlag, OrderCode, type Message } from '../core/message.js';
import type { NodeId } from '../core/node-id.js';
import type { View } from '../core/view.js';
import { defineHeader, HeaderIds } from '../codec/header-registry.js';
import { ViewAwareLayer, type LayerContext } from '../stack/layer.js';
import { registerLayer } from '../stack/registry.js';
import { FifoQueue } from '../core/fifo-queue.js';
import { ProtocolError } from '../core/errors.js';
import { InputGuard, MAX_WIRE_INT } from '../core/input-guard.js';

/** Most entries a vector timestamp may have: one per member, and no view is this large. */
export const MAX_VT_ENTRIES = 4096;

/**
 * The sender's causal dependencies that changed since its previous causal message, as flat
 * (member index, count) pairs: `[i0, n0, i1, n1, ...]`. Its own entry is implicit (one more than
 * its previous causal message's), and an entry that did not change is implied by that previous
 * message, which every member delivers first (FIFO from below). A sender streaming alone sends none.
 */
interface CausalHeader {
  deps: readonly number[];
}

/** No dependency changed: shared, never written. */
const NO_DEPS: CausalHeader = Object.freeze({ deps: Object.freeze([]) as readonly number[] });

export const CAUSAL_HEADER = defineHeader<CausalHeader>(
  HeaderIds.CAUSAL,
  'CAUSAL',
  (w, h) => {
    const d = h.deps;
    const pairs = d.length >> 1;
    w.uvar(pairs);
    for (let i = 0; i < pairs * 2; i++) w.uvar(d[i]!);
  },
  (r) => {
    const pairs = r.uvar();
    if (pairs > MAX_VT_ENTRIES) throw new ProtocolError('ERR_MALFORMED', `CAUSAL header with ${pairs} entries`);
    if (pairs === 0) return NO_DEPS;
    const deps = new Array<number>(pairs * 2);
    for (let i = 0; i < pairs * 2; i++) deps[i] = r.uvar();
    return { deps };
  },
);

const options = z.object({
  /** Bytes held per sender while waiting for what they depend on; more are dropped. */
  maxHeldBytesPerSender: z
    .number()
    .int()
    .positive()
    .default(32 * 1024 * 1024),
});
export type CausalOptions = z.infer<typeof options>;

/** What a held message costs: its payload and its dependencies. */
const heldCost = (msg: Message, deps: readonly number[]): number => msg.payload.length + 8 * deps.length + 64;

interface Held {
  msg: Message;
  from: number;
  deps: readonly number[];
}

/**
 * Causal delivery (cbcast) with compressed vector timestamps. The vector has one entry per current
 * member, indexed by seniority, reset at every view change (the flush has delivered everything of
 * the old view by then, so old entries carry no information). A message carries only the entries
 * that changed since its sender's previous causal message: the rest are implied by that message,
 * which arrives and is delivered first, so checking the changed entries is enough.
 *
 * Total-order messages pass by untouched (no header, not counted): causality among abcasts is the
 * TOTAL layer's own (as in Isis, cbcasts and abcasts are two classes not ordered against each
 * other). A member delivers an abcast only once the sequencer has ordered it, so whatever it sends
 * next reaches the sequencer after that order; at a view's end TOTAL keeps the unordered rest causal
 * and drops the orphans itself (each abcast says how much of the order its sender had delivered). Counting abcasts here made every concurrent abcast carry new dependencies
 * (an array per message each way) and wait here for other senders' abcasts, delaying the sequencer.
 */
export class CAUSAL extends ViewAwareLayer {
  readonly name = 'CAUSAL';
  private members: readonly NodeId[] = [];
  private indexOf = new Map<NodeId, number>();
  private viewId = -1;
  private me = -1;
  /** Per member: its causal messages we delivered (ours: sent). */
  private vt: number[] = [];
  /**
   * Entries (other members) that grew since our last causal message, in the order they first did,
   * and a flag per entry: a send writes these, not a scan of the whole vector (O(changed), not O(n)).
   */
  private dirty: number[] = [];
  private isDirty = new Uint8Array(0);
  /** Per sender, in arrival (= that sender's FIFO) order: only each queue's head can be next. */
  private held = new Map<number, FifoQueue<Held>>();
  private heldCount = 0;
  /** Per member index: bytes held. */
  private heldBytes: number[] = [];
  private readonly guard: InputGuard;

  constructor(
    ctx: LayerContext,
    private readonly opts: CausalOptions,
  ) {
    super(ctx);
    this.guard = new InputGuard(ctx, 'CAUSAL');
  }

  override down(msg: Message): void {
    if (msg.order === OrderCode.Causal && msg.dest === null && this.me >= 0) {
      const vt = this.vt;
      vt[this.me]!++;
      const dirty = this.dirty;
      const changed = dirty.length;
      if (changed === 0) msg.push(CAUSAL_HEADER, NO_DEPS);
      else {
        const deps = new Array<number>(changed * 2);
        const isDirty = this.isDirty;
        for (let j = 0; j < changed; j++) {
          const k = dirty[j]!;
          deps[2 * j] = k;
          deps[2 * j + 1] = vt[k]!;
          isDirty[k] = 0;
        }
        dirty.length = 0;
        msg.push(CAUSAL_HEADER, { deps });
      }
    }
    this.below.down(msg);
  }

  /**
   * A frame's messages: while nothing is held, those without our header and causal ones that are
   * ready (their dependencies delivered) go up in place, in one call; from the first that must wait
   * (or is broken) on, each goes through `up`, behind them.
   */
  override upBatch(batch: Message[]): void {
    if (this.gatheringUp || this.heldCount > 0) {
      this.eachUp(batch);
      return;
    }
    let n = 0;
    for (let i = 0; i < batch.length; i++) {
      const msg = batch[i]!;
      const h = msg.peek(CAUSAL_HEADER);
      if (h !== undefined) {
        const from = msg.isMulticast && !(msg.flags & MsgFlag.Unreliable) ? (this.indexOf.get(msg.src) ?? -1) : -1;
        if (from < 0 || (from !== this.me && !this.ready(h.deps))) {
          this.eachUpFrom(batch, i, n);
          return;
        }
        msg.dropTop();
        if (from !== this.me) {
          if (!this.validDeps(from, h.deps, msg.src)) continue; // dropped
          this.bump(from);
        }
      }
      batch[n++] = msg;
    }
    if (n > 0) {
      batch.length = n;
      this.above.upBatch(batch);
    }
  }

  override up(msg: Message): void {
    const h = msg.pop(CAUSAL_HEADER);
    if (h === undefined) {
      this.above.up(msg);
      return;
    }
    if (!msg.isMulticast || msg.flags & MsgFlag.Unreliable) {
      this.guard.drop(msg.src, 'causal header on a message that is not a reliable multicast');
      return;
    }
    const from = this.indexOf.get(msg.src) ?? -1;
    if (from < 0) {
      this.guard.drop(msg.src, 'causal message from a non-member');
      return;
    }
    if (from === this.me) {
      this.above.up(msg); // our own: counted when sent
      return;
    }
    const deps = h.deps;
    if (!this.validDeps(from, deps, msg.src)) return;
    const q = this.held.get(from);
    if ((q === undefined || q.length === 0) && this.ready(deps)) {
      this.deliver(from, msg);
      if (this.heldCount > 0) this.drain();
    } else {
      const bytes = heldCost(msg, deps);
      if ((this.heldBytes[from] ?? 0) + bytes > this.opts.maxHeldBytesPerSender) {
        this.guard.drop(msg.src, 'over the cap for messages waiting on causal dependencies', { held: this.heldBytes[from] });
        return;
      }
      this.heldBytes[from] = (this.heldBytes[from] ?? 0) + bytes;
      if (q) q.push({ msg, from, deps });
      else this.held.set(from, FifoQueue.of({ msg, from, deps }));
      this.heldCount++;
    }
  }

  /**
   * Every entry names another member of this view, once, with a count within a u32 (the sender's
   * own entry is implicit): dependencies that break this are forged or broken, and would only wait.
   */
  private validDeps(from: number, deps: readonly number[], src: NodeId): boolean {
    const n = this.members.length;
    if (deps.length > 2 * (n - 1)) {
      this.guard.drop(src, 'more causal entries than the view has other members', { entries: deps.length >> 1 });
      return false;
    }
    for (let i = 0; i < deps.length; i += 2) {
      const k = deps[i]!;
      const v = deps[i + 1]!;
      if (k >= n || k === from || v > MAX_WIRE_INT) {
        this.guard.drop(src, 'causal entry for a non-member, for the sender itself, or out of range', { index: k, count: v });
        return false;
      }
      for (let j = 0; j < i; j += 2) {
        if (deps[j] === k) {
          this.guard.drop(src, 'causal entry repeated', { index: k });
          return false;
        }
      }
    }
    return true;
  }

  /** The sender's earlier messages are delivered (it is its queue's head): the changed entries decide. */
  private ready(deps: readonly number[]): boolean {
    const vt = this.vt;
    for (let i = 0; i < deps.length; i += 2) if (deps[i + 1]! > vt[deps[i]!]!) return false;
    return true;
  }

  private deliver(from: number, msg: Message): void {
    this.bump(from);
    this.above.up(msg);
  }

  /** One more causal message of member `from` delivered. */
  private bump(from: number): void {
    this.vt[from]!++;
    if (from !== this.me && this.isDirty[from] === 0) {
      this.isDirty[from] = 1;
      this.dirty.push(from);
    }
  }

  /** Deliver queue heads that became ready, until none is: O(senders) per delivery. */
  private drain(): void {
    let progress = true;
    while (progress && this.heldCount > 0) {
      progress = false;
      for (const q of this.held.values()) {
        let h: Held | undefined;
        while ((h = q.peek()) !== undefined && this.ready(h.deps)) {
          q.shift();
          this.heldCount--;
          this.heldBytes[h.from] = (this.heldBytes[h.from] ?? 0) - heldCost(h.msg, h.deps);
          this.deliver(h.from, h.msg);
          progress = true;
        }
      }
    }
  }

  protected newView(v: View): void {
    if (v.id === this.viewId) return;
    // Whatever is still held waits for a message no survivor has (the flush delivered the same set
    // everywhere), so every survivor drops the same ones.
    if (this.heldCount > 0) this.log.debug('dropping causally orphaned messages at view change', { count: this.heldCount });
    this.held = new Map();
    this.heldCount = 0;
    this.heldBytes = [];
    this.viewId = v.id;
    this.members = v.members;
    this.indexOf = new Map(v.members.map((m, i) => [m, i]));
    this.me = v.members.indexOf(this.ctx.localId);
    this.vt = new Array<number>(v.members.length).fill(0);
    this.dirty = [];
    this.isDirty = new Uint8Array(v.members.length);
  }
}

registerLayer({
  name: 'CAUSAL',
  provides: ['causal'],
  requires: ['reliable'],
  options,
  create: (ctx, o) => new CAUSAL(ctx, o),
});
