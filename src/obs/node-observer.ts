import type { Delivery } from '../api/delivery.js';
import type { Group } from '../api/group.js';
import type { HorusNode } from '../api/node.js';
import { ORDERS, type Order } from '../api/app-header.js';
import type { HistoryEvent, HistoryRecorder } from '../core/history.js';
import { messageName } from '../core/history.js';
import type { View } from '../core/view.js';
import { wallNow } from './wall-clock.js';

/** What the dashboard and the admin API see of a node, one event at a time. */
export type ObservedEvent =
  | { type: 'view'; group: string; node: string; at: number; view: { id: number; members: string[] } }
  | { type: 'send'; group: string; node: string; msg: string; id: number; order: Order; at: number; viewId: number }
  | { type: 'deliver'; group: string; node: string; src: string; msg: string; id: number; order: Order; at: number; viewId: number }
  | { type: 'blocked'; group: string; node: string; at: number; reason: string }
  | { type: 'unblocked'; group: string; node: string; at: number }
  /** This member was excluded from the group; the node rejoins it as a new member. */
  | { type: 'excluded'; group: string; node: string; at: number };

export interface ViewRecord {
  id: number;
  members: string[];
  at: number;
}

export interface MemberCounters {
  /** Member id as it appears in views. */
  id: string;
  /** Messages from this member delivered here. */
  delivered: number;
  deliveredPerSec: number;
}

export interface GroupStatus {
  name: string;
  /** This node's id in the group's views. */
  localId: string;
  view: { id: number; members: string[] };
  viewsInstalled: number;
  blocked: boolean;
  /** Why sends are held: flow control, a flush, a minority partition, a join in progress. */
  blockedReasons: string[];
  pendingSends: number;
  left: boolean;
  sent: number;
  sentPerSec: number;
  delivered: number;
  deliveredPerSec: number;
  sentByOrder: Record<Order, number>;
  deliveredByOrder: Record<Order, number>;
  members: MemberCounters[];
}

export interface NodeStatus {
  node: string;
  endpoint: string;
  pid: number;
  startedAt: number;
  uptimeMs: number;
  groups: GroupStatus[];
}

/** Counts events in a sliding window of fixed buckets: cheap enough for every delivery. */
export class RateMeter {
  private readonly buckets: Float64Array;
  private readonly stamps: Float64Array;
  constructor(
    private readonly bucketMs = 500,
    bucketCount = 10,
  ) {
    this.buckets = new Float64Array(bucketCount);
    this.stamps = new Float64Array(bucketCount).fill(-1);
  }
  mark(now: number, n = 1): void {
    const slot = Math.floor(now / this.bucketMs);
    const i = slot % this.buckets.length;
    if (this.stamps[i] !== slot) {
      this.stamps[i] = slot;
      this.buckets[i] = 0;
    }
    this.buckets[i]! += n;
  }
  /** Events per second over the completed buckets of the window (the current one is partial). */
  perSec(now: number): number {
    const slot = Math.floor(now / this.bucketMs);
    let sum = 0;
    const n = this.buckets.length;
    for (let k = 1; k < n; k++) {
      const s = slot - k;
      const i = ((s % n) + n) % n;
      if (this.stamps[i] === s) sum += this.buckets[i]!;
    }
    return sum / (((n - 1) * this.bucketMs) / 1000);
  }
}

const zeroByOrder = (): Record<Order, number> => ({ fifo: 0, causal: 0, total: 0, group: 0 });

interface GroupState {
  group: Group;
  name: string;
  views: ViewRecord[];
  viewsInstalled: number;
  blocked: boolean;
  left: boolean;
  sent: number;
  delivered: number;
  sentRate: RateMeter;
  deliveredRate: RateMeter;
  sentByOrder: Record<Order, number>;
  deliveredByOrder: Record<Order, number>;
  bySender: Map<string, { delivered: number; rate: RateMeter }>;
  unsubscribe: () => void;
}

export interface NodeObserverOptions {
  /** Views kept per group. */
  maxViews?: number;
  /** Sampled message events kept for late subscribers (space-time diagram). */
  recentEvents?: number;
  /** Message events per second above which the stream is thinned (by message, so arrows stay whole). */
  eventBudgetPerSec?: number;
  /** How often new groups are looked for: the node has no 'group joined' event yet. */
  pollMs?: number;
  /** Recorder to pass history events on to (tests, the checker). */
  inner?: HistoryRecorder;
}

/** FNV-1a: cheap and stable, so every member samples the same messages. */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Watches one node from the outside: views, deliveries and flow-control state through the public
 * Group events, sends through the node's history recorder (the Group has no 'send' event yet).
 * Keeps counters, rates and view histories, and streams a sample of message events.
 */
export class NodeObserver {
  private node: HorusNode | null = null;
  private readonly groups = new Map<string, GroupState>();
  private readonly listeners = new Set<(ev: ObservedEvent) => void>();
  private readonly groupListeners = new Set<(g: Group) => void>();
  private readonly recent: ObservedEvent[] = [];
  private readonly opts: Required<Omit<NodeObserverOptions, 'inner'>>;
  private readonly inner: HistoryRecorder | undefined;
  private poll: NodeJS.Timeout | null = null;
  /** Message events pass when hash(msg) % stride === 0; stride doubles while over budget. */
  private stride = 1;
  private windowStart = 0;
  private windowCount = 0;
  readonly startedAt = Date.now();

  /** Give this to `createNode({ recorder })` so sends are seen. */
  readonly recorder: HistoryRecorder = {
    record: (ev: HistoryEvent) => {
      this.inner?.record(ev);
      // A group's first view or send: start tracking it now rather than at the next poll.
      if ((ev.k === 'view' || ev.k === 'send') && !this.groups.has(ev.group)) this.scan();
      if (ev.k === 'send') this.onSend(ev.group, ev.node, ev.msg, ev.order, ev.view);
    },
  };

  constructor(opts: NodeObserverOptions = {}) {
    this.opts = {
      maxViews: opts.maxViews ?? 200,
      recentEvents: opts.recentEvents ?? 500,
      eventBudgetPerSec: opts.eventBudgetPerSec ?? 300,
      pollMs: opts.pollMs ?? 200,
    };
    this.inner = opts.inner;
  }

  attach(node: HorusNode): void {
    this.node = node;
    this.scan();
    this.poll = setInterval(() => this.scan(), this.opts.pollMs);
    this.poll.unref();
  }

  detach(): void {
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
    for (const g of this.groups.values()) g.unsubscribe();
    this.groups.clear();
    this.listeners.clear();
  }

  /** Subscribe to the event stream; returns the unsubscribe function. */
  onEvent(fn: (ev: ObservedEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Called when a group is first seen. Through the recorder that is inside the installation of its
   * first view, before any message of that view is delivered (the node has no 'group' event yet).
   */
  onGroup(fn: (g: Group) => void): () => void {
    this.groupListeners.add(fn);
    return () => this.groupListeners.delete(fn);
  }

  /** Recent sampled events, oldest first. */
  recentEvents(): ObservedEvent[] {
    return this.recent.slice();
  }

  /** Picks up groups joined since the last scan (and again after a leave and rejoin). */
  scan(): void {
    const node = this.node;
    if (!node) return;
    for (const { name } of node.groups()) {
      const g = node.group(name);
      if (!g) continue;
      const known = this.groups.get(name);
      if (known && known.group === g) continue;
      known?.unsubscribe();
      this.track(g);
    }
  }

  private track(group: Group): void {
    const st: GroupState = {
      group,
      name: group.name,
      views: [],
      viewsInstalled: 0,
      blocked: group.blocked,
      left: false,
      sent: 0,
      delivered: 0,
      sentRate: new RateMeter(),
      deliveredRate: new RateMeter(),
      sentByOrder: zeroByOrder(),
      deliveredByOrder: zeroByOrder(),
      bySender: new Map(),
      unsubscribe: () => {},
    };
    const onView = (v: View): void => this.onView(st, v);
    const onMessage = (d: Delivery): void => this.onDeliver(st, d);
    const onBlocked = (info?: { reason?: string }): void => {
      st.blocked = true;
      this.emit({ type: 'blocked', group: st.name, node: group.localId, at: wallNow(), reason: info?.reason ?? 'unknown' });
    };
    const onUnblocked = (): void => {
      st.blocked = false;
      this.emit({ type: 'unblocked', group: st.name, node: group.localId, at: wallNow() });
    };
    const onExcluded = (): void => {
      this.emit({ type: 'excluded', group: st.name, node: group.localId, at: wallNow() });
    };
    const onLeft = (): void => {
      st.left = true;
    };
    group.on('view', onView);
    group.on('message', onMessage);
    group.on('blocked', onBlocked);
    group.on('unblocked', onUnblocked);
    group.on('left', onLeft);
    group.on('excluded', onExcluded);
    st.unsubscribe = () => {
      group.off('excluded', onExcluded);
      group.off('view', onView);
      group.off('message', onMessage);
      group.off('blocked', onBlocked);
      group.off('unblocked', onUnblocked);
      group.off('left', onLeft);
    };
    this.groups.set(group.name, st);
    for (const fn of this.groupListeners) fn(group);
    // The first view was installed during join, before we could listen (id 0: none yet).
    if (group.view.id > 0) this.onView(st, group.view);
  }

  private onView(st: GroupState, v: View): void {
    const last = st.views.at(-1);
    if (last && last.id === v.id && last.members.join() === v.members.join()) return;
    const rec: ViewRecord = { id: v.id, members: [...v.members], at: wallNow() };
    st.views.push(rec);
    if (st.views.length > this.opts.maxViews) st.views.shift();
    st.viewsInstalled++;
    this.emit({ type: 'view', group: st.name, node: st.group.localId, at: rec.at, view: { id: rec.id, members: rec.members } });
  }

  private onDeliver(st: GroupState, d: Delivery): void {
    const now = wallNow();
    st.delivered++;
    st.deliveredRate.mark(now);
    st.deliveredByOrder[d.order]++;
    let s = st.bySender.get(d.src);
    if (!s) st.bySender.set(d.src, (s = { delivered: 0, rate: new RateMeter() }));
    s.delivered++;
    s.rate.mark(now);
    const msg = messageName(d.src, d.id);
    if (this.sampled(msg, now)) {
      this.emit({ type: 'deliver', group: st.name, node: st.group.localId, src: d.src, msg, id: d.id, order: d.order, at: now, viewId: st.group.view.id });
    }
  }

  private onSend(groupName: string, node: string, msg: string, orderCode: number, viewId: number): void {
    const now = wallNow();
    const st = this.groups.get(groupName);
    const order = ORDERS[orderCode] ?? 'fifo';
    if (st) {
      st.sent++;
      st.sentRate.mark(now);
      st.sentByOrder[order]++;
    }
    if (this.sampled(msg, now)) {
      const id = Number(msg.slice(msg.lastIndexOf('#') + 1));
      this.emit({ type: 'send', group: groupName, node, msg, id, order, at: now, viewId });
    }
  }

  private sampled(msg: string, now: number): boolean {
    if (now - this.windowStart >= 1000) {
      if (this.windowCount > this.opts.eventBudgetPerSec) this.stride = Math.min(this.stride * 2, 1 << 20);
      else if (this.windowCount < this.opts.eventBudgetPerSec / 4 && this.stride > 1) this.stride /= 2;
      this.windowStart = now;
      this.windowCount = 0;
    }
    if (this.stride > 1 && hash32(msg) % this.stride !== 0) return false;
    this.windowCount++;
    return true;
  }

  private emit(ev: ObservedEvent): void {
    this.recent.push(ev);
    if (this.recent.length > this.opts.recentEvents) this.recent.splice(0, this.recent.length - this.opts.recentEvents);
    for (const fn of this.listeners) {
      try {
        fn(ev);
      } catch {
        // A broken subscriber (e.g. a closed HTTP stream) must not disturb delivery.
      }
    }
  }

  groupNames(): string[] {
    return [...this.groups.keys()];
  }

  viewHistory(group: string): ViewRecord[] | undefined {
    return this.groups.get(group)?.views.slice();
  }

  groupStatus(name: string): GroupStatus | undefined {
    const st = this.groups.get(name);
    if (!st) return undefined;
    const now = wallNow();
    const v = st.group.view;
    const senders = new Set<string>([...v.members, ...st.bySender.keys()]);
    const members: MemberCounters[] = [...senders].map((id) => {
      const s = st.bySender.get(id);
      return { id, delivered: s?.delivered ?? 0, deliveredPerSec: round2(s?.rate.perSec(now) ?? 0) };
    });
    return {
      name: st.name,
      localId: st.group.localId,
      view: { id: v.id, members: [...v.members] },
      viewsInstalled: st.viewsInstalled,
      blocked: st.blocked || st.group.blocked || st.group.blockedReasons.length > 0,
      blockedReasons: [...(st.group.blocked ? ['flow-control'] : []), ...st.group.blockedReasons],
      pendingSends: st.group.pendingSends,
      left: st.left,
      sent: st.sent,
      sentPerSec: round2(st.sentRate.perSec(now)),
      delivered: st.delivered,
      deliveredPerSec: round2(st.deliveredRate.perSec(now)),
      sentByOrder: { ...st.sentByOrder },
      deliveredByOrder: { ...st.deliveredByOrder },
      members,
    };
  }

  status(): NodeStatus {
    const node = this.node;
    return {
      node: node?.id ?? '',
      endpoint: node?.endpoint ?? '',
      pid: process.pid,
      startedAt: this.startedAt,
      uptimeMs: Date.now() - this.startedAt,
      groups: this.groupNames()
        .map((n) => this.groupStatus(n))
        .filter((g): g is GroupStatus => g !== undefined && !g.left),
    };
  }
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
