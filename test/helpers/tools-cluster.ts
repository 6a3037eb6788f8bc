import type { Group, StateHandlers } from '../../src/api/group.js';
import type { StackSpec } from '../../src/stack/stack.js';
import type { SimWorldOptions } from '../../src/sim/sim-world.js';
import { FAST_STACK, SimCluster } from './sim-cluster.js';

/** The dynamic stack with total order and safe delivery, at the simulator's fast timeouts. */
export const TOOL_STACK: StackSpec = ['TOTAL', 'CAUSAL', 'SAFE', ...(FAST_STACK as object[])] as StackSpec;

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
