import { z } from 'zod';
import { every, type Timer } from '../core/env.js';
import type { Digest, DownEvent } from '../core/events.js';
import { Message, MsgFlag } from '../core/message.js';
import type { NodeId } from '../core/node-id.js';
import { defineHeader, HeaderIds } from '../codec/header-registry.js';
import { Layer, type LayerContext } from '../stack/layer.js';
import { registerLayer } from '../stack/registry.js';
import { ProtocolError } from '../core/errors.js';
import { InputGuard, MAX_ID_BYTES, MAX_WIRE_INT } from '../core/input-guard.js';

/** Most entries a digest may carry: one per member, and no view is this large. */
export const MAX_DIGEST_ENTRIES = 4096;

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
    if (n > MAX_DIGEST_ENTRIES) throw new ProtocolError('ERR_MALFORMED', `STABLE digest with ${n} entries`);
    const entries: [NodeId, number][] = [];
    for (let i = 0; i < n; i++) entries.push([r.str(MAX_ID_BYTES), r.uvar()]);
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
  private memberSet = new Set<NodeId>();
  private viewId = 0;
  private readonly guard: InputGuard;
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
    this.guard = new InputGuard(ctx, 'STABLE');
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
      this.memberSet = new Set(ev.view.members);
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
    const src = msg.src;
    // Another view's (a member that installed the next one first, or one excluded from this one): sequence numbers restart per view.
    if (h.view !== this.viewId) return;
    if (!this.memberSet.has(src) || src === this.ctx.localId) {
      this.guard.drop(src, 'digest from a non-member');
      return;
    }
    const digest = this.validDigest(h.entries, src);
    if (digest === null) return;
    // A report is the reporter's own holdings; the minimum over every member (us included) is
    // stable, so a report can never make stable what we do not hold ourselves.
    this.digests.set(src, digest);
    this.recompute();
  }

  /** A digest names only members of this view, each once, with sequence numbers in range; else null after a drop. */
  private validDigest(entries: readonly [NodeId, number][], from: NodeId): Digest | null {
    if (entries.length > this.members.length) {
      this.guard.drop(from, 'digest with more entries than the view has members', { entries: entries.length });
      return null;
    }
    const d: Digest = new Map();
    for (const [id, seq] of entries) {
      if (!this.memberSet.has(id) || d.has(id) || seq > MAX_WIRE_INT) {
        this.guard.drop(from, 'digest entry for a non-member, repeated, or out of range', { member: id.slice(0, 64), seq });
        return null;
      }
      d.set(id, seq);
    }
    return d;
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
