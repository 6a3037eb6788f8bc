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
import type { LayerSpec } from '../stack/stack.js';

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
