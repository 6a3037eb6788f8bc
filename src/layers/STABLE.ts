import { z } from 'zod';
import type { Timer } from '../core/env.js';
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
  /**
   * While nothing changes (our digest is the one we last gossiped, and every member has reported
   * holding all of it), the interval doubles up to this: an idle group gossips about once a second,
   * not 20 times. Any message sent or delivered brings it back to gossipIntervalMs.
   */
  idleGossipIntervalMs: z.number().positive().default(1000),
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
  private stopped = false;
  /** The interval the timer runs at now: gossipIntervalMs, or longer while nothing changes. */
  private intervalMs: number;
  /** What we gossiped last, to tell an unchanged digest. */
  private lastGossiped: Digest | null = null;

  constructor(
    ctx: LayerContext,
    private readonly opts: StableOptions,
  ) {
    super(ctx);
    this.guard = new InputGuard(ctx, 'STABLE');
    this.intervalMs = opts.gossipIntervalMs;
  }

  override start(): void {
    this.arm();
  }

  override stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  private arm(): void {
    this.timer?.cancel();
    this.timer = this.stopped ? null : this.env.setTimer(this.intervalMs, this.tick);
  }

  /** One function for every tick: gossip, then slow down while nothing changes (see idleGossipIntervalMs). */
  private readonly tick = (): void => {
    const quiet = this.gossip();
    this.intervalMs = quiet ? Math.min(this.intervalMs * 2, Math.max(this.opts.idleGossipIntervalMs, this.opts.gossipIntervalMs)) : this.opts.gossipIntervalMs;
    this.arm();
  };

  /** Traffic: back to the short interval at once, if we had slowed down. */
  private busy(): void {
    if (this.intervalMs === this.opts.gossipIntervalMs) return;
    this.intervalMs = this.opts.gossipIntervalMs;
    this.arm();
  }

  override down(msg: Message): void {
    this.busy();
    this.below.down(msg);
  }

  override downBatch(batch: Message[]): void {
    this.busy();
    this.below.downBatch(batch);
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
        this.lastGossiped = null;
        this.busy();
      }
    }
    this.below.downEvent(ev);
  }

  override up(msg: Message): void {
    const h = msg.pop(STABLE_HEADER);
    if (h === undefined) {
      this.busy();
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

  /** Send our digest; true if nothing changed: it is the one we sent last, and stable already (every member holds all of it). */
  private gossip(): boolean {
    this.bytesSinceGossip = 0;
    const q: DownEvent = { type: 'GET_DIGEST', digest: null };
    this.below.downEvent(q);
    if (!q.digest) return false;
    const d = q.digest;
    const unchanged = this.lastGossiped !== null && sameDigest(this.lastGossiped, d);
    this.lastGossiped = d;
    this.digests.set(this.ctx.localId, d);
    const m = new Message(null, Buffer.alloc(0), MsgFlag.Multicast | MsgFlag.Unreliable);
    m.push(STABLE_HEADER, { view: this.viewId, entries: [...d] });
    this.below.down(m);
    this.recompute();
    if (!unchanged) return false;
    for (const [sender, seq] of d) if ((this.stable.get(sender) ?? 0) < seq) return false;
    return true;
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

function sameDigest(a: Digest, b: Digest): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

registerLayer({
  name: 'STABLE',
  provides: ['stability'],
  requires: ['digest'],
  options,
  create: (ctx, o) => new STABLE(ctx, o),
});
