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
import type { Counter } from '../core/metrics.js';
import { HeldAbove } from '../stack/held-above.js';

/** Most entries a vector timestamp may have: one per member, and no view is this large. */
export const MAX_VT_ENTRIES = 4096;

/**
 * The sender's causal dependencies that changed since its previous causal message, as flat
 * (member index, count) pairs: `[i0, n0, i1, n1, ...]`. Its own entry is implicit (one more than
 * its previous causal message's), and an entry that did not change is implied by that previous
 * message, which every member delivers first (FIFO from below). A message with no changed entry
 * (a sender streaming alone; under load, all but about one in 2,000) carries no header but the wire
 * flag MsgFlag.Causal.
 */
type CausalHeader = readonly number[];

/** No dependency changed: shared, never written. Such a message is sent flagged MsgFlag.Causal, without the header. */
const NO_DEPS: CausalHeader = Object.freeze([]);

export const CAUSAL_HEADER = defineHeader<CausalHeader>(
  HeaderIds.CAUSAL,
  'CAUSAL',
  (w, deps) => {
    const pairs = deps.length >> 1;
    w.uvar(pairs);
    for (let i = 0; i < pairs * 2; i++) w.uvar(deps[i]!);
  },
  (r) => {
    const pairs = r.uvar();
    if (pairs > MAX_VT_ENTRIES) throw new ProtocolError('ERR_MALFORMED', `CAUSAL header with ${pairs} entries`);
    if (pairs === 0) return NO_DEPS;
    const deps = new Array<number>(pairs * 2);
    for (let i = 0; i < pairs * 2; i++) deps[i] = r.uvar();
    return deps;
  },
);

const options = z.object({
  /**
   * Bytes held per sender while waiting for what they depend on; more are dropped. A cap for
   * hostile senders: with FC below, a benign one is blocked by its window long before (HELD_ABOVE).
   */
  maxHeldBytesPerSender: z
    .number()
    .int()
    .positive()
    .default(32 * 1024 * 1024),
  /**
   * While a sender's messages wait here, ask the transport to read no more from it
   * (Transport.holdReads): the connections that carry what they wait for are read first, and the
   * rest of that sender's traffic waits in its socket instead of here. False: read every sender as
   * its frames come (a sender's whole window may then wait here behind another's).
   */
  holdReads: z.boolean().default(true),
});
export type CausalOptions = z.infer<typeof options>;

/** What a held message costs: its payload and its dependencies. */
const heldCost = (msg: Message, deps: readonly number[]): number => msg.payload.length + 8 * deps.length + 64;

/**
 * Causal delivery (cbcast) with compressed vector timestamps. The vector has one entry per current
 * member, indexed by seniority, reset at every view change (the flush has delivered everything of
 * the old view by then, so old entries carry no information). A message carries only the entries
 * that changed since its sender's previous causal message: the rest are implied by that message,
 * which arrives and is delivered first, so checking the changed entries is enough.
 *
 * Total-order messages pass by untouched (no header, not counted): causality among abcasts is the
 * TOTAL layer's own (as in Isis, cbcasts and abcasts are two classes not ordered against each
 * other). A member delivers an abcast only once the sequencer has ordered it, so whatever it sends
 * next reaches the sequencer after that order; at a view's end TOTAL keeps the unordered rest causal
 * and drops the orphans itself (each abcast says how much of the order its sender had delivered). Counting abcasts here made every concurrent abcast carry new dependencies
 * (an array per message each way) and wait here for other senders' abcasts, delaying the sequencer.
 */
export class CAUSAL extends ViewAwareLayer {
  readonly name = 'CAUSAL';
  private members: readonly NodeId[] = [];
  private indexOf = new Map<NodeId, number>();
  /** The last sender looked up and its index: a frame's messages mostly come from one sender. */
  private lastSrc: NodeId | null = null;
  private lastFrom = -1;
  private viewId = -1;
  private me = -1;
  /** Per member: its causal messages we delivered (ours: sent). */
  private vt: number[] = [];
  /**
   * Entries (other members) that grew since our last causal message, in the order they first did,
   * and a flag per entry: a send writes these, not a scan of the whole vector (O(changed), not O(n)).
   */
  private dirty: number[] = [];
  private isDirty = new Uint8Array(0);
  /**
   * Per member index, its messages that wait, in arrival (= that sender's FIFO) order, each with our
   * header still on top (it holds the dependencies): only each queue's head can be next.
   */
  private held: (FifoQueue<Message> | undefined)[] = [];
  /** Member indexes whose queue is not empty. */
  private holding: number[] = [];
  /**
   * Per member index k: the least count of k's messages that some queue head waits for (Infinity:
   * none). A delivery from k can free a head only once k's count reaches it; before, nothing is
   * checked (a drain after every delivery was 1.4% of a 5-member cbcast run's CPU).
   */
  private minNeed = new Float64Array(0);
  private heldCount = 0;
  /** Per member index: bytes held. */
  private heldBytes: number[] = [];
  /** Per member index: 1 while the transport was asked to read no more from it (its messages wait here; see holdReads). */
  private readsHeld = new Uint8Array(0);
  private readsHeldCount = 0;
  /** What flow control is told we hold (HELD_ABOVE): beyond its allowance, credit for a held message waits for its delivery. */
  private readonly heldAbove = new HeldAbove('CAUSAL', (ev) => this.below.downEvent(ev));
  private readonly guard: InputGuard;
  private readonly mHeld: Counter;

  constructor(
    ctx: LayerContext,
    private readonly opts: CausalOptions,
  ) {
    super(ctx);
    this.guard = new InputGuard(ctx, 'CAUSAL');
    this.mHeld = ctx.metrics.counter('horus_causal_held_total', 'causal messages that arrived before something they depend on, and waited');
  }

  override down(msg: Message): void {
    if (msg.order === OrderCode.Causal && msg.dest === null && this.me >= 0) {
      const vt = this.vt;
      vt[this.me]!++;
      const dirty = this.dirty;
      const changed = dirty.length;
      if (changed === 0) msg.flags |= MsgFlag.Causal;
      else {
        const deps = new Array<number>(changed * 2);
        const isDirty = this.isDirty;
        for (let j = 0; j < changed; j++) {
          const k = dirty[j]!;
          deps[2 * j] = k;
          deps[2 * j + 1] = vt[k]!;
          isDirty[k] = 0;
        }
        dirty.length = 0;
        msg.push(CAUSAL_HEADER, deps);
      }
    }
    this.below.down(msg);
  }

  /**
   * A frame's messages, in one pass, compacted in place and passed up in one call. A message that is
   * not causal, or is ours, goes up. A causal one goes up if its sender has nothing waiting here and
   * what it names is delivered; else it waits in its sender's queue (see accept). A frame's messages
   * come from one sender and nearly all name nothing (flagged): such a run raises its sender's entry
   * once, at its end. A delivery that makes waiting messages ready is followed by them, as one by one
   * (see acceptRest): the batch goes up as handling each message in turn would have.
   */
  override upBatch(batch: Message[]): void {
    if (this.gatheringUp) {
      this.eachUp(batch);
      return;
    }
    const me = this.me;
    let n = 0;
    // The run of flagged messages from one other member being counted, and the run's length at which
    // its entry reaches what a waiting queue head needs (Infinity: none waits on it).
    let runFrom = -1;
    let run = 0;
    let runLimit = Infinity;
    for (let i = 0; i < batch.length; i++) {
      const msg = batch[i]!;
      const top = msg.htop;
      const flags = msg.flags;
      // A sender sends a message that names nothing flagged, without a header; an empty header means the same.
      const tagged = top > 0 && msg.htypes[top - 1] === CAUSAL_HEADER;
      let deps: CausalHeader;
      if (tagged) deps = msg.hvalues[top - 1] as CausalHeader;
      else if (flags & MsgFlag.Causal) deps = NO_DEPS;
      else {
        batch[n++] = msg; // not causal
        continue;
      }
      const from = (flags & (MsgFlag.Multicast | MsgFlag.Unreliable)) === MsgFlag.Multicast ? this.senderIndex(msg.src) : -1;
      if (from < 0) {
        this.refuse(msg);
        continue;
      }
      if (from === me) {
        if (tagged) msg.dropTop();
        batch[n++] = msg; // our own: counted when sent
        continue;
      }
      if (deps.length === 0 && from === runFrom) {
        // The run goes on: ready, since FIFO below delivered its sender's earlier messages first.
        if (tagged) msg.dropTop();
        batch[n++] = msg;
        if (++run < runLimit) continue;
        this.bumpBy(runFrom, run);
        this.acceptRest(batch, i + 1, n);
        return;
      }
      if (run > 0) {
        this.bumpBy(runFrom, run);
        run = 0;
        runFrom = -1;
      }
      if (deps.length > 0 && !this.validDeps(from, deps, msg.src)) continue; // dropped
      const q = this.held[from];
      if ((q !== undefined && q.length > 0) || (deps.length > 0 && !this.ready(deps))) {
        this.hold(msg, from, deps, q);
        continue;
      }
      if (tagged) msg.dropTop();
      batch[n++] = msg;
      if (deps.length === 0) {
        // A run starts.
        runFrom = from;
        run = 1;
        runLimit = this.heldCount > 0 ? this.minNeed[from]! - this.vt[from]! : Infinity;
        if (run < runLimit) continue;
        this.bumpBy(from, run);
      } else if (!this.bumpBy(from, 1)) continue;
      // This delivery makes waiting messages ready: they follow it.
      this.acceptRest(batch, i + 1, n);
      return;
    }
    if (run > 0) this.bumpBy(runFrom, run);
    batch.length = n;
    this.heldChanged();
    if (n > 0) this.above.upBatch(batch);
  }

  /**
   * The first `gathered` of the batch are delivered and the last of them may have made waiting
   * messages ready: those follow, then `batch[start..]` one by one (accept), and all goes up as one batch.
   */
  private acceptRest(batch: Message[], start: number, gathered: number): void {
    const out = batch.slice(0, gathered);
    this.drain(out);
    for (let i = start; i < batch.length; i++) this.accept(batch[i]!, out);
    this.heldChanged();
    if (out.length > 0) this.above.upBatch(out);
  }

  /**
   * Once per frame: tells flow control what waits here (a sender whose messages wait on another's is
   * then blocked by its window long before its queue nears maxHeldBytesPerSender, where they would be
   * dropped), and asks the transport to read no more from it.
   */
  private heldChanged(): void {
    this.heldAbove.tell(this.members);
    this.holdReads();
  }

  override up(msg: Message): void {
    this.accept(msg, null);
    this.heldChanged();
  }

  override stop(): void {
    this.releaseReads();
  }

  /** Asks the transport to read no more from the senders whose messages wait here, and again from those whose no longer do. */
  private holdReads(): void {
    if (this.heldCount === 0 && this.readsHeldCount === 0) return;
    const transport = this.ctx.env.transport;
    if (!this.opts.holdReads || transport.holdReads === undefined) return;
    const held = this.held;
    const readsHeld = this.readsHeld;
    for (let k = 0; k < readsHeld.length; k++) {
      const want = held[k] !== undefined && held[k]!.length > 0 ? 1 : 0;
      if (want === readsHeld[k]) continue;
      readsHeld[k] = want;
      this.readsHeldCount += want === 1 ? 1 : -1;
      transport.holdReads(this.members[k]!, this, want === 1);
    }
  }

  /** Withdraws every request to read no more (a view change, or the stack's end). */
  private releaseReads(): void {
    if (this.readsHeldCount === 0) return;
    const transport = this.ctx.env.transport;
    for (let k = 0; k < this.readsHeld.length; k++) {
      if (this.readsHeld[k] === 1) transport.holdReads?.(this.members[k]!, this, false);
    }
    this.readsHeld.fill(0);
    this.readsHeldCount = 0;
  }

  /**
   * One message from below: delivered (into `out`, or up at once when `out` is null) if it is not
   * causal, is ours, or its sender has nothing held and its dependencies are delivered; else held.
   * A delivery may make held messages ready: they follow it.
   */
  private accept(msg: Message, out: Message[] | null): void {
    const deps = this.depsOf(msg);
    if (deps === undefined) {
      this.pass(msg, out);
      return;
    }
    const from = msg.isMulticast && !(msg.flags & MsgFlag.Unreliable) ? this.senderIndex(msg.src) : -1;
    if (from < 0) {
      this.refuse(msg);
      return;
    }
    if (from === this.me) {
      this.untag(msg);
      this.pass(msg, out); // our own: counted when sent
      return;
    }
    if (!this.validDeps(from, deps, msg.src)) return;
    const q = this.held[from];
    if ((q === undefined || q.length === 0) && this.ready(deps)) {
      this.untag(msg);
      const freed = this.bumpBy(from, 1);
      this.pass(msg, out);
      if (freed) this.drain(out);
      return;
    }
    this.hold(msg, from, deps, q);
  }

  /** Drops a causal message that is not a reliable multicast from a member, saying which. */
  private refuse(msg: Message): void {
    if (!msg.isMulticast || msg.flags & MsgFlag.Unreliable) this.guard.drop(msg.src, 'causal header on a message that is not a reliable multicast');
    else this.guard.drop(msg.src, 'causal message from a non-member');
  }

  /** Keeps a message of member `from` (`q`: its queue) until what it names, and its sender's earlier ones, are delivered; dropped over the cap. */
  private hold(msg: Message, from: number, deps: CausalHeader, q: FifoQueue<Message> | undefined): void {
    const bytes = heldCost(msg, deps);
    if ((this.heldBytes[from] ?? 0) + bytes > this.opts.maxHeldBytesPerSender) {
      this.guard.drop(msg.src, 'over the cap for messages waiting on causal dependencies', { held: this.heldBytes[from] });
      return;
    }
    this.heldBytes[from] = (this.heldBytes[from] ?? 0) + bytes;
    this.heldAbove.hold(from, msg.payload.length);
    if (q === undefined) this.held[from] = FifoQueue.of(msg);
    else q.push(msg);
    if (q === undefined || q.length === 1) {
      // A new head: it waits for its first entry not yet delivered.
      this.holding.push(from);
      this.noteWait(deps);
    }
    this.heldCount++;
    this.mHeld.inc();
  }

  /** A message's dependencies: its header's (on top), none for one flagged causal, undefined for one that is not causal. */
  private depsOf(msg: Message): CausalHeader | undefined {
    return msg.peek(CAUSAL_HEADER) ?? (msg.flags & MsgFlag.Causal ? NO_DEPS : undefined);
  }

  /** Takes our header off the top, if the message has one (a flagged one has none). */
  private untag(msg: Message): void {
    if (msg.peek(CAUSAL_HEADER) !== undefined) msg.dropTop();
  }

  /** The member index of `src` in this view, -1 if it is none. */
  private senderIndex(src: NodeId): number {
    if (src !== this.lastSrc) {
      this.lastSrc = src;
      this.lastFrom = this.indexOf.get(src) ?? -1;
    }
    return this.lastFrom;
  }

  private pass(msg: Message, out: Message[] | null): void {
    if (out === null) this.above.up(msg);
    else out.push(msg);
  }

  /**
   * Every entry names another member of this view, once, with a count within a u32 (the sender's
   * own entry is implicit): dependencies that break this are forged or broken, and would only wait.
   */
  private validDeps(from: number, deps: readonly number[], src: NodeId): boolean {
    const n = this.members.length;
    if (deps.length > 2 * (n - 1)) {
      this.guard.drop(src, 'more causal entries than the view has other members', { entries: deps.length >> 1 });
      return false;
    }
    for (let i = 0; i < deps.length; i += 2) {
      const k = deps[i]!;
      const v = deps[i + 1]!;
      if (k >= n || k === from || v > MAX_WIRE_INT) {
        this.guard.drop(src, 'causal entry for a non-member, for the sender itself, or out of range', { index: k, count: v });
        return false;
      }
      for (let j = 0; j < i; j += 2) {
        if (deps[j] === k) {
          this.guard.drop(src, 'causal entry repeated', { index: k });
          return false;
        }
      }
    }
    return true;
  }

  /** The sender's earlier messages are delivered (it is its queue's head): the changed entries decide. */
  private ready(deps: readonly number[]): boolean {
    const vt = this.vt;
    for (let i = 0; i < deps.length; i += 2) if (deps[i + 1]! > vt[deps[i]!]!) return false;
    return true;
  }

  /** `count` more causal messages of member `from` delivered. True if that reaches what a waiting queue head needs. */
  private bumpBy(from: number, count: number): boolean {
    const v = (this.vt[from]! += count);
    if (from !== this.me && this.isDirty[from] === 0) {
      this.isDirty[from] = 1;
      this.dirty.push(from);
    }
    return this.heldCount > 0 && v >= this.minNeed[from]!;
  }

  /** Records what a queue head with these dependencies waits for (see minNeed). */
  private noteWait(deps: readonly number[]): void {
    const vt = this.vt;
    for (let i = 0; i < deps.length; i += 2) {
      const k = deps[i]!;
      const need = deps[i + 1]!;
      if (need > vt[k]!) {
        if (need < this.minNeed[k]!) this.minNeed[k] = need;
        return;
      }
    }
  }

  /** Deliver queue heads that became ready, until none is; then note what the remaining heads wait for. */
  private drain(out: Message[] | null): void {
    let progress = true;
    while (progress && this.heldCount > 0) {
      progress = false;
      const holding = this.holding;
      for (let j = 0; j < holding.length; j++) {
        const from = holding[j]!;
        const q = this.held[from]!;
        let m: Message | undefined;
        while ((m = q.peek()) !== undefined) {
          const deps = this.depsOf(m)!;
          if (!this.ready(deps)) break;
          q.shift();
          this.heldCount--;
          this.heldBytes[from] = (this.heldBytes[from] ?? 0) - heldCost(m, deps);
          this.heldAbove.release(from, m.payload.length);
          this.untag(m);
          this.bumpBy(from, 1);
          this.pass(m, out);
          progress = true;
        }
        // Emptied (here, or by a drain this one's delivery re-entered): no longer holding.
        if (q.length === 0 && holding[j] === from) {
          holding[j] = holding[holding.length - 1]!;
          holding.pop();
          j--;
        }
      }
    }
    this.minNeed.fill(Infinity);
    for (const from of this.holding) this.noteWait(this.depsOf(this.held[from]!.peek()!)!);
  }

  protected newView(v: View): void {
    if (v.id === this.viewId) return;
    // Whatever is still held waits for a message no survivor has (the flush delivered the same set
    // everywhere), so every survivor drops the same ones.
    if (this.heldCount > 0) this.log.debug('dropping causally orphaned messages at view change', { count: this.heldCount });
    this.releaseReads();
    this.held = [];
    this.holding = [];
    this.heldCount = 0;
    this.heldBytes = [];
    this.heldAbove.reset(v.members.length);
    this.viewId = v.id;
    this.members = v.members;
    this.indexOf = new Map(v.members.map((m, i) => [m, i]));
    this.lastSrc = null;
    this.lastFrom = -1;
    this.minNeed = new Float64Array(v.members.length).fill(Infinity);
    this.me = v.members.indexOf(this.ctx.localId);
    this.vt = new Array<number>(v.members.length).fill(0);
    this.dirty = [];
    this.isDirty = new Uint8Array(v.members.length);
    this.readsHeld = new Uint8Array(v.members.length);
  }
}

registerLayer({
  name: 'CAUSAL',
  provides: ['causal'],
  requires: ['reliable'],
  options,
  create: (ctx, o) => new CAUSAL(ctx, o),
});
