import { z } from 'zod';
import type { Digest, DownEvent, UpEvent } from '../core/events.js';
import type { Message } from '../core/message.js';
import { defineHeader, HeaderIds } from '../codec/header-registry.js';
import { Layer, type LayerContext, type LayerLink } from '../stack/layer.js';
import { registerLayer } from '../stack/registry.js';
import { TaggedRing } from '../core/tagged-ring.js';
import type { Counter } from '../core/metrics.js';

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
 * STABLE reports that every member of the view holds it. While one is held, everything that
 * arrives after it waits behind it, so holding never reorders deliveries (causal order above stays
 * intact). At a view change the flush has given every survivor the same messages, so what is still
 * held is held by all of them and is delivered before the view.
 */
export class SAFE extends Layer {
  readonly name = 'SAFE';
  /** In arrival order, tagged 1 for a safe message, 0 for a plain one queued behind a safe one (a ring: no record per message). */
  private held = new TaggedRing<Message>();
  /** The view we deliver in, and what every member of it holds. */
  private view = -1;
  private stable: Digest = new Map();
  /**
   * Stability of a later view, reported before that view reached us: a joiner's first view and
   * the ones after it come up only once its state arrived, while the layers below are in the
   * latest one already. Kept for when that view arrives (an idle group reports it only once).
   */
  private ahead: { view: number; stable: Digest } | null = null;
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
    if (!safe && this.held.length === 0) {
      this.above.up(msg);
      return;
    }
    this.held.push(msg, safe ? 1 : 0);
    if (safe) this.mHeld.inc();
    this.release();
    if (this.held.length > 0) this.below.downEvent({ type: 'STABILIZE' });
  }

  /**
   * A frame's messages: plain ones with nothing held pass on in place, and one request for
   * stability covers the whole batch (not one per safe message).
   */
  override upBatch(batch: Message[]): void {
    let n = 0;
    let i = 0;
    for (; i < batch.length; i++) {
      const msg = batch[i]!;
      if (this.held.length > 0 || msg.peek(SAFE_HEADER) !== undefined) break;
      batch[n++] = msg;
    }
    if (i === batch.length) {
      if (n > 0) this.above.upBatch(batch);
      return;
    }
    // From the first safe message on, in arrival order behind it; what is released goes up at the end.
    const out = batch.slice(0, n);
    const real = this.above;
    const gather: LayerLink = {
      up: (m) => void out.push(m),
      upBatch: (b) => {
        for (const m of b) out.push(m);
      },
      upEvent: (ev) => real.upEvent(ev),
      down: (m) => real.down(m),
      downBatch: (b) => real.downBatch(b),
      downEvent: (ev) => real.downEvent(ev),
    };
    this.above = gather;
    try {
      for (; i < batch.length; i++) {
        const msg = batch[i]!;
        const safe = msg.pop(SAFE_HEADER) !== undefined;
        if (!safe && this.held.length === 0) {
          out.push(msg);
          continue;
        }
        this.held.push(msg, safe ? 1 : 0);
        if (safe) this.mHeld.inc();
        this.release();
      }
    } finally {
      this.above = real;
    }
    if (out.length > 0) real.upBatch(out);
    if (this.held.length > 0) this.below.downEvent({ type: 'STABILIZE' });
  }

  private release(): void {
    const held = this.held;
    // Held messages come in runs from one sender: its stability is looked up once per run.
    let src: string | null = null;
    let stable = 0;
    let m: Message | undefined;
    while ((m = held.peek()) !== undefined) {
      if (held.peekTag() === 1) {
        if (m.src !== src) {
          src = m.src;
          stable = this.stable.get(src) ?? 0;
        }
        if (m.seq > stable) return;
      }
      held.shift();
      this.above.up(m);
    }
  }

  override upEvent(ev: UpEvent): void {
    if (ev.type === 'STABLE') {
      // Sequence numbers restart with each view: another view's stability says nothing of this one's messages.
      if (ev.viewId === this.view) {
        this.stable = ev.stable;
        this.release();
      } else if (ev.viewId > this.view) {
        this.ahead = { view: ev.viewId, stable: ev.stable };
      }
    } else if (ev.type === 'VIEW') {
      // Every survivor holds what is still here (the flush saw to it): deliver it in this view.
      const rest = this.held;
      this.held = new TaggedRing();
      rest.forEach((msg) => this.above.up(msg));
      this.enter(ev.view.id);
    }
    this.above.upEvent(ev);
  }

  override downEvent(ev: DownEvent): void {
    // A fixed membership (no GMS) names its one view on the way down.
    if (ev.type === 'VIEW') this.enter(ev.view.id);
    this.below.downEvent(ev);
  }

  /** Deliver in view `id` from now on, with its stability if it was reported already. */
  private enter(id: number): void {
    this.view = id;
    const ahead = this.ahead;
    this.stable = ahead !== null && ahead.view === id ? ahead.stable : new Map();
    if (ahead !== null && ahead.view <= id) this.ahead = null;
  }
}

registerLayer({
  name: 'SAFE',
  provides: ['safe'],
  requires: ['stability'],
  options,
  create: (ctx, o) => new SAFE(ctx, o),
});
