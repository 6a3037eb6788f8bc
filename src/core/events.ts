import type { NodeId } from './node-id.js';
import type { View } from './view.js';

/** Highest contiguous sequence number held, per sender (NAK's view of the world). */
export type Digest = Map<NodeId, number>;

/** Control events travelling down the stack (data goes through `down(msg)`). */
export type DownEvent =
  | { type: 'VIEW'; view: View }
  /** Query answered by the reliability layer: what this member holds. */
  | { type: 'GET_DIGEST'; digest: Digest | null }
  /** Everything up to these sequence numbers is held by every member: free it. */
  | { type: 'STABLE'; stable: Digest }
  | { type: 'STOP' };

/** Control events travelling up the stack. */
export type UpEvent =
  | { type: 'VIEW'; view: View }
  /** Flow control has no credit left: the application should wait. */
  | { type: 'BLOCK_SEND' }
  | { type: 'UNBLOCK_SEND' }
  | { type: 'STABLE'; stable: Digest }
  | { type: 'PEER_UP'; peer: NodeId }
  | { type: 'PEER_DOWN'; peer: NodeId };
