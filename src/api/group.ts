import { EventEmitter } from 'node:events';
import { ClosedError, HorusError } from '../core/errors.js';
import type { UpEvent } from '../core/events.js';
import type { HistoryRecorder } from '../core/history.js';
import { messageName } from '../core/history.js';
import { Message } from '../core/message.js';
import type { NodeId } from '../core/node-id.js';
import type { View } from '../core/view.js';
import { encodePayload } from '../codec/payload.js';
import type { Stack, StackTop } from '../stack/stack.js';
import { APP_HEADER, ORDERS, type Order } from './app-header.js';
import { Delivery } from './delivery.js';

export interface SendOptions {
  /** Deliver only once every member holds the message (needs the ordering issue's SAFE support). */
  safe?: boolean;
}

export type GroupEvent = { type: 'message'; message: Delivery } | { type: 'view'; view: View };

interface Pending {
  msg: Message;
  resolve: () => void;
}

const RESOLVED: Promise<void> = Promise.resolve();

/** Largest payload a group message may carry. */
export const MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;

/**
 * A member's handle on a group: send with a chosen order, receive messages and views.
 * Emits 'message' (Delivery), 'view' (View), 'blocked' / 'unblocked' (flow control), 'error'.
 */
export class Group extends EventEmitter implements StackTop {
  private stack: Stack | null = null;
  private currentView: View;
  private nextId = 1;
  private flowBlocked = false;
  private readonly pending: Pending[] = [];
  private closed = false;

  constructor(
    readonly name: string,
    readonly localId: NodeId,
    initialView: View,
    private readonly recorder: HistoryRecorder | undefined,
    private readonly now: () => number,
    private readonly onLeave: (g: Group) => Promise<void>,
  ) {
    super();
    this.currentView = initialView;
  }

  /** @internal wired by the node once the stack exists. */
  attach(stack: Stack): void {
    this.stack = stack;
  }

  get view(): View {
    return this.currentView;
  }

  /** Sends accepted but held back by flow control. */
  get pendingSends(): number {
    return this.pending.length;
  }

  /** True while flow control is holding this member's sends. */
  get blocked(): boolean {
    return this.flowBlocked;
  }

  fbcast(payload: unknown, opts?: SendOptions): Promise<void> {
    return this.cast('fifo', payload, opts);
  }

  /**
   * Multicast to the current view. Resolves once the message is handed to the stack: at once
   * normally, later while flow control is holding this member back.
   */
  cast(order: Order, payload: unknown, opts?: SendOptions): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError(`group ${this.name} was left`));
    if (opts?.safe) return Promise.reject(new HorusError('ERR_INVALID_ARGUMENT', 'safe delivery is not available in this stack'));
    if (order !== 'fifo') return Promise.reject(new HorusError('ERR_INVALID_ARGUMENT', `${order} order is not available in this stack`));
    let enc;
    try {
      enc = encodePayload(payload);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    if (enc.bytes.length > MAX_PAYLOAD_BYTES) {
      return Promise.reject(new HorusError('ERR_INVALID_ARGUMENT', `payload of ${enc.bytes.length} bytes is over the ${MAX_PAYLOAD_BYTES}-byte limit`));
    }
    const id = this.nextId++;
    const msg = new Message(null, enc.bytes);
    msg.push(APP_HEADER, { order: ORDERS.indexOf(order), encoding: enc.encoding, id });
    if (this.flowBlocked || this.pending.length > 0) {
      return new Promise<void>((resolve) => this.pending.push({ msg, resolve }));
    }
    this.send(msg, id, order);
    return RESOLVED;
  }

  private send(msg: Message, id: number, order: Order): void {
    this.recorder?.record({ k: 'send', at: this.now(), node: this.localId, group: this.name, msg: messageName(this.localId, id), order: ORDERS.indexOf(order), view: this.currentView.id });
    this.stack!.down(msg);
  }

  /** @internal from the stack */
  up(msg: Message): void {
    const h = msg.pop(APP_HEADER);
    if (h === undefined) return; // control traffic that no layer claimed
    this.recorder?.record({ k: 'deliver', at: this.now(), node: this.localId, group: this.name, msg: messageName(msg.src, h.id), sender: msg.src, order: h.order, view: this.currentView.id });
    const d = new Delivery(this.name, msg.src, h.id, h.order, msg.payload, h.encoding);
    try {
      this.emit('message', d);
    } catch (err) {
      // An application handler that throws must not break the protocol.
      this.emitError(new HorusError('ERR_INVALID_ARGUMENT', `message handler threw: ${(err as Error).message}`, { cause: err }));
    }
  }

  /** @internal from the stack */
  upEvent(ev: UpEvent): void {
    switch (ev.type) {
      case 'VIEW':
        this.installView(ev.view);
        break;
      case 'BLOCK_SEND':
        this.flowBlocked = true;
        this.emit('blocked', { reason: 'flow-control' });
        break;
      case 'UNBLOCK_SEND':
        this.flowBlocked = false;
        this.emit('unblocked');
        this.drainPending();
        break;
      case 'STABLE':
      case 'PEER_UP':
      case 'PEER_DOWN':
        break;
    }
  }

  /** @internal */
  installView(view: View): void {
    this.currentView = view;
    this.recorder?.record({ k: 'view', at: this.now(), node: this.localId, group: this.name, view: view.id, members: view.members });
    this.emit('view', view);
  }

  private drainPending(): void {
    while (this.pending.length > 0 && !this.flowBlocked) {
      const p = this.pending.shift()!;
      const h = p.msg.peek(APP_HEADER)!;
      this.send(p.msg, h.id, ORDERS[h.order] ?? 'fifo');
      p.resolve();
    }
  }

  private emitError(err: HorusError): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  async leave(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.onLeave(this);
  }

  /** Events as an async iterator: `for await (const ev of group)`. Ends when the group is left. */
  async *[Symbol.asyncIterator](): AsyncGenerator<GroupEvent> {
    const queue: GroupEvent[] = [];
    let wake: (() => void) | null = null;
    const onMsg = (message: Delivery): void => {
      queue.push({ type: 'message', message });
      wake?.();
    };
    const onView = (view: View): void => {
      queue.push({ type: 'view', view });
      wake?.();
    };
    const onLeft = (): void => wake?.();
    this.on('message', onMsg);
    this.on('view', onView);
    this.on('left', onLeft);
    try {
      while (!this.closed || queue.length > 0) {
        const ev = queue.shift();
        if (ev) yield ev;
        else await new Promise<void>((r) => (wake = r));
        wake = null;
      }
    } finally {
      this.off('message', onMsg);
      this.off('view', onView);
      this.off('left', onLeft);
    }
  }

  /** @internal */
  markLeft(): void {
    this.closed = true;
    this.emit('left');
  }
}
