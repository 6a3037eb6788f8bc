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
import { AGG_DOWN, AGG_UP, AGG_UP_URGENT, STABLE_AGG_HEADER } from './stable/aggregate-header.js';

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
  /**
   * From this view size up, digests are aggregated instead of gossiped all-to-all: each member
   * sends its digest to the coordinator, which multicasts the minimum (about 2n messages per
   * interval instead of n²).
   */
  aggregateFrom: z.number().int().min(2).default(16),
  /**
   * A digest (or aggregated minimum) that has not changed is sent only once per this many
   * intervals. Gossiped all-to-all, a digest that stopped changing still goes out at every interval
   * this many times (so a lost one cannot hold stability back), then once per this many. The timer
   * itself slows down likewise: a quiet member wakes once per this many intervals, not at each.
   */
  idleEvery: z.number().int().min(1).default(10),
  /**
   * Aggregated views only: an unchanged digest (or minimum) goes out after idleEvery intervals,
   * then after twice as many, and so on up to idleEvery × idleBackoff intervals. Over TCP nothing
   * is lost, and each resend at 64 members costs the coordinator 2 × 63 frames: the resends only
   * guard against a lost report, which an idle group can afford to repair slowly (any change, or
   * SAFE waiting, sends at once). Members wait 2 × that long for a minimum before gossiping
   * all-to-all.
   */
  idleBackoff: z.number().int().min(1).default(8),
});
export type StableOptions = z.infer<typeof options>;

/**
 * Learns which messages every member of the view holds. Each member gossips its digest (from the
 * reliability layer below); the minimum over all members' latest digests is stable. Stability goes
 * down (NAK frees its buffers) and up (safe delivery, flush).
 *
 * Aggregated (views of `aggregateFrom` members or more): members send their digest to the
 * coordinator only (when it changed; unchanged, after idleEvery intervals, then ever more rarely,
 * see idleBackoff, and only while it holds more than the minimum it took), and the coordinator
 * multicasts the minimum over every member's latest digest likewise (not at all once settled). A member takes the minimum of that and its own digest, so it still never calls stable
 * what it does not hold. If no minimum arrives for 2 × idleEvery × idleBackoff intervals (the
 * coordinator is gone, or cut off), members gossip all-to-all as below aggregateFrom until one does.
 *
 * Quiet: once nothing has changed for idleEvery intervals, the timer itself fires only once per
 * idleEvery intervals (each such tick counts as idleEvery ticks, so the same digests go out as
 * before, with a tenth of the wake-ups). The first reliable message to pass up, a digest that
 * differs from the one we hold, a new view or a STABILIZE puts it back at every interval at once.
 */
export class STABLE extends Layer {
  readonly name = 'STABLE';
  private members: readonly NodeId[] = [];
  private memberSet = new Set<NodeId>();
  private viewId = 0;
  private readonly guard: InputGuard;
  private readonly digests = new Map<NodeId, Digest>();
  /**
   * The same digests as a matrix by member index (row: the reporter, column: the sender; absent
   * entries 0, as the minimum counts them), and which rows have a digest: the minimum is a loop over
   * numbers, not n² map lookups per digest received (all-to-all, each member's digest reaches every
   * member: n³ lookups a round).
   */
  private seen = new Float64Array(0);
  private hasRow = new Uint8Array(0);
  private minimum = new Float64Array(0);
  private stable: Digest = new Map();
  private bytesSinceGossip = 0;
  private gossipSoon = false;
  private timer: Timer | null = null;
  /** Aggregated mode (the view has aggregateFrom members or more). */
  private aggregated = false;
  private index = new Map<NodeId, number>();
  /** What we last sent as aggregator or member (index form), and how many intervals ago. */
  private lastSent: number[] | null = null;
  private idleTicks = 0;
  /** Aggregated: unchanged reports sent in a row since the last change (each waits twice as long, see idleBackoff). */
  private idleResends = 0;
  /** Aggregator: which minimum of this view it last multicast (a new round each time it changed). */
  private downRound = 0;
  /** Aggregator: every member's latest digest is the minimum (nothing left to make stable): no idle resends. */
  private settled = false;
  /** Member: the latest round of the aggregator's minimum we took (our digests say it, see onAggregate). */
  private downSeen = 0;
  /** Member: since when we hold what is not yet stable (null: nothing), for the aggregator's silence. */
  private unstableSince: number | null = null;
  /** When the coordinator's minimum last arrived: long silence makes us gossip all-to-all. */
  private lastAggAt = 0;
  /** SAFE waits on stability: our next digest asks the aggregator to answer early. */
  private urgent = false;
  private aggSoon: Timer | null = null;
  /** All-to-all: the digest our timer last gossiped, in which view, and for how many intervals it has not changed. */
  private lastGossip: { viewId: number; digest: Digest; idle: number } | null = null;
  /** Aggregator: a digest arrived (or ours changed) since the minimum was last computed (O(n²): not every tick). */
  private aggDirty = true;
  private lastOwnSeqs: number[] | null = null;
  /** Aggregated: intervals our digest (or, as coordinator, the minimum) has stayed the same. */
  private aggSame = 0;
  /** The timer runs at idleEvery × gossipIntervalMs (nothing changed for idleEvery intervals). */
  private slow = false;
  /** What the last timer tick found: nothing changed for idleEvery intervals, and it sent what was due. */
  private tickQuiet = false;
  private stopped = false;
  /** Where the timer's grid starts (see arm). */
  private gridFrom = 0;

  constructor(
    ctx: LayerContext,
    private readonly opts: StableOptions,
  ) {
    super(ctx);
    this.guard = new InputGuard(ctx, 'STABLE');
  }

  override start(): void {
    this.stopped = false;
    this.gridFrom = this.env.now();
    this.arm();
  }

  override stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = null;
    this.aggSoon?.cancel();
  }

  /**
   * Ticks stay on the grid of gossipIntervalMs from start, slow or not: a wake-up arms the next
   * point of the grid rather than a full interval from now, so an active group ticks when it did
   * before the timer learnt to slow down (every member's tick in step with the first message's
   * arrival made the minimum lag a round behind the digests, and stability after a crash differ).
   */
  private arm(): void {
    this.timer?.cancel();
    this.timer = null;
    if (this.stopped) return;
    const every = this.opts.gossipIntervalMs;
    const now = this.env.now();
    const next = this.gridFrom + (Math.floor((now - this.gridFrom) / every) + (this.slow ? this.opts.idleEvery : 1)) * every;
    this.timer = this.env.setTimer(next - now, this.onTick);
  }

  private readonly onTick = (): void => {
    this.timer = null;
    const step = this.slow ? this.opts.idleEvery : 1;
    try {
      this.gossip(false, step);
    } finally {
      // A tick that throws must not stop the timer for good.
      this.slow = this.quiet();
      if (this.timer === null) this.arm();
    }
  };

  /** Nothing changed for idleEvery intervals, and the last timed round sent what was due: the timer may slow down. */
  private quiet(): boolean {
    return this.opts.idleEvery > 1 && this.tickQuiet;
  }

  /** Something moved: back to a tick at every interval (now, not at the slow timer's next tick). */
  private wake(): void {
    if (!this.slow) return;
    this.slow = false;
    this.arm();
  }

  override downEvent(ev: DownEvent): void {
    if (ev.type === 'STABILIZE') {
      this.wake();
      if (this.aggregated) this.urgent = true;
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
      this.index = new Map(this.members.map((m, i) => [m, i]));
      this.rebuildSeen();
      this.aggregated = this.members.length >= this.opts.aggregateFrom;
      this.lastSent = null;
      this.lastOwnSeqs = null;
      this.aggDirty = true;
      this.idleTicks = 0;
      this.idleResends = 0;
      this.downRound = 0;
      this.downSeen = 0;
      this.unstableSince = null;
      this.settled = false;
      this.aggSame = 0;
      this.lastAggAt = this.env.now();
      this.wake();
    }
    this.below.downEvent(ev);
  }

  /**
   * A frame's messages: those without our headers (nearly all) are counted in one loop and the
   * batch goes up in place, in one call (through `up` each went through a collector). From the first
   * digest, or the message whose bytes call for a gossip (which may raise an event: what came
   * before goes up ahead of it), on, each goes through `up`, behind them.
   */
  override upBatch(batch: Message[]): void {
    if (this.gatheringUp) {
      this.eachUp(batch);
      return;
    }
    const maxBytes = this.opts.maxBytes;
    for (let i = 0; i < batch.length; i++) {
      const msg = batch[i]!;
      const bytes = msg.payload.length;
      if (msg.peek(STABLE_HEADER) !== undefined || msg.peek(STABLE_AGG_HEADER) !== undefined || this.bytesSinceGossip + bytes >= maxBytes) {
        this.eachUpFrom(batch, i, i);
        return;
      }
      if (this.slow && (msg.flags & MsgFlag.Unreliable) === 0) this.wake();
      this.bytesSinceGossip += bytes;
    }
    if (batch.length > 0) this.above.upBatch(batch);
  }

  override up(msg: Message): void {
    const h = msg.pop(STABLE_HEADER);
    const agg = h === undefined ? msg.pop(STABLE_AGG_HEADER) : undefined;
    if (agg !== undefined) {
      if (agg.view === this.viewId) this.onAggregate(msg.src, agg.kind, agg.round, agg.seqs);
      return;
    }
    if (h === undefined) {
      // A sequenced message changes some member's digest: gossip at every interval again.
      if (this.slow && (msg.flags & MsgFlag.Unreliable) === 0) this.wake();
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
    if (this.slow && !sameDigest(digest, this.digests.get(src) ?? EMPTY_DIGEST)) this.wake();
    // A report is the reporter's own holdings; the minimum over every member (us included) is
    // stable, so a report can never make stable what we do not hold ourselves.
    this.setDigest(src, digest);
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

  /** Aggregated digests: a member's to us (the coordinator), or the coordinator's minimum. */
  private onAggregate(src: NodeId, kind: number, round: number, seqs: number[]): void {
    if (!this.aggregated || !this.memberSet.has(src) || src === this.ctx.localId) {
      this.guard.drop(src, 'aggregated digest from a non-member, or in a view that does not aggregate');
      return;
    }
    if (seqs.length !== this.members.length || seqs.some((v) => v > MAX_WIRE_INT + 1) || round > MAX_WIRE_INT) {
      this.guard.drop(src, 'aggregated digest of the wrong size, or out of range', { entries: seqs.length, round });
      return;
    }
    const coordinator = this.members[0]!;
    if (kind === AGG_UP || kind === AGG_UP_URGENT) {
      if (this.ctx.localId !== coordinator) {
        this.guard.drop(src, 'aggregated digest to a member that does not aggregate');
        return;
      }
      const d = this.digestOf(seqs);
      if (this.slow && !sameDigest(d, this.digests.get(src) ?? EMPTY_DIGEST)) this.wake();
      this.setDigest(src, d);
      this.aggDirty = true;
      // Settled, we resend no minimum: one that missed the latest gets it alone, at once. (Not while
      // minima still change: then reports crossing the next one are the rule, and it follows anyway.)
      if (this.settled && round < this.downRound && this.lastSent !== null) this.sendAggregate(src, AGG_DOWN, this.lastSent);
      // SAFE is waiting somewhere: answer within a fifth of an interval, not at our next tick.
      if (kind === AGG_UP_URGENT && this.aggSoon === null)
        this.aggSoon = this.env.setTimer(this.opts.gossipIntervalMs / 5, () => {
          this.aggSoon = null;
          this.gossip(true);
        });
      return;
    }
    if (kind !== AGG_DOWN || src !== coordinator) {
      this.guard.drop(src, 'aggregated minimum from a member that does not aggregate', { kind });
      return;
    }
    this.lastAggAt = this.env.now();
    if (round > this.downSeen) this.downSeen = round;
    // The coordinator's minimum, capped by what we hold ourselves.
    const own = this.digests.get(this.ctx.localId);
    const next: Digest = new Map();
    for (let i = 0; i < seqs.length; i++) {
      const sender = this.members[i]!;
      const v = Math.min(seqs[i]! === 0 ? 0 : seqs[i]! - 1, own?.get(sender) ?? 0);
      next.set(sender, v);
    }
    this.applyStable(next);
  }

  /** A digest from its index form (entries of 0 are absent). */
  private digestOf(seqs: readonly number[]): Digest {
    const d: Digest = new Map();
    for (let i = 0; i < seqs.length; i++) if (seqs[i]! > 0) d.set(this.members[i]!, seqs[i]! - 1);
    return d;
  }

  /** A digest in index form (seq + 1 per member of the view, 0 where absent). */
  private seqsOf(d: Digest): number[] {
    return this.members.map((m) => {
      const v = d.get(m);
      return v === undefined ? 0 : v + 1;
    });
  }

  /**
   * One aggregated round: a member sends its digest to the coordinator when it changed (or when
   * idle for idleEvery intervals, or SAFE waits); the coordinator multicasts the minimum likewise.
   */
  private aggregateRound(force: boolean, step: number): void {
    const own = this.digests.get(this.ctx.localId)!;
    const coordinator = this.members[0]!;
    const isCoordinator = coordinator === this.ctx.localId;
    if (isCoordinator) {
      const ownSeqs = this.seqsOf(own);
      if (!sameSeqs(ownSeqs, this.lastOwnSeqs)) this.aggDirty = true;
      this.lastOwnSeqs = ownSeqs;
      if (this.aggDirty) {
        this.recompute();
        this.settled = this.allHoldStable();
      }
      this.aggDirty = false;
    }
    const seqs = isCoordinator ? this.seqsOf(this.stable) : this.seqsOf(own);
    const same = sameSeqs(seqs, this.lastSent);
    if (step > 0) this.aggSame = same ? this.aggSame + step : 0;
    this.idleTicks += Math.max(step, 1);
    // Settled (every member's digest is the minimum): an unchanged minimum goes to nobody; a member
    // that missed it says so in its next digest (onAggregate answers it alone). A member that holds
    // nothing beyond the minimum it took resends nothing either: that minimum was computed from its
    // digest as it is, so the coordinator has it, and nothing waits on it (64 members' resends were
    // most of an idle coordinator's frames). One that holds more (it missed a minimum, or its new
    // digest was lost) goes on resending, backing off as before.
    const resendDue = this.idleTicks >= this.idleResendTicks() && (isCoordinator ? !this.settled : this.holdsUnstable(own));
    if (same && !force && !this.urgent && !resendDue) {
      // Nothing due yet (backing off): a quiet timer stays slow, the resends land on its ticks.
      if (step > 0) this.tickQuiet = this.aggSame >= this.opts.idleEvery;
      return;
    }
    // Slowing down right after an idle send keeps sending once per idleEvery intervals, as before.
    if (step > 0) this.tickQuiet = same && this.aggSame >= this.opts.idleEvery;
    this.idleResends = same && !force && !this.urgent ? this.idleResends + 1 : 0;
    this.idleTicks = 0;
    this.lastSent = seqs;
    if (isCoordinator && !same) this.downRound++;
    const kind = isCoordinator ? AGG_DOWN : this.urgent ? AGG_UP_URGENT : AGG_UP;
    this.urgent = false;
    this.sendAggregate(isCoordinator ? null : coordinator, kind, seqs);
  }

  /** An aggregated digest (ours, with the last minimum we took) or minimum (with its round): to `to`, or (null) the view. */
  private sendAggregate(to: NodeId | null, kind: number, seqs: number[]): void {
    const m = new Message(to, Buffer.alloc(0), to === null ? MsgFlag.Multicast | MsgFlag.Unreliable : MsgFlag.Unreliable);
    m.push(STABLE_AGG_HEADER, { view: this.viewId, kind, round: kind === AGG_DOWN ? this.downRound : this.downSeen, seqs });
    this.below.down(m);
  }

  /** Aggregator: whether every member's latest digest is the minimum (absent entries count as 0). */
  private allHoldStable(): boolean {
    const n = this.members.length;
    if (this.hasRow.includes(0)) return false;
    const stable = this.members.map((sender) => this.stable.get(sender) ?? 0);
    const seen = this.seen;
    for (let at = 0; at < n * n; at++) if (seen[at] !== stable[at % n]) return false;
    return true;
  }

  /**
   * Member of an aggregated view: no minimum for long while we hold what is not yet stable, counted
   * from the later of the last minimum and the moment we first held it (a settled group hears none).
   */
  private aggregatorSilent(own: Digest): boolean {
    const now = this.env.now();
    if (!this.holdsUnstable(own)) this.unstableSince = null;
    else this.unstableSince ??= now;
    return (
      this.unstableSince !== null &&
      now - Math.max(this.lastAggAt, this.unstableSince) > 2 * this.opts.idleEvery * this.opts.idleBackoff * this.opts.gossipIntervalMs
    );
  }

  /** Member: whether we hold messages not yet known stable (only then does a silent aggregator matter). */
  private holdsUnstable(own: Digest): boolean {
    for (const [sender, seq] of own) if (seq > (this.stable.get(sender) ?? 0)) return true;
    return false;
  }

  /** Intervals before an unchanged aggregated report goes out again: idleEvery, doubling per unchanged resend, up to idleEvery × idleBackoff. */
  private idleResendTicks(): number {
    return this.opts.idleEvery * Math.min(2 ** Math.min(this.idleResends, 30), this.opts.idleBackoff);
  }

  /**
   * `step`: how many intervals this timer tick stands for (1, or idleEvery while slow); 0 when not
   * from the timer (an idle group's timed gossip thins out; asked-for gossip never does).
   */
  private gossip(force = false, step = 0): void {
    this.bytesSinceGossip = 0;
    if (step > 0) this.tickQuiet = false;
    const q: DownEvent = { type: 'GET_DIGEST', digest: null };
    this.below.downEvent(q);
    if (!q.digest) return;
    this.setDigest(this.ctx.localId, q.digest);
    // Aggregated, unless the aggregator is silent while we wait on it (then all-to-all, as below).
    if (this.aggregated && (this.members[0] === this.ctx.localId || !this.aggregatorSilent(q.digest))) {
      this.aggregateRound(force, step);
      return;
    }
    if (step > 0 && this.idleSkip(q.digest, step)) {
      this.recompute();
      return;
    }
    const last = this.lastGossip;
    // Sent at an idle step (idle a multiple of idleEvery): slow ticks from here land on the same steps.
    if (step > 0) this.tickQuiet = last !== null && last.viewId === this.viewId && last.idle >= this.opts.idleEvery && last.idle % this.opts.idleEvery === 0;
    const m = new Message(null, Buffer.alloc(0), MsgFlag.Multicast | MsgFlag.Unreliable);
    m.push(STABLE_HEADER, { view: this.viewId, entries: [...q.digest] });
    this.below.down(m);
    this.recompute();
  }

  /**
   * An idle group's timer gossip: once our digest has stayed the same for idleEvery intervals, only
   * every idleEvery-th goes out (an idle 3-member group sent 40 of its 60 frames a second here).
   */
  private idleSkip(digest: Digest, step: number): boolean {
    const last = this.lastGossip;
    if (last === null || last.viewId !== this.viewId || !sameDigest(last.digest, digest)) {
      this.lastGossip = { viewId: this.viewId, digest: new Map(digest), idle: 0 };
      return false;
    }
    last.idle += step;
    return last.idle >= this.opts.idleEvery && last.idle % this.opts.idleEvery !== 0;
  }

  /** `member`'s latest digest, in both forms. */
  private setDigest(member: NodeId, d: Digest): void {
    this.digests.set(member, d);
    const row = this.index.get(member);
    if (row !== undefined) this.fillRow(row, d);
  }

  private fillRow(row: number, d: Digest): void {
    const n = this.members.length;
    const seen = this.seen;
    const base = row * n;
    seen.fill(0, base, base + n);
    for (const [sender, seq] of d) {
      const col = this.index.get(sender);
      if (col !== undefined) seen[base + col] = seq;
    }
    this.hasRow[row] = 1;
  }

  /** The matrix anew from the digests (the members or their order changed). */
  private rebuildSeen(): void {
    const n = this.members.length;
    this.seen = new Float64Array(n * n);
    this.hasRow = new Uint8Array(n);
    this.minimum = new Float64Array(n);
    for (const [member, d] of this.digests) {
      const row = this.index.get(member);
      if (row !== undefined) this.fillRow(row, d);
    }
  }

  private recompute(): void {
    const n = this.members.length;
    if (n === 0) return;
    const seen = this.seen;
    const min = this.minimum;
    // A member with no digest yet holds nothing as far as we know: nothing is stable.
    if (this.hasRow.includes(0)) min.fill(0);
    else {
      for (let col = 0; col < n; col++) {
        let m = seen[col]!;
        for (let at = n + col; at < n * n && m > 0; at += n) if (seen[at]! < m) m = seen[at]!;
        min[col] = m;
      }
    }
    let changed = false;
    for (let col = 0; col < n; col++) if ((this.stable.get(this.members[col]!) ?? 0) < min[col]!) changed = true;
    if (!changed) return;
    const next: Digest = new Map();
    for (let col = 0; col < n; col++) next.set(this.members[col]!, min[col]!);
    this.applyStable(next);
  }

  /** Report a new stability vector down and up if it moved forward. */
  private applyStable(next: Digest): void {
    let changed = false;
    for (const [s, v] of next) if ((this.stable.get(s) ?? 0) < v) changed = true;
    if (!changed) return;
    this.stable = next;
    this.below.downEvent({ type: 'STABLE', stable: next });
    this.above.upEvent({ type: 'STABLE', stable: next, viewId: this.viewId });
  }
}

const EMPTY_DIGEST: Digest = new Map();

function sameDigest(a: Digest, b: Digest): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

function sameSeqs(a: readonly number[], b: readonly number[] | null): boolean {
  return b !== null && a.length === b.length && a.every((v, i) => v === b[i]);
}

registerLayer({
  name: 'STABLE',
  provides: ['stability'],
  requires: ['digest'],
  options,
  create: (ctx, o) => new STABLE(ctx, o),
});
