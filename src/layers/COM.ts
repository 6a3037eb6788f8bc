import { z } from 'zod';
import { ProtocolError } from '../core/errors.js';
import type { DownEvent } from '../core/events.js';
import { InputGuard } from '../core/input-guard.js';
import { MsgFlag, type Message } from '../core/message.js';
import type { NodeId } from '../core/node-id.js';
import { membershipSeq, nodeOfMember, rejoinMemberId } from '../core/member-id.js';
import { endpointOf } from '../core/node-id.js';
import type { View } from '../core/view.js';
import { FrameBuilder, frameOverheadBytes, readFrameMembership } from '../codec/frame.js';
import { type FrameBytes, headOf, messageRoomOf, readMessagesOf } from '../codec/pieced-frame.js';
import { Layer, type LayerContext } from '../stack/layer.js';
import { registerLayer } from '../stack/registry.js';
import type { FrameReceiver } from '../stack/stack.js';
import type { Counter } from '../core/metrics.js';

const options = z.object({
  /** Flush a batch once it holds this many bytes, even before the end of the current burst. */
  batchBytes: z
    .number()
    .int()
    .min(1024)
    .max(16 * 1024 * 1024)
    .default(60 * 1024),
});
export type ComOptions = z.infer<typeof options>;

/**
 * Room kept in a frame for the headers every layer pushes onto a message (NAK's XMIT with an origin
 * id, a unicast's destination, APP's reply address, CAUSAL's vector of 5 bytes per member ...):
 * a few hundred bytes in today's stacks, a few KiB for a CAUSAL group of a thousand members.
 */
export const HEADER_ALLOWANCE_BYTES = 16 * 1024;

/** A unicast frame this large is handed to the transport as bytes of its own rather than copied there. */
const UNICAST_HANDOVER_BYTES = 32 * 1024;

/** Flush rounds in one turn: sends that local deliveries cause go out at once, this deep (then a turn later). */
const SAME_TURN_ROUNDS = 3;

/** Largest payload one frame of `maxFrameSize` can carry for `group` with its headers. */
export function comMaxPayloadBytes(maxFrameSize: number, group: string): number {
  return Math.max(0, maxFrameSize - frameOverheadBytes(group) - HEADER_ALLOWANCE_BYTES);
}

/**
 * Binds a stack to the node's transport. Messages for one destination are batched into one frame
 * until the current burst of work ends (env.defer) or the batch is full. A multicast is encoded
 * once and the same frame goes to every other member; the sender's own copy loops back locally.
 */
export class COM extends Layer implements FrameReceiver {
  readonly name = 'COM';
  private members: readonly NodeId[] = [];
  /** Transport sender -> member id in this view (ids differ from node ids after a rejoin). */
  private memberByNode = new Map<string, NodeId>();
  private readonly mcast: FrameBuilder;
  private readonly unicast = new Map<string, FrameBuilder>();
  private loopback: Message[] = [];
  /** Reliable multicasts encoded into the frame being built: they learn its bytes when it is sent. */
  private encoded: Message[] = [];
  private flushScheduled = false;
  private readonly guard: InputGuard;
  private readonly framesIn: Counter;
  private readonly framesOut: Counter;
  private readonly malformed: Counter;
  private readonly oversized: Counter;
  private readonly stale: Counter;
  /** n of our member id `node~n`: every frame we send says which of our node's memberships sent it. */
  private readonly membership: number;
  private stopped = false;

  constructor(
    ctx: LayerContext,
    private readonly opts: ComOptions,
  ) {
    super(ctx);
    this.membership = membershipSeq(ctx.localId);
    this.mcast = new FrameBuilder(ctx.group, this.membership);
    this.guard = new InputGuard(ctx, 'COM');
    this.framesIn = ctx.metrics.counter('horus_com_frames_in_total', 'frames received');
    this.framesOut = ctx.metrics.counter('horus_com_frames_out_total', 'frames sent');
    this.malformed = ctx.metrics.counter('horus_com_malformed_total', 'malformed frames or messages dropped');
    this.oversized = ctx.metrics.counter('horus_com_oversize_dropped_total', 'outgoing frames over the transport limit, dropped');
    this.stale = ctx.metrics.counter('horus_com_stale_membership_total', 'frames of a membership their process has since replaced (rejoined), dropped');
  }

  /**
   * Largest payload a message may have for this stack to carry it without FRAG: one transport
   * frame minus the frame's own bytes and room for the headers. Larger ones the transport drops.
   */
  get maxPayloadBytes(): number {
    return comMaxPayloadBytes(this.env.transport.maxFrameSize, this.ctx.group);
  }

  override payloadLimit(): number {
    return this.maxPayloadBytes;
  }

  override down(msg: Message): void {
    if (this.stopped) return;
    msg.src = this.ctx.localId;
    if (msg.dest === null) {
      // A large message goes in a frame of its own, so the batch before it cannot push the frame over the transport's limit.
      if (this.mcast.count > 0 && this.mcast.bytes + msg.payload.length > this.opts.batchBytes) this.flushMulticast();
      const start = this.mcast.add(msg);
      // Layers' own unreliable multicasts (gossip, announcements) need no local copy.
      // Our own copy goes up as the same object: layers only pop on the way up (see Message.htop).
      if (!(msg.flags & MsgFlag.Unreliable)) {
        this.loopback.push(msg);
        // Its encoding, once the frame is sent: a keeper (NAK) may hold those bytes instead of the object.
        msg.wireStart = start;
        msg.wireEnd = this.mcast.bytes;
        this.encoded.push(msg);
      }
      if (this.mcast.bytes >= this.opts.batchBytes) this.flushMulticast();
    } else if (msg.dest === this.ctx.localId) {
      this.loopback.push(msg.clone());
    } else {
      let b = this.unicast.get(msg.dest);
      if (!b) this.unicast.set(msg.dest, (b = new FrameBuilder(this.ctx.group, this.membership)));
      else if (b.count > 0 && b.bytes + msg.payload.length > this.opts.batchBytes) this.flushUnicast(msg.dest, b);
      b.add(msg);
      if (b.bytes >= this.opts.batchBytes) this.flushUnicast(msg.dest, b);
    }
    this.scheduleFlush();
  }

  /** COM is the bottom: a batch is bundled message by message into the frames being built. */
  override downBatch(batch: Message[]): void {
    for (let i = 0; i < batch.length; i++) this.down(batch[i]!);
  }

  override downEvent(ev: DownEvent): void {
    if (ev.type === 'VIEW') {
      this.members = (ev.view satisfies View).members;
      this.memberByNode = new Map(this.members.map((m) => [nodeOfMember(m), m]));
    } else if (ev.type === 'STOP') {
      // Whatever is batched still goes out: a leaver's last words (its INSTALL) matter.
      if (!this.stopped) this.flush();
      this.stopped = true;
    }
    // COM is the bottom: nothing to pass on.
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    this.env.defer(this.deferredFlush);
  }

  /** One function for every deferred flush, not a closure per burst. */
  private readonly deferredFlush = (): void => this.flush();

  /**
   * Send everything batched so far, then deliver local copies. What the local copies make the
   * layers send at once (the sequencer's order for its own abcast, an answer) goes out in the same
   * turn, a few rounds deep, rather than a deferred turn later: the transport writes it with the
   * frame before it, so a receiver gets both in one read.
   */
  flush(): void {
    this.flushScheduled = false;
    for (let round = 0; round < SAME_TURN_ROUNDS; round++) {
      if (this.stopped) return;
      this.sendBatched();
      if (this.loopback.length === 0) return;
      const local = this.loopback;
      this.loopback = [];
      this.above.upBatch(local);
    }
    // Still more: the deferred flush that down() scheduled sends it.
  }

  private sendBatched(): void {
    if (this.mcast.count > 0) this.flushMulticast();
    for (const [dest, b] of this.unicast) {
      if (b.count > 0) this.flushUnicast(dest, b);
      // Keep batch buffers only for members: strangers must not make us hold memory.
      if (!this.memberByNode.has(nodeOfMember(dest))) this.unicast.delete(dest);
    }
  }

  /** A frame the transport would refuse: dropped here, counted and logged, instead of failing inside the transport. */
  private oversize(frame: Buffer, to: string): boolean {
    const max = this.env.transport.maxFrameSize;
    if (frame.length <= max) return false;
    this.oversized.inc();
    this.log.warn('frame over the transport limit dropped (the message was larger than maxPayloadBytes)', { to, bytes: frame.length, max });
    return true;
  }

  private flushMulticast(): void {
    const encoded = this.encoded;
    // With reliable messages in it the frame gets bytes of its own (the builder's are reused), and
    // each of them a view of those: the sender's retransmission store keeps these slices, not the
    // objects. Bytes of its own also go to the transport by reference, not copied once per member.
    const owned = encoded.length > 0;
    const frame = owned ? this.mcast.finishOwned() : this.mcast.finish();
    this.mcast.reset();
    if (owned) this.encoded = [];
    if (this.oversize(frame, 'the view')) return;
    for (let i = 0; i < encoded.length; i++) encoded[i]!.wire = frame;
    const t = this.env.transport;
    const self = nodeOfMember(this.ctx.localId);
    for (const m of this.members) {
      if (nodeOfMember(m) === self) continue; // ourselves, under this or an older member id
      t.send(nodeOfMember(m), frame, owned);
      this.framesOut.inc();
    }
  }

  private flushUnicast(dest: string, b: FrameBuilder): void {
    // A large frame (a state chunk) leaves with the builder's buffer: handed over, not copied again.
    const owned = b.bytes >= UNICAST_HANDOVER_BYTES;
    const frame = owned ? b.finishOwned() : b.finish();
    b.reset();
    if (!this.oversize(frame, dest)) {
      this.env.transport.send(nodeOfMember(dest), frame, owned);
      this.framesOut.inc();
    }
  }

  /** A unicast names this member, its node, or (when sent to a bare `host:port`) its endpoint. */
  private isForMe(dest: string): boolean {
    const mine = nodeOfMember(this.ctx.localId);
    const node = nodeOfMember(dest);
    return node === mine || (!node.includes('/') && endpointOf(mine) === node);
  }

  /**
   * Who sent a frame: the transport names the node, the frame which of that node's memberships
   * (`node~n`). The view's member when it is that membership; a membership the node has since
   * replaced (a frame still in flight or held across a cut when it rejoined) is null: its sequence
   * numbers are not the new member's. A later one than the view knows (a joiner) goes by its own id.
   */
  private sourceOf(from: string, membership: number): string | null {
    // Members of a fixed group are named by endpoint: the incarnation is dropped for them only.
    const member = this.memberByNode.get(from) ?? this.memberByNode.get(endpointOf(from));
    if (member === undefined) return rejoinMemberId(from, membership);
    const current = membershipSeq(member);
    if (membership === current) return member;
    return membership < current ? null : rejoinMemberId(from, membership);
  }

  /**
   * A frame for this group arrived; `offset` is just past the group name. The source of every
   * message is the transport's sender (and the membership the frame names, see sourceOf), never
   * anything the messages say. A malformed message or one addressed to someone else is dropped
   * alone; a frame whose layout is broken is dropped from the break on (the messages before it were
   * well-formed and are delivered).
   */
  receiveFrame(from: string, frame: FrameBytes, offset: number): void {
    if (this.stopped) return;
    this.framesIn.inc();
    let src: string | null;
    try {
      const m = readFrameMembership(headOf(frame), offset);
      offset = m.offset;
      src = this.sourceOf(from, m.membership);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.malformed.inc();
      this.guard.drop(from, 'malformed frame', { code: err.code, error: err.message });
      return;
    }
    if (src === null) {
      this.stale.inc();
      return;
    }
    const sender = src;
    // The frame's messages go up as one batch; what was decoded before a broken layout still goes.
    // The array is made at the frame's size (pushes from empty grew it three or four times a frame).
    let batch: Message[] = NO_MESSAGES;
    let n = 0;
    try {
      batch = new Array<Message>(messageRoomOf(frame, offset));
      readMessagesOf(
        frame,
        offset,
        (msg) => {
          msg.src = sender;
          if (msg.dest !== null && !this.isForMe(msg.dest)) {
            this.guard.drop(from, 'message for another member', { dest: msg.dest.slice(0, 64) });
            return;
          }
          batch[n++] = msg;
        },
        (err) => {
          this.malformed.inc();
          this.guard.drop(from, 'malformed message', { code: err.code, error: err.message });
        },
      );
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.malformed.inc();
      this.guard.drop(from, 'malformed frame', { code: err.code, error: err.message });
    }
    if (n === 0) return;
    batch.length = n;
    this.above.upBatch(batch);
  }
}

/** A batch before its frame's count is read (never written: a frame without messages goes nowhere). */
const NO_MESSAGES: Message[] = [];

registerLayer({
  name: 'COM',
  provides: ['transport'],
  requires: [],
  options,
  create: (ctx, o) => new COM(ctx, o),
});
