import { membershipSeq, nodeOfMember } from '../../core/member-id.js';
import { endpointOf, type NodeId } from '../../core/node-id.js';

/** Largest nonce: a u32, as the wire schema accepts. */
const MAX_NONCE = 0xffff_ffff;

interface Challenge {
  nonce: number;
  at: number;
  /** When we last sent it. */
  sentAt: number;
  /** When it was last reopened after expiring (its timeout counts from then). */
  reopenedAt?: number;
}

export interface JoinAdmissionOptions {
  /** Most joins waiting for their answer at once; more are dropped until some answer or expire. */
  maxPendingChallenges: number;
  /** A challenge not answered within this is forgotten. */
  challengeTimeoutMs: number;
  /** How many members that left our views we remember, to drop late join requests for them. */
  maxRememberedGone: number;
}

/** The endpoint a member id runs at (`host:port`): one process at a time can hold it. */
export function endpointOfMember(member: NodeId): string {
  return endpointOf(nodeOfMember(member));
}

export { membershipSeq };

/**
 * Why a request to admit `member` is stale, or null. `known`: the view's members and the pending
 * joins. A process rejoins under `node~n+1` and never comes back under an id it had, so a request
 * for an id that already left a view, or older than a later membership of the same process, is a
 * late copy (a post-heal burst of queued requests): admitting it would add a member nobody runs.
 */
export function staleJoin(member: NodeId, known: readonly NodeId[], wentAway: (m: NodeId) => boolean): string | null {
  if (wentAway(member)) return 'join request for a member that already left the group';
  const node = nodeOfMember(member);
  const seq = membershipSeq(member);
  for (const k of known)
    if (k !== member && nodeOfMember(k) === node && membershipSeq(k) > seq) return 'join request for a membership already replaced by a later one';
  return null;
}

/**
 * The next view's members: `stay` (in seniority order) then `joiners`, one member per endpoint. A
 * joiner replaces any member of its endpoint (an older membership or a dead incarnation of the same
 * port: only one process holds it), and of two joiners of one endpoint the later one wins.
 */
export function withJoiners(stay: readonly NodeId[], joiners: readonly NodeId[]): NodeId[] {
  const lastJoiner = new Map<string, NodeId>();
  for (const j of joiners) lastJoiner.set(endpointOfMember(j), j);
  const out = stay.filter((m) => !lastJoiner.has(endpointOfMember(m)));
  const taken = new Set(out.map(endpointOfMember));
  for (const j of joiners) {
    const ep = endpointOfMember(j);
    if (lastJoiner.get(ep) !== j || taken.has(ep)) continue;
    taken.add(ep);
    out.push(j);
  }
  return out;
}

/** True if no two of `members` share an endpoint. */
export function oneMemberPerNode(members: readonly NodeId[]): boolean {
  return new Set(members.map(endpointOfMember)).size === members.length;
}

/**
 * Coordinator: a join is admitted only after the joiner answers, from its own connection, a
 * challenge sent to its own id. A join request may be forwarded by any member (a joiner knows
 * only its seeds), but a process that does not exist never answers, so it never becomes a phantom
 * member. What strangers can make us hold is bounded: a cap on open challenges and an expiry.
 */
export class JoinAdmission {
  private readonly open = new Map<NodeId, Challenge>();
  /**
   * Challenges that expired unanswered, oldest first (bounded by maxPendingChallenges): an answer
   * to one still admits, and a new request is challenged with the same nonce. A starved joiner's
   * answer came later than challengeTimeoutMs, again and again: each expiry drew a new nonce, so
   * every answer was to a spent one (large-64, session 12: 7 joiners kept out for 20 s).
   */
  private readonly expired = new Map<NodeId, Challenge>();
  /** Members that left views we saw, oldest first (bounded by maxRememberedGone). */
  private readonly gone = new Set<NodeId>();
  private lastMembers: readonly NodeId[] = [];

  constructor(
    private readonly opts: JoinAdmissionOptions,
    private readonly nextNonce: () => number,
  ) {}

  get size(): number {
    return this.open.size;
  }

  /** The challenge to send to `member` (the same one again if it asks again), or null when full. */
  challenge(member: NodeId, now: number): number | null {
    const c = this.open.get(member);
    if (c) return c.nonce;
    if (this.open.size >= this.opts.maxPendingChallenges) return null;
    // Reopened with its nonce and its first issue time (an answer proves the joiner held its endpoint since then only).
    const old = this.expired.get(member);
    this.expired.delete(member);
    const nonce = old?.nonce ?? this.nextNonce();
    this.open.set(member, { nonce, at: old?.at ?? now, sentAt: -Infinity, ...(old ? { reopenedAt: now } : {}) });
    return nonce;
  }

  /**
   * Whether to send `member`'s open challenge now: not again within `gapMs` of the last send. Its
   * join requests come directly and through every member that forwards one; each copy answered with
   * a challenge is a challenge answered again, and a join answered n times over.
   */
  sendDue(member: NodeId, now: number, gapMs: number): boolean {
    const c = this.open.get(member);
    if (!c || now - c.sentAt < gapMs) return false;
    c.sentAt = now;
    return true;
  }

  /** When the open challenge to `member` was issued (our clock), if one is open. */
  challengedAt(member: NodeId): number | undefined {
    return (this.open.get(member) ?? this.expired.get(member))?.at;
  }

  /** True if `from` answered `member`'s open challenge correctly: the joiner is there; the challenge is spent. */
  answer(from: NodeId, member: NodeId, nonce: number): boolean {
    const c = this.open.get(member) ?? this.expired.get(member);
    if (!c || c.nonce !== nonce || nodeOfMember(from) !== nodeOfMember(member)) return false;
    this.open.delete(member);
    this.expired.delete(member);
    return true;
  }

  /** `member` was admitted without answering its open challenge (its own request came on its own authenticated connection): forget the challenge. */
  withdraw(member: NodeId): void {
    this.open.delete(member);
    this.expired.delete(member);
  }

  /**
   * A joiner proved it is there as `member`: open challenges to other members of its endpoint are
   * for memberships or processes that no longer exist there. Only an answer may do this (a request
   * can come from anyone, and must not cancel a real joiner's challenge).
   */
  answeredAs(member: NodeId): void {
    const ep = endpointOfMember(member);
    for (const m of [...this.open.keys()]) if (m !== member && endpointOfMember(m) === ep) this.open.delete(m);
    for (const m of [...this.expired.keys()]) if (m !== member && endpointOfMember(m) === ep) this.expired.delete(m);
  }

  /** Tell it the current view's members (and pending joins): whoever left since the last call is remembered as gone. */
  noteView(members: readonly NodeId[]): void {
    const now = new Set(members);
    for (const m of this.lastMembers) {
      if (now.has(m) || this.gone.has(m)) continue;
      this.gone.add(m);
      if (this.gone.size > this.opts.maxRememberedGone) this.gone.delete(this.gone.values().next().value!);
    }
    this.lastMembers = members;
  }

  /** Did `member` leave a view we saw (excluded, left, or replaced)? It never comes back under that id. */
  wentAway(member: NodeId): boolean {
    return this.gone.has(member);
  }

  /** Forget challenges older than the timeout; returns the members that never answered. */
  expire(now: number): NodeId[] {
    const gone: NodeId[] = [];
    for (const [m, c] of this.open) {
      // Counted from the last (re)issue: a reopened challenge keeps its first issue time in `at`.
      if (now - Math.max(c.at, c.reopenedAt ?? -Infinity) > this.opts.challengeTimeoutMs) {
        this.open.delete(m);
        this.expired.delete(m);
        this.expired.set(m, c);
        if (this.expired.size > this.opts.maxPendingChallenges) this.expired.delete(this.expired.keys().next().value!);
        gone.push(m);
      }
    }
    return gone;
  }
}

/** A nonce drawn from the environment's seeded random stream. */
export function nonceFrom(rng: { int(lo: number, hi: number): number }): () => number {
  return () => rng.int(0, MAX_NONCE);
}

/** A joiner asks every contact at its first request and every `fullEvery` rounds; between them, a few. */
export const JOIN_REQ_FULL_EVERY = 16;
/** How many contacts besides the most senior one (and the challenger) a joiner asks in a round between full ones. */
export const JOIN_REQ_SPREAD = 2;

/**
 * Whom a joiner asks to let it in at request round `round`. Round 0 goes to every contact (each
 * member hears the joiner's own connection once: see GMS.onJoinReq). After that, a joiner that
 * answered a coordinator's challenge recently (`challenger`) asks that coordinator alone: it
 * challenges again if its answer was lost. One that has not asks the most senior contact (the
 * coordinator when the list is a view) and JOIN_REQ_SPREAD others in turn, and every contact every
 * JOIN_REQ_FULL_EVERY rounds. Any live member forwards to the coordinator, so a few suffice; asking
 * all n every round made each of n members forward every request (and the coordinator challenge each
 * copy, and the joiner answer each challenge), which at 50 processes on 2 cores was much of what kept
 * the coordinator from finishing the flush that admits the joiner.
 */
export function joinRequestTargets(contacts: readonly string[], round: number, challenger: string | null): string[] {
  if (round === 0) return [...contacts];
  if (challenger !== null) return [challenger];
  if (round % JOIN_REQ_FULL_EVERY === 0 || contacts.length <= JOIN_REQ_SPREAD + 1) return [...contacts];
  const out = new Set<string>([contacts[0]!]);
  const rest = contacts.length - 1;
  // Rounds between full ones, counted without them: consecutive ones take consecutive contacts.
  const partial = round - Math.floor(round / JOIN_REQ_FULL_EVERY) - 1;
  for (let k = 0; k < JOIN_REQ_SPREAD; k++) out.add(contacts[1 + ((partial * JOIN_REQ_SPREAD + k) % rest)]!);
  return [...out];
}
