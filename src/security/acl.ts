import { z } from 'zod';
import type { Env } from '../core/env.js';
import { endpointOf, type NodeId } from '../core/node-id.js';

/**
 * Per-group access control: who may join, who may send. A rule names an identity by name, by
 * public key (hex or base64 of the raw key, as the identity reports it) or by the role its
 * certificate was issued with. No list (the default) admits every peer with a valid identity.
 */
export const aclRuleSchema = z.union([
  z.object({ name: z.string().min(1).max(256) }).strict(),
  z.object({ key: z.string().min(1).max(256) }).strict(),
  z.object({ role: z.string().min(1).max(256) }).strict(),
]);
export type AclRule = z.infer<typeof aclRuleSchema>;

export const aclSchema = z
  .object({
    /** Who may join; absent: everyone with a valid identity. */
    join: z.array(aclRuleSchema).max(4096).optional(),
    /** Who may multicast to the group (cast, castMany, query, gbcast, setAcl; not point-to-point sends); absent: every member. */
    send: z.array(aclRuleSchema).max(4096).optional(),
  })
  .strict();
export type Acl = z.infer<typeof aclSchema>;

/**
 * The code a joiner's `node.join()` rejects with when the group's ACL refuses it. Typed as the
 * join-failure codes the core lists today, until core/events.ts and core/errors.ts list it too.
 */
export const ERR_ACCESS_DENIED = 'ERR_ACCESS_DENIED';

/** The authenticated identity of a connected peer, as the transport's handshake proved it. */
export interface PeerIdentity {
  readonly name: string;
  /** The raw public key. */
  readonly publicKey: Uint8Array;
  /** Roles its certificate was issued with (none for an allow-listed or psk peer). */
  readonly roles?: readonly string[];
}

/**
 * The identity of the node `node`: what the transport's handshake proved (pki: the certificate's
 * subject and key; psk: the id it claimed; the simulator: its world identity), undefined when it
 * proved none (an intruder, or a transport with security off: a list then admits nobody). A
 * transport that does not authenticate at all (an Env without `peerIdentity`) names the node by
 * its endpoint, which anyone can claim: an ACL there is advisory only.
 */
export function identityOf(env: Env, node: NodeId): PeerIdentity | undefined {
  const t = env.transport;
  if (typeof t.peerIdentity !== 'function') return { name: endpointOf(node), publicKey: new Uint8Array(0) };
  const id = t.peerIdentity(node);
  if (id === null) return undefined;
  return { name: id.name, publicKey: id.publicKey === null ? new Uint8Array(0) : Buffer.from(id.publicKey, 'base64') };
}

function keyMatches(rule: string, key: Uint8Array): boolean {
  if (key.length === 0) return false;
  const b = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  return rule === b.toString('hex') || rule === b.toString('base64') || rule === b.toString('base64url');
}

function ruleAdmits(rule: AclRule, id: PeerIdentity): boolean {
  if ('name' in rule) return rule.name === id.name;
  if ('key' in rule) return keyMatches(rule.key, id.publicKey);
  return id.roles?.includes(rule.role) ?? false;
}

/**
 * May `id` do `what`? No list admits everyone (with security on, the transport lets in only peers
 * with a valid identity); with a list, a peer with no authenticated identity never may.
 */
export function aclAdmits(acl: Acl | undefined, what: 'join' | 'send', id: PeerIdentity | undefined): boolean {
  const rules = acl?.[what];
  if (rules === undefined) return true;
  if (id === undefined) return false;
  return rules.some((r) => ruleAdmits(r, id));
}
