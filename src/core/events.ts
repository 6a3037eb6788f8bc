import type { NodeId } from './node-id.js';
import type { StateSink, StateSource } from './state-stream.js';
import type { View } from './view.js';

/** Highest contiguous sequence number held, per sender (NAK's view of the world). */
export type Digest = Map<NodeId, number>;

/** Control events travelling down the stack (data goes through `down(msg)`). */
export type DownEvent =
  /**
   * `leaseSince`: a time (this member's clock) before which no member of `view` had installed it;
   * each grants this member a lease from then as it installs the view (see FD).
   */
  | { type: 'VIEW'; view: View; leaseSince?: number | undefined }
  /** Query answered by the reliability layer: what this member holds. */
  | { type: 'GET_DIGEST'; digest: Digest | null }
  /** Everything up to these sequence numbers is held by every member: free it. */
  | { type: 'STABLE'; stable: Digest }
  /** Flush: stop delivering messages of the current view; answer with what is held. */
  | { type: 'FLUSH_FREEZE'; digest: Digest | null }
  /** Flush: deliver exactly up to `cut` per sender, fetching what is missing from `holders`. */
  | { type: 'FLUSH_CUT'; cut: Digest; holders: Map<NodeId, NodeId> }
  /** Start membership: found the group alone, or ask these contacts to let us in. */
  | { type: 'CREATE' }
  | { type: 'JOIN'; contacts: readonly string[] }
  | { type: 'LEAVE' }
  /** Someone waits on stability (safe delivery): gossip digests now rather than at the next tick. */
  | { type: 'STABILIZE' }
  /**
   * Membership is about to leave these members out: the failure detector stops renewing their
   * leases and answers in `until` when the last lease it gave them ends (its clock; null: none).
   */
  | { type: 'LEASE_REVOKE'; members: readonly NodeId[]; until: number | null }
  /**
   * Membership holds more of the group's messages than it may (a joiner waiting for its state):
   * flow control stops granting credit while `hold` is on (senders block; nothing is dropped), and
   * grants what was consumed once it is off.
   */
  | { type: 'HOLD_CREDIT'; hold: boolean }
  /**
   * `layer` now holds this many of `member`'s multicasts, taken and not yet delivered because they
   * wait on something else (CAUSAL: a dependency that came by another connection; TOTAL: an order;
   * SAFE: stability). Flow control counts what the layers hold beyond its allowance (`maxHeldAbove`)
   * as not consumed, so however long the wait, a member holds at most that allowance and a window of
   * a sender's (and a waiting queue never nears its cap).
   */
  | { type: 'HELD_ABOVE'; layer: string; member: NodeId; messages: number; payloadBytes: number }
  | { type: 'STOP' };

/** Control events travelling up the stack. */
export type UpEvent =
  /**
   * A new view. For a joiner, `state` is the snapshot that comes with its first view. With
   * `provide`, the application end answers in `snapshot` (or `snapshotError`) with its state as of
   * this view, for the joiners.
   */
  | { type: 'VIEW'; view: View; state?: Buffer | null; provide?: boolean; snapshot?: Buffer | StateSource | null; snapshotError?: Error | null }
  /**
   * A joiner's state of `size` bytes is about to stream in for its first view `viewId`. The
   * application end may answer with a `sink` that takes the bytes as they arrive; without one, GMS
   * gathers them into one buffer and hands it over in the VIEW event's `state`.
   */
  | { type: 'STATE_INCOMING'; viewId: number; size: number; sink?: StateSink | null }
  /** This member left cleanly, was excluded, or could not join. */
  | { type: 'LEFT' }
  | { type: 'EXCLUDED'; viewId: number }
  | { type: 'JOIN_FAILED'; code: 'ERR_STATE_TRANSFER' | 'ERR_JOIN_REJECTED' | 'ERR_ACCESS_DENIED'; message: string }
  /** Flow control has no credit left: the application should wait. */
  | { type: 'BLOCK_SEND' }
  | { type: 'UNBLOCK_SEND' }
  | { type: 'STABLE'; stable: Digest; viewId: number }
  | { type: 'PEER_UP'; peer: NodeId }
  | { type: 'PEER_DOWN'; peer: NodeId }
  /** Failure detector: a member has been silent too long / was heard again. */
  | { type: 'SUSPECT'; member: NodeId }
  | { type: 'UNSUSPECT'; member: NodeId }
  /** Failure detector: this member no longer holds leases from a majority of its view / holds them again. */
  | { type: 'LEASE_LOST' }
  | { type: 'LEASE_OK' }
  /** A node that is not in this view is still talking to it, as a member of view `viewId`. */
  | { type: 'STRANGER'; member: NodeId; viewId: number }
  /** The reliability layer delivered everything up to the flush cut. */
  | { type: 'FLUSH_REACHED' }
  /** Sends are held while a view change runs, or because this member is in a minority. */
  | { type: 'BLOCKED'; reason: 'flush' | 'minority' | 'joining' }
  /** Without a reason: everything that held sends is over (a view is in). With one: only that. */
  | { type: 'UNBLOCKED'; reason?: 'flush' | 'minority' | 'joining' };
