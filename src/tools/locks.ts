import type { Group, SnapshotStateHandlers } from '../api/group.js';
import type { HorusNode, JoinOptions } from '../api/node.js';
import { HorusError } from '../core/errors.js';
import type { Timer } from '../core/env.js';
import type { View } from '../core/view.js';
import { OrderedOps } from './ordered-ops.js';
import { joinTool } from './join-tool.js';

/**
 * Proof of a grant, to hand to whatever the lock protects: `grant` numbers every grant of the
 * service (all names together) and only grows, so a resource that remembers the highest token it
 * saw refuses a holder that lost its lock (paused, cut off) and comes back. `viewId` is the view
 * the grant was made in. Compare with `isNewerToken`.
 */
export interface FencingToken {
  viewId: number;
  grant: number;
}

/** True if `a` was granted after `b`. */
export function isNewerToken(a: FencingToken, b: FencingToken): boolean {
  return a.grant > b.grant;
}

/** A lock or permit held by this member. */
export interface Grant {
  name: string;
  /** The member it was granted to: this member's id in the group at the grant (it changes if it rejoins). */
  member: string;
  token: FencingToken;
  /**
   * False once this member may have lost the grant without releasing it: it was blocked as a
   * minority (the others may exclude it and grant the lock again), excluded, or left. Stop acting
   * on the lock then (the 'lost' listeners hear it at that moment); the fencing token guards the rest.
   */
  readonly valid: boolean;
  /** Give it back (resolves once the release is applied; ERR_NOT_HOLDER if it was lost already). */
  release(): Promise<void>;
}

export interface AcquireOptions {
  /** Stop waiting after this long (ERR_TIMEOUT); the request is withdrawn (default: wait as long as it takes). */
  timeoutMs?: number;
}

/** Names are strings of at most this many characters. */
export const MAX_LOCK_NAME_LENGTH = 256;
/** Waiting requests per name, at most (more are refused with ERR_BACKPRESSURE, on every replica alike). */
export const MAX_WAITERS_PER_NAME = 10_000;

const TAG = 'horus.lock';

interface Holder {
  member: string;
  req: number;
  token: FencingToken;
}

interface Waiter {
  member: string;
  req: number;
}

interface Sem {
  limit: number;
  holders: Holder[];
  queue: Waiter[];
}

interface LocalWaiter {
  name: string;
  resolve: (g: Grant) => void;
  reject: (e: Error) => void;
  timer: Timer | null;
}

type Op = ['acq', string, number, number] | ['rel', string, number] | ['unl', string] | ['cancel', string, number];

function checkName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_LOCK_NAME_LENGTH)
    throw new HorusError('ERR_INVALID_ARGUMENT', `a lock name is a string of 1 to ${MAX_LOCK_NAME_LENGTH} characters`);
}

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x > 0;

function parseOp(raw: unknown): Op {
  if (Array.isArray(raw)) {
    const [t, name, a, b] = raw as unknown[];
    const okName = typeof name === 'string' && name.length > 0 && name.length <= MAX_LOCK_NAME_LENGTH;
    if (okName) {
      if (t === 'acq' && raw.length === 4 && isCount(a) && isCount(b)) return raw as Op;
      if ((t === 'rel' || t === 'cancel') && raw.length === 3 && isCount(a)) return raw as Op;
      if (t === 'unl' && raw.length === 2) return raw as Op;
    }
  }
  throw new HorusError('ERR_MALFORMED', 'unknown lock operation');
}

/**
 * Named locks and counting semaphores held by the members of a group. Requests go by abcast
 * and are granted in that total order, the same on every replica (first come, first served per
 * name). A holder that leaves the view (crash, exclusion, leave) loses what it held at that view
 * change, on every replica alike, and the next waiters get it. Every grant carries a fencing token
 * that only grows. Joiners get the table by state transfer.
 *
 * ```ts
 * const locks = await LockService.join(node, 'locks');
 * const g = await locks.lock('invoice-42');
 * try { await store.write(data, g.token); } finally { await g.release(); }
 * ```
 */
export class LockService {
  private readonly sems = new Map<string, Sem>();
  private grants = 0;
  private ops: OrderedOps | null = null;
  private nextReq = 1;
  private readonly waiting = new Map<number, LocalWaiter>();
  /** This member's holds, by request number. */
  private readonly mine = new Map<number, Grant & { valid: boolean }>();
  private readonly lostListeners: ((g: Grant) => void)[] = [];

  static join(node: HorusNode, name: string, opts: Omit<JoinOptions, 'state'> = {}): Promise<LockService> {
    return joinTool(node, name, new LockService(), opts);
  }

  readonly state: SnapshotStateHandlers = {
    get: () => ({ grants: this.grants, sems: [...this.sems].map(([n, s]) => [n, s.limit, s.holders, s.queue]) }),
    set: (snap: unknown) => {
      const s = snap as { grants?: unknown; sems?: unknown };
      if (typeof s?.grants !== 'number' || !Array.isArray(s.sems)) throw new HorusError('ERR_STATE_TRANSFER', 'not a lock table snapshot');
      this.grants = s.grants;
      this.sems.clear();
      for (const [n, limit, holders, queue] of s.sems as [string, number, Holder[], Waiter[]][]) this.sems.set(n, { limit, holders, queue });
    },
  };

  attach(group: Group): this {
    if (this.ops) throw new HorusError('ERR_INVALID_ARGUMENT', 'this lock service is attached to a group already');
    // Safe delivery: a grant is made only once every member holds the request, so a member cut off
    // right after cannot have taken a grant (and a token number) that the others never saw.
    this.ops = new OrderedOps(
      group,
      TAG,
      {
        apply: (op, sender, d) => this.apply(parseOp(op), sender, d.viewId),
        viewChanged: (v) => this.viewChanged(v),
      },
      undefined,
      true,
    );
    const failWaiters = (err: HorusError): void => {
      for (const [req, w] of [...this.waiting]) {
        this.waiting.delete(req);
        w.timer?.cancel();
        w.reject(err);
      }
      this.loseAll();
    };
    // In a minority the others may exclude this member and grant its locks again: they are not ours to act on.
    group.on('blocked', (b) => {
      if (b.reason === 'minority') this.loseAll();
    });
    group.on('excluded', () => failWaiters(new HorusError('ERR_NOT_MEMBER', `excluded from group ${group.name}: its locks are released`)));
    group.on('merged', () => failWaiters(new HorusError('ERR_NOT_MEMBER', `group ${group.name} merged: its locks are released`)));
    group.on('left', () => failWaiters(new HorusError('ERR_CLOSED', `group ${group.name} was left`)));
    return this;
  }

  get group(): Group {
    return this.engine().group;
  }

  private engine(): OrderedOps {
    if (!this.ops) throw new HorusError('ERR_INVALID_ARGUMENT', 'attach the lock service to a group first');
    return this.ops;
  }

  /** Acquire the lock `name` (a semaphore of one permit). */
  lock(name: string, opts: AcquireOptions = {}): Promise<Grant> {
    return this.acquire(name, 1, opts);
  }

  /**
   * Take one permit of the semaphore `name`, which has `limit` permits (fixed by its first use;
   * a different limit later is ERR_INVALID_ARGUMENT). Resolves when granted, in total order.
   */
  acquire(name: string, limit: number, opts: AcquireOptions = {}): Promise<Grant> {
    try {
      checkName(name);
      if (!isCount(limit)) throw new HorusError('ERR_INVALID_ARGUMENT', `a semaphore limit is a positive integer, got ${limit}`);
      if (opts.timeoutMs !== undefined && !(opts.timeoutMs >= 0)) throw new HorusError('ERR_INVALID_ARGUMENT', `timeoutMs must be >= 0`);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const engine = this.engine();
    const req = this.nextReq++;
    return new Promise<Grant>((resolve, reject) => {
      const w: LocalWaiter = { name, resolve, reject, timer: null };
      this.waiting.set(req, w);
      if (opts.timeoutMs !== undefined)
        w.timer = engine.group.timers.setTimer(opts.timeoutMs, () => {
          if (!this.waiting.delete(req)) return;
          reject(new HorusError('ERR_TIMEOUT', `lock ${name} not granted within ${opts.timeoutMs} ms`));
          // Withdraw (or give back, if the grant is on its way).
          engine.submit(['cancel', name, req]).catch(() => {});
        });
      engine.submit(['acq', name, limit, req]).catch((err: Error) => {
        if (!this.waiting.delete(req)) return;
        w.timer?.cancel();
        reject(err);
      });
    });
  }

  /** Release this member's oldest hold on `name`; ERR_NOT_HOLDER if it holds none. */
  async unlock(name: string): Promise<void> {
    checkName(name);
    await this.engine().submit(['unl', name]);
  }

  /** Hear of every grant this member lost without releasing it (see Grant.valid). */
  onLost(listener: (g: Grant) => void): void {
    this.lostListeners.push(listener);
  }

  private loseAll(): void {
    const all = [...this.mine.values()];
    this.mine.clear();
    for (const g of all) {
      g.valid = false;
      for (const l of this.lostListeners) {
        try {
          l(g);
        } catch (err) {
          this.ops?.group.reportError(new HorusError('ERR_INVALID_ARGUMENT', `lost listener threw: ${(err as Error)?.message ?? String(err)}`, { cause: err }));
        }
      }
    }
  }

  /** Who holds `name` in this replica (member ids, oldest grant first) and how many wait. */
  holders(name: string): { holders: { member: string; token: FencingToken }[]; waiting: number } {
    const s = this.sems.get(name);
    return { holders: (s?.holders ?? []).map((h) => ({ member: h.member, token: h.token })), waiting: s?.queue.length ?? 0 };
  }

  /** Grants made so far by the service (the highest fencing token's `grant`). */
  get grantCount(): number {
    return this.grants;
  }

  /** `viewId`: the view the operation was delivered in (group.view may be ahead of it while a joiner's first events wait). */
  private apply(op: Op, sender: string, viewId: number): unknown {
    const name = op[1];
    switch (op[0]) {
      case 'acq': {
        const limit = op[2];
        let s = this.sems.get(name);
        if (s && s.limit !== limit) throw new HorusError('ERR_INVALID_ARGUMENT', `semaphore ${name} has ${s.limit} permits, not ${limit}`);
        if (!s) this.sems.set(name, (s = { limit, holders: [], queue: [] }));
        if (s.queue.length >= MAX_WAITERS_PER_NAME) throw new HorusError('ERR_BACKPRESSURE', `${s.queue.length} requests already wait for ${name}`);
        s.queue.push({ member: sender, req: op[3] });
        this.grantWaiting(name, s, viewId);
        return undefined;
      }
      case 'rel':
      case 'unl': {
        const s = this.sems.get(name);
        const i = s ? s.holders.findIndex((h) => h.member === sender && (op[0] === 'unl' || h.token.grant === op[2])) : -1;
        if (!s || i < 0) throw new HorusError('ERR_NOT_HOLDER', `${sender} does not hold ${name}${op[0] === 'rel' ? ` (grant ${op[2]})` : ''}`);
        this.dropHolder(name, s, i, viewId);
        return undefined;
      }
      case 'cancel': {
        const s = this.sems.get(name);
        if (!s) return undefined;
        const q = s.queue.findIndex((w) => w.member === sender && w.req === op[2]);
        if (q >= 0) s.queue.splice(q, 1);
        const i = s.holders.findIndex((h) => h.member === sender && h.req === op[2]);
        if (i >= 0) this.dropHolder(name, s, i, viewId);
        else this.forget(name, s);
        return undefined;
      }
    }
  }

  private dropHolder(name: string, s: Sem, i: number, viewId: number): void {
    const [h] = s.holders.splice(i, 1);
    if (h && h.member === this.ops?.group.localId) this.mine.delete(h.req);
    this.grantWaiting(name, s, viewId);
  }

  /** Grant permits to the oldest waiters while there are free ones, in view `viewId`. */
  private grantWaiting(name: string, s: Sem, viewId: number): void {
    while (s.holders.length < s.limit && s.queue.length > 0) {
      const w = s.queue.shift()!;
      const token: FencingToken = { viewId, grant: ++this.grants };
      s.holders.push({ member: w.member, req: w.req, token });
      if (w.member === this.ops?.group.localId) this.granted(name, w.member, w.req, token);
    }
    this.forget(name, s);
  }

  private forget(name: string, s: Sem): void {
    if (s.holders.length === 0 && s.queue.length === 0) this.sems.delete(name);
  }

  private granted(name: string, member: string, req: number, token: FencingToken): void {
    const w = this.waiting.get(req);
    if (!w) return; // timed out: its cancel gives it back
    this.waiting.delete(req);
    w.timer?.cancel();
    const grant: Grant & { valid: boolean } = {
      name,
      member,
      token,
      valid: true,
      release: async () => {
        this.mine.delete(req);
        grant.valid = false;
        await this.engine().submit(['rel', name, token.grant]);
      },
    };
    this.mine.set(req, grant);
    w.resolve(grant);
  }

  /** Holders and waiters that left the view lose their place, on every replica at the same point. */
  private viewChanged(v: View): void {
    const live = new Set(v.members);
    for (const [name, s] of [...this.sems]) {
      s.queue = s.queue.filter((w) => live.has(w.member));
      const before = s.holders.length;
      s.holders = s.holders.filter((h) => live.has(h.member));
      if (s.holders.length !== before || s.queue.length > 0) this.grantWaiting(name, s, v.id);
      else this.forget(name, s);
    }
  }
}
