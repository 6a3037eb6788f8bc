import type { Env } from '../../core/env.js';
import type { Logger } from '../../core/logger.js';
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
}

export interface StateTransferOptions {
  retryMs: number;
  stateChunkBytes: number;
  stateWindow: number;
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
    this.incoming = { viewId: firstView.id, from, chunks: [], total: -1, next: 0, lastAck: now, progressAt: now, firstView };
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
  onAck(from: NodeId, viewId: unknown, next: number): void {
    const o = this.outgoing.get(from);
    if (o && o.viewId === viewId) {
      o.acked = Math.max(o.acked, next);
      if (o.acked >= o.total) this.outgoing.delete(from);
      else this.pump(o);
    }
  }

  /** Joiner: a chunk `[view u32][index u32][total u32][bytes]`. */
  onChunk(from: NodeId, payload: Buffer): void {
    const inc = this.incoming;
    if (!inc || payload.length < 12 || from !== inc.from || payload.readUInt32BE(0) !== inc.viewId) return;
    const index = payload.readUInt32BE(4);
    const total = payload.readUInt32BE(8);
    if (inc.total < 0) inc.total = total;
    if (index === inc.next) {
      inc.chunks.push(Buffer.from(payload.subarray(12)));
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
    o.lastSend = now;
  }
}
