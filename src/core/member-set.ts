import type { NodeId } from './node-id.js';

const cache = new WeakMap<readonly NodeId[], ReadonlySet<NodeId>>();

/**
 * The members of a list (a view's, a proposal's) as a set, built once per list: membership tests
 * on large views stay O(1) instead of a scan per test (O(n²) per view change). Lists given here
 * must not change afterwards (views and proposals never do).
 */
export function memberSet(members: readonly NodeId[]): ReadonlySet<NodeId> {
  let s = cache.get(members);
  if (s === undefined) {
    s = new Set(members);
    cache.set(members, s);
  }
  return s;
}
