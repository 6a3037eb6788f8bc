import type { Group, StateHandlers } from '../../src/api/group.js';
import type { StackSpec } from '../../src/stack/stack.js';
import { TOOLS_SIM_STACK } from '../../src/sim/scenario-tools.js';
import type { SimWorldOptions } from '../../src/sim/sim-world.js';
import { SimCluster } from './sim-cluster.js';

/**
 * The dynamic stack with total order and safe delivery, at fast timeouts (as FAST_STACK, with a
 * suspect timeout that leaves leases room: FAST_STACK's 100 ms lease lapses for an instant at
 * every heartbeat, which blocks the group as a minority for a millisecond each time). The same
 * stack as the simulator's tools scenario.
 */
export const TOOL_STACK: StackSpec = TOOLS_SIM_STACK;

/** A simulated cluster whose members join one group with TOOL_STACK, each with its own state handlers. */
export class ToolCluster extends SimCluster {
  constructor(
    seed: number,
    readonly groupName = 'tools',
    opts: SimWorldOptions = {},
  ) {
    super(seed, opts);
  }

  /** Start `endpoint` and join the group through the nodes started before it (the first one founds it). */
  add(endpoint: string, state?: StateHandlers): Group {
    const contacts = [...this.nodes.keys()].filter((e) => e !== endpoint);
    this.start(endpoint, []);
    return this.nodes.get(endpoint)!.joinNow(this.groupName, { contacts, stack: TOOL_STACK, ...(state ? { state } : {}) });
  }
}
