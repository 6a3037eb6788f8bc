import type { GroupStatus } from './node-observer.js';

/** One group's part in a node's readiness. */
export interface GroupReadiness {
  name: string;
  ready: boolean;
  /** Why not, in words an operator can act on; absent when ready. */
  reason?: string;
}

/** What /readyz answers: ready when every group the node should be in is in a primary view with its state. */
export interface Readiness {
  ready: boolean;
  groups: GroupReadiness[];
}

/**
 * Blocks that make a member unfit to serve: cut off in a minority (it delivers nothing), or still
 * joining (no state yet). A flush or flow control holds sends for milliseconds and is part of normal
 * work, so it does not take a member out of service (a probe would flap on every view change).
 */
const NOT_SERVING: Readonly<Record<string, string>> = {
  minority: 'cut off in a minority: no lease from a majority of its view, so it neither sends nor delivers',
  joining: 'joining: its first view and the group state have not arrived yet',
};

/**
 * Readiness of a node from its groups' status. `expected` names groups it is configured to be in:
 * one it has not joined yet makes it unready too (its join may still be waiting for the group).
 */
export function readinessOf(groups: readonly GroupStatus[], expected: readonly string[] = []): Readiness {
  const out: GroupReadiness[] = [];
  const seen = new Set<string>();
  for (const g of groups) {
    seen.add(g.name);
    const blocking = g.blockedReasons.find((r) => r in NOT_SERVING);
    if (g.viewsInstalled === 0) out.push({ name: g.name, ready: false, reason: 'no view installed yet' });
    else if (blocking !== undefined) out.push({ name: g.name, ready: false, reason: NOT_SERVING[blocking]! });
    else out.push({ name: g.name, ready: true });
  }
  for (const name of expected) if (!seen.has(name)) out.push({ name, ready: false, reason: 'not joined yet' });
  return { ready: out.every((g) => g.ready), groups: out };
}
