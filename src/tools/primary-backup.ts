import type { ClientRequest } from '../api/client.js';
import type { Delivery } from '../api/delivery.js';
import type { Group, SnapshotStateHandlers } from '../api/group.js';
import type { HorusNode, JoinOptions } from '../api/node.js';
import { HorusError, type HorusErrorCode } from '../core/errors.js';
import type { NodeId } from '../core/node-id.js';
import type { View } from '../core/view.js';
import { encodePayload } from '../codec/payload.js';
import { checkPayload } from '../api/payload-check.js';
import { joinTool } from './join-tool.js';

/** The application under a PrimaryBackup: the primary executes, every member applies the updates. */
export interface PrimaryBackupMachine {
  /**
   * On the primary only: run one request against the current state and say what changed
   * (`update`, applied everywhere with `applyUpdate`, here too) and what to answer (`reply`).
   * It may do what cannot be replayed (talk to the outside world): backups never run it. A throw
   * fails the request (its HorusError code reaches the client) and changes nothing.
   */
  execute(request: unknown, client: string): { update: unknown; reply: unknown };
  /** Apply an update the primary made (deterministic). */
  applyUpdate(update: unknown): void;
  snapshot(): unknown;
  restore(snapshot: unknown): void;
}

export interface PrimaryBackupOptions {
  /** Replies kept for retried requests, per client (default 1024). */
  maxCachedPerClient?: number;
  /** Requests being executed and forwarded at once (more fail with ERR_BACKPRESSURE; default 10,000). */
  maxInFlight?: number;
}

const TAG = 'horus.pb';

/** [tag, client, id, acked, update, reply] sent by the primary. */
type Forward = [string, string, number, number, unknown, unknown];

interface ClientEntry {
  acked: number;
  replies: Map<number, unknown>;
}

/**
 * Primary-backup replication: the view's oldest member is the primary (chosen from the view, no
 * extra messages), and only while the group is not blocked (a minority primary stops acting).
 * It executes each request, applies the update at once, and forwards it to the backups with
 * safe delivery; it answers once every member holds the update, so an answered request survives
 * the primary's crash. A new view names the new primary, which holds every update the old one
 * answered for. Backups apply updates only from their view's primary: two primaries never act
 * in one view. Requests come from clients (`node.client`, which follow the primary on
 * ERR_NOT_PRIMARY) or from members (`pb.request`); retried request ids are answered from a reply
 * cache that is part of the replicated state.
 */
export class PrimaryBackup {
  private group_: Group | null = null;
  private readonly clients = new Map<string, ClientEntry>();
  /** Forwarded by this primary and not yet delivered back: who waits for them. */
  private readonly inFlight = new Map<string, { resolve: (v: unknown) => void; reject: (e: Error) => void; promise: Promise<unknown> }>();
  private readonly maxPerClient: number;
  private readonly maxInFlight: number;
  private nextOwn = 1;
  private changeWait: Promise<void> | null = null;
  /**
   * The view as the group's events told it: the view the messages now delivered were sent in
   * (group.view runs ahead of it while a joiner's first events wait for their turn).
   */
  private eventView: View | null = null;
  /** Forwards dropped because their sender was not the view's primary. */
  rejectedForwards = 0;
  /** Requests this member executed as primary. */
  executed = 0;

  static join(
    node: HorusNode,
    name: string,
    machine: PrimaryBackupMachine,
    opts: Omit<JoinOptions, 'state'> & PrimaryBackupOptions = {},
  ): Promise<PrimaryBackup> {
    const { maxCachedPerClient, maxInFlight, ...joinOpts } = opts;
    const pb = new PrimaryBackup(machine, { ...(maxCachedPerClient ? { maxCachedPerClient } : {}), ...(maxInFlight ? { maxInFlight } : {}) });
    return joinTool(node, name, pb, joinOpts);
  }

  constructor(
    private readonly machine: PrimaryBackupMachine,
    opts: PrimaryBackupOptions = {},
  ) {
    this.maxPerClient = opts.maxCachedPerClient ?? 1024;
    this.maxInFlight = opts.maxInFlight ?? 10_000;
  }

  readonly state: SnapshotStateHandlers = {
    get: () => ({ m: this.machine.snapshot(), c: [...this.clients].map(([id, e]) => [id, e.acked, [...e.replies]]) }),
    set: (snap: unknown) => {
      const s = snap as { m?: unknown; c?: unknown };
      if (!s || typeof s !== 'object' || !Array.isArray(s.c)) throw new HorusError('ERR_STATE_TRANSFER', 'not a primary-backup snapshot');
      this.machine.restore(s.m);
      this.clients.clear();
      for (const [id, acked, replies] of s.c as [string, number, [number, unknown][]][]) this.clients.set(id, { acked, replies: new Map(replies) });
    },
  };

  attach(group: Group): this {
    if (this.group_) throw new HorusError('ERR_INVALID_ARGUMENT', 'this primary-backup is attached to a group already');
    this.group_ = group;
    group.on('message', (d) => this.onMessage(d));
    const failAll = (code: HorusErrorCode, why: string): void => {
      for (const p of this.inFlight.values()) p.reject(new HorusError(code, why));
      this.inFlight.clear();
    };
    // A primary that lost its place cannot know whether its forwards will be delivered.
    group.on('view', (v) => {
      this.eventView = v;
      if (v.members[0] !== group.localId) failAll('ERR_NOT_PRIMARY', `no longer the primary of ${group.name}`);
    });
    group.on('excluded', () => failAll('ERR_NOT_MEMBER', `excluded from ${group.name}`));
    group.on('left', () => failAll('ERR_CLOSED', `${group.name} was left`));
    group.onRequest((req: ClientRequest) => this.handle(req.client, req.id, req.acked, req.payload));
    // Members' own requests reach the primary as calls: [tag, their request number, payload].
    group.onCall((d) => {
      const p = d.payload;
      if (!Array.isArray(p) || p[0] !== TAG || p.length !== 3 || typeof p[1] !== 'number')
        throw new HorusError('ERR_INVALID_ARGUMENT', 'not a primary-backup request');
      return this.handle(d.sender, p[1] as number, 0, p[2]);
    });
    return this;
  }

  get group(): Group {
    if (!this.group_) throw new HorusError('ERR_INVALID_ARGUMENT', 'attach first');
    return this.group_;
  }

  /** The primary of the current view (its oldest member). */
  get primary(): NodeId | null {
    return this.group.view.members[0] ?? null;
  }

  /** True while this member acts as the primary: it heads the view and the group is not blocked. */
  get isPrimary(): boolean {
    const g = this.group;
    // A flush only holds sends for a moment; a minority or a rejoin means another may be primary.
    return !g.isClosed && g.view.members[0] === g.localId && !g.blockedReasons.some((r) => r === 'minority' || r === 'joining');
  }

  /** A request from this member itself: sent to the primary when this member is not it. */
  async request(payload: unknown, opts: { timeoutMs?: number } = {}): Promise<unknown> {
    if (this.isPrimary) return this.handle(this.group.localId, this.nextOwn++, 0, payload);
    const p = this.primary;
    if (p === null) throw new HorusError('ERR_NOT_PRIMARY', `${this.group.name} has no primary yet`);
    return this.group.call(p, [TAG, this.nextOwn++, payload], opts);
  }

  /** Heads the view but is blocked as a minority for now (a lease lapsing an instant): wait for that to end, or for a new view. */
  private get headsButBlocked(): boolean {
    const g = this.group;
    return !g.isClosed && g.view.members[0] === g.localId && !this.isPrimary;
  }

  /** Resolves at the group's next unblock, view or leave (one wait shared by every request held meanwhile). */
  private untilChange(): Promise<void> {
    this.changeWait ??= new Promise<void>((resolve) => {
      const done = (): void => {
        this.group.off('unblocked', done);
        this.group.off('view', done);
        this.group.off('left', done);
        this.changeWait = null;
        resolve();
      };
      this.group.on('unblocked', done);
      this.group.on('view', done);
      this.group.on('left', done);
    });
    return this.changeWait;
  }

  private handle(client: string, id: number, acked: number, payload: unknown): unknown {
    if (this.headsButBlocked) return this.untilChange().then(() => this.handle(client, id, acked, payload));
    if (!this.isPrimary)
      throw new HorusError('ERR_NOT_PRIMARY', `${this.group.localId} is not the primary of ${this.group.name}; ${this.primary ?? 'none'} is`);
    const e = this.clients.get(client);
    if (e?.replies.has(id)) return e.replies.get(id);
    const key = `${id}@${client}`;
    const waiting = this.inFlight.get(key);
    if (waiting) return waiting.promise;
    if (this.inFlight.size >= this.maxInFlight) throw new HorusError('ERR_BACKPRESSURE', `${this.inFlight.size} requests are in flight`);
    const { update, reply } = this.machine.execute(payload, client);
    this.executed++;
    const fwd: Forward = [TAG, client, id, acked, update, reply];
    // The update is applied here before the backups have it: check first that it can travel.
    if (!(update instanceof Uint8Array)) checkPayload(fwd);
    if (encodePayload(fwd).bytes.length > this.group.maxPayloadBytes)
      throw new HorusError('ERR_TOO_LARGE', `the update and reply of request ${id} are over the group's payload limit`);
    this.machine.applyUpdate(update);
    let resolve!: (v: unknown) => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<unknown>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.inFlight.set(key, { resolve, reject, promise });
    this.group.fbcast(fwd, { safe: true }).catch((err: Error) => {
      if (!this.inFlight.delete(key)) return;
      reject(err);
      // This replica applied an update the others will never see: it rejoins, taking the group's state.
      this.group.reportError(
        new HorusError('ERR_STATE_TRANSFER', `primary ${this.group.localId} could not forward an update it applied: leaving`, { cause: err }),
      );
      this.group.leave().catch(() => {});
    });
    return promise;
  }

  private onMessage(d: Delivery): void {
    let raw: unknown;
    try {
      raw = d.payload;
    } catch {
      return;
    }
    if (!Array.isArray(raw) || raw[0] !== TAG || raw.length !== 6) return;
    const [, client, id, acked, update, reply] = raw as Forward;
    if (typeof client !== 'string' || typeof id !== 'number' || typeof acked !== 'number') return;
    // Only the primary of the view a forward is delivered in may change the state.
    if (d.sender !== (this.eventView ?? this.group.view).members[0]) {
      this.rejectedForwards++;
      return;
    }
    const mine = d.sender === this.group.localId;
    if (!mine) this.machine.applyUpdate(update);
    this.remember(client, id, acked, reply);
    const key = `${id}@${client}`;
    const w = mine ? this.inFlight.get(key) : undefined;
    if (w) {
      this.inFlight.delete(key);
      w.resolve(reply);
    }
  }

  private remember(client: string, id: number, acked: number, reply: unknown): void {
    let e = this.clients.get(client);
    if (!e) this.clients.set(client, (e = { acked: 0, replies: new Map() }));
    if (acked > e.acked) {
      e.acked = acked;
      for (const k of [...e.replies.keys()]) if (k <= acked) e.replies.delete(k);
    }
    e.replies.set(id, reply);
    if (e.replies.size > this.maxPerClient) e.replies.delete(e.replies.keys().next().value!);
  }
}
