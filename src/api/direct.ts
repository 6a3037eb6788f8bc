import type { Timer } from '../core/env.js';
import { HorusError } from '../core/errors.js';
import { Message, MsgFlag } from '../core/message.js';
import type { NodeId } from '../core/node-id.js';
import { encodePayload } from '../codec/payload.js';
import { FifoQueue } from '../core/fifo-queue.js';
import { ORDERS, PayloadEncoding } from './app-header.js';
import { Delivery } from './delivery.js';
import { DIRECT_HEADER, DirectKind, type DirectHeader } from './direct-header.js';
import { checkPayload } from './payload-check.js';
import type { QueryTimers } from './query.js';

/** Bounds and timing of point-to-point traffic (per group). */
export interface DirectLimits {
  /** Messages sent to one member and not yet acknowledged, at most (more fail with ERR_BACKPRESSURE). */
  maxUnackedPerPeer: number;
  /** Messages from one member held out of order, at most (more are dropped and sent again by their sender). */
  maxEarlyPerPeer: number;
  /** Unacknowledged messages are sent again this often (ms); owed acks go out at the same tick. */
  retransmitMs: number;
  /** Messages sent again to one member per tick, at most. */
  maxRetransmitPerTick: number;
  /** Calls of this member waiting for replies, at most (more fail with ERR_BACKPRESSURE). */
  maxPendingCalls: number;
}

export const DEFAULT_DIRECT_LIMITS: DirectLimits = {
  maxUnackedPerPeer: 10_000,
  maxEarlyPerPeer: 1024,
  retransmitMs: 40,
  maxRetransmitPerTick: 256,
  maxPendingCalls: 100_000,
};

export interface CallOptions {
  /** Give up after this long (default 5000 ms): the call fails with ERR_TIMEOUT. */
  timeoutMs?: number;
}

/** Answers `group.call`: the value (or the value its promise resolves to) goes back to the caller; a throw fails the call with ERR_REMOTE. */
export type CallHandler = (request: Delivery) => unknown;

/** What the channels need from their group. */
export interface DirectHost {
  readonly name: string;
  localId(): NodeId;
  viewId(): number;
  isMember(id: NodeId): boolean;
  now(): number;
  timers: QueryTimers;
  /** Hand a message to the stack. */
  down(msg: Message): void;
  /** Count and log input that is dropped. */
  drop(from: NodeId, reason: string, fields?: Record<string, unknown>): void;
  /** A group.send arrived (in order). */
  deliver(d: Delivery): void;
  /** The call handler, if any. */
  handler(): CallHandler | null;
  reportError(err: HorusError): void;
}

interface Unacked {
  kind: DirectKind;
  encoding: PayloadEncoding;
  call: number;
  payload: Buffer;
  sentAt: number;
}

/**
 * What we send one member: the next number and what it has not acknowledged, in number order (acks
 * are cumulative, so they take from the front; `first` is the number of the oldest). A queue, not a
 * Map keyed by number: a Map whose keys come and go on every call rebuilds its table every few
 * operations.
 */
export class Outgoing {
  next = 1;
  first = 1;
  readonly sent = new FifoQueue<Unacked>();

  /** Numbers message `next` and keeps it until acknowledged; returns its number. */
  add(u: Unacked): number {
    if (this.sent.length === 0) this.first = this.next;
    this.sent.push(u);
    return this.next++;
  }

  /** Drops every message numbered `ack` or lower. */
  ackUpTo(ack: number): void {
    while (this.sent.length > 0 && this.first <= ack) {
      this.sent.shift();
      this.first++;
    }
  }
}

/** What we receive from one member: the next number due, what came early, whether an ack is owed. */
class Incoming {
  next = 1;
  readonly early = new Map<number, { h: Extract<DirectHeader, { t: 1 }>; payload: Buffer }>();
  ackOwed = false;
}

interface PendingCall {
  target: NodeId;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  /** host.now() after which the call fails with ERR_TIMEOUT. */
  deadline: number;
  timeoutMs: number;
}

/**
 * Reliable FIFO point-to-point messages and calls between two members of a group, beside the
 * group's multicasts in the same stack (unicasts pass the ordering and NAK layers untouched, so
 * neither waits for the other). Each (sender, receiver) pair of member ids numbers its messages
 * from 1; the receiver delivers in order, holds a bounded number that came early, and acks
 * cumulatively (piggybacked on its own traffic, else at the next tick); the sender sends again
 * whatever stays unacked. A member id names one membership, so a rejoin starts fresh pairs.
 * State with a member ends when it leaves the view; its pending calls fail at once (ERR_MEMBER_LEFT).
 */
export class DirectChannels {
  private readonly out = new Map<NodeId, Outgoing>();
  private readonly in = new Map<NodeId, Incoming>();
  private readonly calls = new Map<number, PendingCall>();
  private nextCall = 1;
  private tick: Timer | null = null;
  /**
   * One timer for every call's timeout, set for the earliest deadline (not one timer per call: a
   * timer is an allocation, a closure and a timer-list insertion and removal on every round trip).
   * It is left running when calls are answered; when it fires it fails what is due and is set again.
   */
  private expiry: Timer | null = null;
  private expiryAt = Infinity;
  /** The calls' deadlines ascend in `calls`' (insertion) order: an expiry scan may stop at the first not due. */
  private deadlinesInOrder = true;
  private lastDeadline = -Infinity;

  constructor(
    private readonly host: DirectHost,
    private readonly limits: DirectLimits = DEFAULT_DIRECT_LIMITS,
  ) {}

  /** Calls waiting for replies. */
  get pendingCalls(): number {
    return this.calls.size;
  }

  /** Messages sent and not yet acknowledged, to all members. */
  get unacked(): number {
    let n = 0;
    for (const o of this.out.values()) n += o.sent.length;
    return n;
  }

  send(to: NodeId, payload: unknown): void {
    this.transmit(to, DirectKind.Send, 0, payload);
  }

  call(to: NodeId, payload: unknown, opts: CallOptions): Promise<unknown> {
    const timeoutMs = opts.timeoutMs ?? 5000;
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) throw new HorusError('ERR_INVALID_ARGUMENT', `timeoutMs must be a non-negative number, got ${timeoutMs}`);
    if (this.calls.size >= this.limits.maxPendingCalls)
      throw new HorusError('ERR_BACKPRESSURE', `group ${this.host.name}: ${this.calls.size} calls are already waiting for replies (maxPendingCalls)`);
    const id = this.nextCall++;
    this.transmit(to, DirectKind.Call, id, payload);
    const deadline = this.host.now() + timeoutMs;
    if (this.calls.size === 0) this.deadlinesInOrder = true;
    else if (deadline < this.lastDeadline) this.deadlinesInOrder = false;
    this.lastDeadline = deadline;
    return new Promise<unknown>((resolve, reject) => {
      this.calls.set(id, { target: to, resolve, reject, deadline, timeoutMs });
      if (deadline < this.expiryAt) this.armExpiry(deadline);
    });
  }

  private armExpiry(at: number): void {
    this.expiry?.cancel();
    this.expiryAt = at;
    this.expiry = this.host.timers.setTimer(Math.max(0, at - this.host.now()), () => this.expire());
  }

  /** Fail the calls whose deadline passed; set the timer for the next deadline. */
  private expire(): void {
    this.expiry = null;
    this.expiryAt = Infinity;
    const now = this.host.now();
    let next = Infinity;
    for (const [id, c] of this.calls) {
      if (c.deadline > now) {
        if (c.deadline < next) next = c.deadline;
        if (this.deadlinesInOrder) break;
        continue;
      }
      this.calls.delete(id);
      c.reject(new HorusError('ERR_TIMEOUT', `call to ${c.target} in group ${this.host.name} got no reply within ${c.timeoutMs} ms`));
    }
    if (next !== Infinity) this.armExpiry(next);
  }

  /** Encode and send one message (throws a typed error for a bad payload or target, or when at a limit). */
  private transmit(to: NodeId, kind: DirectKind, call: number, payload: unknown): void {
    if (to === this.host.localId()) throw new HorusError('ERR_INVALID_ARGUMENT', `group ${this.host.name}: a member cannot send to itself point-to-point`);
    if (!this.host.isMember(to)) throw new HorusError('ERR_UNKNOWN_MEMBER', `${to} is not a member of group ${this.host.name}'s current view`);
    let enc;
    try {
      if (!(payload instanceof Uint8Array)) checkPayload(payload);
      enc = encodePayload(payload);
    } catch (err) {
      throw err instanceof HorusError ? err : new HorusError('ERR_INVALID_ARGUMENT', `payload cannot be encoded: ${(err as Error).message}`, { cause: err });
    }
    let o = this.out.get(to);
    if (!o) this.out.set(to, (o = new Outgoing()));
    if (o.sent.length >= this.limits.maxUnackedPerPeer)
      throw new HorusError('ERR_BACKPRESSURE', `group ${this.host.name}: ${o.sent.length} messages to ${to} are not acknowledged yet (maxUnackedPerPeer)`);
    const u: Unacked = { kind, encoding: enc.encoding, call, payload: enc.bytes, sentAt: this.host.now() };
    this.emit(to, o.add(u), u);
    this.armTick();
  }

  private emit(to: NodeId, seq: number, u: Unacked): void {
    const inc = this.in.get(to);
    const ack = inc ? inc.next - 1 : 0;
    if (inc) inc.ackOwed = false;
    const msg = new Message(to, u.payload, 0);
    msg.push(DIRECT_HEADER, { t: 1, seq, ack, kind: u.kind, encoding: u.encoding, call: u.call });
    this.host.down(msg);
  }

  /** A point-to-point message from `src`, addressed to this member (checked by the caller). */
  receive(src: NodeId, h: DirectHeader, payload: Buffer): void {
    if (!this.host.isMember(src)) return this.host.drop(src, 'point-to-point message from a non-member');
    this.acked(src, h.ack);
    if (h.t === 2) return;
    if (h.seq === 0) return this.host.drop(src, 'point-to-point message numbered 0');
    let inc = this.in.get(src);
    if (!inc) this.in.set(src, (inc = new Incoming()));
    inc.ackOwed = true;
    this.armTick();
    if (h.seq < inc.next) return; // a copy sent again: the ack owed repairs the sender's view
    if (h.seq > inc.next) {
      if (inc.early.has(h.seq)) return;
      if (inc.early.size >= this.limits.maxEarlyPerPeer || h.seq - inc.next > 4 * this.limits.maxUnackedPerPeer) {
        return this.host.drop(src, 'point-to-point message too far ahead', { seq: h.seq, next: inc.next });
      }
      // Copy: the frame's buffer is not ours to keep.
      inc.early.set(h.seq, { h, payload: Buffer.from(payload) });
      return;
    }
    inc.next++;
    this.dispatch(src, h, payload);
    for (let e = inc.early.get(inc.next); e !== undefined; e = inc.early.get(inc.next)) {
      inc.early.delete(inc.next);
      inc.next++;
      this.dispatch(src, e.h, e.payload);
      // A handler may have ended this member's channels (a leave): stop then.
      if (this.in.get(src) !== inc) return;
    }
  }

  private acked(src: NodeId, ack: number): void {
    const o = this.out.get(src);
    if (!o || ack === 0) return;
    if (ack >= o.next) return this.host.drop(src, 'ack for point-to-point messages never sent', { ack, sent: o.next - 1 });
    o.ackUpTo(ack);
  }

  private dispatch(src: NodeId, h: Extract<DirectHeader, { t: 1 }>, payload: Buffer): void {
    const d = new Delivery(this.host.name, src, h.seq, ORDERS.indexOf('fifo'), payload, h.encoding, this.host.viewId());
    switch (h.kind) {
      case DirectKind.Send:
        this.host.deliver(d);
        return;
      case DirectKind.Call:
        this.answer(src, h.call, d);
        return;
      case DirectKind.Reply:
      case DirectKind.Failure: {
        const c = this.calls.get(h.call);
        if (!c || c.target !== src) return this.host.drop(src, 'reply to no call of ours', { call: h.call });
        this.calls.delete(h.call);
        let value: unknown;
        try {
          value = d.payload;
        } catch (err) {
          c.reject(err as Error);
          return;
        }
        if (h.kind === DirectKind.Reply) c.resolve(value);
        else c.reject(new HorusError('ERR_REMOTE', `call to ${src} in group ${this.host.name} failed there: ${String(value)}`));
        return;
      }
    }
  }

  private answer(src: NodeId, call: number, d: Delivery): void {
    const handler = this.host.handler();
    if (!handler) return this.reply(src, call, DirectKind.Failure, 'no call handler (group.onCall) in this member');
    try {
      const r = handler(d);
      // Closures only for a handler that answers later: a plain value goes back with none.
      if (r instanceof Promise)
        r.then(
          (v: unknown) => this.reply(src, call, DirectKind.Reply, v),
          (err: unknown) => this.reply(src, call, DirectKind.Failure, (err as Error)?.message ?? String(err)),
        );
      else this.reply(src, call, DirectKind.Reply, r);
    } catch (err) {
      this.reply(src, call, DirectKind.Failure, (err as Error)?.message ?? String(err));
    }
  }

  private reply(src: NodeId, call: number, kind: DirectKind, value: unknown): void {
    if (!this.host.isMember(src)) return; // the caller left: its call failed already
    try {
      this.transmit(src, kind, call, value);
    } catch (err) {
      if (kind === DirectKind.Reply) return this.reply(src, call, DirectKind.Failure, `the reply cannot be sent: ${(err as Error).message}`);
      this.host.reportError(new HorusError('ERR_INVALID_ARGUMENT', `reply to ${src} failed: ${(err as Error).message}`, { cause: err }));
    }
  }

  /** A new view: channels with members that left end, and calls to them fail at once. */
  viewChanged(members: readonly NodeId[]): void {
    const live = new Set(members);
    for (const id of [...this.out.keys()]) if (!live.has(id)) this.out.delete(id);
    for (const id of [...this.in.keys()]) if (!live.has(id)) this.in.delete(id);
    for (const [id, c] of [...this.calls]) {
      if (live.has(c.target)) continue;
      this.calls.delete(id);
      c.reject(new HorusError('ERR_MEMBER_LEFT', `${c.target} left group ${this.host.name} before it replied`));
    }
  }

  /** This membership ended (left, excluded, failed): every channel ends and every call fails with `err`. */
  reset(err: HorusError): void {
    this.out.clear();
    this.in.clear();
    this.tick?.cancel();
    this.tick = null;
    this.expiry?.cancel();
    this.expiry = null;
    this.expiryAt = Infinity;
    for (const c of this.calls.values()) c.reject(err);
    this.calls.clear();
  }

  private armTick(): void {
    if (this.tick) return;
    this.tick = this.host.timers.setTimer(this.limits.retransmitMs, () => {
      this.tick = null;
      this.onTick();
    });
  }

  /** Send again what is unacknowledged for a while, and the acks still owed. */
  private onTick(): void {
    const now = this.host.now();
    let busy = false;
    for (const [to, o] of this.out) {
      let budget = this.limits.maxRetransmitPerTick;
      let seq = o.first;
      const due: [number, Unacked][] = [];
      for (const u of o.sent) {
        busy = true;
        if (budget === 0) break;
        if (now - u.sentAt >= this.limits.retransmitMs) {
          u.sentAt = now;
          budget--;
          due.push([seq, u]);
        }
        seq++;
      }
      // Sent after the walk: nothing a send sets off can change the queue under it.
      for (const [n, u] of due) this.emit(to, n, u);
    }
    for (const [from, inc] of this.in) {
      if (!inc.ackOwed) continue;
      inc.ackOwed = false;
      const msg = new Message(from, Buffer.alloc(0), MsgFlag.Unreliable);
      msg.push(DIRECT_HEADER, { t: 2, ack: inc.next - 1 });
      this.host.down(msg);
    }
    if (busy) this.armTick();
  }
}
