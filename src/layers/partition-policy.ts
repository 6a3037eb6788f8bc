/**
 * Partition policies of a primary-partition group: which sets of a view's members may act for it
 * (install its successor, and hold a lease in it). GMS and FD take their rule from here, so the set
 * that may change the view and the set a member must hear from to stay live are the same.
 *
 * - `majority` (default): more than half of the view's members. Dynamic: after one failure at a
 *   time, 5 members can shrink to 3, 2 and 1, and the last one goes on alone.
 * - `quorum` (static, size Q): more than half of the view AND at least Q of its members. The group
 *   never runs with fewer than Q members: a view smaller than Q (while the group forms, or after too
 *   many failures) admits joiners, and the returning members, but delivers nothing until it holds Q.
 * - `weights` (per endpoint `host:port`; `defaultWeight` for the rest): more than half of the view's
 *   total weight. One heavy member (a site's main server) can keep its side live alone.
 *
 * Every rule keeps the property primary partition rests on: any two sets that may act for the same
 * view share a member (each holds a majority of the members, or of the weight), so two sides of a
 * split never both move on. Members known replaced (their process rejoined under a later membership)
 * count neither way: they never answer anyone again.
 *
 * - `partitionable` gives that property up on purpose: every side of a split keeps its own views and
 *   keeps working (extended virtual synchrony: each side is virtually synchronous on its own), and the
 *   sides merge into one view when they meet again, the application reconciling their states
 *   (`JoinOptions.merge`, see src/api/merge.ts and docs/partitions.md).
 */
import { z } from 'zod';
import { endpointOf, type NodeId } from '../core/node-id.js';
import { nodeOfMember } from '../core/member-id.js';
import { ConfigError } from '../core/errors.js';
import { parseStackSpec, type StackSpec } from '../stack/stack.js';

const weight = z.number().int().min(0).max(1_000_000);

export const partitionPolicySchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('majority') }).strict(),
  z.object({ kind: z.literal('quorum'), size: z.number().int().min(1).max(65_536) }).strict(),
  z
    .object({
      kind: z.literal('weights'),
      /** Weight of each member by its endpoint (`host:port`). */
      weights: z.record(z.string().min(1).max(300), weight).refine((w) => Object.keys(w).length <= 65_536, 'at most 65536 weights'),
      /** Weight of a member whose endpoint is not listed (default 1). */
      defaultWeight: weight.default(1),
    })
    .strict(),
  z.object({ kind: z.literal('partitionable') }).strict(),
]);

/** A partition policy as a user writes it (see the file's comment, and docs/partitions.md). */
export type PartitionPolicy =
  /** More than half of the last view (the default). */
  | { kind: 'majority' }
  /** More than half of the last view and at least `size` of its members: the group never runs below `size`. */
  | { kind: 'quorum'; size: number }
  /** More than half of the last view's total weight; each member weighs `weights[host:port]`, else `defaultWeight` (1). */
  | { kind: 'weights'; weights: Readonly<Record<string, number>>; defaultWeight?: number }
  /** Not a primary-partition group: every side of a split goes on, and the sides merge when they meet. */
  | { kind: 'partitionable' };
type ParsedPolicy = z.output<typeof partitionPolicySchema>;

export const MAJORITY = { kind: 'majority' } as const;

export class Quorum {
  private readonly policy: ParsedPolicy;

  constructor(policy: PartitionPolicy = MAJORITY) {
    this.policy = partitionPolicySchema.parse(policy);
  }

  get kind(): ParsedPolicy['kind'] {
    return this.policy.kind;
  }

  /** A member's vote: its weight under `weights`, 1 otherwise. */
  weightOf(member: NodeId): number {
    const p = this.policy;
    if (p.kind !== 'weights') return 1;
    return p.weights[endpointOf(nodeOfMember(member))] ?? p.defaultWeight;
  }

  /**
   * Whether the members of `members` for which `present` holds may act for that view. Members in
   * `uncounted` (known replaced) count neither way.
   */
  holds(members: readonly NodeId[], present: (m: NodeId) => boolean, uncounted?: ReadonlySet<NodeId>): boolean {
    if (this.policy.kind === 'partitionable') return true; // any side acts for itself
    let total = 0;
    let have = 0;
    let haveCount = 0;
    for (const m of members) {
      if (uncounted?.has(m)) continue;
      const w = this.weightOf(m);
      total += w;
      if (present(m)) {
        have += w;
        haveCount++;
      }
    }
    if (have * 2 <= total) return false;
    return this.policy.kind !== 'quorum' || haveCount >= this.policy.size;
  }

  /**
   * Whether a view change of `members` may go ahead with `present` answering: the rule holds, or every
   * counted member answered (a view below its quorum may still grow: nobody is left out who could
   * form another successor, so no two primaries can follow from it).
   */
  mayChange(members: readonly NodeId[], present: (m: NodeId) => boolean, uncounted?: ReadonlySet<NodeId>): boolean {
    if (this.holds(members, present, uncounted)) return true;
    let any = false;
    for (const m of members) {
      if (uncounted?.has(m)) continue;
      if (!present(m)) return false;
      any = true;
    }
    return any;
  }

  /** Whether a view of `members`, all live, may deliver: false for a view smaller than a static quorum. */
  quorate(members: readonly NodeId[], uncounted?: ReadonlySet<NodeId>): boolean {
    return this.holds(members, () => true, uncounted);
  }

  /**
   * When `self` stops holding the rule, from the times at which each other member's lease to it ends:
   * +Infinity if `self` holds it alone, -Infinity if all of them together fall short.
   */
  leaseEnd(members: readonly NodeId[], self: NodeId, endOf: (m: NodeId) => number | undefined): number {
    if (this.policy.kind === 'partitionable') return Infinity; // no side ever blocks itself
    const ends: [number, NodeId][] = [];
    for (const m of members) {
      if (m === self) continue;
      const t = endOf(m);
      if (t !== undefined) ends.push([t, m]);
    }
    ends.sort((a, b) => b[0] - a[0]);
    if (this.policy.kind === 'majority') {
      // Every member one vote: the lease ends with the (n/2)-th latest of the others' (we count ourselves).
      const needOthers = Math.floor(members.length / 2);
      if (needOthers === 0) return Infinity;
      return ends.length < needOthers ? -Infinity : ends[needOthers - 1]![0];
    }
    const live = new Set<NodeId>([self]);
    const has = (m: NodeId) => live.has(m);
    if (this.holds(members, has)) return Infinity;
    for (const [t, m] of ends) {
      live.add(m);
      if (this.holds(members, has)) return t;
    }
    return -Infinity;
  }
}

/**
 * `spec` with `policy` given to GMS and FD alike (they must share it: the set a member needs leases
 * from is the set that may exclude it). Unchanged without a policy; a ConfigError for a bad policy
 * or a stack that has no GMS (a fixed membership never changes its view: it has no partition rule).
 */
export function withPartitionPolicy(spec: StackSpec, policy: PartitionPolicy | undefined): StackSpec {
  if (policy === undefined) return spec;
  const parsed = partitionPolicySchema.safeParse(policy);
  if (!parsed.success) throw new ConfigError(`partition: ${z.prettifyError(parsed.error)}`);
  const layers = parseStackSpec(spec).map((l) => ({ ...l, ...(l.options ? { options: { ...l.options } } : {}) }));
  const gms = layers.find((l) => l.name === 'GMS');
  if (gms === undefined) throw new ConfigError('a partition policy needs a dynamic group (GMS in the stack)');
  gms.options = { ...gms.options, partition: parsed.data };
  const fd = layers.find((l) => l.name === 'FD');
  if (fd !== undefined) fd.options = { ...fd.options, partition: parsed.data };
  return layers;
}
