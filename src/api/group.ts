import { EventEmitter } from 'node:events';
import { z } from 'zod';
import { ClosedError, ConfigError, HorusError } from '../core/errors.js';
import type { UpEvent } from '../core/events.js';
import type { HistoryRecorder } from '../core/history.js';
import { messageName } from '../core/history.js';
import type { InputGuard } from '../core/input-guard.js';
import type { Counter } from '../core/metrics.js';
import { silentLogger, type Logger } from '../core/logger.js';
import { Message, type HeaderType } from '../core/message.js';
import type { NodeId } from '../core/node-id.js';
import type { View } from '../core/view.js';
import { decodePayload, encodePayload } from '../codec/payload.js';
import { sourceOfBuffers, type StateSink, type StateSource } from '../core/state-stream.js';
import type { Stack, StackTop } from '../stack/stack.js';
import {
  APP_HEADER,
  AppKind,
  appEncoding,
  appId,
  appKind,
  appOrder,
  ORDERS,
  PayloadEncoding,
  plainAppHeader,
  type AppHeader,
  type Order,
} from './app-header.js';
import { PendingQuery, type QueryHandler, type QueryOptions, type QueryResult, type QueryTimers } from './query.js';
import { Delivery } from './delivery.js';
import { checkPayload } from './payload-check.js';
import { DirectChannels, type CallHandler, type CallOptions } from './direct.js';
import { DIRECT_HEADER, type DirectHeader } from './direct-header.js';
import type { RequestHandler } from './client.js';
import { MAX_PAYLOAD_BYTES } from '../stack/stack.js';
import { aclChangeMessage, GMS } from '../layers/GMS.js';
import { isRefusedSend } from '../security/send-acl.js';
import { decodeMergeControl, encodeMergeControl, mergeKey, MergedKeys, recordFromItsSide, type MergeEvent, type MergeHandler } from './merge.js';
import type { Acl } from '../security/acl.js';

export interface SendOptions {
  /** Deliver only once every member holds the message (needs the ordering issue's SAFE support). */
  safe?: boolean;
}

/** What `for await (const ev of group)` and `group.events()` yield: a view, or a message. */
export type GroupEvent = { type: 'message'; message: Delivery } | { type: 'view'; view: View };

/** Default bound of an event iterator's buffer. */
export const DEFAULT_MAX_BUFFERED_EVENTS = 10_000;

/** Why sends are being held. */
export type BlockReason = 'flow-control' | 'flush' | 'minority' | 'joining';

/**
 * What the group asks of the application to bring joiners up to date (docs/state-transfer.md):
 * the state as one value (`get`/`set`), or, for a large state (say 1 GB), as a stream of bytes
 * (`getChunks`/`receiveChunk`/`finish`): then the provider never builds one buffer of it (it hands
 * out views of its own segments) and the joiner never holds it twice (it stores each chunk as it
 * arrives; at most a few MiB are ahead of it).
 */
export type StateHandlers =
  | {
      /**
       * A snapshot of the state reflecting every message delivered so far (bytes or a packable value).
       * Bytes are sent as they are, without a copy, while the group goes on: return bytes you will
       * not change afterwards (a copy, if your state changes in place).
       */
      get(): unknown;
      /** Replace the state with a snapshot taken by another member (bytes arrive as a Buffer). */
      set(snapshot: unknown): void;
    }
  | {
      /**
       * Provider, at the view change that admits joiners, after every message of the old view and
       * before any of the new: the state as of this instant. Capture it cheaply (immutable segments,
       * copy-on-write) and let `chunks()` read it later, while the group keeps delivering. `size` is
       * the byte count (a joiner checks it against its maxStateBytes before any byte moves);
       * `chunks()` yields exactly that many bytes, in order, and is called once for each joiner (a
       * generator function fits); the bytes go on the wire without a copy, so they must not change
       * until `release()`, called once every joiner of the view has its state or is gone.
       */
      getChunks(): { size: number; chunks(): Iterable<Uint8Array>; release?(): void };
      /**
       * Joiner: the next bytes of the state, in order. `offset` 0 begins a transfer (`size` is the
       * total, for preallocation); after `abort()` a new transfer begins at 0 again. The chunk is
       * yours to keep. Throwing fails the join with ERR_STATE_TRANSFER.
       */
      receiveChunk(chunk: Uint8Array, at: { offset: number; size: number }): void;
      /**
       * Joiner: every byte arrived; the first view follows at once, before any message of it.
       * Throwing refuses the state: the join fails with ERR_STATE_TRANSFER.
       */
      finish(): void;
      /** Joiner: the transfer was abandoned before `finish()` (its provider failed, the join failed): drop what arrived. */
      abort?(reason: string): void;
    };

/** The state as one value. */
export type SnapshotStateHandlers = Extract<StateHandlers, { get(): unknown }>;
/** The state as a stream of bytes. */
export type StreamingStateHandlers = Extract<StateHandlers, { getChunks(): unknown }>;
/** A provider's state as of one view, as `getChunks()` returns it. */
export type StateChunks = ReturnType<StreamingStateHandlers['getChunks']>;

/** Whether the application streams its state. */
function isStreaming(h: StateHandlers): h is StreamingStateHandlers {
  return typeof (h as Partial<StreamingStateHandlers>).getChunks === 'function';
}

/** What the 'excluded' event carries: why, and how long the member waits before it rejoins. */
export type ExcludedEvent = ({ type: 'EXCLUDED'; viewId: number } | { type: 'JOIN_FAILED'; error: HorusError }) & {
  /** Exclusions in a row (see RejoinBackoff); 1 for the first. */
  attempt: number;
  /** How long the member waits (blocked, reason 'joining') before it asks to rejoin. */
  rejoinDelayMs: number;
};

/** What the 'merged' event carries: the junior group this member was in, and its first view in the senior one. */
export interface MergedEvent {
  was: View;
  joined: View;
}

/**
 * The events a Group emits, with what each carries: `group.on(name, (...payload) => ...)` is typed
 * by this map, and an event name not in it does not compile.
 */
export interface GroupEventMap {
  /** A message delivered to this member (its sender, view, order and payload: see Delivery). */
  message: [Delivery];
  /** A point-to-point message another member sent to this one with `group.send` (in order per sender). */
  direct: [Delivery];
  /**
   * A view was installed (`{ group, id, members }`, oldest member first). A listener attached once a
   * view is installed hears the current view first, on the next turn (or just before the group's
   * next event), then every later one: one attached after `await node.join()` misses nothing.
   */
  view: [View];
  /** Sends are held: why (and, for a minority, an ERR_BLOCKED error). */
  blocked: [{ reason: BlockReason; error?: HorusError }];
  /** Sends flow again (nothing holds them any more). */
  unblocked: [];
  /** This member was excluded (or its rejoin failed): it rejoins as a new member after `rejoinDelayMs`. */
  excluded: [ExcludedEvent];
  /** A second group of this name was found and this member's (junior) group joined the senior one, taking its state. */
  merged: [MergedEvent];
  /**
   * A partitionable group: the junior side of a split (its last view in `theirView`) merged into this
   * group, and its state was reconciled by the merge handler. Every member of the merged group sees
   * it at the same point between the same messages.
   */
  merge: [MergeEvent];
  /** Something went wrong that the application should hear of (a listener threw, a stack fault, a failed state transfer): a HorusError with a code. */
  error: [HorusError];
  /** This member left the group (leave(), the node closed, or a fixed group's stack failed): no more events. */
  left: [];
}

/** Lifecycle hooks the node gives its groups. */
export interface GroupHooks {
  leave(g: Group): Promise<void>;
  /** The stack reported that this member was excluded, left, or could not join. */
  ended(g: Group, ev: { type: 'LEFT' } | { type: 'EXCLUDED'; viewId: number } | { type: 'JOIN_FAILED'; error: HorusError }): void;
  viewInstalled(g: Group, v: View): void;
  /**
   * A partitionable group's merge marker was delivered: this member leaves for the senior group
   * (members `into`) with its state as of this point (`carried`: encoding byte and bytes).
   */
  mergeMarker?(g: Group, into: readonly NodeId[], carried: { enc: number; state: Buffer }): void;
}

/** A snapshot's first byte when a partitionable group wraps the application's state with its merged keys. */
const MERGE_WRAPPED = 2;

/**
 * Bounds on sends held back while the group is blocked (flow control, a flush, a minority, a
 * rejoin), so that an application that never awaits its sends keeps memory flat.
 */
export interface SendLimits {
  /** Sends held at most (default 10,000). */
  maxPendingSends: number;
  /** Payload bytes held at most (default 64 MiB). */
  maxPendingBytes: number;
  /**
   * When the held sends are at a limit: 'reject' (default) fails the send with ERR_BACKPRESSURE;
   * 'wait' parks it until there is room, in a waiting line bounded by the same limits (beyond
   * which it fails with ERR_BACKPRESSURE too).
   */
  whenFull: 'reject' | 'wait';
}

export const DEFAULT_SEND_LIMITS: SendLimits = { maxPendingSends: 10_000, maxPendingBytes: 64 * 1024 * 1024, whenFull: 'reject' };

const sendLimitsSchema = z
  .object({
    maxPendingSends: z.number().int().positive(),
    maxPendingBytes: z.number().int().positive(),
    whenFull: z.enum(['reject', 'wait']),
  })
  .partial()
  .strict();

interface Pending {
  msg: Message;
  resolve: () => void;
  reject: (err: Error) => void;
}

const RESOLVED: Promise<void> = Promise.resolve();
const noop = (): void => {};
/** Most messages of a castMany list handed to the stack in one batch: flow control is looked at between batches. */
const SEND_BATCH = 256;

/** The capability each order needs from the stack. */
const REQUIRED_LAYER: Record<Order, string | null> = { fifo: null, causal: 'causal', total: 'total', group: 'gbcast' };

export { MAX_PAYLOAD_BYTES };

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging -- typed overloads of EventEmitter's on/once/off
export interface Group {
  on<K extends keyof GroupEventMap>(event: K, listener: (...args: GroupEventMap[K]) => void): this;
  on(event: 'newListener' | 'removeListener', listener: (event: string | symbol, listener: (...args: never[]) => void) => void): this;
  once<K extends keyof GroupEventMap>(event: K, listener: (...args: GroupEventMap[K]) => void): this;
  once(event: 'newListener' | 'removeListener', listener: (event: string | symbol, listener: (...args: never[]) => void) => void): this;
  off<K extends keyof GroupEventMap>(event: K, listener: (...args: GroupEventMap[K]) => void): this;
  off(event: 'newListener' | 'removeListener', listener: (event: string | symbol, listener: (...args: never[]) => void) => void): this;
}

/**
 * A member's handle on a group: send with a chosen order, receive messages and views.
 * Emits 'message' (Delivery), 'view' (View), 'blocked' / 'unblocked', 'excluded', 'merged', 'error', 'left' (see GroupEventMap).
 */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging -- see the interface above
export class Group extends EventEmitter implements StackTop {
  private stack: Stack | null = null;
  /** Indexed by order code: whether the attached stack provides that order (see attach). */
  private providedOrders: readonly boolean[] = [true, false, false, false];
  /** The stack's GMS, if any: it knows whether the ACL lets this member send. */
  private gms: GMS | null = null;
  private currentView: View;
  private nextId = 1;
  private flowBlocked = false;
  private queryHandler: QueryHandler | null = null;
  private memberSet: Set<NodeId>;
  /** The sender of the last application message found in `memberSet` (null after a view change). */
  private lastMemberSrc: NodeId | null = null;
  /** Application events held for one turn after the first view (see installView). */
  private queued: ['message' | 'view', unknown][] | null = null;
  /** True once a first view is installed. */
  private installed = false;
  /** 'view' listeners attached while a view was current, and that view: they hear it first (see oweView). */
  private owed: { listener: (...args: never[]) => void; view: View }[] = [];
  private owedTimer = false;
  /** The header types of the last multicast sent (shared, never written): the next send's start (see newSend). */
  private sendTypes: HeaderType<unknown>[] | null = null;
  /** How many header values the sends that share `sendTypes` push (see shareTypesOf). */
  private sendSlots = 1;
  /** Changes whenever a 'message' listener is added or removed (see upBatch). */
  private messageListenersGen = 0;
  private readonly queries = new Map<number, PendingQuery>();
  private callHandler: CallHandler | null = null;
  private clientHandler: RequestHandler | null = null;
  /** Point-to-point messages and calls (see DirectChannels). */
  private readonly direct: DirectChannels;
  /** Timers for query deadlines: the node's env (virtual in the simulator). @internal */
  timers: QueryTimers = {
    setTimer: (ms, fn) => {
      const t = setTimeout(fn, ms);
      return { cancel: () => clearTimeout(t) };
    },
  };
  /** Messages delivered to the application so far. */
  delivered = 0;
  private readonly blockedBy = new Set<BlockReason>();
  private readonly pending: Pending[] = [];
  private pendingBytes = 0;
  /** Sends waiting for room in `pending` (whenFull: 'wait'). */
  private readonly waiting: Pending[] = [];
  private waitingBytes = 0;
  private readonly sendLimits: SendLimits;
  /** Where errors go when the application listens for none (set by the node). @internal */
  log: Logger = silentLogger;
  /** Counts application messages dropped on the way up (horus_app_dropped_total; set by the node). @internal */
  guard: InputGuard | null = null;
  /** @internal A partitionable group: its merge handler (null: the senior state wins) and the junior views merged so far. */
  partitionable: { handler: MergeHandler | null; keys: MergedKeys } | null = null;
  /** A merge marker sent in this view and not yet delivered: no second one. */
  private markerSent = false;
  /** This membership ended at a merge marker: what its old stack still hands up is not delivered. */
  private leftAtMarker = false;
  /** Counts sends refused because the held sends were at a limit (horus_app_backpressure_total; set by the node). @internal */
  backpressure: Counter | null = null;
  /** Counts event iterators that fell too far behind (horus_app_iterator_overflow_total; set by the node). @internal */
  iteratorOverflow: Counter | null = null;
  private closed = false;
  private readyResolve!: (g: Group) => void;
  private readyReject!: (e: Error) => void;
  private isReady = false;
  /** Resolves with the group once its first view is installed (with state, for a joiner). */
  readonly ready: Promise<Group>;

  /** @internal Groups come from `node.join()`. */
  constructor(
    readonly name: string,
    /** This member's id in the group (it changes when an excluded member rejoins as a new member). */
    public localId: NodeId,
    initialView: View | null,
    private readonly recorder: HistoryRecorder | undefined,
    private readonly now: () => number,
    private readonly hooks: GroupHooks,
    private readonly stateHandlers: StateHandlers | null = null,
    sendLimits: Partial<SendLimits> = {},
  ) {
    super();
    const parsed = sendLimitsSchema.safeParse(sendLimits);
    if (!parsed.success) throw new ConfigError(`sendLimits of group ${name}: ${z.prettifyError(parsed.error)}`);
    this.sendLimits = { ...DEFAULT_SEND_LIMITS, ...parsed.data };
    this.currentView = initialView ?? { group: name, id: 0, members: [] };
    this.direct = new DirectChannels({
      name: this.name,
      localId: () => this.localId,
      viewId: () => this.currentView.id,
      isMember: (id) => this.memberSet.has(id),
      now: () => this.now(),
      // The node replaces `timers` after construction: look it up at each use.
      timers: { setTimer: (ms, fn) => this.timers.setTimer(ms, fn) },
      down: (msg) => this.stack?.down(msg),
      drop: (from, reason, fields) => this.guard?.drop(from, reason, { group: this.name, ...fields }),
      deliver: (d) => this.notify('direct', d),
      handler: () => this.callHandler,
      reportError: (err) => this.reportError(err),
    });
    this.memberSet = new Set(this.currentView.members);
    this.ready = new Promise<Group>((resolve, reject) => {
      this.readyResolve = resolve;
      this.readyReject = reject;
    });
    // A join nobody awaits must not become an unhandled rejection.
    this.ready.catch(() => {});
    this.on('newListener', (event: string | symbol, listener: (...args: never[]) => void) => {
      if (event === 'view') this.oweView(listener);
      else if (event === 'message') this.messageListenersGen++;
    });
    this.on('removeListener', (event: string | symbol) => {
      if (event === 'message') this.messageListenersGen++;
    });
  }

  /** @internal wired by the node once the stack exists (again after a rejoin). */
  attach(stack: Stack, localId: NodeId): void {
    // A new membership (a rejoin) starts every point-to-point channel afresh; calls of the old one fail.
    if (localId !== this.localId) this.direct.reset(new HorusError('ERR_NOT_MEMBER', `${this.localId} is no longer a member of group ${this.name}`));
    this.stack = stack;
    // Per order code: does this stack provide that order (checked for every delivery, so looked up once here).
    this.providedOrders = ORDERS.map((o) => {
      const need = REQUIRED_LAYER[o];
      return need === null || stack.provides.has(need);
    });
    this.gms = stack.layers.find((l): l is GMS => l instanceof GMS) ?? null;
    this.localId = localId;
    // A fresh stack owes us nothing: credit held back by the old one's flow control is void.
    this.flowBlocked = false;
  }

  /** Why sends are held right now (empty when they flow). */
  get blockedReasons(): BlockReason[] {
    return [...this.blockedBy];
  }

  /**
   * The current view: set as soon as a view is installed, before any 'view' event for it, so it
   * holds the first view as soon as `join()` resolves. Before that: `{ id: 0, members: [] }`.
   */
  get view(): View {
    return this.currentView;
  }

  /** Answer queries: the handler's value (or the value its promise resolves to) goes back to the querier. */
  onQuery(handler: QueryHandler): void {
    this.queryHandler = handler;
  }

  /**
   * Send `payload` to one member, point-to-point: reliable and FIFO per pair of members while both
   * stay in the view, beside the group's multicasts (neither waits for the other). The target hears
   * it as a 'direct' event. Resolves once handed to the stack. A target not in the current view is
   * ERR_UNKNOWN_MEMBER; more than `maxUnackedPerPeer` unacknowledged sends to one member, ERR_BACKPRESSURE.
   */
  send(member: NodeId, payload: unknown): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError(`group ${this.name} was left`));
    try {
      this.direct.send(member, payload);
      return RESOLVED;
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  /**
   * Ask one member: its `onCall` handler's value (or what its promise resolves to) is the result.
   * Fails with ERR_UNKNOWN_MEMBER for a target not in the view, ERR_MEMBER_LEFT at once when the
   * target leaves the view before replying, ERR_REMOTE when its handler threw (or it has none),
   * ERR_TIMEOUT after `timeoutMs` (default 5000).
   */
  call(member: NodeId, payload: unknown, opts: CallOptions = {}): Promise<unknown> {
    if (this.closed) return Promise.reject(new ClosedError(`group ${this.name} was left`));
    try {
      return this.direct.call(member, payload, opts);
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  /** Answer calls (`group.call`) from other members; null stops answering (calls then fail with ERR_REMOTE). */
  onCall(handler: CallHandler | null): void {
    this.callHandler = handler;
  }

  /**
   * Answer requests from clients outside the group (`node.client(name)`): the handler's value (or
   * what its promise resolves to) is the reply; null stops serving (clients then try other members).
   */
  onRequest(handler: RequestHandler | null): void {
    this.clientHandler = handler;
  }

  /** @internal the handler of client requests, for the node's client endpoint. */
  get requestHandler(): RequestHandler | null {
    return this.clientHandler;
  }

  /** Calls of this member waiting for replies, and its point-to-point messages not yet acknowledged. */
  get directStats(): { pendingCalls: number; unacked: number } {
    return { pendingCalls: this.direct.pendingCalls, unacked: this.direct.unacked };
  }

  /** A point-to-point message: only to this very member, only as a unicast. */
  private upDirect(msg: Message, h: DirectHeader): void {
    if (msg.isMulticast || msg.dest !== this.localId)
      return this.guard?.drop(msg.src, 'point-to-point message not addressed to this member', { group: this.name });
    this.direct.receive(msg.src, h, msg.payload);
  }

  /**
   * Send `payload` to the group with the given order and collect replies. Collection ends when
   * `want` replies arrived, when every member that has not replied has left the view (as in Isis),
   * or at `timeoutMs`. The result says who replied, who failed (left the view) and who timed out.
   */
  query(payload: unknown, opts: QueryOptions = {}): Promise<QueryResult> {
    if (this.closed) return Promise.reject(new HorusError('ERR_NOT_MEMBER', `not a member of group ${this.name} any more`));
    const timeoutMs = opts.timeoutMs ?? 5000;
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0)
      return Promise.reject(new HorusError('ERR_INVALID_ARGUMENT', `timeoutMs must be a non-negative number, got ${timeoutMs}`));
    const n = this.currentView.members.length;
    const want = opts.want ?? 'all';
    const count = want === 'one' ? 1 : want === 'majority' ? Math.floor(n / 2) + 1 : want === 'all' ? n : want;
    if (!Number.isInteger(count) || count < 1 || count > n) {
      return Promise.reject(new HorusError('ERR_INVALID_ARGUMENT', `want ${JSON.stringify(want)} is not between 1 and the view's ${n} member(s)`));
    }
    const id = this.nextId; // the query's own message id
    const q = new PendingQuery(id, count, this.currentView.members, timeoutMs, this.timers, () => this.queries.delete(id));
    this.queries.set(id, q);
    this.castKind(opts.order ?? 'fifo', payload, undefined, AppKind.Query).catch((err: Error) => q.fail(err));
    return q.promise;
  }

  private answer(d: Delivery): void {
    const handler = this.queryHandler;
    if (!handler) return;
    const sendReply = (value: unknown): void => {
      if (this.closed) return;
      this.castKind('fifo', value, undefined, AppKind.Reply, { id: d.id, to: d.sender }).catch((err: Error) =>
        this.reportError(new HorusError('ERR_INVALID_ARGUMENT', `reply failed: ${err.message}`, { cause: err })),
      );
    };
    try {
      const r = handler(d);
      if (r instanceof Promise)
        r.then(sendReply, (err: unknown) =>
          this.reportError(new HorusError('ERR_INVALID_ARGUMENT', `query handler failed: ${(err as Error).message}`, { cause: err })),
        );
      else sendReply(r);
    } catch (err) {
      this.reportError(new HorusError('ERR_INVALID_ARGUMENT', `query handler threw: ${(err as Error).message}`, { cause: err }));
    }
  }

  /** Sends accepted but held back (flow control, a flush, a rejoin), waiting ones included. */
  get pendingSends(): number {
    return this.pending.length + this.waiting.length;
  }

  /** Largest payload this group's stack can carry (larger sends fail with ERR_TOO_LARGE). */
  get maxPayloadBytes(): number {
    return Math.min(MAX_PAYLOAD_BYTES, this.stack?.maxPayloadBytes ?? MAX_PAYLOAD_BYTES);
  }

  /** Payload bytes of the sends held back. */
  get pendingSendBytes(): number {
    return this.pendingBytes + this.waitingBytes;
  }

  /** True while flow control is holding this member's sends. */
  get blocked(): boolean {
    return this.flowBlocked;
  }

  /** FIFO multicast: each sender's messages arrive in the order sent. */
  fbcast(payload: unknown, opts?: SendOptions): Promise<void> {
    return this.cast('fifo', payload, opts);
  }

  /** Causal multicast: a message arrives after everything its sender had delivered when sending it. */
  cbcast(payload: unknown, opts?: SendOptions): Promise<void> {
    return this.cast('causal', payload, opts);
  }

  /**
   * Ordered against everything: delivered by every member at the same point relative to all other
   * messages and to view changes (it is carried by a view change, as in Isis). Expensive: use it
   * for rare, global events.
   */
  gbcast(payload: unknown, opts?: SendOptions): Promise<void> {
    return this.cast('group', payload, opts);
  }

  /**
   * Replace the group's access-control list: who may join (see Acl). The change travels by gbcast,
   * so every member switches at the same point in the message order, and the view change that
   * carries it leaves out members the new list refuses. Resolves once handed to the stack.
   */
  setAcl(acl: Acl): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError(`group ${this.name} was left`));
    if (!this.stack?.provides.has('gbcast')) return Promise.reject(new HorusError('ERR_INVALID_ARGUMENT', "setAcl needs GMS in this group's stack"));
    const denied = this.sendDenied();
    if (denied !== null) return Promise.reject(denied);
    let msg: Message;
    try {
      msg = aclChangeMessage(acl);
    } catch (err) {
      return Promise.reject(new HorusError('ERR_INVALID_ARGUMENT', `not an access-control list: ${(err as Error).message}`, { cause: err }));
    }
    this.stack.down(msg);
    return Promise.resolve();
  }

  /** Totally ordered multicast: every member delivers abcasts in the same order (consistent with causality). */
  abcast(payload: unknown, opts?: SendOptions): Promise<void> {
    return this.cast('total', payload, opts);
  }

  /**
   * Multicast to the current view. Resolves once the message is handed to the stack: at once
   * normally, later while flow control is holding this member back.
   */
  cast(order: Order, payload: unknown, opts?: SendOptions): Promise<void> {
    return this.castKind(order, payload, opts, AppKind.Plain);
  }

  private castKind(order: Order, payload: unknown, opts: SendOptions | undefined, kind: AppKind, re?: { id: number; to: NodeId }): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError(`group ${this.name} was left`));
    const need = REQUIRED_LAYER[order];
    if (need && !this.stack?.provides.has(need)) {
      return Promise.reject(new HorusError('ERR_INVALID_ARGUMENT', `${order} order needs a layer that provides "${need}" in this group's stack`));
    }
    if (opts?.safe && !this.stack?.provides.has('safe'))
      return Promise.reject(new HorusError('ERR_INVALID_ARGUMENT', 'safe delivery needs the SAFE layer in this stack'));
    let enc;
    try {
      // Bytes go as they are; a structured value is walked first, since the packer silently drops what it cannot carry.
      if (!(payload instanceof Uint8Array)) checkPayload(payload);
      enc = encodePayload(payload);
    } catch (err) {
      return Promise.reject(
        err instanceof HorusError ? err : new HorusError('ERR_INVALID_ARGUMENT', `payload cannot be encoded: ${(err as Error).message}`, { cause: err }),
      );
    }
    const { bytes, encoding } = enc;
    const limit = this.maxPayloadBytes;
    if (bytes.length > limit) {
      return Promise.reject(
        new HorusError(
          'ERR_TOO_LARGE',
          `payload of ${bytes.length} bytes is over the ${limit}-byte limit of group ${this.name}'s stack${this.stack?.layers.some((l) => l.name === 'FRAG') ? '' : ' (add FRAG to carry larger messages)'}`,
        ),
      );
    }
    const denied = this.sendDenied();
    if (denied !== null) return Promise.reject(denied);
    const id = this.nextId++;
    const msg = this.newSend(bytes);
    msg.order = ORDERS.indexOf(order);
    msg.safe = opts?.safe === true;
    if (kind === AppKind.Plain && !re) msg.push(APP_HEADER, plainAppHeader(msg.order, encoding, id));
    else {
      // One object, built in place (spreads would make two more and take a slow path).
      const header: AppHeader = { order: msg.order, encoding, id };
      if (kind !== AppKind.Plain) header.kind = kind;
      if (re) {
        header.re = re.id;
        header.to = re.to;
      }
      msg.push(APP_HEADER, header);
    }
    if (this.flowBlocked || this.blockedBy.size > 0 || this.pending.length > 0 || this.waiting.length > 0) return this.hold(msg);
    this.sendDown(msg, id, order);
    return RESOLVED;
  }

  /** Many FIFO multicasts in list order, handed to the stack as one batch: one promise for the list. */
  fbcastMany(payloads: readonly unknown[], opts?: SendOptions): Promise<void> {
    return this.castMany('fifo', payloads, opts);
  }

  /** Many causal multicasts as one batch (see fbcastMany). */
  cbcastMany(payloads: readonly unknown[], opts?: SendOptions): Promise<void> {
    return this.castMany('causal', payloads, opts);
  }

  /** Many totally ordered multicasts as one batch (see fbcastMany). */
  abcastMany(payloads: readonly unknown[], opts?: SendOptions): Promise<void> {
    return this.castMany('total', payloads, opts);
  }

  /**
   * Multicast every payload of the list, in order, as if by `cast` one after the other, but as
   * batches through the stack and with one promise for the whole list: it resolves once all are
   * handed to the stack. A payload that cannot be sent (encoding, size) fails the call before any is
   * sent. While the group is blocked the rest are held like single sends, within the send limits;
   * one that does not fit fails the promise with ERR_BACKPRESSURE, and the ones before it still go.
   */
  castMany(order: Order, payloads: readonly unknown[], opts?: SendOptions): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError(`group ${this.name} was left`));
    const need = REQUIRED_LAYER[order];
    if (need && !this.stack?.provides.has(need)) {
      return Promise.reject(new HorusError('ERR_INVALID_ARGUMENT', `${order} order needs a layer that provides "${need}" in this group's stack`));
    }
    if (opts?.safe && !this.stack?.provides.has('safe'))
      return Promise.reject(new HorusError('ERR_INVALID_ARGUMENT', 'safe delivery needs the SAFE layer in this stack'));
    const code = ORDERS.indexOf(order);
    const safe = opts?.safe === true;
    const limit = this.maxPayloadBytes;
    const msgs: Message[] = new Array<Message>(payloads.length);
    const encodings: PayloadEncoding[] = new Array<PayloadEncoding>(payloads.length);
    for (let i = 0; i < payloads.length; i++) {
      const payload = payloads[i];
      let enc;
      try {
        if (!(payload instanceof Uint8Array)) checkPayload(payload);
        enc = encodePayload(payload);
      } catch (err) {
        return Promise.reject(
          err instanceof HorusError ? err : new HorusError('ERR_INVALID_ARGUMENT', `payload ${i} cannot be encoded: ${(err as Error).message}`, { cause: err }),
        );
      }
      if (enc.bytes.length > limit) {
        return Promise.reject(
          new HorusError('ERR_TOO_LARGE', `payload ${i} of ${enc.bytes.length} bytes is over the ${limit}-byte limit of group ${this.name}'s stack`),
        );
      }
      const msg = this.newSend(enc.bytes);
      msg.order = code;
      msg.safe = safe;
      msgs[i] = msg;
      encodings[i] = enc.encoding;
    }
    const denied = this.sendDenied();
    if (denied !== null) return Promise.reject(denied);
    // Ids are taken only once the whole list is known to be sendable: a refused list leaves no gap.
    for (let i = 0; i < msgs.length; i++) msgs[i]!.push(APP_HEADER, plainAppHeader(code, encodings[i]!, this.nextId++));
    return this.sendMany(msgs, order);
  }

  /** ERR_ACCESS_DENIED when the group's ACL does not let this member send (its `send` list), else null. */
  private sendDenied(): HorusError | null {
    const why = this.gms?.sendRefusal() ?? null;
    return why === null ? null : new HorusError('ERR_ACCESS_DENIED', `group ${this.name}'s access-control list does not let this member send: ${why}`);
  }

  /** True while a send must wait: the group is blocked, or earlier sends are still held. */
  private get holding(): boolean {
    return this.flowBlocked || this.blockedBy.size > 0 || this.pending.length > 0 || this.waiting.length > 0;
  }

  /** Send a list down in batches while the group flows (flow control may block it between two); hold the rest. */
  private sendMany(msgs: Message[], order: Order): Promise<void> {
    const n = msgs.length;
    let i = 0;
    while (i < n && !this.holding) {
      const end = Math.min(n, i + SEND_BATCH);
      // The stack may overwrite the array it is given: the whole list only when nothing of it is held.
      const batch = i === 0 && end === n ? msgs : msgs.slice(i, end);
      for (let k = 0; k < batch.length; k++) {
        const m = batch[k]!;
        this.noteSend(m, appId(m.peek(APP_HEADER)!), order);
      }
      const last = batch[batch.length - 1]!; // read first: the stack may overwrite the array
      this.stack!.downBatch(batch);
      this.shareTypesOf(last);
      i = end;
    }
    return i === n ? RESOLVED : this.holdMany(msgs, i);
  }

  /** Hold msgs[from..] like single sends, under one promise that resolves when the last one is sent. */
  private holdMany(msgs: Message[], from: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const lim = this.sendLimits;
      const last = msgs.length - 1;
      for (let i = from; i <= last; i++) {
        const msg = msgs[i]!;
        const bytes = msg.payload.length;
        const entry: Pending = { msg, resolve: i === last ? resolve : noop, reject };
        if (
          this.waiting.length === 0 &&
          this.pending.length < lim.maxPendingSends &&
          (this.pending.length === 0 || this.pendingBytes + bytes <= lim.maxPendingBytes)
        ) {
          this.pendingBytes += bytes;
          this.pending.push(entry);
          continue;
        }
        if (
          lim.whenFull === 'wait' &&
          this.waiting.length < lim.maxPendingSends &&
          (this.waiting.length === 0 || this.waitingBytes + bytes <= lim.maxPendingBytes)
        ) {
          this.waitingBytes += bytes;
          this.waiting.push(entry);
          continue;
        }
        this.backpressure?.inc();
        reject(
          new HorusError(
            'ERR_BACKPRESSURE',
            `group ${this.name}: ${i} of the list's ${msgs.length} messages were sent or held, the rest refused: ${this.pendingSends} sends (${this.pendingSendBytes} bytes) are already held while the group is blocked; await sends, or raise sendLimits`,
          ),
        );
        return;
      }
    });
  }

  /** Keep a send until the group unblocks, within the send limits. */
  private hold(msg: Message): Promise<void> {
    const bytes = msg.payload.length;
    const lim = this.sendLimits;
    const fits = (count: number, held: number): boolean => count < lim.maxPendingSends && (count === 0 || held + bytes <= lim.maxPendingBytes);
    if (this.waiting.length === 0 && fits(this.pending.length, this.pendingBytes)) {
      this.pendingBytes += bytes;
      return new Promise<void>((resolve, reject) => this.pending.push({ msg, resolve, reject }));
    }
    if (lim.whenFull === 'wait' && fits(this.waiting.length, this.waitingBytes)) {
      this.waitingBytes += bytes;
      return new Promise<void>((resolve, reject) => this.waiting.push({ msg, resolve, reject }));
    }
    this.backpressure?.inc();
    return Promise.reject(
      new HorusError(
        'ERR_BACKPRESSURE',
        `group ${this.name}: ${this.pendingSends} sends (${this.pendingSendBytes} bytes) are already held while the group is blocked (${[...this.blockedBy, ...(this.flowBlocked ? ['flow-control'] : [])].join(', ')}); await sends, or raise sendLimits`,
      ),
    );
  }

  private sendDown(msg: Message, id: number, order: Order): void {
    this.noteSend(msg, id, order);
    this.stack!.down(msg);
    this.shareTypesOf(msg);
  }

  /** A multicast to send: its header types start as the last sent one's (see Message.sharingTypes). */
  private newSend(payload: Buffer): Message {
    const types = this.sendTypes;
    return types === null ? new Message(null, payload) : Message.sharingTypes(null, payload, types, this.sendSlots);
  }

  /**
   * `msg` went down the stack: its header types are those of the next send too, most likely. From
   * here on they are shared (a layer that pushes onto it later copies them first).
   */
  private shareTypesOf(msg: Message): void {
    msg.typesShared = true;
    const types = msg.htypes;
    if (types === this.sendTypes) return;
    this.sendTypes = types;
    // As many value slots as that send had headers (its types up to the first hole): a send through
    // the same layers fills them exactly, where the default leaves room for a full stack.
    let n = 0;
    while (n < types.length && types[n] !== undefined) n++;
    this.sendSlots = Math.max(1, n);
  }

  /** A send is handed to the stack: listeners and the history hear of it. */
  private noteSend(msg: Message, id: number, order: Order): void {
    const h = msg.peek(APP_HEADER);
    const kind = h === undefined ? AppKind.Plain : appKind(h);
    // No event object per message unless someone listens.
    if (this.listenerCount('send') > 0) this.notify('send', { id, order, view: this.currentView.id, kind });
    // Replies are the query machinery's, not application messages: they stay out of histories.
    if (kind !== AppKind.Reply) {
      this.recorder?.record({
        k: 'send',
        at: this.now(),
        node: this.localId,
        group: this.name,
        msg: messageName(this.localId, id),
        order: ORDERS.indexOf(order),
        view: this.currentView.id,
        ...(msg.safe ? { safe: true } : {}),
      });
    }
  }

  /**
   * @internal from the stack: a frame's worth of deliveries, handed to the application in one loop.
   * The 'message' listeners are called directly (as `emit` would: in order, `this` the group, the
   * rest skipped for that message when one throws), looked up again only when a listener was added
   * or removed meanwhile: no argument array or listener copy per delivery.
   */
  upBatch(batch: Message[]): void {
    let gen = -1;
    let listeners: ((d: Delivery) => void)[] = [];
    for (let i = 0; i < batch.length; i++) {
      const d = this.accept(batch[i]!);
      if (d === undefined) continue;
      if (this.queued !== null || this.owed.length > 0) {
        this.deliver(d);
        continue;
      }
      if (gen !== this.messageListenersGen) {
        gen = this.messageListenersGen;
        listeners = this.rawListeners('message') as ((d: Delivery) => void)[];
      }
      for (let k = 0; k < listeners.length; k++) {
        try {
          listeners[k]!.call(this, d);
        } catch (err) {
          this.reportError(new HorusError('ERR_INVALID_ARGUMENT', `message listener threw: ${(err as Error)?.message ?? String(err)}`, { cause: err }));
          break;
        }
      }
    }
  }

  /** @internal from the stack */
  up(msg: Message): void {
    const d = this.accept(msg);
    if (d !== undefined) this.deliver(d);
  }

  /** Queued behind the first view, or handed to the listeners now. */
  private deliver(d: Delivery): void {
    if (this.queued) {
      this.queued.push(['message', d]);
      return;
    }
    // An application handler that throws must not break the protocol.
    this.notify('message', d);
  }

  /**
   * A message from the stack: handled here if it is control traffic, a reply or a query; else the
   * delivery to hand to the application (recorded and counted).
   */
  private accept(msg: Message): Delivery | undefined {
    if (this.leftAtMarker) return;
    const dh = msg.pop(DIRECT_HEADER);
    if (dh !== undefined) {
      this.upDirect(msg, dh);
      return;
    }
    const h = msg.pop(APP_HEADER);
    if (h === undefined) return; // control traffic that no layer claimed
    const order = appOrder(h);
    const kind = appKind(h);
    // GMS marked it: the ACL does not let its sender send (dropped here, at its place in the order).
    if (isRefusedSend(msg)) return;
    // Only members speak in a group: anything else is a stranger's forgery.
    // (A frame's messages come from one sender: the set is asked once per run of it.)
    if (msg.src !== this.lastMemberSrc) {
      if (!this.memberSet.has(msg.src)) {
        this.guard?.drop(msg.src, 'application message from a non-member', { group: this.name });
        return;
      }
      this.lastMemberSrc = msg.src;
    }
    // Every application message is a multicast: one addressed to some members only would be
    // delivered by them alone, against virtual synchrony.
    if (!msg.isMulticast) {
      this.guard?.drop(msg.src, 'application message sent to one member', { group: this.name });
      return;
    }
    // An order this stack does not provide cannot have been kept: the label would be a lie.
    if (this.providedOrders[order] !== true) {
      this.guard?.drop(msg.src, `message claims ${ORDERS[order]} order, which this stack does not provide`, { group: this.name });
      return;
    }
    if (kind === AppKind.Merge) {
      this.onMergeControl(msg);
      return;
    }
    if (typeof h !== 'number' && kind === AppKind.Reply) {
      if (h.to === this.localId)
        this.queries.get(h.re ?? 0)?.reply(msg.src, new Delivery(this.name, msg.src, h.id, order, msg.payload, h.encoding, this.currentView.id));
      return;
    }
    const id = appId(h);
    this.recorder?.record({
      k: 'deliver',
      at: this.now(),
      node: this.localId,
      group: this.name,
      msg: messageName(msg.src, id),
      sender: msg.src,
      order,
      view: this.currentView.id,
    });
    this.delivered++;
    const d = new Delivery(this.name, msg.src, id, order, msg.payload, appEncoding(h), this.currentView.id);
    if (kind === AppKind.Query) {
      this.answer(d);
      return;
    }
    return d;
  }

  /** @internal from the stack */
  upEvent(ev: UpEvent): void {
    switch (ev.type) {
      case 'VIEW':
        if (ev.state !== undefined && ev.state !== null) {
          if (!this.applyState(ev.state)) return;
        }
        if (ev.provide) this.snapshot(ev);
        this.installView(ev.view);
        break;
      case 'STATE_INCOMING':
        ev.sink = this.stateSink(ev.size);
        break;
      case 'BLOCK_SEND':
        this.flowBlocked = true;
        this.notify('blocked', { reason: 'flow-control' });
        break;
      case 'UNBLOCK_SEND':
        this.flowBlocked = false;
        if (this.blockedBy.size === 0) this.notify('unblocked');
        this.drainPending();
        break;
      case 'BLOCKED':
        if (!this.blockedBy.has(ev.reason)) {
          this.blockedBy.add(ev.reason);
          this.recorder?.record({ k: 'blocked', at: this.now(), node: this.localId, group: this.name, reason: ev.reason });
          const err =
            ev.reason === 'minority'
              ? new HorusError('ERR_BLOCKED', `group ${this.name}: this member is in a minority partition and cannot make progress`)
              : null;
          this.notify('blocked', { reason: ev.reason, ...(err ? { error: err } : {}) });
        }
        break;
      case 'UNBLOCKED':
        if (this.blockedBy.size > 0) {
          this.recorder?.record({ k: 'unblocked', at: this.now(), node: this.localId, group: this.name, ...(ev.reason ? { reason: ev.reason } : {}) });
          if (ev.reason) this.blockedBy.delete(ev.reason);
          else this.blockedBy.clear();
          if (this.blockedBy.size === 0 && !this.flowBlocked) this.notify('unblocked');
        }
        this.drainPending();
        break;
      case 'LEFT':
        this.recorder?.record({ k: 'ended', at: this.now(), node: this.localId, group: this.name, how: 'left' });
        this.hooks.ended(this, { type: 'LEFT' });
        break;
      case 'EXCLUDED':
        this.recorder?.record({ k: 'ended', at: this.now(), node: this.localId, group: this.name, how: 'excluded' });
        this.hooks.ended(this, { type: 'EXCLUDED', viewId: ev.viewId });
        break;
      case 'JOIN_FAILED':
        this.recorder?.record({ k: 'ended', at: this.now(), node: this.localId, group: this.name, how: 'join-failed' });
        this.hooks.ended(this, { type: 'JOIN_FAILED', error: new HorusError(ev.code, ev.message) });
        break;
      case 'STABLE':
      case 'PEER_UP':
      case 'PEER_DOWN':
      case 'SUSPECT':
      case 'UNSUSPECT':
      case 'STRANGER':
      case 'FLUSH_REACHED':
      case 'LEASE_LOST':
      case 'LEASE_OK':
        break;
    }
  }

  /**
   * The state as of this view, for joiners: one byte says how to read it back (a streamed state is
   * bytes), then the state itself, read lazily and sent without a copy.
   */
  private snapshot(ev: { snapshot?: Buffer | StateSource | null; snapshotError?: Error | null }): void {
    const h = this.stateHandlers;
    if (this.partitionable) return this.wrappedSnapshot(ev);
    if (!h) return;
    if (this.queued) this.releaseQueued(); // the state must include what is still queued
    const name = isStreaming(h) ? 'state.getChunks()' : 'state.get()';
    try {
      if (isStreaming(h)) {
        const snap = h.getChunks();
        if (!Number.isSafeInteger(snap.size) || snap.size < 0) throw new Error(`size ${snap.size} is not a byte count`);
        const prefix = Buffer.of(PayloadEncoding.Bytes);
        ev.snapshot = {
          size: 1 + snap.size,
          open: () => prefixed(prefix, snap.chunks()),
          release: () => snap.release?.(),
        };
        return;
      }
      const state = h.get();
      if (!(state instanceof Uint8Array)) checkPayload(state);
      const enc = encodePayload(state);
      ev.snapshot = sourceOfBuffers([Buffer.of(enc.encoding), enc.bytes]);
    } catch (err) {
      ev.snapshotError = err as Error;
      this.reportError(new HorusError('ERR_STATE_TRANSFER', `${name} threw: ${(err as Error).message}`, { cause: err }));
    }
  }

  /** Where a joiner's streamed state goes: the application's receiver (null: GMS gathers it into one buffer for set()). */
  private stateSink(size: number): StateSink | null {
    const h = this.stateHandlers;
    if (!h || !isStreaming(h) || size === 0) return null;
    const total = size - 1; // after the encoding byte
    let taken = 0;
    return {
      write: (chunk) => {
        if (taken === 0 && chunk.length > 0) {
          if (chunk[0] !== PayloadEncoding.Bytes) throw new Error('the provider sends its state as a packed value; a streaming receiver takes bytes');
          chunk = chunk.subarray(1);
          taken = 1;
        }
        if (chunk.length === 0) return;
        h.receiveChunk(chunk, { offset: taken - 1, size: total });
        taken += chunk.length;
      },
      finish: () => h.finish(),
      abort: (reason) => {
        if (taken > 0) h.abort?.(reason);
      },
    };
  }

  /** Hand a joiner's snapshot to the application; false if it refused it. */
  private applyState(state: Buffer): boolean {
    const h = this.stateHandlers;
    try {
      if (this.partitionable && state[0] === MERGE_WRAPPED) {
        const inner = this.partitionable.keys.unwrap(state.subarray(1));
        if (!h || isStreaming(h) || inner.state.length === 0) return true;
        state = Buffer.concat([Buffer.of(inner.encoding), inner.state]);
      }
      // A streaming receiver took its bytes through stateSink already (only an empty state comes here).
      if (!h || isStreaming(h)) return true;
      if (state.length === 0) return true; // the provider keeps no state
      const encoding = state[0];
      if (encoding !== PayloadEncoding.Bytes && encoding !== PayloadEncoding.Packed) throw new Error(`snapshot encoding ${encoding} is unknown`);
      let snapshot: unknown;
      try {
        snapshot = decodePayload(state.subarray(1), encoding);
      } catch (err) {
        throw new Error(`the snapshot does not decode: ${(err as Error).message}`, { cause: err });
      }
      h.set(snapshot);
      return true;
    } catch (err) {
      this.hooks.ended(this, {
        type: 'JOIN_FAILED',
        error: new HorusError('ERR_STATE_TRANSFER', `the state could not be restored (state.set() or decoding threw): ${(err as Error).message}`, {
          cause: err,
        }),
      });
      // We are in the view below the application: leave it cleanly.
      this.stack?.downEvent({ type: 'LEAVE' });
      return false;
    }
  }

  /** The application's state as one value, with its encoding (empty bytes: no state kept). */
  private appState(): { enc: number; state: Buffer } {
    const h = this.stateHandlers;
    if (!h || isStreaming(h)) return { enc: PayloadEncoding.Bytes, state: Buffer.alloc(0) };
    if (this.queued) this.releaseQueued(); // the state must include what is still queued
    const value = h.get();
    if (!(value instanceof Uint8Array)) checkPayload(value);
    const enc = encodePayload(value);
    return { enc: enc.encoding, state: enc.bytes };
  }

  /** A partitionable group's state for joiners: the merged keys around the application's state. */
  private wrappedSnapshot(ev: { snapshot?: Buffer | StateSource | null; snapshotError?: Error | null }): void {
    try {
      const { enc, state } = this.appState();
      ev.snapshot = sourceOfBuffers([Buffer.of(MERGE_WRAPPED), this.partitionable!.keys.wrap(enc, state)]);
    } catch (err) {
      ev.snapshotError = err as Error;
      this.reportError(new HorusError('ERR_STATE_TRANSFER', `state.get() threw: ${(err as Error).message}`, { cause: err }));
    }
  }

  /**
   * @internal The node found a senior group of this name: ask the junior side (ours) to merge into it,
   * at one point of its sequence (a gbcast). A no-op unless partitionable, or while a marker is out.
   */
  startMerge(into: readonly NodeId[]): void {
    if (!this.partitionable || this.markerSent || this.closed) return;
    this.markerSent = true;
    this.castKind('group', encodeMergeControl({ t: 'marker', into: [...into] }), undefined, AppKind.Merge).catch((err: Error) => {
      this.markerSent = false;
      this.log.warn('merge marker not sent', { group: this.name, error: err.message });
    });
  }

  /** @internal After this member joined the senior group: send the junior side's state as a merge record. */
  sendMergeRecord(was: View, carried: { enc: number; state: Buffer }): void {
    const record = encodeMergeControl({
      t: 'record',
      was: { group: was.group, id: was.id, members: [...was.members] },
      enc: carried.enc,
      state: carried.state,
    });
    this.castKind('group', record, undefined, AppKind.Merge).catch((err: Error) =>
      this.reportError(new HorusError('ERR_INTERNAL', `the merge record could not be sent: ${err.message}`, { cause: err })),
    );
  }

  /** A merge marker or record, delivered in its order (see src/api/merge.ts). */
  private onMergeControl(msg: Message): void {
    const p = this.partitionable;
    if (!p) return this.guard?.drop(msg.src, 'merge control in a group that is not partitionable', { group: this.name });
    const c = decodeMergeControl(msg.payload);
    if (c === null) return this.guard?.drop(msg.src, 'malformed merge control', { group: this.name });
    if (this.queued) this.releaseQueued(); // what came before it is the application's first
    if (c.t === 'marker') {
      this.markerSent = false; // this membership ends here; the next one may merge again
      let carried;
      try {
        carried = this.appState();
      } catch (err) {
        return this.reportError(new HorusError('ERR_STATE_TRANSFER', `state.get() threw at a merge: ${(err as Error).message}`, { cause: err }));
      }
      this.recorder?.record({ k: 'merge-marker', at: this.now(), node: this.localId, group: this.name, view: this.currentView.id });
      this.leftAtMarker = true;
      this.hooks.mergeMarker?.(this, c.into, carried);
      return;
    }
    if (!recordFromItsSide(msg.src, c.was)) return this.guard?.drop(msg.src, 'merge record for a side its sender was not in', { group: this.name });
    const key = mergeKey(c.was);
    if (p.keys.has(key)) return; // another junior member's record of the same side
    p.keys.add(key);
    const theirView: View = { group: c.was.group, id: c.was.id, members: c.was.members };
    const h = this.stateHandlers;
    if (p.handler && h && !isStreaming(h) && c.state.length > 0) {
      try {
        const theirs = decodePayload(Buffer.from(c.state.buffer, c.state.byteOffset, c.state.byteLength), c.enc);
        const merged = p.handler({ mine: h.get(), theirs, view: this.currentView, theirView });
        h.set(merged);
      } catch (err) {
        this.reportError(new HorusError('ERR_STATE_TRANSFER', `the merge handler or state.set() threw: ${(err as Error).message}`, { cause: err }));
      }
    }
    this.recorder?.record({ k: 'merge', at: this.now(), node: this.localId, group: this.name, view: this.currentView.id, key });
    this.notify('merge', { view: this.currentView, theirView });
  }

  /** @internal */
  installView(view: View): void {
    this.currentView = view;
    this.leftAtMarker = false;
    this.markerSent = false; // a marker is delivered by the next view change at the latest: lost if not, so the next probe may send one
    this.memberSet = new Set(view.members);
    this.lastMemberSrc = null;
    for (const q of this.queries.values()) q.viewChanged(view);
    this.direct.viewChanged(view.members);
    this.recorder?.record({ k: 'view', at: this.now(), node: this.localId, group: this.name, view: view.id, members: view.members });
    this.hooks.viewInstalled(this, view);
    this.installed = true;
    if (this.queued) this.queued.push(['view', view]);
    else this.notify('view', view);
    if (!this.isReady) {
      this.isReady = true;
      // `await join()` resumes in a microtask; what arrives with the first view waits for the next
      // turn, so that listeners attached right after the await see every message (and, owed, the view).
      this.queued = [];
      this.timers.setTimer(0, () => this.releaseQueued());
      this.readyResolve(this);
    }
  }

  private releaseQueued(): void {
    const q = this.queued ?? [];
    this.queued = null;
    for (const [ev, arg] of q) this.notify(ev, arg);
  }

  /**
   * A 'view' listener is being attached once a view is installed: it is owed the current view,
   * which it hears on the next turn, or sooner, just before the next event the group emits
   * (so it always hears a view before the messages delivered in it). A listener removed before
   * then hears nothing; a `once` listener is used up by it.
   */
  private oweView(listener: (...args: never[]) => void): void {
    if (!this.installed || this.closed) return;
    this.owed.push({ listener, view: this.currentView });
    if (this.owedTimer) return;
    this.owedTimer = true;
    this.timers.setTimer(0, () => {
      this.owedTimer = false;
      this.payOwedViews();
    });
  }

  /** Hand owed views to the listeners still attached. */
  private payOwedViews(): void {
    while (this.owed.length > 0 && !this.closed) {
      const { listener, view } = this.owed.shift()!;
      // `once` wraps the listener: call the wrapper, which removes itself.
      const attached = this.rawListeners('view').find((l) => l === listener || (l as { listener?: unknown }).listener === listener);
      if (!attached) continue;
      try {
        (attached as (v: View) => void).call(this, view);
      } catch (err) {
        this.reportError(new HorusError('ERR_INVALID_ARGUMENT', `view listener threw: ${(err as Error)?.message ?? String(err)}`, { cause: err }));
      }
    }
    this.owed.length = 0;
  }

  /** @internal the join failed for good. */
  failReady(err: Error): void {
    if (!this.isReady) {
      this.isReady = true;
      this.readyReject(err);
    } else {
      this.reportError(err instanceof HorusError ? err : new HorusError('ERR_JOIN_REJECTED', err.message, { cause: err }));
    }
  }

  private drainPending(): void {
    while (this.pending.length > 0 && !this.flowBlocked && this.blockedBy.size === 0) {
      const p = this.pending.shift()!;
      this.pendingBytes -= p.msg.payload.length;
      this.admitWaiting();
      const h = p.msg.peek(APP_HEADER)!;
      this.sendDown(p.msg, appId(h), ORDERS[appOrder(h)] ?? 'fifo');
      p.resolve();
    }
  }

  /** Room was made in `pending`: the oldest waiting sends take it. */
  private admitWaiting(): void {
    while (this.waiting.length > 0) {
      const w = this.waiting[0]!;
      const bytes = w.msg.payload.length;
      if (this.pending.length >= this.sendLimits.maxPendingSends || (this.pending.length > 0 && this.pendingBytes + bytes > this.sendLimits.maxPendingBytes))
        return;
      this.waiting.shift();
      this.waitingBytes -= bytes;
      this.pendingBytes += bytes;
      this.pending.push(w);
    }
  }

  /**
   * Tell the application: an 'error' event when it listens for one (an EventEmitter throws an
   * 'error' nobody listens to), else the log. A listener that throws is contained too.
   */
  reportError(err: HorusError): void {
    if (this.listenerCount('error') === 0) {
      this.log.warn('group error (no error listener)', { group: this.name, code: err.code, error: err.message });
      return;
    }
    try {
      this.emit('error', err);
    } catch (thrown) {
      this.log.warn('an error listener threw', { group: this.name, error: (thrown as Error)?.message ?? String(thrown) });
    }
  }

  /**
   * @internal Hand an event to the application's listeners; a listener that throws harms neither
   * the stack nor the other events (it is reported as an error).
   */
  notify(event: string, arg?: unknown): void {
    if (this.owed.length > 0) {
      // A listener owed the very view being emitted hears it from the emit, once.
      if (event === 'view') this.owed = this.owed.filter((o) => o.view !== arg);
      this.payOwedViews();
    }
    try {
      if (arg === undefined) this.emit(event);
      else this.emit(event, arg);
    } catch (err) {
      this.reportError(new HorusError('ERR_INVALID_ARGUMENT', `${event} listener threw: ${(err as Error)?.message ?? String(err)}`, { cause: err }));
    }
  }

  /** @internal the stack failed for good (a fixed group): no more sends, held ones fail. */
  fail(err: HorusError): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of [...this.pending.splice(0), ...this.waiting.splice(0)]) p.reject(err);
    this.pendingBytes = this.waitingBytes = 0;
    for (const q of this.queries.values()) q.fail(err);
    this.direct.reset(err);
    if (!this.isReady) {
      this.isReady = true;
      this.readyReject(err);
    }
    this.notify('left');
  }

  async leave(): Promise<void> {
    if (this.closed) return;
    await this.hooks.leave(this);
    this.closed = true;
    this.direct.reset(new ClosedError(`group ${this.name} was left`));
  }

  /** True once left (or the node closed). */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Events as an async iterator: `for await (const ev of group)`. It starts with the current view
   * (once the first view is installed), then yields every later view and message in the order
   * the group delivers them. Ends when the group is left. The same as `group.events()`.
   */
  [Symbol.asyncIterator](): AsyncGenerator<GroupEvent> {
    return this.events();
  }

  /**
   * Views and messages as an async iterator (see `[Symbol.asyncIterator]`). The group does not wait
   * for a slow loop: events wait in a buffer of at most `maxBuffered` (default 10,000), past which the iterator
   * fails with ERR_BACKPRESSURE (counted in horus_app_iterator_overflow_total) rather than hold
   * without bound what peers send.
   */
  async *events(opts: { maxBuffered?: number } = {}): AsyncGenerator<GroupEvent> {
    const max = opts.maxBuffered ?? DEFAULT_MAX_BUFFERED_EVENTS;
    if (!Number.isInteger(max) || max < 1) throw new HorusError('ERR_INVALID_ARGUMENT', `maxBuffered must be a positive integer, got ${max}`);
    const queue: GroupEvent[] = [];
    let wake: (() => void) | null = null;
    let overflowed = false;
    const push = (ev: GroupEvent): void => {
      if (overflowed) return;
      if (queue.length >= max) {
        overflowed = true;
        this.iteratorOverflow?.inc();
      } else queue.push(ev);
      wake?.();
    };
    // Its 'view' listener is owed the current view (see oweView), so the iterator starts with it.
    const onMsg = (message: Delivery): void => push({ type: 'message', message });
    const onView = (view: View): void => push({ type: 'view', view });
    const onLeft = (): void => wake?.();
    this.on('message', onMsg);
    this.on('view', onView);
    this.on('left', onLeft);
    try {
      while (!this.closed || queue.length > 0) {
        const ev = queue.shift();
        if (ev) yield ev;
        else if (overflowed)
          throw new HorusError(
            'ERR_BACKPRESSURE',
            `group ${this.name}: the event loop fell ${max} events behind (maxBuffered); events after those were not kept: iterate faster, raise maxBuffered, or use on('message')`,
          );
        else await new Promise<void>((r) => (wake = r));
        wake = null;
      }
    } finally {
      this.off('message', onMsg);
      this.off('view', onView);
      this.off('left', onLeft);
    }
  }

  /** Only the messages, as an async iterator: `for await (const m of group.messages())` (as events(), same buffer bound). */
  async *messages(opts: { maxBuffered?: number } = {}): AsyncGenerator<Delivery> {
    for await (const ev of this.events(opts)) if (ev.type === 'message') yield ev.message;
  }

  /** @internal */
  markLeft(): void {
    this.closed = true;
    this.direct.reset(new ClosedError(`group ${this.name} was left`));
    this.notify('left');
  }
}

/** The encoding byte, then the application's chunks. */
function* prefixed(prefix: Buffer, chunks: Iterable<Uint8Array>): Generator<Uint8Array> {
  yield prefix;
  yield* chunks;
}
