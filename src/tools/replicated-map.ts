import { EventEmitter } from 'node:events';
import { isDeepStrictEqual } from 'node:util';
import type { Group, SendOptions, SnapshotStateHandlers } from '../api/group.js';
import type { HorusNode, JoinOptions } from '../api/node.js';
import type { MergeHandler } from '../api/merge.js';
import { HorusError } from '../core/errors.js';
import { OrderedOps } from './ordered-ops.js';
import { joinTool } from './join-tool.js';

/** Options of a map's writes: `safe` delivers only once every member holds the write. */
export type WriteOptions = Pick<SendOptions, 'safe'>;

export interface ReadOptions {
  /** Read through the total order: the value as of a point after every write that completed before the read began. */
  linearizable?: boolean;
}

/** What a 'change' listener hears: the key, its new value (undefined once deleted), the old one, and the member that wrote it. */
export interface MapChange<V> {
  key: string;
  value: V | undefined;
  previous: V | undefined;
  deleted: boolean;
  by: string;
}

export interface ReplicatedMapEventMap<V> {
  change: [MapChange<V>];
}

/** Keys are strings of at most this many UTF-16 units. */
export const MAX_KEY_LENGTH = 1024;

const TAG = 'horus.map';

/**
 * A write carries its writer's clock reading (ms) last, for its version (see `Version`); a write
 * without one (from an older member) is versioned as if written at time 0.
 */
type Op = ['set', string, unknown, number?] | ['del', string, number?] | ['cas', string, unknown, unknown, number?] | ['get', string];

/**
 * A key's version: a hybrid logical clock (ticks of HLC_TICKS_PER_MS a ms, never behind the writer's clock nor behind any
 * version this replica applied before it) and the writing member, which breaks ties. Assigned when
 * the write is applied, from replicated state and the write itself: the same on every replica.
 */
interface Version {
  hlc: number;
  by: string;
}

/** a is newer than b: the later clock, then the larger member id. */
function newer(a: Version, b: Version): boolean {
  return a.hlc !== b.hlc ? a.hlc > b.hlc : a.by > b.by;
}

/** A version clock counts this many ticks per ms of its writers' clocks: a thousand writes a ms before it runs ahead of them. */
const HLC_TICKS_PER_MS = 1000;

/** Most deleted keys remembered (tombstones, for merges): the oldest are forgotten first. */
export const MAX_TOMBSTONES = 10_000;

/**
 * The map as state (what joiners receive and merges reconcile): every live key with its value and
 * version, in insertion order, the tombstones of deleted keys, and the clock.
 */
interface MapSnapshot {
  v: 2;
  clock: number;
  entries: [string, unknown, number, string][];
  tombs: [string, number, string][];
}

function isClockReading(t: unknown): t is number {
  return typeof t === 'number' && Number.isSafeInteger(t) && t >= 0;
}

function parseSnapshot(raw: unknown): MapSnapshot {
  // An older member's snapshot: [key, value] pairs, unversioned.
  if (Array.isArray(raw)) {
    const entries: MapSnapshot['entries'] = [];
    for (const e of raw as unknown[]) {
      if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string')
        throw new HorusError('ERR_STATE_TRANSFER', 'a map snapshot entry is a [key, value] pair');
      entries.push([e[0], e[1], 0, '']);
    }
    return { v: 2, clock: 0, entries, tombs: [] };
  }
  const s = raw as Partial<MapSnapshot> | null;
  if (typeof s !== 'object' || s === null || s.v !== 2 || !isClockReading(s.clock) || !Array.isArray(s.entries) || !Array.isArray(s.tombs))
    throw new HorusError('ERR_STATE_TRANSFER', 'a map snapshot is { v: 2, clock, entries, tombs }');
  for (const e of s.entries as unknown[])
    if (!Array.isArray(e) || e.length !== 4 || typeof e[0] !== 'string' || !isClockReading(e[2]) || typeof e[3] !== 'string')
      throw new HorusError('ERR_STATE_TRANSFER', 'a map snapshot entry is [key, value, clock, member]');
  for (const t of s.tombs as unknown[])
    if (!Array.isArray(t) || t.length !== 3 || typeof t[0] !== 'string' || !isClockReading(t[1]) || typeof t[2] !== 'string')
      throw new HorusError('ERR_STATE_TRANSFER', 'a map snapshot tombstone is [key, clock, member]');
  return s as MapSnapshot;
}

/**
 * Two sides' maps as one, key by key: the newer version wins (a write or a delete: deletes are kept
 * as tombstones so that an older write on the other side does not bring a key back); at equal
 * versions (the same write, from before the split) the senior side's. Keys keep the senior side's
 * order, then the junior side's new keys in theirs. Pure: the same on every member.
 */
export function mergeMapSnapshots(mine: unknown, theirs: unknown): MapSnapshot {
  const a = parseSnapshot(mine);
  const b = parseSnapshot(theirs);
  type Slot = { live: boolean; value: unknown; ver: Version };
  const slots = new Map<string, Slot>();
  const order: string[] = [];
  const put = (key: string, slot: Slot): void => {
    const have = slots.get(key);
    if (have === undefined) order.push(key);
    if (have === undefined || newer(slot.ver, have.ver)) slots.set(key, slot);
  };
  for (const side of [a, b]) {
    for (const [k, value, hlc, by] of side.entries) put(k, { live: true, value, ver: { hlc, by } });
    for (const [k, hlc, by] of side.tombs) put(k, { live: false, value: undefined, ver: { hlc, by } });
  }
  const out: MapSnapshot = { v: 2, clock: Math.max(a.clock, b.clock), entries: [], tombs: [] };
  for (const k of order) {
    const s = slots.get(k)!;
    if (s.live) out.entries.push([k, s.value, s.ver.hlc, s.ver.by]);
    else out.tombs.push([k, s.ver.hlc, s.ver.by]);
  }
  out.tombs.sort((x, y) => x[1] - y[1] || (x[2] < y[2] ? -1 : x[2] > y[2] ? 1 : 0));
  if (out.tombs.length > MAX_TOMBSTONES) out.tombs = out.tombs.slice(-MAX_TOMBSTONES);
  return out;
}

function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH)
    throw new HorusError('ERR_INVALID_ARGUMENT', `a map key is a string of 1 to ${MAX_KEY_LENGTH} characters`);
}

function parseOp(raw: unknown): Op {
  if (Array.isArray(raw) && typeof raw[0] === 'string') {
    const [t, key] = raw as [string, unknown];
    try {
      checkKey(key);
    } catch {
      throw new HorusError('ERR_MALFORMED', 'map operation with a bad key');
    }
    const n = raw.length;
    const stamped = (at: number): boolean => n === at || (n === at + 1 && isClockReading(raw[at]));
    if ((t === 'set' && stamped(3)) || (t === 'del' && stamped(2)) || (t === 'cas' && stamped(4)) || (t === 'get' && n === 2)) return raw as Op;
  }
  throw new HorusError('ERR_MALFORMED', 'unknown map operation');
}

export interface ReplicatedMap<V> {
  on<K extends keyof ReplicatedMapEventMap<V>>(event: K, listener: (...args: ReplicatedMapEventMap<V>[K]) => void): this;
  once<K extends keyof ReplicatedMapEventMap<V>>(event: K, listener: (...args: ReplicatedMapEventMap<V>[K]) => void): this;
  off<K extends keyof ReplicatedMapEventMap<V>>(event: K, listener: (...args: ReplicatedMapEventMap<V>[K]) => void): this;
}

/**
 * A string-keyed map replicated on every member of a group. Writes (set, delete, compareAndSet)
 * go by abcast, so every replica applies them in the same order and ends in the same state; a
 * write's promise resolves once it is applied on the writer. Reads are local (this replica: every
 * write delivered here so far) or, with `{ linearizable: true }`, go through the total order.
 * Joiners get the map by state transfer. Values are anything a payload can carry; compareAndSet
 * compares by deep equality. Emits 'change' for every applied write, on every replica.
 *
 * ```ts
 * const map = new ReplicatedMap<string>();
 * const group = await node.join('config', { state: map.state });
 * map.attach(group);
 * await map.set('color', 'blue');
 * ```
 */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging -- see the interface above
export class ReplicatedMap<V = unknown> extends EventEmitter {
  private readonly data = new Map<string, V>();
  /** Each live key's version, and each deleted key's (its tombstone, oldest first). */
  private readonly versions = new Map<string, Version>();
  private readonly tombs = new Map<string, Version>();
  /** The highest version clock applied here (replicated: the same on every replica at the same point). */
  private clock = 0;
  private ops: OrderedOps | null = null;

  /**
   * `clock`: the writer's wall clock in ms, stamped on its writes for their versions (default
   * `Date.now`; the simulator passes its virtual clock). It orders concurrent writes of two sides
   * of a partitionable group when they merge (see `merge`); clocks need not be synchronised for
   * replicas to agree, only for the later write in real time to be the one that wins.
   */
  constructor(private readonly wallClock: () => number = Date.now) {
    super();
  }

  /** Join `name` on `node` with a fresh map as its state. */
  static join<V = unknown>(node: HorusNode, name: string, opts: Omit<JoinOptions, 'state'> = {}): Promise<ReplicatedMap<V>> {
    return joinTool(node, name, new ReplicatedMap<V>(), opts);
  }

  /** Give these to `node.join(name, { state })`: joiners get the map from a member. */
  readonly state: SnapshotStateHandlers = {
    get: (): MapSnapshot => ({
      v: 2,
      clock: this.clock,
      entries: [...this.data].map(([k, v]) => {
        const ver = this.versions.get(k)!;
        return [k, v, ver.hlc, ver.by];
      }),
      tombs: [...this.tombs].map(([k, ver]) => [k, ver.hlc, ver.by]),
    }),
    set: (snapshot: unknown) => {
      const s = parseSnapshot(snapshot);
      this.data.clear();
      this.versions.clear();
      this.tombs.clear();
      this.clock = s.clock;
      for (const [k, v, hlc, by] of s.entries) {
        this.data.set(k, v as V);
        this.versions.set(k, { hlc, by });
      }
      for (const [k, hlc, by] of s.tombs) if (!this.data.has(k)) this.tombs.set(k, { hlc, by });
    },
  };

  /**
   * The merge handler of a partitionable group holding this map (`node.join(name, { partition:
   * { kind: 'partitionable' }, state: map.state, merge: map.merge })`): when two sides of a split
   * meet again, every key takes its newest write (last writer wins by hybrid-logical-clock version,
   * ties to the member id), a delete included, so concurrent writes on the two sides resolve the
   * same on every replica. Keys changed by the merge are not announced as 'change' events.
   */
  readonly merge: MergeHandler = ({ mine, theirs }) => mergeMapSnapshots(mine, theirs);

  /** Bind to the group joined with `state`; attach right after `await node.join(...)` so no write is missed. */
  attach(group: Group): this {
    if (this.ops) throw new HorusError('ERR_INVALID_ARGUMENT', 'this map is attached to a group already');
    this.ops = new OrderedOps(group, TAG, { apply: (op, sender) => this.apply(parseOp(op), sender) });
    return this;
  }

  /** The group the map lives in. */
  get group(): Group {
    return this.engine().group;
  }

  private engine(): OrderedOps {
    if (!this.ops) throw new HorusError('ERR_INVALID_ARGUMENT', 'attach the map to a group first (map.attach(group))');
    return this.ops;
  }

  get size(): number {
    return this.data.size;
  }

  has(key: string): boolean {
    return this.data.has(key);
  }

  /** The value in this replica; with `{ linearizable: true }`, a promise of the value at the read's point in the total order. */
  get(key: string): V | undefined;
  get(key: string, opts: ReadOptions & { linearizable: true }): Promise<V | undefined>;
  get(key: string, opts?: ReadOptions): V | undefined | Promise<V | undefined> {
    if (!opts?.linearizable) return this.data.get(key);
    checkKey(key);
    return this.engine().submit(['get', key]) as Promise<V | undefined>;
  }

  /** [key, value] pairs of this replica, in insertion order (the same order on every replica). */
  entries(): [string, V][] {
    return [...this.data];
  }

  keys(): string[] {
    return [...this.data.keys()];
  }

  /** Set `key` to `value` everywhere; resolves once applied here. */
  async set(key: string, value: V, opts: WriteOptions = {}): Promise<void> {
    checkKey(key);
    await this.engine().submit(['set', key, value, this.stamp()], opts);
  }

  /** Delete `key` everywhere; resolves with whether it was there. */
  async delete(key: string, opts: WriteOptions = {}): Promise<boolean> {
    checkKey(key);
    return (await this.engine().submit(['del', key, this.stamp()], opts)) as boolean;
  }

  /**
   * Set `key` to `next` only if it now holds a value deep-equal to `expected` (decided at the
   * write's point in the total order, the same on every replica). Resolves with whether it did;
   * fails with ERR_NO_SUCH_KEY when the key is missing there (use `set` to create it).
   */
  async compareAndSet(key: string, expected: V, next: V, opts: WriteOptions = {}): Promise<boolean> {
    checkKey(key);
    return (await this.engine().submit(['cas', key, expected, next, this.stamp()], opts)) as boolean;
  }

  /** This writer's clock reading for a write's version (a whole, non-negative number of ms). */
  private stamp(): number {
    const t = Math.floor(this.wallClock());
    return isClockReading(t) ? t : 0;
  }

  /** The version of a write applied now: past every version applied before it here, and not behind its writer's clock. */
  private version(at: number | undefined, by: string): Version {
    this.clock = Math.max(this.clock + 1, (at ?? 0) * HLC_TICKS_PER_MS);
    return { hlc: this.clock, by };
  }

  private write(key: string, value: V, ver: Version): void {
    this.data.set(key, value);
    this.versions.set(key, ver);
    this.tombs.delete(key);
  }

  private apply(op: Op, by: string): unknown {
    const key = op[1];
    const previous = this.data.get(key);
    switch (op[0]) {
      case 'get':
        return previous;
      case 'set':
        this.write(key, op[2] as V, this.version(op[3], by));
        this.changed({ key, value: op[2] as V, previous, deleted: false, by });
        return undefined;
      case 'del': {
        if (!this.data.has(key)) return false;
        this.data.delete(key);
        this.versions.delete(key);
        this.tombs.set(key, this.version(op[2], by));
        if (this.tombs.size > MAX_TOMBSTONES) this.tombs.delete(this.tombs.keys().next().value!);
        this.changed({ key, value: undefined, previous, deleted: true, by });
        return true;
      }
      case 'cas': {
        if (!this.data.has(key))
          throw new HorusError('ERR_NO_SUCH_KEY', `compareAndSet on key ${JSON.stringify(key.slice(0, 64))}, which the map does not hold`);
        if (!isDeepStrictEqual(previous, op[2])) return false;
        this.write(key, op[3] as V, this.version(op[4], by));
        this.changed({ key, value: op[3] as V, previous, deleted: false, by });
        return true;
      }
    }
  }

  /** A listener that throws must not make replicas differ: the write is applied whatever it does. */
  private changed(c: MapChange<V>): void {
    try {
      this.emit('change', c);
    } catch (err) {
      this.ops?.group.reportError(
        new HorusError('ERR_INVALID_ARGUMENT', `map change listener threw: ${(err as Error)?.message ?? String(err)}`, { cause: err }),
      );
    }
  }
}
