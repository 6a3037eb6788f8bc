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

/** The stack of a group with a fixed member list. */
export const DEFAULT_STACK = 'TOTAL:CAUSAL:SAFE:STABLE:FC:FRAG:NAK:COM';
/** The stack of a group whose members join, leave and fail: virtual synchrony. */
export const DYNAMIC_STACK = 'TOTAL:CAUSAL:SAFE:GMS:STABLE:FC:FRAG:NAK:FD:COM';
