import { EventEmitter } from 'node:events';
import { ClosedError, type HorusError } from '../core/errors.js';
import type { View } from '../core/view.js';
import type { NodeId } from '../core/node-id.js';
import type { Delivery } from '../api/delivery.js';
import type { Order } from '../api/app-header.js';
import type { SendOptions, SnapshotStateHandlers } from '../api/group.js';

/**
 * Where a light-weight group stands at this member:
 * - 'joining': its join is on its way (or waits for the heavy-weight group to flow);
 * - 'awaiting-state': it is in the view, and waits for the state that comes with it;
 * - 'member': in the view; 'leaving': its leave is on its way (it still delivers until it is out);
 * - 'closed': left (or the service closed).
 */
export type LwgStatus = 'joining' | 'awaiting-state' | 'member' | 'leaving' | 'closed';

/** The events a light-weight group emits, as a Group does (a subset of GroupEventMap). */
export interface LightweightGroupEventMap {
  /** A message delivered in this group (sender, view, order, payload). */
  message: [Delivery];
  /** A view of this group was installed (members oldest first). */
  view: [View];
  /** This member's heavy-weight group excluded it: it joins this group again (as a new member) once the HWG takes it back. */
  excluded: [{ viewId: number }];
  /** Something the application should hear of (a listener or state handler threw, a state could not be restored). */
  error: [HorusError];
  /** This member left the group: no more events. */
  left: [];
}

/** @internal What the handle asks of its service. */
export interface LwgHost {
  cast(g: LightweightGroup, order: Order, payload: unknown, opts: SendOptions | undefined): Promise<void>;
  leave(g: LightweightGroup): Promise<void>;
}

/** A send held back while the group flushes (or the heavy-weight group is blocked). */
export interface HeldSend {
  order: number;
  encoding: number;
  bytes: Buffer;
  safe: boolean;
  resolve: () => void;
  reject: (err: Error) => void;
}

const UNSET_VIEW: View = Object.freeze({ group: '', id: 0, members: Object.freeze([]) as readonly NodeId[] });

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging -- typed overloads of EventEmitter's on/once/off
export interface LightweightGroup {
  on<K extends keyof LightweightGroupEventMap>(event: K, listener: (...args: LightweightGroupEventMap[K]) => void): this;
  once<K extends keyof LightweightGroupEventMap>(event: K, listener: (...args: LightweightGroupEventMap[K]) => void): this;
  off<K extends keyof LightweightGroupEventMap>(event: K, listener: (...args: LightweightGroupEventMap[K]) => void): this;
}

/**
 * A member's handle on a light-weight group (docs/lightweight-groups.md): the same shape as a
 * Group for views, sends and events, carried by a heavy-weight group it shares with many others.
 * Idle, it is a few fields: no timer, no promise, no stack of its own.
 */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging -- see the interface above
export class LightweightGroup extends EventEmitter {
  /** @internal */
  status: LwgStatus = 'joining';
  /** @internal the join message went out (for the current HWG membership). */
  joinSent = false;
  /** @internal the application left while the join was on its way: leave as soon as it is in. */
  leaveWhenIn = false;
  /** @internal sends held back (null when none: the common, idle case). */
  held: HeldSend[] | null = null;
  /** @internal while waiting for the state: the view it joins, who may send it, and what arrived meanwhile. */
  awaiting: { view: number; members: readonly NodeId[]; providers: NodeId[]; backlog: (Delivery | View)[] } | null = null;
  /** @internal states that arrived before the abcast that lets this member in (rare: point-to-point overtook it). */
  early: { from: NodeId; view: number; state: Buffer }[] | null = null;
  /** @internal the join's waiter (cleared once in). */
  waiter: { done(g: LightweightGroup): void; fail(err: Error): void } | null = null;
  /** @internal resolves leave() once out. */
  leftWaiters: (() => void)[] | null = null;
  private current: View = UNSET_VIEW;

  /** @internal groups come from `LightweightGroups.join()`. */
  constructor(
    readonly name: string,
    private readonly host: LwgHost,
    /** @internal */
    readonly state: SnapshotStateHandlers | null,
  ) {
    super();
  }

  /** The current view (`{ id: 0, members: [] }` before the first). */
  get view(): View {
    return this.current.id === 0 ? { group: this.name, id: 0, members: [] } : this.current;
  }

  /** @internal */
  setView(v: View): void {
    this.current = v;
  }

  /** True once left. */
  get isClosed(): boolean {
    return this.status === 'closed';
  }

  /** Sends held back (the group is flushing a membership change, or the heavy-weight group is blocked). */
  get pendingSends(): number {
    return this.held?.length ?? 0;
  }

  /** FIFO multicast to this group's view (carried in the HWG's total order: see docs). */
  fbcast(payload: unknown, opts?: SendOptions): Promise<void> {
    return this.host.cast(this, 'fifo', payload, opts);
  }

  /** Causal multicast. */
  cbcast(payload: unknown, opts?: SendOptions): Promise<void> {
    return this.host.cast(this, 'causal', payload, opts);
  }

  /** Totally ordered multicast: every member delivers this group's abcasts in one order. */
  abcast(payload: unknown, opts?: SendOptions): Promise<void> {
    return this.host.cast(this, 'total', payload, opts);
  }

  /** Ordered against every message and view change of this group (as cheap as an abcast here). */
  gbcast(payload: unknown, opts?: SendOptions): Promise<void> {
    return this.host.cast(this, 'group', payload, opts);
  }

  /** Multicast with the given order. Resolves once handed to the heavy-weight group. */
  cast(order: Order, payload: unknown, opts?: SendOptions): Promise<void> {
    return this.host.cast(this, order, payload, opts);
  }

  /** Leave the group: resolves once this member is out of its view (its leave flushed). */
  leave(): Promise<void> {
    if (this.status === 'closed') return Promise.resolve();
    return this.host.leave(this);
  }

  /** @internal emit to the application; a listener that throws is reported, not propagated. */
  notify<K extends keyof LightweightGroupEventMap>(event: K, ...args: LightweightGroupEventMap[K]): void {
    try {
      this.emit(event, ...args);
    } catch (err) {
      if (event !== 'error' && this.listenerCount('error') > 0) this.emit('error', err as HorusError);
    }
  }

  /** @internal fail what is held and mark closed. */
  close(err: Error = new ClosedError(`light-weight group ${this.name} was left`)): void {
    if (this.status === 'closed') return;
    this.status = 'closed';
    for (const h of this.held ?? []) h.reject(err);
    this.held = null;
    this.awaiting = null;
    this.waiter?.fail(err);
    this.waiter = null;
    for (const w of this.leftWaiters ?? []) w();
    this.leftWaiters = null;
    this.notify('left');
  }
}
