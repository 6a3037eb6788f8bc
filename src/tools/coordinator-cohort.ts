import type { ClientRequest } from '../api/client.js';
import type { Delivery } from '../api/delivery.js';
import type { Group, SnapshotStateHandlers } from '../api/group.js';
import type { HorusNode, JoinOptions } from '../api/node.js';
import { HorusError, type HorusErrorCode } from '../core/errors.js';
import type { NodeId } from '../core/node-id.js';
import type { View } from '../core/view.js';
import { joinTool } from './join-tool.js';

/** Does the work of one request, on its coordinator only (it may be async and touch the outside world). */
export type CohortHandler = (request: unknown, info: { requester: string; id: number; attempt: number }) => unknown;

export interface CoordinatorCohortOptions {
  /** Requests tracked at once (each member holds every open request; more fail with ERR_BACKPRESSURE; default 10,000). */
  maxOpen?: number;
  /** Finished requests remembered for retries (the oldest go first; default 10,000). */
  maxDone?: number;
}

const TAG = 'horus.cc';

/** A request every member knows of, in the order abcast delivered it. */
interface Open {
  requester: string;
  id: number;
  request: unknown;
  /** Coordinators that took it on so far (1 for the first; more after takeovers). */
  attempt: number;
  coordinator: NodeId;
}

type Result = [boolean, unknown, string?];

/** A cheap deterministic spread of requests over the view. */
function hashOf(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/**
 * The Isis coordinator-cohort tool. A request (from a client through any member, or from a member)
 * goes to every member by abcast. Its coordinator is picked from the view by a hash of the
 * request, with no extra messages; it does the work and multicasts the result; the others are
 * cohorts that watch. If the coordinator leaves the view before its result is delivered, the
 * request's coordinator in the new view (the same rule over the new members) takes over and does
 * it again (the handler hears `attempt`). Virtual synchrony makes a result delivered to all
 * survivors or to none, so exactly one result is delivered per request, and the member the
 * requester asked sends exactly one reply; a client that fails over to another member with the
 * same request id is answered from the remembered result (or when it comes).
 */
export class CoordinatorCohort {
  private group_: Group | null = null;
  private readonly open = new Map<string, Open>();
  private readonly done = new Map<string, Result>();
  private readonly waiters = new Map<string, ((r: Result) => void)[]>();
  private readonly maxOpen: number;
  private readonly maxDone: number;
  private nextOwn = 1;
  /**
   * The view as the group's events told it: the view the messages now delivered were sent in
   * (group.view runs ahead of it while a joiner's first events wait for their turn).
   */
  private eventView: View | null = null;
  /** Results delivered (one per request, on every member). */
  results = 0;
  /** Times this member took over a request whose coordinator left. */
  takeovers = 0;

  static join(
    node: HorusNode,
    name: string,
    handler: CohortHandler,
    opts: Omit<JoinOptions, 'state'> & CoordinatorCohortOptions = {},
  ): Promise<CoordinatorCohort> {
    const { maxOpen, maxDone, ...joinOpts } = opts;
    return joinTool(node, name, new CoordinatorCohort(handler, { ...(maxOpen ? { maxOpen } : {}), ...(maxDone ? { maxDone } : {}) }), joinOpts);
  }

  /** Give these to `node.join(name, { state })`: a joiner learns the open requests (it may have to take one over) and the results. */
  readonly state: SnapshotStateHandlers = {
    get: () => ({ open: [...this.open.values()], done: [...this.done] }),
    set: (snap: unknown) => {
      const s = snap as { open?: unknown; done?: unknown };
      if (!s || !Array.isArray(s.open) || !Array.isArray(s.done)) throw new HorusError('ERR_STATE_TRANSFER', 'not a coordinator-cohort snapshot');
      this.open.clear();
      for (const o of s.open as Open[]) this.open.set(`${o.id}@${o.requester}`, { ...o });
      this.done.clear();
      for (const [k, r] of s.done as [string, Result][]) this.done.set(k, r);
    },
  };

  constructor(
    private readonly handler: CohortHandler,
    opts: CoordinatorCohortOptions = {},
  ) {
    this.maxOpen = opts.maxOpen ?? 10_000;
    this.maxDone = opts.maxDone ?? 10_000;
  }

  attach(group: Group): this {
    if (this.group_) throw new HorusError('ERR_INVALID_ARGUMENT', 'this coordinator-cohort is attached to a group already');
    this.group_ = group;
    group.on('message', (d) => this.onMessage(d));
    group.on('view', (v) => this.onView(v));
    const failAll = (code: HorusErrorCode, why: string): void => {
      const all = [...this.waiters.values()].flat();
      this.waiters.clear();
      for (const w of all) w([false, why, code]);
    };
    group.on('excluded', () => failAll('ERR_NOT_MEMBER', `excluded from ${group.name}`));
    group.on('left', () => failAll('ERR_CLOSED', `${group.name} was left`));
    group.onRequest((req: ClientRequest) => this.submit(req.client, req.id, req.payload));
    return this;
  }

  get group(): Group {
    if (!this.group_) throw new HorusError('ERR_INVALID_ARGUMENT', 'attach first');
    return this.group_;
  }

  /** Requests not finished yet (the same on every member). */
  get openRequests(): number {
    return this.open.size;
  }

  /** The result remembered for a request (null: none yet, or forgotten past maxDone). */
  resultOf(requester: string, id: number): { ok: boolean; value: unknown } | null {
    const r = this.done.get(`${id}@${requester}`);
    return r ? { ok: r[0], value: r[1] } : null;
  }

  /** A request of this member; resolves with the coordinator's result. */
  request(payload: unknown): Promise<unknown> {
    return this.submit(this.group.localId, this.nextOwn++, payload);
  }

  /** The coordinator of a request in a view (default: the view the latest events were delivered in): a member picked by the request's hash. */
  coordinatorOf(requester: string, id: number, view: View = this.eventView ?? this.group.view): NodeId | null {
    const m = view.members;
    return m.length === 0 ? null : m[hashOf(`${id}@${requester}`) % m.length]!;
  }

  private async submit(requester: string, id: number, payload: unknown): Promise<unknown> {
    const key = `${id}@${requester}`;
    let r = this.done.get(key);
    if (!r) {
      const known = this.open.has(key) || this.waiters.has(key);
      if (!known && this.open.size >= this.maxOpen) throw new HorusError('ERR_BACKPRESSURE', `${this.open.size} requests are open in ${this.group.name}`);
      r = await new Promise<Result>((resolve, reject) => {
        const list = this.waiters.get(key) ?? [];
        list.push(resolve);
        this.waiters.set(key, list);
        // A retry of a request the group knows already waits for its result without sending it again.
        if (!known)
          this.group.abcast([TAG, 'req', requester, id, payload]).catch((err: Error) => {
            this.waiters.delete(key);
            reject(err);
          });
      });
    }
    const [ok, value, code] = r;
    if (ok) return value;
    throw new HorusError((code ?? 'ERR_REMOTE') as HorusErrorCode, String(value));
  }

  private onMessage(d: Delivery): void {
    let raw: unknown;
    try {
      raw = d.payload;
    } catch {
      return;
    }
    if (!Array.isArray(raw) || raw[0] !== TAG) return;
    const [, t, requester, id, body] = raw as [string, unknown, unknown, unknown, unknown];
    if (typeof requester !== 'string' || typeof id !== 'number' || raw.length !== 5) return;
    const key = `${id}@${requester}`;
    if (t === 'req') {
      if (this.open.has(key)) return; // sent twice (a retry raced the first): one is enough
      const known = this.done.get(key);
      if (known) {
        // Sent again after it finished: a member that missed the result (it came with a snapshot
        // taken before it) opened it anew. Its coordinator in this view, the same at every member,
        // repeats the result; members that hold it already ignore the repeat.
        if (this.coordinatorOf(requester, id) === this.group.localId) this.group.abcast([TAG, 'done', requester, id, known], { safe: true }).catch(() => {});
        return;
      }
      const coordinator = this.coordinatorOf(requester, id)!;
      const o: Open = { requester, id, request: body, attempt: 1, coordinator };
      this.open.set(key, o);
      if (coordinator === this.group.localId) this.execute(key, o);
      return;
    }
    if (t === 'done') {
      const o = this.open.get(key);
      // Only the coordinator of record finishes a request: a late result of an earlier one is not taken.
      if (!o || d.sender !== o.coordinator || !Array.isArray(body)) return;
      this.open.delete(key);
      this.results++;
      this.done.set(key, body as Result);
      if (this.done.size > this.maxDone) this.done.delete(this.done.keys().next().value!);
      const ws = this.waiters.get(key);
      this.waiters.delete(key);
      for (const w of ws ?? []) w(body as Result);
    }
  }

  /** Coordinators that left: the request's coordinator in the new view takes over. */
  private onView(v: View): void {
    this.eventView = v;
    const live = new Set(v.members);
    for (const [key, o] of this.open) {
      if (live.has(o.coordinator)) continue;
      o.coordinator = this.coordinatorOf(o.requester, o.id, v)!;
      o.attempt++;
      if (o.coordinator === this.group.localId) {
        this.takeovers++;
        this.execute(key, o);
      }
    }
  }

  private execute(key: string, o: Open): void {
    const finish = (r: Result): void => {
      // Still the coordinator of record (and still a member)? Then tell everyone.
      if (this.open.get(key) !== o || o.coordinator !== this.group.localId || this.group.isClosed) return;
      // By abcast: ordered after the request at every member (total order respects what the coordinator had delivered).
      // Safe: a result is delivered only once every member holds it, so one that was answered survives.
      this.group.abcast([TAG, 'done', o.requester, o.id, r], { safe: true }).catch(() => {});
    };
    try {
      const v = this.handler(o.request, { requester: o.requester, id: o.id, attempt: o.attempt });
      if (v instanceof Promise)
        v.then(
          (x: unknown) => finish([true, x]),
          (err: unknown) => finish([false, (err as Error)?.message ?? String(err), err instanceof HorusError ? err.code : 'ERR_REMOTE']),
        );
      else finish([true, v]);
    } catch (err) {
      finish([false, (err as Error)?.message ?? String(err), err instanceof HorusError ? err.code : 'ERR_REMOTE']);
    }
  }
}
