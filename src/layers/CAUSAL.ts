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

/** A vector timestamp with one entry per member of the current view, in view order. */
interface CausalHeader {
  vt: number[];
}

export const CAUSAL_HEADER = defineHeader<CausalHeader>(
  HeaderIds.CAUSAL,
  'CAUSAL',
  (w, h) => {
    w.uvar(h.vt.length);
    for (const v of h.vt) w.uvar(v);
  },
  (r) => {
    const n = r.uvar();
    if (n > MAX_VT_ENTRIES) throw new ProtocolError('ERR_MALFORMED', `CAUSAL vector with ${n} entries`);
    const vt: number[] = [];
    for (let i = 0; i < n; i++) vt.push(r.uvar());
    return { vt };
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

/** What a held message costs: its payload and its vector. */
const heldCost = (msg: Message, vt: readonly number[]): number => msg.payload.length + 8 * vt.length + 64;

interface Held {
  msg: Message;
  from: number;
  vt: number[];
}

/**
 * Causal delivery (cbcast) with vector timestamps. The vector is compressed to what the view needs:
 * one entry per current member, indexed by seniority, reset at every view change — the flush has
 * delivered everything of the old view by then, so old entries carry no information. Total-order
 * messages pass through too, so that the orderer sees them in causal order.
 */
export class CAUSAL extends ViewAwareLayer {
  readonly name = 'CAUSAL';
  private members: readonly NodeId[] = [];
  private viewId = -1;
  private me = -1;
  private vt: number[] = [];
  /** Per sender, in arrival (= that sender's FIFO) order: only each queue's head can be next. */
  private held = new Map<number, FifoQueue<Held>>();
  private heldCount = 0;
  /** Per member index: bytes held, and its own entry of the last vector seen from it (delivered or held). */
  private heldBytes: number[] = [];
  private seen: number[] = [];
  private readonly guard: InputGuard;

  constructor(
    ctx: LayerContext,
    private readonly opts: CausalOptions,
  ) {
    super(ctx);
    this.guard = new InputGuard(ctx, 'CAUSAL');
  }

  override down(msg: Message): void {
    if ((msg.order === OrderCode.Causal || msg.order === OrderCode.Total) && msg.dest === null && this.me >= 0) {
      this.vt[this.me] = (this.vt[this.me] ?? 0) + 1;
      msg.push(CAUSAL_HEADER, { vt: this.vt.slice() });
    }
    this.below.down(msg);
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
    const from = this.members.indexOf(msg.src);
    const vt = h.vt;
    if (from < 0 || vt.length !== this.members.length) {
      this.guard.drop(msg.src, from < 0 ? 'causal message from a non-member' : 'vector timestamp not of this view', { entries: vt.length });
      return;
    }
    if (from === this.me) {
      this.above.up(msg); // our own: counted when sent
      return;
    }
    if (!this.validVector(from, vt, msg.src)) return;
    this.seen[from] = vt[from]!;
    const q = this.held.get(from);
    if ((!q || q.length === 0) && this.ready(from, vt)) {
      this.deliver(from, vt, msg);
      if (this.heldCount > 0) this.drain();
    } else {
      const bytes = heldCost(msg, vt);
      if ((this.heldBytes[from] ?? 0) + bytes > this.opts.maxHeldBytesPerSender) {
        this.guard.drop(msg.src, 'over the cap for messages waiting on causal dependencies', { held: this.heldBytes[from] });
        return;
      }
      this.heldBytes[from] = (this.heldBytes[from] ?? 0) + bytes;
      if (q) q.push({ msg, from, vt });
      else this.held.set(from, FifoQueue.of({ msg, from, vt }));
      this.heldCount++;
    }
  }

  /**
   * A sender's own entry counts its causal messages one by one (they come FIFO from below), and no
   * entry is beyond a u32: a vector that breaks either is forged or broken, and would only ever wait.
   */
  private validVector(from: number, vt: readonly number[], src: NodeId): boolean {
    if (vt[from] !== (this.seen[from] ?? 0) + 1) {
      this.guard.drop(src, "sender's own vector entry out of sequence", { got: vt[from], expected: (this.seen[from] ?? 0) + 1 });
      return false;
    }
    for (let k = 0; k < vt.length; k++) {
      if (vt[k]! > MAX_WIRE_INT) {
        this.guard.drop(src, 'vector entry out of range', { entry: vt[k] });
        return false;
      }
    }
    return true;
  }

  private ready(from: number, vt: number[]): boolean {
    if (vt[from] !== (this.vt[from] ?? 0) + 1) return false;
    for (let k = 0; k < vt.length; k++) if (k !== from && vt[k]! > (this.vt[k] ?? 0)) return false;
    return true;
  }

  private deliver(from: number, vt: number[], msg: Message): void {
    this.vt[from] = vt[from]!;
    this.above.up(msg);
  }

  /** Deliver queue heads that became ready, until none is: O(senders) per delivery. */
  private drain(): void {
    let progress = true;
    while (progress && this.heldCount > 0) {
      progress = false;
      for (const q of this.held.values()) {
        let h: Held | undefined;
        while ((h = q.peek()) !== undefined && this.ready(h.from, h.vt)) {
          q.shift();
          this.heldCount--;
          this.heldBytes[h.from] = (this.heldBytes[h.from] ?? 0) - heldCost(h.msg, h.vt);
          this.deliver(h.from, h.vt, h.msg);
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
    this.seen = [];
    this.viewId = v.id;
    this.members = v.members;
    this.me = v.members.indexOf(this.ctx.localId);
    this.vt = new Array<number>(v.members.length).fill(0);
  }
}

registerLayer({
  name: 'CAUSAL',
  provides: ['causal'],
  requires: ['reliable'],
  options,
  create: (ctx, o) => new CAUSAL(ctx, o),
});
