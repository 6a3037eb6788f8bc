// Importing a layer registers it; stacks name layers by these registrations.
import './COM.js';
import './NAK.js';
import './FRAG.js';
import './STABLE.js';
import './FC.js';
import './FD.js';
import './GMS.js';
import './CAUSAL.js';
import './TOTAL.js';
import './SAFE.js';
import './CRYPT.js';
import { parseStackSpec, type LayerSpec, type StackSpec } from '../stack/stack.js';
import { ConfigError } from '../core/errors.js';
import { aclSchema, type Acl } from '../security/acl.js';

/** The stack of a group with a fixed member list. */
export const DEFAULT_STACK = 'TOTAL:CAUSAL:SAFE:STABLE:FC:FRAG:NAK:COM';
/** The stack of a group whose members join, leave and fail: virtual synchrony. */
export const DYNAMIC_STACK = 'TOTAL:CAUSAL:SAFE:GMS:STABLE:FC:FRAG:NAK:FD:COM';
/**
 * The dynamic stack of a group whose traffic is encrypted. CRYPT sits just above NAK: it seals the
 * headers of every layer above it (FRAG, FC, STABLE, GMS, the ordering layers) with the payload,
 * NAK's sequence number is its counter (so it is bound into the associated data), NAK keeps and
 * retransmits the sealed form, and NAK holds a member's messages of a view not installed here yet
 * until GMS has handed down that view's key. GMS makes a key per view (groupKeys).
 */
export const SECURE_DYNAMIC_STACK: readonly (string | LayerSpec)[] = [
  'TOTAL',
  'CAUSAL',
  'SAFE',
  { name: 'GMS', options: { groupKeys: true } },
  'STABLE',
  'FC',
  'FRAG',
  'CRYPT',
  'NAK',
  'FD',
  'COM',
];

/** A group's own security, as JoinOptions give it. */
export interface GroupSecurityOptions {
  acl?: Acl | undefined;
  encrypt?: boolean | undefined;
}

/**
 * `spec` with the group's security applied: with `encrypt`, CRYPT just above NAK and GMS making a
 * key per view; with `acl`, GMS checking it. Neither: `spec` unchanged. Needs GMS (and, to encrypt, NAK).
 */
export function withGroupSecurity(spec: StackSpec, sec: GroupSecurityOptions): StackSpec {
  if (sec.acl === undefined && sec.encrypt !== true) return spec;
  const layers = parseStackSpec(spec).map((l) => ({ ...l, ...(l.options ? { options: { ...l.options } } : {}) }));
  const gms = layers.find((l) => l.name === 'GMS');
  if (gms === undefined) {
    // A fixed member list has no coordinator to draw view keys and no joins to check. Its traffic is
    // still sealed hop by hop on every connection in security psk or pki (see docs/security.md).
    throw new ConfigError(
      `${sec.encrypt === true ? 'encrypt' : 'an ACL'} needs a dynamic group (GMS in the stack): a fixed member list has no coordinator to make view keys or check joins; leave out \`members\` (or add GMS), and with security psk or pki every connection is sealed anyway`,
    );
  }
  if (sec.acl !== undefined) {
    const acl = aclSchema.safeParse(sec.acl);
    if (!acl.success) throw new ConfigError(`acl: ${acl.error.issues.map((i) => i.message).join('; ')}`);
    gms.options = { ...gms.options, acl: acl.data };
  }
  if (sec.encrypt === true) {
    gms.options = { ...gms.options, groupKeys: true };
    if (!layers.some((l) => l.name === 'CRYPT')) {
      const nak = layers.findIndex((l) => l.name === 'NAK');
      if (nak < 0) throw new ConfigError('encryption needs NAK in the stack (CRYPT sits just above it)');
      layers.splice(nak, 0, { name: 'CRYPT' });
    }
  }
  return layers;
}
