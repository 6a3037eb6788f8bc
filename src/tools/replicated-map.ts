import { EventEmitter } from 'node:events';
import { isDeepStrictEqual } from 'node:util';
import type { Group, SendOptions, SnapshotStateHandlers } from '../api/group.js';
import type { HorusNode, JoinOptions } from '../api/node.js';
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

type Op = ['set', string, unknown] | ['del', string] | ['cas', string, unknown, unknown] | ['get', string];

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
    if ((t === 'set' && raw.length === 3) || (t === 'del' && raw.length === 2) || (t === 'cas' && raw.length === 4) || (t === 'get' && raw.length === 2))
      return raw as Op;
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
  private ops: OrderedOps | null = null;

  /** Join `name` on `node` with a fresh map as its state. */
  static join<V = unknown>(node: HorusNode, name: string, opts: Omit<JoinOptions, 'state'> = {}): Promise<ReplicatedMap<V>> {
    return joinTool(node, name, new ReplicatedMap<V>(), opts);
  }

  /** Give these to `node.join(name, { state })`: joiners get the map from a member. */
  readonly state: SnapshotStateHandlers = {
    get: () => [...this.data],
    set: (snapshot: unknown) => {
      if (!Array.isArray(snapshot)) throw new HorusError('ERR_STATE_TRANSFER', 'a map snapshot is a list of [key, value] pairs');
      this.data.clear();
      for (const e of snapshot as unknown[]) {
        if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string')
          throw new HorusError('ERR_STATE_TRANSFER', 'a map snapshot entry is a [key, value] pair');
        this.data.set(e[0], e[1] as V);
      }
    },
  };

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
    await this.engine().submit(['set', key, value], opts);
  }

  /** Delete `key` everywhere; resolves with whether it was there. */
  async delete(key: string, opts: WriteOptions = {}): Promise<boolean> {
    checkKey(key);
    return (await this.engine().submit(['del', key], opts)) as boolean;
  }

  /**
   * Set `key` to `next` only if it now holds a value deep-equal to `expected` (decided at the
   * write's point in the total order, the same on every replica). Resolves with whether it did;
   * fails with ERR_NO_SUCH_KEY when the key is missing there (use `set` to create it).
   */
  async compareAndSet(key: string, expected: V, next: V, opts: WriteOptions = {}): Promise<boolean> {
    checkKey(key);
    return (await this.engine().submit(['cas', key, expected, next], opts)) as boolean;
  }

  private apply(op: Op, by: string): unknown {
    const key = op[1];
    const previous = this.data.get(key);
    switch (op[0]) {
      case 'get':
        return previous;
      case 'set':
        this.data.set(key, op[2] as V);
        this.changed({ key, value: op[2] as V, previous, deleted: false, by });
        return undefined;
      case 'del': {
        if (!this.data.has(key)) return false;
        this.data.delete(key);
        this.changed({ key, value: undefined, previous, deleted: true, by });
        return true;
      }
      case 'cas': {
        if (!this.data.has(key))
          throw new HorusError('ERR_NO_SUCH_KEY', `compareAndSet on key ${JSON.stringify(key.slice(0, 64))}, which the map does not hold`);
        if (!isDeepStrictEqual(previous, op[2])) return false;
        this.data.set(key, op[3] as V);
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
