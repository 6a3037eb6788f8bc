import { HorusError } from './errors.js';

/**
 * A node's identity: its endpoint plus an incarnation, written `host:port/incarnation`.
 * A restarted process is a new incarnation and so a new member (Isis: no comeback under an old identity).
 * Strings keep identities cheap as Map keys and on the wire.
 */
export type NodeId = string;

export function makeNodeId(endpoint: string, incarnation: string): NodeId {
  return `${endpoint}/${incarnation}`;
}

/** The `host:port` part of a node id (or the endpoint itself if it carries no incarnation). */
export function endpointOf(id: string): string {
  const slash = id.lastIndexOf('/');
  return slash < 0 ? id : id.slice(0, slash);
}

export function parseEndpoint(endpoint: string): { host: string; port: number } {
  const colon = endpoint.lastIndexOf(':');
  const host = endpoint.slice(0, colon);
  const port = Number(endpoint.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new HorusError('ERR_INVALID_ARGUMENT', `not a host:port endpoint: ${JSON.stringify(endpoint)}`);
  }
  return { host, port };
}
