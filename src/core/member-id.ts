import type { NodeId } from './node-id.js';

/**
 * A member's id in a dynamic group: the node id for its first membership, `nodeId~n` when the
 * same process rejoins after being excluded (a rejoin is a new member, never a comeback).
 */
export function nodeOfMember(member: string): NodeId {
  const t = member.indexOf('~');
  return t < 0 ? member : member.slice(0, t);
}

export function rejoinMemberId(node: NodeId, n: number): string {
  return n <= 1 ? node : `${node}~${n}`;
}

/** n of a member id `node~n`: the process's n-th membership (1 for `node`). */
export function membershipSeq(member: string): number {
  const t = member.indexOf('~');
  if (t < 0) return 1;
  const n = Number(member.slice(t + 1));
  return Number.isSafeInteger(n) && n > 0 ? n : 1;
}

/**
 * The member of `members` that `member` replaced: the same node under an earlier membership
 * (`node~k`, k < n), or null. That process tore the old membership down to rejoin, so it still
 * speaks for it where only its node's word matters.
 */
export function replacedMemberOf(members: readonly string[], member: string): string | null {
  const node = nodeOfMember(member);
  const seq = membershipSeq(member);
  for (const m of members) if (nodeOfMember(m) === node && membershipSeq(m) < seq) return m;
  return null;
}
