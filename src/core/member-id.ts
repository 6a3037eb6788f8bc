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
