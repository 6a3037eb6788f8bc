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
  /** Resends of the current step so far (each waits twice as long as the one before: see resendDue). */
  resends: number;
  /** When the current step last heard a new answer (a FlushOk, or a Done): see stepOverdue. */
  lastAnswerAt: number;
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

/** The longest wait between two resends of a flush step, in multiples of retryMs. */
export const MAX_RESEND_BACKOFF = 8;
/** A step whose silent members keep answering may run this many flushTimeoutMs before they are suspected anyway. */
export const MAX_STEP_STRETCH = 4;

/**
 * Whether the coordinator resends the current step to whoever has not answered: after retryMs,
 * then twice as long each time (up to MAX_RESEND_BACKOFF × retryMs). Members receive the step over
 * reliable channels; a resend is for a connection that broke. Each resent Cut carries the whole
 * proposal (n members, an n-entry cut) to each of the members still busy, and each makes them redo
 * the cut: resending every retryMs to 50 processes sharing 2 cores kept them busier than the step.
 */
export function resendDue(f: CoordFlush, now: number, retryMs: number): boolean {
  return now - f.lastSend >= retryMs * Math.min(2 ** f.resends, MAX_RESEND_BACKOFF);
}

/**
 * Whether the current step has waited long enough to suspect whoever has not answered. After
 * flushTimeoutMs, a step is over at once if the failure detector suspects one of the silent members
 * (`suspected`), or if no new answer came for flushTimeoutMs; while answers still come (members that
 * are alive but slow: tens of processes sharing two cores) it waits, up to MAX_STEP_STRETCH ×
 * flushTimeoutMs. Suspecting a slow member excludes a live one, which then rejoins: under load that
 * turned every join into several view changes, and none finished.
 */
export function stepOverdue(f: CoordFlush, now: number, flushTimeoutMs: number, suspected: (m: NodeId) => boolean): boolean {
  const waited = now - f.startedAt;
  if (waited <= flushTimeoutMs) return false;
  if (waited > flushTimeoutMs * MAX_STEP_STRETCH) return true;
  if (now - f.lastAnswerAt > flushTimeoutMs) return true;
  return silentParticipants(f).some(suspected);
}
