import type { Group, SendOptions, SnapshotStateHandlers } from '../api/group.js';
import type { HorusNode, JoinOptions } from '../api/node.js';
import { HorusError } from '../core/errors.js';
import { OrderedOps } from './ordered-ops.js';
import { joinTool } from './join-tool.js';

/** Counter names are strings of at most this many characters. */
export const MAX_COUNTER_NAME_LENGTH = 256;

const TAG = 'horus.counter';

type Op = ['add', string, number] | ['set', string, number] | ['cas', string, number, number] | ['get', string];

const isInt = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x);

function checkName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_COUNTER_NAME_LENGTH)
    throw new HorusError('ERR_INVALID_ARGUMENT', `a counter name is a string of 1 to ${MAX_COUNTER_NAME_LENGTH} characters`);
}

function parseOp(raw: unknown): Op {
  if (Array.isArray(raw) && typeof raw[1] === 'string' && raw[1].length > 0 && raw[1].length <= MAX_COUNTER_NAME_LENGTH) {
    const [t, , a, b] = raw as unknown[];
    if ((t === 'add' || t === 'set') && raw.length === 3 && isInt(a)) return raw as Op;
    if (t === 'cas' && raw.length === 4 && isInt(a) && isInt(b)) return raw as Op;
    if (t === 'get' && raw.length === 2) return raw as Op;
  }
  throw new HorusError('ERR_MALFORMED', 'unknown counter operation');
}

/**
 * Named integer counters replicated on every member of a group (a missing counter reads 0).
 * Every update goes by abcast and is applied in the one total order, so no increment is lost or
 * applied twice when any member, the sequencing coordinator included, crashes: an update whose
 * promise resolved was delivered to every member that stayed in the view (virtual synchrony),
 * and an update of a surviving member is never dropped by a view change. Values stay safe
 * integers (an update past ±2^53 fails with ERR_INVALID_ARGUMENT and changes nothing).
 */
export class CounterService {
  private readonly values = new Map<string, number>();
  private ops: OrderedOps | null = null;

  static join(node: HorusNode, name: string, opts: Omit<JoinOptions, 'state'> = {}): Promise<CounterService> {
    return joinTool(node, name, new CounterService(), opts);
  }

  readonly state: SnapshotStateHandlers = {
    get: () => [...this.values],
    set: (snap: unknown) => {
      if (!Array.isArray(snap)) throw new HorusError('ERR_STATE_TRANSFER', 'not a counter snapshot');
      this.values.clear();
      for (const e of snap as unknown[]) {
        if (!Array.isArray(e) || typeof e[0] !== 'string' || !isInt(e[1]))
          throw new HorusError('ERR_STATE_TRANSFER', 'a counter snapshot entry is [name, integer]');
        this.values.set(e[0], e[1]);
      }
    },
  };

  attach(group: Group): this {
    if (this.ops) throw new HorusError('ERR_INVALID_ARGUMENT', 'this counter service is attached to a group already');
    // Safe delivery by default: an update resolves only once every member holds it (see addAndGet).
    this.ops = new OrderedOps(group, TAG, { apply: (op) => this.apply(parseOp(op)) }, undefined, true);
    return this;
  }

  get group(): Group {
    return this.engine().group;
  }

  private engine(): OrderedOps {
    if (!this.ops) throw new HorusError('ERR_INVALID_ARGUMENT', 'attach the counter service to a group first');
    return this.ops;
  }

  /** The value in this replica (every update delivered here so far). */
  get(name: string): number {
    return this.values.get(name) ?? 0;
  }

  /** The value at a point in the total order after every update that completed before this call. */
  async read(name: string): Promise<number> {
    checkName(name);
    return (await this.engine().submit(['get', name])) as number;
  }

  /**
   * Add `delta` (default 1); resolves with the value just after it, once every member holds the
   * update (safe delivery, the default): a resolved increment is never lost, even if this member is
   * cut off right after. `{ safe: false }` resolves sooner, at the price of that guarantee.
   */
  async addAndGet(name: string, delta = 1, opts: SendOptions = {}): Promise<number> {
    checkName(name);
    if (!isInt(delta)) throw new HorusError('ERR_INVALID_ARGUMENT', `a delta is a safe integer, got ${delta}`);
    return (await this.engine().submit(['add', name, delta], opts)) as number;
  }

  async incrementAndGet(name: string): Promise<number> {
    return this.addAndGet(name, 1);
  }

  async set(name: string, value: number): Promise<void> {
    checkName(name);
    if (!isInt(value)) throw new HorusError('ERR_INVALID_ARGUMENT', `a counter holds a safe integer, got ${value}`);
    await this.engine().submit(['set', name, value]);
  }

  /** Set to `next` only if it holds `expected` at this point of the total order; resolves with whether it did. */
  async compareAndSet(name: string, expected: number, next: number): Promise<boolean> {
    checkName(name);
    if (!isInt(expected) || !isInt(next)) throw new HorusError('ERR_INVALID_ARGUMENT', 'compareAndSet takes safe integers');
    return (await this.engine().submit(['cas', name, expected, next])) as boolean;
  }

  /** Every counter of this replica. */
  entries(): [string, number][] {
    return [...this.values];
  }

  private apply(op: Op): unknown {
    const name = op[1];
    const cur = this.values.get(name) ?? 0;
    switch (op[0]) {
      case 'get':
        return cur;
      case 'add': {
        const v = cur + op[2];
        if (!Number.isSafeInteger(v)) throw new HorusError('ERR_INVALID_ARGUMENT', `counter ${name} would leave the safe integers`);
        this.values.set(name, v);
        return v;
      }
      case 'set':
        this.values.set(name, op[2]);
        return op[2];
      case 'cas':
        if (cur !== op[2]) return false;
        this.values.set(name, op[3]);
        return true;
    }
  }
}
