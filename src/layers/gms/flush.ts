import type { NodeId } from '../../core/node-id.js';
import { memberSet } from '../../core/member-set.js';
import type { View } from '../../core/view.js';
import { withJoiners } from './joins.js';
import { cmpAttempt, type Attempt, type FlushOkBody, type Proposal } from './messages.js';

/** The coordinator's side of one flush attempt. */
export interface CoordFlush {
  a: Attempt;
  participants: NodeId[];
  oks: Map<NodeId, FlushOkBody>;
  phase: 'start' | 'cut';
  startedAt: number;
  lastSend: number;
  proposal: Proposal | null;
  dones: Set<NodeId>;
}

/** What the coordinator brings to a fresh proposal besides the members' answers. */
export interface ProposalInput {
  joins: readonly NodeId[];
  leaves: ReadonlySet<NodeId>;
  gb: [string, Buffer][];
}

/**
 * The cut step's proposal, from the FLUSH_OKs of `responders`: an accepted one if any member has one
 * (the new coordinator must finish what a failed one may have decided: same members, same cut,
 * fetched from members alive now), or a fresh one whose cut is the most anyone holds.
 */
export function chooseProposal(v: View, f: CoordFlush, responders: readonly NodeId[], input: ProposalInput): Proposal {
  let best: { a: Attempt; p: Proposal } | null = null;
  for (const ok of f.oks.values()) if (ok.accepted && (!best || cmpAttempt(ok.accepted.a, best.a, v.members) > 0)) best = ok.accepted;
  if (best) {
    // Each answer's digest as a map, once (a scan per sender is O(n³) in a large view).
    const digests = [...f.oks].map(([m, ok]): [NodeId, Map<NodeId, number>] => [m, new Map(ok.digest)]);
    const holders = best.p.cut.map(([sender, seq]): [NodeId, NodeId] => {
      const holder = digests.find(([, d]) => (d.get(sender) ?? -1) >= seq)?.[0];
      return [sender, holder ?? sender];
    });
    return { ...best.p, holders };
  }
  const cut = new Map<NodeId, number>();
  const holders = new Map<NodeId, NodeId>();
  for (const [member, ok] of f.oks) {
    for (const [sender, seq] of ok.digest) {
      if (seq > (cut.get(sender) ?? -1)) {
        cut.set(sender, seq);
        holders.set(sender, member);
      }
    }
  }
  const joiners = input.joins.filter((j) => !memberSet(v.members).has(j));
  // A joiner replaces any other member of its endpoint (an older membership, a dead incarnation): one member per node.
  const stay = responders.filter((m) => !input.leaves.has(m));
  const members = withJoiners(stay, joiners);
  // Members that never installed v (GMS.onJoinerFlushStart): the proposal says so, so that whoever finishes it gives them state.
  const fresh = members.filter((m) => f.oks.get(m)?.fresh === true);
  return { members, cut: [...cut], holders: [...holders], gb: input.gb, ...(fresh.length > 0 ? { fresh } : {}) };
}

/** Whoever did not answer the current step in time. */
export function silentParticipants(f: CoordFlush): NodeId[] {
  return f.phase === 'start' ? f.participants.filter((p) => !f.oks.has(p)) : [...f.oks.keys()].filter((p) => !f.dones.has(p));
}
