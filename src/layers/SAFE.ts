import { z } from 'zod';
import type { Timer } from '../core/env.js';
import type { Digest, DownEvent, UpEvent } from '../core/events.js';
import { Message, MsgFlag } from '../core/message.js';
import type { NodeId } from '../core/node-id.js';
import type { View } from '../core/view.js';
import { ProtocolError } from '../core/errors.js';
import { InputGuard, MAX_WIRE_INT } from '../core/input-guard.js';
import { defineHeader, HeaderIds } from '../codec/header-registry.js';
import { Layer, type LayerContext, type LayerLink } from '../stack/layer.js';
import { registerLayer } from '../stack/registry.js';
import { TaggedRing } from '../core/tagged-ring.js';
import { HeldAbove } from '../stack/held-above.js';
import type { Counter } from '../core/metrics.js';
import { PROBE_ASK, PROBE_TELL, SAFE_PROBE_HEADER, type SafeProbe } from './safe/probe-header.js';
import { SentProbes } from './safe/sent-probes.js';

/** Most dependencies a safe message may name: one per member of its view, and no view is this large. */
export const MAX_SAFE_DEPS = 4096;

const NO_DEPS: readonly number[] = [];

/**
 * What a safe message's sender had received of other members' messages when it sent it and did not
 * know to be stable yet, flat (member, sequence number) pairs of the view it is sent in, each member
 * by its place in that view's member list (both ends are in that view: see SAFE.enter). Flat and by
 * place: a safe abcast's header named members by id first, and its strings cost 60% more CPU per
 * delivery (bench/micro/stack-cpu.ts --safe).
 */
export type SafeDeps = readonly number[];

/** This message is to be delivered only once every member holds it, and what it depends on (see SAFE). */
export const SAFE_HEADER = defineHeader<SafeDeps>(
  HeaderIds.SAFE,
  'SAFE',
  (w, deps) => {
    w.uvar(deps.length >> 1);
    for (let i = 0; i + 1 < deps.length; i += 2) {
      w.uvar(deps[i]!);
      w.uvar(deps[i + 1]!);
    }
  },
  (r) => {
    const n = r.uvar();
    if (n > MAX_SAFE_DEPS) throw new ProtocolError('ERR_MALFORMED', `SAFE header with ${n} dependencies`);
    if (n === 0) return NO_DEPS;
    const deps = new Array<number>(2 * n);
    for (let i = 0; i < 2 * n; i++) {
      const v = r.uvar();
      if (v > MAX_WIRE_INT) throw new ProtocolError('ERR_MALFORMED', 'SAFE dependency out of range');
      deps[i] = v;
    }
    return deps;
  },
);

const options = z.object({
  /**
   * A safe message held this long by a dependency on a member's message we have not received asks
   * that member how far it has sent (and asks again at this interval while unanswered): a
   * dependency above its answer is forged and no longer waited for. 0: never ask (a forged
   * dependency then holds safe delivery until the next view change).
   */
  probeAfterMs: z.number().min(0).default(50),
});
export type SafeOptions = z.infer<typeof options>;

/**
 * Safe (uniform) delivery: a message sent with `{ safe: true }` is held at every member until
 * STABLE reports that every member of the view holds it, and holds what it depends on: whatever its
 * sender had received from other members when it sent it (its header names what of that the sender
 * did not know to be stable). While one is held, everything that arrives after it waits behind it,
 * so holding never reorders deliveries (causal order above stays intact). At a view change the flush
 * has given every survivor the same messages, so what is still held is held by all of them and is
 * delivered before the view.
 *
 * Why the dependencies: a member that delivers a safe message and then fails must not have
 * delivered what the survivors drop. CAUSAL drops a message whose causal past no survivor holds, and
 * TOTAL one that depends on more of the order than the survivors have; a safe cbcast or abcast held
 * by everyone, whose past only members that failed held, was delivered by one of those and dropped
 * by the survivors. Once its sender's past is stable too, every survivor's flush answer holds it, so
 * the cut gives it to every survivor and nothing of it is dropped.
 *
 * A member speaks only for itself: a dependency names another member's progress, so a member with
 * valid keys could name one that never comes (a number its member never sent) and hold every
 * member's safe delivery, its own message and all behind it, until the next view change. So a
 * dependency is believed only as far as the member it names says it has sent: when a safe message
 * has waited `probeAfterMs` on a dependency we have not received, we ask that member (SentProbes
 * says why an answer to a question asked after the message arrived bounds every honest dependency),
 * and what lies above its answer is forged: counted, logged with the sender, and not waited for.
 * What lies below it is real, in flight or being fetched, and is waited for as before. A
 * dependency on the sender itself is never honest (its own number covers its own past): ignored.
 */
export class SAFE extends Layer {
  readonly name = 'SAFE';
  /**
   * In arrival order, tagged 1 for a safe message, 2 for a safe message with dependencies (in
   * `heldDeps`, in the same order), 0 for a plain one queued behind a safe one (a ring: no record per message).
   */
  private held = new TaggedRing<Message>();
  /** Tagged with their arrival number (1, 2, ... per layer): what a probe's answer covers. */
  private heldDeps = new TaggedRing<SafeDeps>();
  /**
   * What flow control is told is held here (HELD_ABOVE): beyond FC's allowance, credit for a
   * message waits for its delivery, so while stability is slow to come (a member's connection
   * congested, say) `held` stays within that allowance and a window per sender.
   */
  private readonly heldAbove = new HeldAbove('SAFE', (ev) => this.below.downEvent(ev));
  private arrivals = 0;
  private probes = new SentProbes();
  private probeTimer: Timer | null = null;
  private stopped = false;
  /** The members of the view we deliver in, and each one's place in it (dependencies name members by place). */
  private members: readonly NodeId[] = [];
  private placeOf = new Map<NodeId, number>();
  /**
   * What unstablePast last found, until a message passes up through us or stability moves: nothing
   * else reaches the layers above, so a burst of safe sends asks the layers below once.
   */
  private past: SafeDeps | null = null;
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
  private readonly mForged: Counter;
  private readonly guard: InputGuard;

  constructor(
    ctx: LayerContext,
    private readonly opts: SafeOptions,
  ) {
    super(ctx);
    this.mHeld = ctx.metrics.counter('horus_safe_held_total', 'safe messages held until stable');
    this.mForged = ctx.metrics.counter(
      'horus_safe_forged_dependencies_total',
      "safe messages' dependencies not waited for: above what the member named says it sent, or on the sender itself",
    );
    this.guard = new InputGuard(ctx, 'SAFE');
  }

  override stop(): void {
    this.stopped = true;
    this.probeTimer?.cancel();
    this.probeTimer = null;
  }

  override down(msg: Message): void {
    if (msg.safe && msg.dest === null) msg.push(SAFE_HEADER, this.unstablePast());
    this.below.down(msg);
  }

  /** What we have received from other members and do not know to be stable: a safe message we send now depends on it. */
  private unstablePast(): SafeDeps {
    if (this.past !== null) return this.past;
    const q: DownEvent = { type: 'GET_DIGEST', digest: null };
    this.below.downEvent(q);
    if (q.digest === null) return NO_DEPS;
    let deps: number[] | null = null;
    for (const [member, seq] of q.digest) {
      if (member === this.ctx.localId || seq <= (this.stable.get(member) ?? 0)) continue;
      const place = this.placeOf.get(member);
      if (place !== undefined) (deps ??= []).push(place, seq);
    }
    this.past = deps ?? NO_DEPS;
    return this.past;
  }

  /** Queue a message behind what is held: a safe one with its dependencies (places past our view's end are ignored). */
  private hold(msg: Message, deps: SafeDeps | undefined): void {
    if (deps === undefined) {
      this.held.push(msg, 0);
      this.countHeld(msg, 1);
      return;
    }
    // Only a reliable multicast of a member of our view ever becomes stable: anything else under our
    // header (a stranger's forged frame put it above NAK's, where NAK lets unsequenced messages by)
    // would be held forever, and every message behind it.
    if (!msg.isMulticast || (msg.flags & MsgFlag.Unreliable) !== 0 || !this.placeOf.has(msg.src)) {
      this.guard.drop(msg.src, 'safe message that can never be stable (unicast, unreliable, or from a non-member)');
      return;
    }
    this.mHeld.inc();
    if (deps.length === 0) this.held.push(msg, 1);
    else {
      this.held.push(msg, 2);
      this.heldDeps.push(deps, ++this.arrivals);
    }
    this.countHeld(msg, 1);
  }

  /** A message joins (+1) or leaves (-1) `held`: counted for flow control if flow control counts it (a member's reliable multicast). */
  private countHeld(msg: Message, sign: 1 | -1): void {
    if (!msg.isMulticast || msg.flags & MsgFlag.Unreliable) return;
    const place = this.placeOf.get(msg.src);
    if (place === undefined) return;
    if (sign > 0) this.heldAbove.hold(place, msg.payload.length);
    else this.heldAbove.release(place, msg.payload.length);
  }

  override up(msg: Message): void {
    this.past = null;
    const probe = msg.pop(SAFE_PROBE_HEADER);
    if (probe !== undefined) {
      this.onProbe(msg, probe);
      return;
    }
    const deps = msg.pop(SAFE_HEADER);
    if (deps === undefined && this.held.length === 0) {
      this.above.up(msg);
      return;
    }
    this.hold(msg, deps);
    this.release();
    this.heldAbove.tell(this.members);
    if (this.held.length > 0) this.below.downEvent({ type: 'STABILIZE' });
  }

  /**
   * A frame's messages: plain ones with nothing held pass on in place, and one request for
   * stability covers the whole batch (not one per safe message).
   */
  override upBatch(batch: Message[]): void {
    this.past = null;
    let n = 0;
    let i = 0;
    for (; i < batch.length; i++) {
      const msg = batch[i]!;
      if (this.held.length > 0 || msg.peek(SAFE_HEADER) !== undefined || msg.peek(SAFE_PROBE_HEADER) !== undefined) break;
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
        const probe = msg.pop(SAFE_PROBE_HEADER);
        if (probe !== undefined) {
          this.onProbe(msg, probe);
          continue;
        }
        const deps = msg.pop(SAFE_HEADER);
        if (deps === undefined && this.held.length === 0) {
          out.push(msg);
          continue;
        }
        this.hold(msg, deps);
        this.release();
      }
    } finally {
      this.above = real;
    }
    this.heldAbove.tell(this.members);
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
      const tag = held.peekTag();
      if (tag !== 0) {
        if (m.src !== src) {
          src = m.src;
          stable = this.stable.get(src) ?? 0;
        }
        if (m.seq > stable) return;
        if (tag === 2) {
          const deps = this.heldDeps.peek()!;
          const arrival = this.heldDeps.peekTag();
          let forged = 0;
          for (let i = 0; i + 1 < deps.length; i += 2) {
            const member = this.members[deps[i]!];
            let seq = deps[i + 1]!;
            if (member === undefined || seq <= (this.stable.get(member) ?? 0)) continue;
            if (member === m.src) {
              forged++;
              continue;
            }
            const bound = this.probes.boundOf(deps[i]!, arrival);
            if (seq > bound) {
              forged++;
              seq = bound;
            }
            if (seq > (this.stable.get(member) ?? 0)) {
              // Bounded by an answer already: what it waits on exists, and stability will come.
              if (bound === Infinity) this.awaitProbe();
              return;
            }
          }
          if (forged > 0) {
            this.mForged.inc(forged);
            this.guard.drop(m.src, 'safe dependency above what the member named says it sent, or on the sender itself', { forged });
          }
          this.heldDeps.shift();
        }
      }
      held.shift();
      this.countHeld(m, -1);
      this.above.up(m);
    }
  }

  /** The held head waits on a dependency: in probeAfterMs, ask the members it names that we have not heard from. */
  private awaitProbe(): void {
    if (this.probeTimer !== null || this.opts.probeAfterMs === 0 || this.stopped) return;
    this.probeTimer = this.env.setTimer(this.opts.probeAfterMs, this.onProbeTimer);
  }

  /**
   * The held head still waits on dependencies: ask each member it names beyond what we have
   * received of it and beyond any answer that covers it (one whose answer covers it and lies above
   * the dependency is in flight or being fetched: waited for, not asked again). Each question
   * covers every message that has arrived so far.
   */
  private readonly onProbeTimer = (): void => {
    this.probeTimer = null;
    // The layers below are in a later view (a joiner's state still on its way): their numbers are not this view's.
    if (this.held.peekTag() !== 2 || this.ahead !== null) return;
    const m = this.held.peek()!;
    const deps = this.heldDeps.peek()!;
    const arrival = this.heldDeps.peekTag();
    let received: Digest | null = null;
    let asked = false;
    let own = false;
    for (let i = 0; i + 1 < deps.length; i += 2) {
      const place = deps[i]!;
      const member = this.members[place];
      const seq = deps[i + 1]!;
      if (member === undefined || member === m.src || seq <= (this.stable.get(member) ?? 0)) continue;
      if (this.probes.boundOf(place, arrival) !== Infinity) continue;
      if (received === null) {
        const q: DownEvent = { type: 'GET_DIGEST', digest: null };
        this.below.downEvent(q);
        received = q.digest ?? new Map();
      }
      // Held here already (or, ours, sent): it exists, and stability will come.
      const have = received.get(member) ?? 0;
      if (seq <= have) continue;
      if (member === this.ctx.localId) {
        // Our own stream: we are the member to ask, and we answer now (after the message arrived).
        this.probes.know(place, have, this.arrivals);
        own = true;
        continue;
      }
      const ask = new Message(member, Buffer.alloc(0), MsgFlag.Unreliable);
      ask.push(SAFE_PROBE_HEADER, { t: PROBE_ASK, view: this.view, nonce: this.probes.question(place, arrival, this.arrivals) });
      this.below.down(ask);
      asked = true;
    }
    if (own) {
      this.release();
      this.heldAbove.tell(this.members);
    }
    if (asked) this.awaitProbe();
  };

  /** A member asks how far we have sent, or answers our question. */
  private onProbe(msg: Message, p: SafeProbe): void {
    // Another view's: its numbers are not this view's (a member a view ahead of or behind us, who
    // may not be in ours: not an offence).
    if (p.view !== this.view) return;
    const src = msg.src;
    const place = this.placeOf.get(src);
    if (place === undefined || src === this.ctx.localId) {
      this.guard.drop(src, 'SAFE probe from a non-member');
      return;
    }
    if (p.t === PROBE_ASK) {
      // The layers below are in a later view already (a joiner): our digest is not this view's.
      if (this.ahead !== null) return;
      const q: DownEvent = { type: 'GET_DIGEST', digest: null };
      this.below.downEvent(q);
      if (q.digest === null) return;
      const tell = new Message(src, Buffer.alloc(0), MsgFlag.Unreliable);
      tell.push(SAFE_PROBE_HEADER, { t: PROBE_TELL, view: this.view, nonce: p.nonce, sent: q.digest.get(this.ctx.localId) ?? 0 });
      this.below.down(tell);
      return;
    }
    if (!this.probes.answer(place, p.nonce, p.sent)) {
      // A late answer to a question we gave up on is no offence; one to no question is.
      if (!this.probes.wasAsked(p.nonce)) this.guard.drop(src, 'SAFE probe answer to no question', { nonce: p.nonce });
      return;
    }
    this.release();
  }

  override upEvent(ev: UpEvent): void {
    this.past = null;
    if (ev.type === 'STABLE') {
      // Sequence numbers restart with each view: another view's stability says nothing of this one's messages.
      if (ev.viewId === this.view) {
        this.stable = ev.stable;
        this.release();
        this.heldAbove.tell(this.members);
      } else if (ev.viewId > this.view) {
        this.ahead = { view: ev.viewId, stable: ev.stable };
      }
    } else if (ev.type === 'VIEW') {
      // Every survivor holds what is still here (the flush saw to it): deliver it in this view.
      const rest = this.held;
      this.held = new TaggedRing();
      this.heldDeps = new TaggedRing();
      rest.forEach((msg) => this.above.up(msg));
      this.enter(ev.view);
    }
    this.above.upEvent(ev);
  }

  override downEvent(ev: DownEvent): void {
    // A fixed membership (no GMS) names its one view on the way down.
    if (ev.type === 'VIEW') this.enter(ev.view);
    // A layer above telling flow control what it holds (once per frame) changes nothing we hold or
    // know of stability: forgetting `past` for it made every safe send ask the layers below again.
    if (ev.type !== 'HELD_ABOVE') this.past = null;
    this.below.downEvent(ev);
  }

  /**
   * Deliver in view `v` from now on, with its stability if it was reported already. A safe message's
   * sender sends it in the view SAFE is in (GMS hands a view down and up in one go, the application
   * blocked meanwhile), and each receiver handles it in that view (GMS holds a view's messages until
   * the view went up): a dependency's place names the same member at both ends.
   */
  private enter(v: View): void {
    const id = v.id;
    this.view = id;
    this.members = v.members;
    this.placeOf = new Map(v.members.map((m, i) => [m, i]));
    this.probes.clear();
    this.heldAbove.reset(v.members.length);
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
