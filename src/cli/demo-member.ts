/**
 * The demo's replicated key-value service, run by each demo member (`horus node --kv GROUP`).
 *
 * Kept small and isolated on purpose: it will move from fbcast to abcast once the ordering layers
 * land (marked SWAP). State transfer for joiners is wired for dynamic membership (--membership dynamic).
 */
import type { Delivery } from '../api/delivery.js';
import type { Group, StateHandlers } from '../api/group.js';
import type { HorusNode, JoinOptions } from '../api/node.js';
import { HorusError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { StackSpec } from '../stack/stack.js';
import { HttpError, readJson, type Router, sendJson } from '../dashboard/http-util.js';

/** What the demo needs from a replicated map. */
export interface KvStore {
  put(key: string, value: string): Promise<void>;
  /** Resolves to whether the key existed when the delete was applied. */
  del(key: string): Promise<boolean>;
  get(key: string): string | undefined;
  entries(): [string, string][];
}

/** Operations as they travel in the group. `tick` is background load that the map ignores. */
export type KvOp = { op: 'put'; key: string; value: string; rid: string } | { op: 'del'; key: string; rid: string } | { op: 'tick'; n: number };

export const MAX_KEY_BYTES = 256;
export const MAX_VALUE_BYTES = 64 * 1024;

/** Applied operations, for the demo controller's terminal output. */
export type KvApplied = { op: 'put'; key: string; value: string; from: string; msg: string } | { op: 'del'; key: string; from: string; msg: string };

function parseSnapshot(v: unknown): [string, string][] {
  if (!Array.isArray(v) || !v.every((e) => Array.isArray(e) && e.length === 2 && typeof e[0] === 'string' && typeof e[1] === 'string')) {
    throw new HorusError('ERR_STATE_TRANSFER', 'the key-value snapshot is not a list of [key, value] string pairs');
  }
  return v as [string, string][];
}

function parseOp(v: unknown): KvOp | null {
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  if (o.op === 'put' && typeof o.key === 'string' && typeof o.value === 'string' && typeof o.rid === 'string')
    return { op: 'put', key: o.key, value: o.value, rid: o.rid };
  if (o.op === 'del' && typeof o.key === 'string' && typeof o.rid === 'string') return { op: 'del', key: o.key, rid: o.rid };
  if (o.op === 'tick' && typeof o.n === 'number') return { op: 'tick', n: o.n };
  return null;
}

export function checkKey(key: string): void {
  if (key === '') throw new HorusError('ERR_INVALID_ARGUMENT', 'a key cannot be empty');
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw new HorusError('ERR_INVALID_ARGUMENT', `a key is at most ${MAX_KEY_BYTES} bytes`);
}

/**
 * A map replicated by applying operations in delivery order at every member. A write resolves
 * once this member has applied it, so a read here afterwards sees it. Create it, join with
 * `stateHandlers()` (dynamic groups), then `attach` the group.
 */
export class ReplicatedKv implements KvStore {
  private readonly map = new Map<string, string>();
  private readonly waiting = new Map<string, { resolve: (existed: boolean) => void; timer: NodeJS.Timeout }>();
  private nextRid = 1;
  private readonly onMessage = (d: Delivery): void => this.deliver(d);
  private g: Group | null = null;
  /** Messages that were not KV operations (another program on the group, or garbage). */
  ignored = 0;

  constructor(private readonly opts: { timeoutMs?: number; onApplied?: (a: KvApplied) => void; log?: Logger } = {}) {}

  attach(group: Group): this {
    if (this.g === group) return this;
    this.g?.off('message', this.onMessage);
    this.g = group;
    group.on('message', this.onMessage);
    return this;
  }

  private get group(): Group {
    if (!this.g) throw new HorusError('ERR_CLOSED', 'the key-value map is not attached to a group yet');
    return this.g;
  }

  /** State transfer: a joiner's map starts as a copy of an existing member's. */
  stateHandlers(): StateHandlers {
    return { get: () => this.snapshot(), set: (s) => this.restore(parseSnapshot(s)) };
  }

  // abcast: concurrent writes to one key end the same at every member (fixed groups have TOTAL too).
  private cast(op: KvOp): Promise<void> {
    return this.group.abcast(op);
  }

  put(key: string, value: string): Promise<void> {
    checkKey(key);
    if (Buffer.byteLength(value) > MAX_VALUE_BYTES)
      return Promise.reject(new HorusError('ERR_INVALID_ARGUMENT', `a value is at most ${MAX_VALUE_BYTES} bytes`));
    const rid = this.rid();
    return this.submit(rid, { op: 'put', key, value, rid }).then(() => undefined);
  }

  del(key: string): Promise<boolean> {
    checkKey(key);
    const rid = this.rid();
    return this.submit(rid, { op: 'del', key, rid });
  }

  get(key: string): string | undefined {
    return this.map.get(key);
  }

  entries(): [string, string][] {
    return [...this.map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** For state transfer (later): the whole map, and its inverse. */
  snapshot(): [string, string][] {
    return this.entries();
  }
  restore(entries: readonly (readonly [string, string])[]): void {
    this.map.clear();
    for (const [k, v] of entries) this.map.set(k, v);
  }

  /** Background load for the demo: operations every member delivers and the map ignores. */
  tick(n: number): Promise<void> {
    return this.cast({ op: 'tick', n });
  }

  close(): void {
    this.g?.off('message', this.onMessage);
    for (const w of this.waiting.values()) clearTimeout(w.timer);
    this.waiting.clear();
  }

  private rid(): string {
    return `${this.group.localId}#${this.nextRid++}`;
  }

  private submit(rid: string, op: KvOp): Promise<boolean> {
    const timeoutMs = this.opts.timeoutMs ?? 5000;
    return new Promise<boolean>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(rid);
        reject(new HorusError('ERR_TIMEOUT', `the write was not delivered back within ${timeoutMs} ms (group ${this.group.name} blocked?)`));
      }, timeoutMs);
      this.waiting.set(rid, { resolve, timer });
      this.cast(op).catch((err: unknown) => {
        clearTimeout(timer);
        this.waiting.delete(rid);
        reject(err as Error);
      });
    });
  }

  private deliver(d: Delivery): void {
    let op: KvOp | null;
    try {
      op = parseOp(d.payload);
    } catch {
      op = null;
    }
    if (op === null) {
      this.ignored++;
      return;
    }
    if (op.op === 'tick') return;
    const msg = `${d.sender}#${d.id}`;
    let existed = true;
    if (op.op === 'put') {
      this.map.set(op.key, op.value);
      this.opts.onApplied?.({ op: 'put', key: op.key, value: op.value, from: d.sender, msg });
    } else {
      existed = this.map.delete(op.key);
      this.opts.onApplied?.({ op: 'del', key: op.key, from: d.sender, msg });
    }
    const w = this.waiting.get(op.rid);
    if (w) {
      clearTimeout(w.timer);
      this.waiting.delete(op.rid);
      w.resolve(existed);
    }
  }
}

export type Membership = 'fixed' | 'dynamic';

/**
 * How a demo member joins. Fixed: every member's endpoint is known up front, and a restarted member
 * comes back empty. Dynamic (GMS): join through the seeds; the joiner's first view comes with a copy
 * of the map (state transfer). Only a member without seeds founds the group: a joiner that could not
 * reach anyone must not start a second group of the same name.
 */
export function kvJoinOptions(
  membership: Membership,
  members: readonly string[],
  stack: StackSpec | undefined,
  kv: ReplicatedKv,
  hasSeeds: boolean,
): JoinOptions {
  const base: JoinOptions = stack !== undefined ? { stack } : {};
  if (membership === 'fixed') return { ...base, members };
  return { ...base, state: kv.stateHandlers(), create: !hasSeeds, lookupTimeoutMs: 2000 };
}

/**
 * Joins the group and attaches a new map to it. `onGroup` (NodeObserver.onGroup) lets the map
 * listen from the first view on; without it, it listens once join() resolves. A dynamic joiner
 * retries while its seeds do not know the group yet (they may still be starting).
 */
export async function joinKv(
  node: HorusNode,
  group: string,
  membership: Membership,
  members: readonly string[],
  stack: StackSpec | undefined,
  opts: ConstructorParameters<typeof ReplicatedKv>[0] & { hasSeeds?: boolean; retryForMs?: number } = {},
  onGroup?: (fn: (g: Group) => void) => () => void,
): Promise<{ group: Group; kv: ReplicatedKv }> {
  const kv = new ReplicatedKv(opts);
  const off = onGroup?.((g) => {
    if (g.name === group) kv.attach(g);
  });
  const deadline = Date.now() + (opts.retryForMs ?? 15_000);
  try {
    for (;;) {
      try {
        const g = await node.join(group, kvJoinOptions(membership, members, stack, kv, opts.hasSeeds ?? false));
        return { group: g, kv: kv.attach(g) };
      } catch (err) {
        if (!(err instanceof HorusError) || err.code !== 'ERR_UNKNOWN_GROUP' || Date.now() > deadline) throw err;
        opts.log?.info('group not found through the seeds yet; retrying', { group });
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  } finally {
    off?.();
  }
}

/** A summary for status pages: size, a digest to compare replicas at a glance, and the first entries. */
export function kvSummary(kv: KvStore, maxEntries = 100): { size: number; digest: string; entries: [string, string][]; truncated: boolean } {
  const all = kv.entries();
  let h = 0x811c9dc5;
  for (const [k, v] of all) {
    const s = `${k}\u0000${v}\u0001`;
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
  }
  return { size: all.length, digest: (h >>> 0).toString(16).padStart(8, '0'), entries: all.slice(0, maxEntries), truncated: all.length > maxEntries };
}

/** HTTP for `horus kv`: GET /kv, GET|PUT|DELETE /kv/:key (PUT body: {"value": "..."}). */
export function kvRoutes(kv: KvStore): (router: Router) => void {
  return (router) => {
    router
      .add('GET', '/kv', ({ res }) => sendJson(res, 200, { entries: kv.entries() }))
      .add('GET', '/kv/:key', ({ res, params }) => {
        const key = params.key!;
        const value = kv.get(key);
        if (value === undefined) throw new HttpError(404, 'ERR_INVALID_ARGUMENT', `no key ${JSON.stringify(key)}`);
        sendJson(res, 200, { key, value });
      })
      .add('PUT', '/kv/:key', async ({ req, res, params }) => {
        const body = await readJson(req, MAX_VALUE_BYTES * 2);
        const value = (body as { value?: unknown }).value;
        if (typeof value !== 'string') throw new HttpError(400, 'ERR_INVALID_ARGUMENT', 'PUT /kv/KEY needs a JSON body {"value": "..."} with a string value');
        await kv.put(params.key!, value);
        sendJson(res, 200, { key: params.key, value });
      })
      .add('DELETE', '/kv/:key', async ({ res, params }) => {
        const existed = await kv.del(params.key!);
        if (!existed) throw new HttpError(404, 'ERR_INVALID_ARGUMENT', `no key ${JSON.stringify(params.key)}`);
        sendJson(res, 200, { key: params.key, deleted: true });
      });
  };
}

/** Sends `ratePerSec` ticks while the group is not blocked; returns the stop function. */
export function startLoad(kv: ReplicatedKv, group: Group, ratePerSec: number): () => void {
  if (ratePerSec <= 0) return () => {};
  let n = 0;
  const timer = setInterval(
    () => {
      if (!group.blocked) kv.tick(++n).catch(() => {});
    },
    Math.max(1, Math.round(1000 / ratePerSec)),
  );
  timer.unref();
  return () => clearInterval(timer);
}
