import type { PeerIdentity } from '../core/env.js';
import type { NodeId } from '../core/node-id.js';

/**
 * The identities peers proved on the connections open now, by node id: an entry lives while at
 * least one authenticated connection for that id is open (in either direction).
 */
export class PeerIdentities {
  private readonly byNode = new Map<NodeId, { identity: PeerIdentity; connections: Set<object> }>();
  private readonly byConnection = new Map<object, NodeId>();
  private own: { node: NodeId; identity: PeerIdentity } | null = null;

  /** This node's own identity (what its certificate proves to peers), so ACLs can judge it as they judge others. */
  setOwn(node: NodeId, identity: PeerIdentity): void {
    this.own = { node, identity };
  }

  add(connection: object, node: NodeId, identity: PeerIdentity): void {
    this.remove(connection);
    let e = this.byNode.get(node);
    if (e === undefined) this.byNode.set(node, (e = { identity, connections: new Set() }));
    e.identity = identity; // the newest proof (a renewed certificate) wins
    e.connections.add(connection);
    this.byConnection.set(connection, node);
  }

  remove(connection: object): void {
    const node = this.byConnection.get(connection);
    if (node === undefined) return;
    this.byConnection.delete(connection);
    const e = this.byNode.get(node);
    if (e === undefined) return;
    e.connections.delete(connection);
    if (e.connections.size === 0) this.byNode.delete(node);
  }

  get(node: NodeId): PeerIdentity | null {
    if (this.own !== null && node === this.own.node) return this.own.identity;
    return this.byNode.get(node)?.identity ?? null;
  }

  clear(): void {
    this.byNode.clear();
    this.byConnection.clear();
  }
}
