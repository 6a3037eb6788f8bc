import { z } from 'zod';
import { every, type Timer } from '../core/env.js';
import type { Digest, DownEvent } from '../core/events.js';
import { Message, MsgFlag } from '../core/message.js';
import type { NodeId } from '../core/node-id.js';
import { defineHeader, HeaderIds } from '../codec/header-registry.js';
import { Layer, type LayerContext } from '../stack/layer.js';
import { registerLayer } from '../stack/registry.js';

/** A member's digest: what it holds from each sender. */
interface StableHeader {
  view: number;
  entries: [NodeId, number][];
}

export const STABLE_HEADER = defineHeader<StableHeader>(
  HeaderIds.STABLE,
  'STABLE',
  (w, h) => {
    w.uvar(h.view);
    w.uvar(h.entries.length);
    for (const [id, seq] of h.entries) {
      w.str(id);
      w.uvar(seq);
    }
  },
  (r) => {
    const view = r.uvar();
    const n = r.uvar();
    const entries: [NodeId, number][] = [];
    for (let i = 0; i < n && i < 4096; i++) entries.push([r.str(1024), r.uvar()]);
    return { view, entries };
  },
);

const options = z.object({
  /** Gossip this member's digest at least this often. */
  gossipIntervalMs: z.number().positive().default(50),
  /** ...and sooner once this many bytes have been delivered since the last gossip (bounds buffers). */
  maxBytes: z
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
});
export type StableOptions = z.infer<typeof options>;

/**
 * Learns which messages every member of the view holds. Each member gossips its digest (from the
 * reliability layer below); the minimum over all members' latest digests is stable. Stability goes
 * down (NAK frees its buffers) and up (safe delivery, flush).
 */
export class STABLE extends Layer {
  readonly name = 'STABLE';
  private members: readonly NodeId[] = [];
  private viewId = 0;
  private readonly digests = new Map<NodeId, Digest>();
  private stable: Digest = new Map();
  private bytesSinceGossip = 0;
  private gossipSoon = false;
  private timer: Timer | null = null;

  constructor(
    ctx: LayerContext,
    private readonly opts: StableOptions,
  ) {
    super(ctx);
  }

  override start(): void {
    this.timer = every(this.env, this.opts.gossipIntervalMs, () => this.gossip());
  }

  override stop(): void {
    this.timer?.cancel();
  }

  override downEvent(ev: DownEvent): void {
    if (ev.type === 'STABILIZE') {
      if (!this.gossipSoon) {
        this.gossipSoon = true;
        this.env.defer(() => {
          this.gossipSoon = false;
          this.gossip();
        });
      }
      return;
    }
    if (ev.type === 'VIEW') {
      this.members = ev.view.members;
      if (ev.view.id !== this.viewId) {
        // Sequence numbers restart with each view: so does what we know.
        this.viewId = ev.view.id;
        this.digests.clear();
        this.stable = new Map();
      }
    }
    this.below.downEvent(ev);
  }

  override up(msg: Message): void {
    const h = msg.pop(STABLE_HEADER);
    if (h === undefined) {
      this.bytesSinceGossip += msg.payload.length;
      if (this.bytesSinceGossip >= this.opts.maxBytes) this.gossip();
      this.above.up(msg);
      return;
    }
    if (h.view !== this.viewId || !this.members.includes(msg.src)) return;
    this.digests.set(msg.src, new Map(h.entries));
    this.recompute();
  }

  private gossip(): void {
    this.bytesSinceGossip = 0;
    const q: DownEvent = { type: 'GET_DIGEST', digest: null };
    this.below.downEvent(q);
    if (!q.digest) return;
    this.digests.set(this.ctx.localId, q.digest);
    const m = new Message(null, Buffer.alloc(0), MsgFlag.Multicast | MsgFlag.Unreliable);
    m.push(STABLE_HEADER, { view: this.viewId, entries: [...q.digest] });
    this.below.down(m);
    this.recompute();
  }

  private recompute(): void {
    if (this.members.length === 0) return;
    const next: Digest = new Map();
    for (const sender of this.members) {
      let min = Infinity;
      for (const member of this.members) {
        const d = this.digests.get(member);
        const v = d?.get(sender);
        if (v === undefined) {
          min = 0;
          break;
        }
        if (v < min) min = v;
      }
      next.set(sender, min);
    }
    let changed = false;
    for (const [s, v] of next) if ((this.stable.get(s) ?? 0) < v) changed = true;
    if (!changed) return;
    this.stable = next;
    this.below.downEvent({ type: 'STABLE', stable: next });
    this.above.upEvent({ type: 'STABLE', stable: next, viewId: this.viewId });
  }
}

registerLayer({
  name: 'STABLE',
  provides: ['stability'],
  requires: ['digest'],
  options,
  create: (ctx, o) => new STABLE(ctx, o),
});
