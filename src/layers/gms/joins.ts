import { nodeOfMember } from '../../core/member-id.js';
import type { NodeId } from '../../core/node-id.js';

/** Largest nonce: a u32, as the wire schema accepts. */
const MAX_NONCE = 0xffff_ffff;

interface Challenge {
  nonce: number;
  at: number;
}

export interface JoinAdmissionOptions {
  /** Most joins waiting for their answer at once; more are dropped until some answer or expire. */
  maxPendingChallenges: number;
  /** A challenge not answered within this is forgotten. */
  challengeTimeoutMs: number;
}

/**
 * Coordinator: a join is admitted only after the joiner answers, from its own connection, a
 * challenge sent to its own id. A join request may be forwarded by any member (a joiner knows
 * only its seeds), but a process that does not exist never answers, so it never becomes a phantom
 * member. What strangers can make us hold is bounded: a cap on open challenges and an expiry.
 */
export class JoinAdmission {
  private readonly open = new Map<NodeId, Challenge>();

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
    const nonce = this.nextNonce();
    this.open.set(member, { nonce, at: now });
    return nonce;
  }

  /** True if `from` answered `member`'s open challenge correctly: the joiner is there; the challenge is spent. */
  answer(from: NodeId, member: NodeId, nonce: number): boolean {
    const c = this.open.get(member);
    if (!c || c.nonce !== nonce || nodeOfMember(from) !== nodeOfMember(member)) return false;
    this.open.delete(member);
    return true;
  }

  /** Forget challenges older than the timeout; returns the members that never answered. */
  expire(now: number): NodeId[] {
    const gone: NodeId[] = [];
    for (const [m, c] of this.open) {
      if (now - c.at > this.opts.challengeTimeoutMs) {
        this.open.delete(m);
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
