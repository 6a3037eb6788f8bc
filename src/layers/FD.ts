import { z } from 'zod';
import { every, type Timer } from '../core/env.js';
import type { DownEvent } from '../core/events.js';
import { Message, MsgFlag } from '../core/message.js';
import type { NodeId } from '../core/node-id.js';
import { defineHeader, HeaderIds } from '../codec/header-registry.js';
import { Layer, type LayerContext } from '../stack/layer.js';
import { registerLayer } from '../stack/registry.js';
import { InputGuard, MAX_WIRE_INT } from '../core/input-guard.js';

/** Strangers whose last report is remembered; bounded so a flood of forged sources cannot grow it. */
const MAX_STRANGERS_REMEMBERED = 1024;

interface FdHeader {
  /** The sender's view id: lets members spot a node that was excluded without knowing it. */
  viewId: number;
}

export const FD_HEADER = defineHeader<FdHeader>(
  HeaderIds.FD,
  'FD',
  (w, h) => w.uvar(h.viewId),
  (r) => ({ viewId: r.uvar() }),
);

const options = z.object({
  heartbeatIntervalMs: z.number().positive().default(100),
  /** Silence after which a member is suspected. */
  suspectTimeoutMs: z.number().positive().default(1000),
  /** A node not in the view that keeps sending heartbeats is reported up (GMS tells it) at most this often. */
  strangerReportIntervalMs: z.number().nonnegative().default(500),
});
export type FdOptions = z.infer<typeof options>;

/**
 * Heartbeat failure detector. Any message from a member counts as a sign of life; heartbeats fill
 * the silence. A member silent for `suspectTimeoutMs` is suspected (SUSPECT goes up to GMS) and
 * unsuspected if heard again before a new view excludes it. When this process itself was stopped
 * (its own ticks arrive late), it does not blame the others for its own silence.
 */
export class FD extends Layer {
  readonly name = 'FD';
  private members: readonly NodeId[] = [];
  private viewId = 0;
  private readonly lastHeard = new Map<NodeId, number>();
  private readonly suspected = new Set<NodeId>();
  private timer: Timer | null = null;
  private lastTick = 0;
  /** When each stranger was last reported up: each report makes GMS answer it, so it is rate-limited. */
  private readonly strangerReported = new Map<NodeId, number>();
  private readonly guard: InputGuard;

  constructor(
    ctx: LayerContext,
    private readonly opts: FdOptions,
  ) {
    super(ctx);
    this.guard = new InputGuard(ctx, 'FD');
  }

  override start(): void {
    this.lastTick = this.env.now();
    this.timer = every(this.env, this.opts.heartbeatIntervalMs, () => this.tick());
  }

  override stop(): void {
    this.timer?.cancel();
  }

  override downEvent(ev: DownEvent): void {
    if (ev.type === 'VIEW') {
      this.members = ev.view.members;
      this.viewId = ev.view.id;
      const now = this.env.now();
      for (const m of [...this.lastHeard.keys()]) if (!this.members.includes(m)) this.lastHeard.delete(m);
      for (const m of this.members) if (!this.lastHeard.has(m)) this.lastHeard.set(m, now);
      this.suspected.clear();
      this.strangerReported.clear();
    }
    this.below.downEvent(ev);
  }

  override up(msg: Message): void {
    const h = msg.pop(FD_HEADER);
    const src = msg.src;
    if (h !== undefined && h.viewId > MAX_WIRE_INT) {
      this.guard.drop(src, 'heartbeat with a view id out of range', { viewId: h.viewId });
      return;
    }
    // Only a member's traffic is a sign of its life; a stranger cannot unsuspect anyone (COM names the sender).
    if (this.lastHeard.has(src)) {
      this.lastHeard.set(src, this.env.now());
      if (this.suspected.delete(src)) this.above.upEvent({ type: 'UNSUSPECT', member: src });
    } else if (h !== undefined && this.viewId > 0 && h.viewId < this.viewId) {
      this.reportStranger(src, h.viewId);
    }
    if (h === undefined) this.above.up(msg);
  }

  /** A node of an older view still talking to this one: report it (GMS tells it), at most once per interval. */
  private reportStranger(src: NodeId, viewId: number): void {
    const now = this.env.now();
    const last = this.strangerReported.get(src);
    if (last !== undefined && now - last < this.opts.strangerReportIntervalMs) return;
    if (last === undefined && this.strangerReported.size >= MAX_STRANGERS_REMEMBERED) this.strangerReported.clear();
    this.strangerReported.set(src, now);
    this.above.upEvent({ type: 'STRANGER', member: src, viewId });
  }

  private tick(): void {
    const now = this.env.now();
    const late = now - this.lastTick > this.opts.suspectTimeoutMs / 2;
    this.lastTick = now;
    if (this.viewId === 0) return;
    if (late) {
      // We were stopped (SIGSTOP, a long GC): our silence, not theirs. Start counting afresh.
      for (const m of this.lastHeard.keys()) this.lastHeard.set(m, now);
    }
    const hb = new Message(null, Buffer.alloc(0), MsgFlag.Multicast | MsgFlag.Unreliable);
    hb.push(FD_HEADER, { viewId: this.viewId });
    this.below.down(hb);
    for (const [m, t] of this.lastHeard) {
      if (m === this.ctx.localId || this.suspected.has(m)) continue;
      if (now - t > this.opts.suspectTimeoutMs) {
        this.suspected.add(m);
        this.above.upEvent({ type: 'SUSPECT', member: m });
      }
    }
  }

  /** Send a heartbeat to one node (GMS uses it to reach members of an older view). */
  ping(to: NodeId): void {
    const hb = new Message(to, Buffer.alloc(0), MsgFlag.Unreliable);
    hb.push(FD_HEADER, { viewId: this.viewId });
    this.below.down(hb);
  }
}

registerLayer({
  name: 'FD',
  provides: ['failure-detection'],
  requires: ['transport'],
  options,
  create: (ctx, o) => new FD(ctx, o),
});
