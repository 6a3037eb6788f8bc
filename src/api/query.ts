import type { Timer } from '../core/env.js';
import type { NodeId } from '../core/node-id.js';
import type { View } from '../core/view.js';
import type { Order } from './app-header.js';
import type { Delivery } from './delivery.js';

export type QueryHandler = (query: Delivery) => unknown;

export interface QueryOptions {
  /** Order of the query message itself (default 'fifo'). */
  order?: Order;
  /** How many replies end the collection: 'one', 'majority', 'all' (default) or a number. */
  want?: 'one' | 'majority' | 'all' | number;
  /** Give up waiting after this long (default 5000 ms). */
  timeoutMs?: number;
}

export interface QueryReply {
  from: NodeId;
  payload: unknown;
  raw: Buffer;
}

export interface QueryResult {
  replies: QueryReply[];
  /** Members that left the view before replying. */
  failed: NodeId[];
  /** Members still in the view that had not replied when time ran out. */
  timedOut: NodeId[];
}

export interface QueryTimers {
  setTimer(ms: number, fn: () => void): Timer;
}

/** One outstanding query: collects replies until enough came, the rest left, or time ran out. */
export class PendingQuery {
  readonly promise: Promise<QueryResult>;
  private resolve!: (r: QueryResult) => void;
  private reject!: (e: Error) => void;
  private readonly replies = new Map<NodeId, QueryReply>();
  private readonly waitingFor: Set<NodeId>;
  private readonly failed = new Set<NodeId>();
  private readonly timer: Timer;
  private done = false;

  constructor(
    readonly id: number,
    private readonly want: number,
    members: readonly NodeId[],
    timeoutMs: number,
    timers: QueryTimers,
    private readonly onDone: () => void,
  ) {
    this.waitingFor = new Set(members);
    this.promise = new Promise<QueryResult>((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    this.timer = timers.setTimer(timeoutMs, () => this.finish());
  }

  reply(from: NodeId, d: Delivery): void {
    if (this.done || !this.waitingFor.has(from)) return;
    this.waitingFor.delete(from);
    this.replies.set(from, { from, payload: d.payload, raw: d.raw });
    if (this.replies.size >= this.want) this.finish();
  }

  /** Members that left can no longer reply: if nobody else can, stop waiting. */
  viewChanged(v: View): void {
    for (const m of [...this.waitingFor]) {
      if (!v.members.includes(m)) {
        this.waitingFor.delete(m);
        this.failed.add(m);
      }
    }
    if (this.waitingFor.size === 0 || this.replies.size + this.waitingFor.size < this.want) this.finish();
  }

  fail(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.timer.cancel();
    this.onDone();
    this.reject(err);
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.timer.cancel();
    this.onDone();
    this.resolve({ replies: [...this.replies.values()], failed: [...this.failed], timedOut: [...this.waitingFor] });
  }
}
