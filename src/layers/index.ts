// Importing a layer registers it; stacks name layers by these registrations.
import './COM.js';
import './NAK.js';
import './FRAG.js';
import './STABLE.js';
import './FC.js';

/** The stack a group gets when none is given. */
export const DEFAULT_STACK = 'STABLE:FC:FRAG:NAK:COM';
