import { ProtocolError } from '../core/errors.js';
import type { NodeId } from '../core/node-id.js';
import { lwgNameProblem, memberId, MAX_LWG_BATCH } from './wire.js';

/** A membership change waiting for a light-weight group's flush. */
export type LwgOp = { join: NodeId; wantState: boolean } | { leave: NodeId };

/** A flush in progress: the members whose acknowledgement is still missing, and the changes it will apply. */
export interface LwgFlush {
  waiting: Set<NodeId>;
  ops: LwgOp[];
}

/**
 * One light-weight group as every member of the heavy-weight group knows it. Kept tiny: an idle
 * group is its id, name, view id and a member list shared with every other group of the same
 * members (interned).
 */
export interface LwgEntry {
  readonly id: number;
  readonly name: string;
  viewId: number;
  /** Oldest first. Shared between entries: never change it in place. */
  members: readonly NodeId[];
  flush: LwgFlush | null;
  /** Joiners whose state has not arrived yet, with the view they joined (null: none, the idle case). */
  awaitingState: Map<NodeId, number> | null;
}

/** What a step of the directory asks of the members. */
export type LwgChange =
  /** A flush began: every member of `entry` acknowledges (after its last message of the view) and holds its sends. */
  | { kind: 'flush'; entry: LwgEntry }
  /**
   * A flush ended or the HWG's view changed: `entry` has `members` now (its view id moved on if they
   * changed). `before` were the members of the previous view; `joiners` the new ones, with whether
   * they asked for state.
   */
  | {
      kind: 'install';
      entry: LwgEntry;
      before: readonly NodeId[];
      joiners: ReadonlyMap<NodeId, boolean>;
      changed: boolean;
      /**
       * The members that hold the group's state (not joiners, not waiting for their own): they hand
       * it to the joiners that want it. Empty when nobody holds it: then the joiners found the group
       * anew, with no state (and so do members that were still waiting: theirs is lost with its holders).
       */
      providers: readonly NodeId[];
    };

/** Why an input was refused: the service counts it under this reason. */
export type LwgDropReason =
  | 'malformed'
  | 'forged-member'
  | 'unknown-lwg'
  | 'not-member'
  | 'stale-view'
  | 'sent-after-flush'
  | 'unexpected-flush-ok'
  | 'too-many-groups'
  | 'unexpected-state';

export class LwgRefused extends ProtocolError {
  constructor(
    readonly reason: LwgDropReason,
    message: string,
  ) {
    super('ERR_PROTOCOL', message);
    this.name = 'LwgRefused';
  }
}

const EMPTY: readonly NodeId[] = Object.freeze([]);

/**
 * The replicated table of light-weight groups over one heavy-weight group: which groups exist,
 * their members and view ids, and the flushes in progress. Every HWG member applies the same
 * inputs in the same order (they arrive by abcast, and HWG views at the same cut), so every member
 * holds the same table: a deterministic state machine, with no clock and no timer.
 */
export class LwgDirectory {
  private readonly byId = new Map<number, LwgEntry>();
  private readonly byName = new Map<string, LwgEntry>();
  /** Member lists shared by the entries that have the same one (10,000 groups of 3 members: one list). */
  private readonly interned = new Map<string, readonly NodeId[]>();
  private nextId = 1;

  constructor(private readonly maxGroups = 1_000_000) {}

  get size(): number {
    return this.byId.size;
  }

  get(id: number): LwgEntry | undefined {
    return this.byId.get(id);
  }

  named(name: string): LwgEntry | undefined {
    return this.byName.get(name);
  }

  entries(): IterableIterator<LwgEntry> {
    return this.byId.values();
  }

  /** One shared, frozen array per distinct member list. */
  private intern(members: readonly NodeId[]): readonly NodeId[] {
    if (members.length === 0) return EMPTY;
    const key = members.join('\n');
    let l = this.interned.get(key);
    if (l === undefined) {
      l = Object.freeze(members.slice());
      this.interned.set(key, l);
    }
    return l;
  }

  /** Forget member lists no entry uses any more (after HWG view changes). */
  private sweepInterned(): void {
    if (this.interned.size < 64) return;
    const used = new Set<readonly NodeId[]>();
    for (const e of this.byId.values()) used.add(e.members);
    for (const [k, l] of this.interned) if (!used.has(l)) this.interned.delete(k);
  }

  /** `from` asks to join `names`. Throws LwgRefused for a join on behalf of another member. */
  join(from: NodeId, member: NodeId, names: readonly string[], wantState: boolean, out: LwgChange[]): void {
    if (member !== from) throw new LwgRefused('forged-member', `${from} sent a join for ${member}`);
    const refused: string[] = [];
    for (const name of names) {
      let e = this.byName.get(name);
      if (e === undefined) {
        if (this.byId.size >= this.maxGroups) {
          refused.push(name);
          continue;
        }
        e = { id: this.nextId++, name, viewId: 0, members: EMPTY, flush: null, awaitingState: null };
        this.byId.set(e.id, e);
        this.byName.set(name, e);
      }
      const leaving = e.flush?.ops.some((op) => 'leave' in op && op.leave === member) ?? false;
      if (e.members.includes(member) && !leaving) continue; // already in
      if (e.flush) {
        // A join after its own leave (a joiner that lost its state providers) joins again, as a new joiner.
        const last = e.flush.ops.findLast((op) => ('join' in op ? op.join : op.leave) === member);
        if (last === undefined || 'leave' in last) e.flush.ops.push({ join: member, wantState });
        continue;
      }
      if (e.members.length === 0) {
        // Nobody to flush: the joiner founds the group (again, after a group whose members all went).
        e.viewId++;
        e.members = this.intern([member]);
        out.push({ kind: 'install', entry: e, before: EMPTY, joiners: new Map([[member, false]]), changed: true, providers: EMPTY });
        continue;
      }
      e.flush = { waiting: new Set(e.members), ops: [{ join: member, wantState }] };
      out.push({ kind: 'flush', entry: e });
    }
    if (refused.length > 0) throw new LwgRefused('too-many-groups', `the directory holds ${this.maxGroups} groups: ${refused.length} join(s) refused`);
  }

  /** `from` asks to leave the groups `ids`. Unknown ids are refused (after the known ones are done). */
  leave(from: NodeId, ids: readonly number[], out: LwgChange[]): void {
    let unknown = 0;
    for (const id of ids) {
      const e = this.byId.get(id);
      if (e === undefined) {
        unknown++;
        continue;
      }
      if (!e.members.includes(from)) {
        // Not in yet: a leave before its join went through cancels the join.
        if (e.flush) e.flush.ops = e.flush.ops.filter((op) => !('join' in op && op.join === from));
        continue;
      }
      if (e.flush) {
        if (!e.flush.ops.some((op) => 'leave' in op && op.leave === from)) e.flush.ops.push({ leave: from });
        continue;
      }
      e.flush = { waiting: new Set(e.members), ops: [{ leave: from }] };
      out.push({ kind: 'flush', entry: e });
    }
    if (unknown > 0) throw new LwgRefused('unknown-lwg', `${from} left ${unknown} unknown light-weight group(s)`);
  }

  /**
   * `from` acknowledges the flushes of (lwg, view) pairs. A pair for a view that is over is stale
   * (it crossed an HWG view change) and ignored; one from a member not asked, refused.
   */
  flushOk(from: NodeId, pairs: readonly number[], hwgView: readonly NodeId[], out: LwgChange[]): void {
    let refused: LwgRefused | null = null;
    for (let i = 0; i + 1 < pairs.length; i += 2) {
      const e = this.byId.get(pairs[i]!);
      if (e === undefined) {
        refused = new LwgRefused('unknown-lwg', `${from} acknowledged a flush of unknown light-weight group ${pairs[i]}`);
        continue;
      }
      if (e.flush === null || e.viewId !== pairs[i + 1]) continue; // stale: that flush is over
      if (!e.flush.waiting.delete(from)) {
        refused = new LwgRefused('unexpected-flush-ok', `${from} acknowledged a flush of ${e.name} it was not asked for`);
        continue;
      }
      if (e.flush.waiting.size === 0) out.push(this.apply(e, hwgView));
    }
    if (refused) throw refused;
  }

  /**
   * The HWG installed a view: every group loses the members outside it, and a flush in progress
   * ends here (the HWG's view change is itself a flush of every message sent before it).
   */
  hwgView(members: readonly NodeId[], out: LwgChange[]): void {
    const alive = new Set(members);
    for (const e of this.byId.values()) {
      if (e.flush === null && e.members.every((m) => alive.has(m))) continue;
      out.push(this.apply(e, members, alive));
    }
    this.sweepInterned();
  }

  /** End the flush of `e` (if any) and drop members outside the HWG view: the next view of `e`. */
  private apply(e: LwgEntry, hwgView: readonly NodeId[], alive = new Set(hwgView)): LwgChange {
    const before = e.members;
    const next = before.filter((m) => alive.has(m));
    const waiting = e.awaitingState;
    const joiners = new Map<NodeId, boolean>();
    for (const op of e.flush?.ops ?? []) {
      if ('leave' in op) {
        const i = next.indexOf(op.leave);
        if (i >= 0) next.splice(i, 1);
        joiners.delete(op.leave);
        waiting?.delete(op.leave);
      } else if (alive.has(op.join) && !next.includes(op.join)) {
        next.push(op.join);
        joiners.set(op.join, op.wantState);
      }
    }
    e.flush = null;
    if (waiting) for (const m of waiting.keys()) if (!next.includes(m)) waiting.delete(m);
    const providers = next.filter((m) => !joiners.has(m) && !waiting?.has(m));
    if (providers.length === 0 && waiting && waiting.size > 0) {
      // Every member that held the state is gone: the ones still waiting for it found the group anew.
      for (const m of waiting.keys()) joiners.set(m, false);
      waiting.clear();
    }
    // A member that left and joined again in one flush is a joiner again: that is a new view too.
    const changed = joiners.size > 0 || next.length !== before.length || next.some((m, i) => m !== before[i]);
    if (changed) {
      e.viewId++;
      e.members = this.intern(next);
    }
    for (const [j, wants] of joiners) {
      if (!wants || providers.length === 0) continue;
      (e.awaitingState ??= new Map()).set(j, e.viewId);
    }
    if (e.awaitingState?.size === 0) e.awaitingState = null;
    return { kind: 'install', entry: e, before, joiners, changed, providers };
  }

  /**
   * `from` has the state of the groups it joined: pairs of (lwg id, view joined). A pair for a
   * membership that is over is stale and ignored.
   */
  stateOk(from: NodeId, pairs: readonly number[]): void {
    let refused: LwgRefused | null = null;
    for (let i = 0; i + 1 < pairs.length; i += 2) {
      const e = this.byId.get(pairs[i]!);
      if (e === undefined) {
        refused = new LwgRefused('unknown-lwg', `${from} has the state of unknown light-weight group ${pairs[i]}`);
        continue;
      }
      const w = e.awaitingState;
      if (w === null || w.get(from) !== pairs[i + 1]) {
        if (!e.members.includes(from)) refused = new LwgRefused('unexpected-state', `${from} has the state of ${e.name}, which it is not in`);
        continue;
      }
      w.delete(from);
      if (w.size === 0) e.awaitingState = null;
    }
    if (refused) throw refused;
  }

  /** The table as a packable value, for a member joining the HWG. */
  snapshot(): unknown {
    const entries: unknown[] = [];
    for (const e of this.byId.values()) {
      const f = e.flush === null ? null : [[...e.flush.waiting], e.flush.ops.map((op) => ('join' in op ? [0, op.join, op.wantState] : [1, op.leave]))];
      entries.push([e.id, e.name, e.viewId, e.members, f, e.awaitingState === null ? null : [...e.awaitingState].flat()]);
    }
    return [this.nextId, entries];
  }

  /** Load a table another member took with snapshot(); every field checked (throws ProtocolError). */
  restore(v: unknown): void {
    const bad = (what: string): ProtocolError => new ProtocolError('ERR_MALFORMED', `light-weight group directory: ${what}`);
    const int = (x: unknown, what: string): number => {
      if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) throw bad(`${what} is not a counter`);
      return x;
    };
    const arr = (x: unknown, what: string, max = Infinity): unknown[] => {
      if (!Array.isArray(x) || x.length > max) throw bad(`${what} is not a list`);
      return x;
    };
    const [next, entries] = arr(v, 'table', 2);
    const byId = new Map<number, LwgEntry>();
    const byName = new Map<string, LwgEntry>();
    const nextId = int(next, 'next id');
    for (const raw of arr(entries, 'entries', this.maxGroups)) {
      const [id, name, viewId, members, f, w] = arr(raw, 'entry', 6);
      const why = lwgNameProblem(name);
      if (why !== null) throw bad(why);
      const e: LwgEntry = {
        id: int(id, 'lwg id'),
        name: name as string,
        viewId: int(viewId, 'view id'),
        members: this.intern(arr(members, 'members', MAX_LWG_BATCH).map((m) => memberId(m))),
        flush: null,
        awaitingState: null,
      };
      if (w !== null && w !== undefined) {
        const flat = arr(w, 'awaiting state', 2 * MAX_LWG_BATCH);
        if (flat.length % 2 !== 0) throw bad('awaiting state is not (member, view) pairs');
        e.awaitingState = new Map();
        for (let i = 0; i < flat.length; i += 2) e.awaitingState.set(memberId(flat[i]), int(flat[i + 1], 'view id'));
      }
      if (e.id >= nextId || byId.has(e.id) || byName.has(e.name)) throw bad(`entry ${e.id} repeats or is past the next id`);
      if (f !== null) {
        const [waiting, ops] = arr(f, 'flush', 2);
        e.flush = {
          waiting: new Set(arr(waiting, 'waiting', MAX_LWG_BATCH).map((m) => memberId(m))),
          ops: arr(ops, 'ops', MAX_LWG_BATCH).map((o) => {
            const op = arr(o, 'op', 3);
            if (op[0] === 0 && typeof op[2] === 'boolean') return { join: memberId(op[1]), wantState: op[2] };
            if (op[0] === 1) return { leave: memberId(op[1]) };
            throw bad('an op is neither a join nor a leave');
          }),
        };
      }
      byId.set(e.id, e);
      byName.set(e.name, e);
    }
    this.byId.clear();
    this.byName.clear();
    for (const [k, e] of byId) this.byId.set(k, e);
    for (const [k, e] of byName) this.byName.set(k, e);
    this.nextId = nextId;
  }

  /** Forget everything (this member was excluded from the HWG: its next membership brings a fresh table). */
  clear(): void {
    this.byId.clear();
    this.byName.clear();
    this.interned.clear();
  }
}
