import { HorusNode, type JoinOptions } from '../../src/api/node.js';
import type { Group, StateHandlers } from '../../src/api/group.js';
import type { Delivery } from '../../src/api/delivery.js';
import { MemoryHistory } from '../../src/core/history.js';
import type { StackSpec } from '../../src/stack/stack.js';
import { SimWorld, type SimWorldOptions } from '../../src/sim/sim-world.js';

/** Fast timeouts for simulated dynamic groups (same protocol, scaled down). */
export const FAST_STACK: StackSpec = [
  { name: 'GMS', options: { retryMs: 40, flushTimeoutMs: 600 } },
  'STABLE',
  'FC',
  'FRAG',
  { name: 'NAK', options: { xmitIntervalMs: 10 } },
  { name: 'FD', options: { heartbeatIntervalMs: 50, suspectTimeoutMs: 300 } },
  'COM',
];

/** A simulated world of dynamic-membership nodes sharing one history. */
export class SimCluster {
  readonly world: SimWorld;
  readonly history = new MemoryHistory();
  readonly nodes = new Map<string, HorusNode>();
  private incarnations = new Map<string, number>();
  constructor(seed = 1, opts: SimWorldOptions = {}) {
    this.world = new SimWorld(seed, opts);
  }
  /** Start a node at `endpoint` (a new incarnation if one ran there before). */
  start(endpoint: string, seeds: string[] = []): HorusNode {
    const inc = (this.incarnations.get(endpoint) ?? 0) + 1;
    this.incarnations.set(endpoint, inc);
    const node = new HorusNode(this.world.addNode(endpoint, String(inc)).env, this.history, seeds);
    this.nodes.set(endpoint, node);
    return node;
  }
  /** Join `group` on `endpoint` through `contacts` (none: found it). */
  join(endpoint: string, group: string, contacts: string[], state?: StateHandlers, more: JoinOptions = {}): Group {
    return this.nodes.get(endpoint)!.joinNow(group, { contacts, stack: FAST_STACK, ...(state ? { state } : {}), ...more });
  }
  run(ms: number): void {
    this.world.runFor(ms);
  }
  /** Step virtual time until `p` settles (promises need real microtask turns between steps). */
  async settle<T>(p: Promise<T>, maxMs = 30_000): Promise<T> {
    let done = false;
    const tracked = p.finally(() => {
      done = true;
    });
    tracked.catch(() => {});
    for (let t = 0; t < maxMs && !done; t += 10) {
      this.world.runFor(10);
      await new Promise((r) => setImmediate(r));
    }
    return tracked;
  }
}

/** n members `n1:1`…`nN:1` of group 'g', joined one after another through the first, then 3 s of virtual time to settle. */
export function simGroup(n: number, seed: number, more: JoinOptions = {}): { c: SimCluster; eps: string[]; groups: Group[] } {
  const c = new SimCluster(seed);
  const eps = Array.from({ length: n }, (_, i) => `n${i + 1}:1`);
  const groups: Group[] = [];
  eps.forEach((e, i) => {
    c.start(e);
    groups.push(c.join(e, 'g', i === 0 ? [] : [eps[0]!], undefined, more));
    c.run(i === 0 ? 50 : 5);
  });
  c.run(3000);
  return { c, eps, groups };
}

/**
 * `eps` started one after another, each joining `group` through the first with `stackOf(i)`, and
 * what each delivered (payloads as strings), by endpoint. The caller lets them settle.
 */
export function joinRecording(
  c: SimCluster,
  eps: readonly string[],
  stackOf: (i: number) => StackSpec,
  group = 'g',
): { groups: Group[]; got: Map<string, string[]> } {
  const got = new Map<string, string[]>();
  const groups = eps.map((e, i) => {
    c.start(e);
    const g = c.nodes.get(e)!.joinNow(group, { contacts: i === 0 ? [] : [eps[0]!], stack: stackOf(i) });
    const list: string[] = [];
    got.set(e, list);
    g.on('message', (d: Delivery) => list.push(String(d.payload)));
    c.run(i === 0 ? 50 : 5);
    return g;
  });
  return { groups, got };
}
