import { z } from 'zod';
import type { Digest, DownEvent, UpEvent } from '../core/events.js';
import type { Message } from '../core/message.js';
import type { NodeId } from '../core/node-id.js';
import { defineHeader, HeaderIds } from '../codec/header-registry.js';
import { Layer, type LayerContext } from '../stack/layer.js';
import { registerLayer } from '../stack/registry.js';
import type { Counter } from '../obs/metrics.js';

/** A marker: this message is to be delivered only once every member holds it. */
export const SAFE_HEADER = defineHeader<true>(
  HeaderIds.SAFE,
  'SAFE',
  () => {},
  () => true as const,
);

const options = z.object({});

/**
 * Safe (uniform) delivery: a message sent with `{ safe: true }` is held at every member until
 * STABLE reports that every member of the view holds it. Per sender, held messages leave in FIFO
 * order. At a view change the flush has given every survivor the same messages, so what is still
 * held is held by all of them and is delivered before the view.
 */
export class SAFE extends Layer {
  readonly name = 'SAFE';
  /** Per sender, in arrival order; `safe` false for a plain message queued behind a safe one. */
  private readonly held = new Map<NodeId, { msg: Message; safe: boolean }[]>();
  private stable: Digest = new Map();
  private readonly mHeld: Counter;

  constructor(ctx: LayerContext, _opts: z.infer<typeof options>) {
    super(ctx);
    this.mHeld = ctx.metrics.counter('horus_safe_held_total', 'safe messages held until stable');
  }

  override down(msg: Message): void {
    if (msg.safe && msg.dest === null) msg.push(SAFE_HEADER, true);
    this.below.down(msg);
  }

  override up(msg: Message): void {
    const safe = msg.pop(SAFE_HEADER) !== undefined;
    let q = this.held.get(msg.src);
    if (!safe && (!q || q.length === 0)) {
      this.above.up(msg);
      return;
    }
    // A plain message behind a held safe one from the same sender waits too: FIFO per sender.
    if (!q) this.held.set(msg.src, (q = []));
    q.push({ msg, safe });
    if (safe) this.mHeld.inc();
    this.release(msg.src);
    if (q.length > 0) this.below.downEvent({ type: 'STABILIZE' });
  }

  private release(sender: NodeId): void {
    const q = this.held.get(sender);
    if (!q) return;
    const stableUpTo = this.stable.get(sender) ?? 0;
    while (q.length > 0) {
      const h = q[0]!;
      if (h.safe && h.msg.seq > stableUpTo) return;
      q.shift();
      this.above.up(h.msg);
    }
  }

  override upEvent(ev: UpEvent): void {
    if (ev.type === 'STABLE') {
      this.stable = ev.stable;
      for (const sender of this.held.keys()) this.release(sender);
    } else if (ev.type === 'VIEW') {
      // Every survivor holds what is still here (the flush saw to it): deliver it in this view.
      for (const q of this.held.values()) for (const h of q) this.above.up(h.msg);
      this.held.clear();
      this.stable = new Map();
    }
    this.above.upEvent(ev);
  }

  override downEvent(ev: DownEvent): void {
    if (ev.type === 'VIEW') this.stable = new Map();
    this.below.downEvent(ev);
  }
}

registerLayer({
  name: 'SAFE',
  provides: ['safe'],
  requires: ['stability'],
  options,
  create: (ctx, o) => new SAFE(ctx, o),
});
