import type { Env } from '../../core/env.js';
import type { Logger } from '../../core/logger.js';
import { nodeOfMember } from '../../core/member-id.js';
import { Message, MsgFlag } from '../../core/message.js';
import type { NodeId } from '../../core/node-id.js';
import type { View } from '../../core/view.js';
import { G, GMS_HEADER } from './messages.js';

/** What state transfer needs from the membership layer it serves. */
export interface StateTransferHost {
  readonly env: Env;
  readonly log: Logger;
  /** Send a GMS control message. */
  send(to: NodeId, t: G, body: unknown): void;
  /** Pass a ready message to the layer below. */
  down(msg: Message): void;
  /** The joiner's whole state arrived: install its first view with it. */
  complete(first: View, state: Buffer): void;
  /** Count and log input we will not act on. */
  drop(from: NodeId, reason: string): void;
  /** Is `from` a member of our current view? */
  isMember(from: NodeId): boolean;
  /** The state is larger than we accept: the join fails. */
  tooLarge(message: string): void;
}

export interface StateTransferOptions {
  retryMs: number;
  stateChunkBytes: number;
  stateWindow: number;
  /** Largest state a joiner accepts. */
  maxStateBytes: number;
  /** Largest chunk a joiner accepts. */
  maxStateChunkBytes: number;
}

interface OutgoingState {
  joiner: NodeId;
  viewId: number;
  bytes: Buffer;
  total: number;
  acked: number;
  sentUpTo: number;
  lastSend: number;
}

interface IncomingState {
  viewId: number;
  from: NodeId;
  chunks: Buffer[];
  total: number;
  next: number;
  /** Bytes received so far. */
  bytes: number;
  lastAck: number;
  progressAt: number;
  firstView: View;
}

/**
 * State transfer, apart from membership (as JGroups' STATE_TRANSFER beside GMS): the provider named
 * in the install streams its snapshot to each joiner in binary chunks under a window, resent from
 * the last ack when unanswered; the joiner acks its progress and hands the whole state back to GMS.
 */
export class StateTransfer {
  private readonly outgoing = new Map<NodeId, OutgoingState>();
  private incoming: IncomingState | null = null;

  constructor(
    private readonly host: StateTransferHost,
    private readonly opts: StateTransferOptions,
  ) {}

  /** True while this member waits for its own state. */
  get receiving(): boolean {
    return this.incoming !== null;
  }

  /** The provider we wait for, if any. */
  get provider(): NodeId | null {
    return this.incoming?.from ?? null;
  }

  /** Joiner: expect `firstView`'s state from `from`. */
  expect(firstView: View, from: NodeId): void {
    const now = this.host.env.now();
    this.incoming = { viewId: firstView.id, from, chunks: [], total: -1, next: 0, bytes: 0, lastAck: now, progressAt: now, firstView };
  }

  /** Stop waiting for our state (the join failed or we leave to rejoin). */
  abandon(): void {
    this.incoming = null;
  }

  /** Is `viewId` the view whose state we wait for? */
  awaits(viewId: unknown): boolean {
    return this.incoming !== null && this.incoming.viewId === viewId;
  }

  /** Provider: stream `snapshot` (or the failure to take it) to each joiner of view `viewId`. */
  provide(joiners: readonly NodeId[], viewId: number, snapshot: Buffer | null, snapshotError: Error | null): void {
    for (const j of joiners) {
      if (snapshotError) {
        this.host.send(j, G.StateFail, { view: viewId, message: snapshotError.message });
        continue;
      }
      const bytes = snapshot ?? Buffer.alloc(0);
      const o: OutgoingState = {
        joiner: j,
        viewId,
        bytes,
        total: Math.max(1, Math.ceil(bytes.length / this.opts.stateChunkBytes)),
        acked: 0,
        sentUpTo: 0,
        lastSend: 0,
      };
      this.outgoing.set(j, o);
      this.pump(o);
    }
  }

  /** Provider: the joiner acked up to chunk `next` of view `viewId`. */
  onAck(from: NodeId, viewId: number, next: number): void {
    const o = this.outgoing.get(from);
    if (o && o.viewId === viewId) {
      if (next > o.total) {
        this.host.drop(from, 'state ack past the last chunk');
        return;
      }
      o.acked = Math.max(o.acked, next);
      if (o.acked >= o.total) this.outgoing.delete(from);
      else this.pump(o);
    }
  }

  /**
   * Joiner: a chunk `[view u32][index u32][total u32][bytes]`, only from our provider. Its fields are
   * checked before use: the total never changes, the index is within it, every chunk but a lone one
   * carries bytes (so the chunk count is bounded by the byte cap), and the state stays under the cap.
   */
  onChunk(from: NodeId, payload: Buffer): void {
    const inc = this.incoming;
    if (!inc) return; // late chunks after the state arrived
    if (from !== inc.from) {
      // A provider of an earlier attempt, or ours after it left the view, may still be streaming: only a stranger is counted.
      if (!this.host.isMember(from) && nodeOfMember(from) !== nodeOfMember(inc.from)) this.host.drop(from, 'state chunk not from the state provider');
      return;
    }
    if (payload.length < 12) return this.host.drop(from, 'state chunk shorter than its header');
    if (payload.readUInt32BE(0) !== inc.viewId) return;
    const index = payload.readUInt32BE(4);
    const total = payload.readUInt32BE(8);
    const len = payload.length - 12;
    if (
      total < 1 ||
      index >= total ||
      (inc.total >= 0 && total !== inc.total) ||
      len > Math.max(this.opts.maxStateChunkBytes, this.opts.stateChunkBytes) ||
      (len === 0 && total > 1)
    ) {
      return this.host.drop(from, 'malformed state chunk');
    }
    if (inc.total < 0) inc.total = total;
    if (index === inc.next) {
      if (inc.bytes + len > this.opts.maxStateBytes) {
        this.host.drop(from, 'state over maxStateBytes');
        this.incoming = null;
        this.host.tooLarge(`the state is larger than maxStateBytes (${this.opts.maxStateBytes})`);
        return;
      }
      inc.chunks.push(Buffer.from(payload.subarray(12)));
      inc.bytes += len;
      inc.next++;
      inc.progressAt = this.host.env.now();
    }
    const now = this.host.env.now();
    if (inc.next >= inc.total || inc.next % 16 === 0 || index !== inc.next - 1 || now - inc.lastAck > this.opts.retryMs) {
      inc.lastAck = now;
      this.host.send(from, G.StateAck, { view: inc.viewId, next: inc.next });
    }
    if (inc.next >= inc.total) {
      const state = Buffer.concat(inc.chunks);
      this.incoming = null;
      this.host.log.info('state received', { viewId: inc.firstView.id, bytes: state.length });
      this.host.complete(inc.firstView, state);
    }
  }

  /** Joiner: has our provider gone (silent too long, or out of the view)? */
  providerLost(now: number, members: readonly NodeId[], silentMs: number): boolean {
    return this.incoming !== null && (now - this.incoming.progressAt > silentMs || !members.includes(this.incoming.from));
  }

  /** Periodic work: re-ack our progress; keep streaming to joiners still in the view. */
  tick(now: number, members: readonly NodeId[]): void {
    if (this.incoming && now - this.incoming.lastAck > this.opts.retryMs * 2) {
      this.incoming.lastAck = now;
      this.host.send(this.incoming.from, G.StateAck, { view: this.incoming.viewId, next: this.incoming.next });
    }
    for (const o of this.outgoing.values()) {
      // Keep streaming through later view changes: the joiner waits for exactly this snapshot.
      if (!members.includes(o.joiner)) this.outgoing.delete(o.joiner);
      else if (now - o.lastSend > this.opts.retryMs * 3) this.pump(o);
    }
  }

  private pump(o: OutgoingState): void {
    const now = this.host.env.now();
    if (o.sentUpTo > o.acked && now - o.lastSend > this.opts.retryMs * 3) o.sentUpTo = o.acked; // resend the window
    const from = o.sentUpTo;
    while (o.sentUpTo < o.total && o.sentUpTo < o.acked + this.opts.stateWindow) {
      const i = o.sentUpTo++;
      const chunk = o.bytes.subarray(i * this.opts.stateChunkBytes, Math.min(o.bytes.length, (i + 1) * this.opts.stateChunkBytes));
      // [view u32][index u32][total u32][bytes]: binary, so 100 MB of state costs no re-encoding.
      const payload = Buffer.allocUnsafe(12 + chunk.length);
      payload.writeUInt32BE(o.viewId, 0);
      payload.writeUInt32BE(i, 4);
      payload.writeUInt32BE(o.total, 8);
      chunk.copy(payload, 12);
      const m = new Message(o.joiner, payload, MsgFlag.Unreliable);
      m.push(GMS_HEADER, G.StateChunk);
      this.host.down(m);
    }
    // Only a send restarts the resend clock: a joiner acking the same progress over and over (its
    // chunk lost) must not keep postponing the resend of the window for ever.
    if (o.sentUpTo > from) o.lastSend = now;
  }
}
