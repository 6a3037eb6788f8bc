import { z } from 'zod';
import { OrderCode, type Message } from '../core/message.js';
import type { NodeId } from '../core/node-id.js';
import type { View } from '../core/view.js';
import { defineHeader, HeaderIds } from '../codec/header-registry.js';
import { ViewAwareLayer, type LayerContext } from '../stack/layer.js';
import { registerLayer } from '../stack/registry.js';
import { FifoQueue } from '../core/fifo-queue.js';

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
    const vt: number[] = [];
    for (let i = 0; i < n && i < 4096; i++) vt.push(r.uvar());
    return { vt };
  },
);

const options = z.object({});

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

  constructor(ctx: LayerContext, _opts: z.infer<typeof options>) {
    super(ctx);
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
    const from = this.members.indexOf(msg.src);
    if (from < 0 || h.vt.length !== this.members.length) return; // not of this view
    if (from === this.me) {
      this.above.up(msg); // our own: counted when sent
      return;
    }
    const q = this.held.get(from);
    if ((!q || q.length === 0) && this.ready(from, h.vt)) {
      this.deliver(from, h.vt, msg);
      if (this.heldCount > 0) this.drain();
    } else {
      if (q) q.push({ msg, from, vt: h.vt });
      else this.held.set(from, FifoQueue.of({ msg, from, vt: h.vt }));
      this.heldCount++;
    }
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
