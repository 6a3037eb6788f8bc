import { HorusNode } from '../../src/api/node.js';
import type { Group } from '../../src/api/group.js';
import type { Delivery } from '../../src/api/delivery.js';
import { MemoryHistory } from '../../src/core/history.js';
import type { StackSpec } from '../../src/stack/stack.js';
import { SimWorld, type SimWorldOptions } from '../../src/sim/sim-world.js';

export interface SimGroup {
  world: SimWorld;
  endpoints: string[];
  nodes: HorusNode[];
  groups: Group[];
  history: MemoryHistory;
  /** Per member, the deliveries in order. */
  delivered: Delivery[][];
}

/** `n` simulated members of one fixed-membership group, recording every delivery. */
export function simGroup(n: number, stack: StackSpec, opts: SimWorldOptions & { seed?: number } = {}): SimGroup {
  const { seed, ...worldOpts } = opts;
  const world = new SimWorld(seed ?? 1, worldOpts);
  const history = new MemoryHistory();
  const endpoints = Array.from({ length: n }, (_, i) => `m${i + 1}:1`);
  const nodes = endpoints.map((e) => new HorusNode(world.addNode(e, '1').env, history));
  const groups = nodes.map((node) => node.joinNow('g', { stack, members: endpoints }));
  const delivered = groups.map((g) => {
    const list: Delivery[] = [];
    g.on('message', (d: Delivery) => list.push(d));
    return list;
  });
  return { world, endpoints, nodes, groups, history, delivered };
}

/**
 * Lose frames on the simulated network as a broken connection would: every frame for which
 * `lose(fromEndpoint, toEndpoint)` is true is dropped before it is sent. Returns the count of
 * frames lost so far.
 */
export function loseFrames(world: SimWorld, lose: (from: string, to: string) => boolean): { readonly lost: number } {
  const net = (world as unknown as { network: { send(from: { endpoint: string }, to: string, frame: Uint8Array): void } }).network;
  const send = net.send.bind(net);
  const counts = { lost: 0 };
  net.send = (from, to, frame) => {
    if (lose(from.endpoint, to.split('/')[0]!)) {
      counts.lost++;
      return;
    }
    send(from, to, frame);
  };
  return counts;
}

/** Frames the simulated network carried while it ran `ms` more (the idle cost of a group). */
export function framesIn(s: { world: SimWorld }, ms: number): number {
  const before = s.world.stats.sent;
  s.world.runFor(ms);
  return s.world.stats.sent - before;
}

/**
 * Stall frames on the simulated network as a congested connection would: every frame for which
 * `stall(fromEndpoint, toEndpoint)` is true waits, in order, until `release()` sends them on.
 */
export function stallFrames(world: SimWorld, stall: (from: string, to: string) => boolean): { readonly waiting: number; release(): void } {
  const net = (world as unknown as { network: { send(from: { endpoint: string }, to: string, frame: Uint8Array): void } }).network;
  const send = net.send.bind(net);
  const waiting: [{ endpoint: string }, string, Uint8Array][] = [];
  let stalled = true;
  net.send = (from, to, frame) => {
    if (stalled && stall(from.endpoint, to.split('/')[0]!)) waiting.push([from, to, frame]);
    else send(from, to, frame);
  };
  return {
    get waiting() {
      return waiting.length;
    },
    release() {
      stalled = false;
      for (const [from, to, frame] of waiting.splice(0)) send(from, to, frame);
    },
  };
}
