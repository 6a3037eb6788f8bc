import { nodeOfMember, replacedMemberOf } from '../../core/member-id.js';
import { memberSet } from '../../core/member-set.js';
import { endpointOf, type NodeId } from '../../core/node-id.js';
import type { View } from '../../core/view.js';
import { senderOfKey } from './gbcast.js';
import { oneMemberPerNode } from './joins.js';
import { G, saneMembers, sameMembers, type Attempt, type Body, type Proposal } from './messages.js';

/** A refusal that is not counted: a late message about an earlier membership or view. */
export const STALE = '';

/** What the sender rules read of the membership layer's state. */
export interface Hearing {
  readonly me: NodeId;
  readonly view: View | null;
  readonly joining: boolean;
  /** Participants of the flush this member runs as coordinator, if any. */
  readonly flushParticipants: readonly NodeId[] | null;
  /** The highest flush attempt number seen or promised. */
  readonly highestAttempt: number;
  /** Joiner: who challenged us. */
  readonly challengers: ReadonlySet<string>;
  /** Joiner: whom we ask to let us in (node ids or `host:port`). */
  readonly contacts: readonly string[];
  /** Joiner: the member streaming our state, if any. */
  readonly stateProvider: NodeId | null;
  /** Joiner: the flush attempt we answered as a member of a view we never installed (see GMS.onJoinerFlushStart). */
  readonly joinerPromise: Attempt | null;
  awaitsState(viewId: number): boolean;
  readonly maxMembers: number;
  readonly maxAttemptStep: number;
}

/**
 * Who may say what: a member speaks only for itself. Each control message, once its body passed
 * its schema, is honoured only from whom the protocol expects it (the leaver itself, the
 * coordinator of an attempt, a participant, a member of the view being replaced, the state
 * provider), and a proposal or view must be one this group can have.
 * Why a checked remote message is not honoured from `from` (STALE: ignored, not counted), or null if it is.
 */
export function refusal<T extends G>(h: Hearing, t: T, from: NodeId, body: Body<T>): string | null {
  // Not yet (or no longer) in a view: only what a joiner needs matters; the rest is for an old membership.
  // A joiner whose first view's INSTALL was lost also answers that view's flush (see GMS.onJoinerFlushStart).
  if (
    !h.view &&
    t !== G.JoinChallenge &&
    t !== G.Install &&
    t !== G.StateFail &&
    !(h.joining && (t === G.NotMember || t === G.Denied || t === G.JoinWait || t === G.FlushStart || t === G.Cut))
  )
    return STALE;
  switch (t) {
    case G.LeaveReq:
      return speaksFor(from, (body as Body<G.LeaveReq>).member, 'leave request for another member');
    case G.FlushStart: {
      const x = body as Body<G.FlushStart>;
      if (x.a.coord !== from || !plausible(h, x.a)) return 'flush start not from the coordinator of its attempt';
      return x.view === h.view?.id && !inView(h, from) ? 'flush start from a non-member' : null;
    }
    case G.FlushOk: {
      const x = body as Body<G.FlushOk>;
      if (x.installed) return inView(h, from) && saneMembers(x.installed.members, h.maxMembers) ? null : 'flush reply with an impossible installed view';
      if (x.accepted && (!saneProposal(h, x.accepted.p) || !plausible(h, x.accepted.a))) return 'flush reply with an impossible proposal';
      // Only a member of the view runs an attempt to change it (a joiner answers anyone's flush start: see GMS.onJoinerFlushStart).
      if (x.accepted && !inView(h, x.accepted.a.coord)) return "flush reply with a proposal of a non-member's attempt";
      return inView(h, from) ? null : staleOr(h, x.view, 'flush reply from a non-member');
    }
    case G.FlushNack: {
      const n = (body as Body<G.FlushNack>).n;
      if (!inView(h, from) || (h.flushParticipants !== null && !h.flushParticipants.includes(from))) return 'flush nack from a non-participant';
      return plausible(h, { n, coord: from }) ? null : 'flush nack with an implausible attempt';
    }
    case G.Cut: {
      const x = body as Body<G.Cut>;
      // A joiner takes a cut only for the attempt it answered, from that attempt's coordinator.
      const coordinator = h.view ? inView(h, from) : h.joinerPromise !== null && h.joinerPromise.n === x.a.n && h.joinerPromise.coord === from;
      if (x.a.coord !== from || !coordinator || !plausible(h, x.a)) return 'cut not from the coordinator of its attempt';
      return saneProposal(h, x.p) ? null : 'cut with an impossible proposal';
    }
    case G.Done:
      return inView(h, from) ? null : staleOr(h, (body as Body<G.Done>).view, 'flush done from a non-member');
    case G.Install: {
      const x = body as Body<G.Install>;
      if (!saneMembers(x.view.members, h.maxMembers) || !oneMemberPerNode(x.view.members)) return 'install with an impossible member list';
      if (x.fresh && !x.fresh.every((m) => x.view.members.includes(m))) return 'install naming fresh members outside its view';
      if (h.joining) {
        // Our first view: from the coordinator that challenged us, or a member of that view other than us.
        const node = nodeOfMember(from);
        const ok = h.challengers.has(from) || (node !== nodeOfMember(h.me) && x.view.members.some((m) => nodeOfMember(m) === node));
        return ok ? null : 'install for a joiner from outside its view';
      }
      if (h.view && x.view.id <= h.view.id) {
        // A resend of the view we have: acknowledge it (its installer keeps resending until we do); older ones are stale.
        return x.view.id === h.view.id && sameMembers(x.view.members, h.view.members) ? null : STALE;
      }
      if (h.view && !inView(h, from)) return 'install from a non-member of the view it replaces';
      // Views are numbered one by one, and a member takes part in each change of its view: the next
      // one it can be told of is its own plus one (a member left behind learns so by a notice).
      return h.view && x.view.id !== h.view.id + 1 ? 'install of a view that cannot follow ours' : null;
    }
    case G.NotMember:
      // A joiner: only a coordinator that challenged it, or a contact it asks to let it in, may say
      // our id was admitted and left out since.
      if (h.joining) return h.challengers.has(from) || isContact(h, from) ? null : '"not a member" for a joiner from neither a challenger nor a contact';
      // Only a member of our view may tell us a later view left us out, or its process under a
      // later membership (it rejoined, so it knows the later view; the word is still its node's).
      return inView(h, from) || (h.view !== null && replacedMemberOf(h.view.members, from) !== null) ? null : '"not a member" from a non-member';
    case G.Denied:
      // Like "not a member": only a coordinator that challenged the joiner, or a contact, may refuse it.
      if (!h.joining) return STALE;
      return h.challengers.has(from) || isContact(h, from) ? null : 'access refusal for a joiner from neither a challenger nor a contact';
    case G.JoinWait:
      // Like "not a member": only a coordinator that challenged the joiner, or a contact (the
      // coordinator of a pki join admitted without a challenge), may tell it to wait on.
      if (!h.joining) return STALE;
      return h.challengers.has(from) || isContact(h, from) ? null : 'join wait for a joiner from neither a challenger nor a contact';
    case G.AclSet:
      return 'access-control change outside a gbcast';
    case G.FlushReq:
      return inView(h, from) ? null : staleOr(h, (body as Body<G.FlushReq>).view, 'flush request from a non-member');
    case G.Gbcast: {
      // The key names its sender: only that member may hand it in.
      const named = speaksFor(from, senderOfKey((body as Body<G.Gbcast>).key), 'gbcast not from the member its key names');
      return named !== null || inView(h, from) ? named : 'gbcast from a non-member';
    }
    case G.StateFail:
      return h.awaitsState((body as Body<G.StateFail>).view) && from !== h.stateProvider ? 'state failure not from the state provider' : null;
    default:
      return null;
  }
}

/**
 * Does `from` speak for `member`? Only for itself. The same process under another member id
 * (one we do not know it by: a rejoin we have not seen) is ignored, not counted.
 */
function speaksFor(from: NodeId, member: NodeId, reason: string): string | null {
  if (member === from) return null;
  return nodeOfMember(member) === nodeOfMember(from) ? STALE : reason;
}

/** A message about an earlier view from a member it had (excluded since) is stale, not hostile. */
function staleOr(h: Hearing, viewId: number, reason: string): string {
  return h.view !== null && viewId < h.view.id ? STALE : reason;
}

function inView(h: Hearing, from: NodeId): boolean {
  return h.view !== null && memberSet(h.view.members).has(from);
}

/** An attempt number within reach of what we have seen (one near 2^32 would leave no room above it). */
function plausible(h: Hearing, a: Attempt): boolean {
  return a.n <= h.highestAttempt + h.maxAttemptStep;
}

/** A proposal that can be a view of this group: sane members, gbcasts only from members of the view. */
export function saneProposal(h: Hearing, p: Proposal): boolean {
  // One member per node: a proposal naming two members of one endpoint can only come from a forger.
  if (!saneMembers(p.members, h.maxMembers) || !oneMemberPerNode(p.members)) return false;
  if (p.fresh && !p.fresh.every((m) => p.members.includes(m))) return false;
  // A joiner (no view yet: see GMS.onJoinerFlushStart) cannot tell the view's members; its coordinator can.
  if (h.view === null) return true;
  const members = memberSet(h.view.members);
  return (p.gb ?? []).every(([key]) => members.has(senderOfKey(key)));
}

/** Is `from` (a member id) running on one of the joiner's contacts? */
function isContact(h: Hearing, from: NodeId): boolean {
  const node = nodeOfMember(from);
  const ep = endpointOf(node);
  return h.contacts.some((c) => c === node || c === ep);
}
